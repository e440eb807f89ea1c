"""Hostile inputs get a clear error, never a silent wrong answer or a traceback."""

import json

import pytest

from hwmodels.loader import SpecError, load_accelerator
from hwmodels.spec import Accelerator
from reports.cli import main
from simulator import SimulationError, simulate
from tests.conftest import toy_spec
from workloads.catalog import get_workload
from workloads.dispatch import schedule
from workloads.circuits import CircuitError, prefix_circuit
from workloads.schedule import Schedule, Stage


@pytest.mark.parametrize("field,value", [("clock_hz", True), ("clock_hz", "2e9"), ("kernel_launch_s", False)])
def test_numbers_are_numbers(field, value):
    """Once ``clock_hz: true`` was accepted as 1 Hz (pydantic's lax mode)."""
    with pytest.raises(SpecError, match=field):
        load_accelerator(toy_spec(**{field: value}))


def test_a_non_finite_result_is_an_error_not_an_infinity(capsys, tmp_path):
    """A denormal bandwidth made latency_s Infinity and --json print a bare Infinity token."""
    spec = toy_spec()
    spec["memory"][1]["bandwidth_bytes_per_s"] = 1e-320
    acc = Accelerator.model_validate(spec)
    with pytest.raises(SimulationError, match="not finite"):
        simulate(Schedule("s", "fp32", (Stage("s", "vector", ops=1, flops_per_op=1, bytes_read_per_op=8),)), acc)
    import yaml

    path = tmp_path / "denormal.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["simulate", "--hw", str(path), "--workload", "diagonal-d64", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not finite" in err


def test_python_api_takes_what_a_user_would_pass():
    """load_accelerator(dict) once treated the dict as a file name; simulate(schedule,
    "h100-sxm5-80gb") raised AttributeError."""
    assert load_accelerator(toy_spec(name="mine")).name == "mine"
    sched = schedule(get_workload("mamba-130m").with_params(seq_len=64), "sequential")
    by_name = simulate(sched, "h100-sxm5-80gb", fidelity="analytic")
    assert by_name.latency_s == simulate(sched, load_accelerator("h100-sxm5-80gb"), fidelity="analytic").latency_s
    with pytest.raises(TypeError, match="expected a preset name, a path or a mapping"):
        load_accelerator(42)
    with pytest.raises(TypeError, match="expected a Schedule"):
        simulate("mamba-130m", "h100-sxm5-80gb")


def test_a_circuit_too_large_to_build_is_refused_before_allocating():
    """Once prefix_circuit(…, 2**40) raised MemoryError: the size is now computed up front."""
    for name, n in (("kogge-stone", 2**40), ("sequential", 2**40), ("chunked", 2**31),
                    ("sequential", 10**8)):  # 10^8 once grew past 3 GB: 16 B a combine, 8 a level
        with pytest.raises(CircuitError, match="more than the"):
            prefix_circuit(name, n)


def test_one_step_still_reads_and_writes(capsys):
    """`--seq-len 1` once reported 0 s, 0 J and 0 DRAM bytes for circuit algorithms."""
    assert main(["simulate", "--hw", "h100-sxm5-80gb", "--workload", "mamba-130m", "--seq-len", "1",
                 "--algo", "kogge-stone", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["latency_s"] > 0 and record["energy_j"] > 0 and record["dram_bytes"] > 0


# --------------------------------------------------------------------------- hostile YAML

from hypothesis import HealthCheck, given  # noqa: E402
from hypothesis import settings as hsettings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hwmodels.loader import MAX_YAML_DEPTH, read_yaml  # noqa: E402


def _alias_bomb(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\nname: bomb\n"


@pytest.mark.parametrize("text,expected", [
    (_alias_bomb(), "aliases expand to more than 1,000,000 values"),
    ("a: " + "[" * 100 + "]" * 100 + "\n", f"nested deeper than {MAX_YAML_DEPTH} levels"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nest"),  # libyaml's own limit may speak first
    ("name: x\x00\n", "character 0x0000 at position 7 is not allowed"),
    ("cores: [1, 2\n", "malformed YAML"),
])
def test_hostile_yaml_is_refused_in_one_line_without_expanding_it(tmp_path, capsys, text, expected):
    """An alias bomb once ran 40 s and 600 MB; 5,000 levels of nesting raised RecursionError;
    a NUL byte gave a two-line message."""
    import time

    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    start = time.perf_counter()
    with pytest.raises(SpecError, match=expected):
        read_yaml(path)
    assert time.perf_counter() - start < 1.0
    for command in (["hw", "validate", str(path)], ["sweep", str(path), "-o", str(tmp_path / "o")],
                    ["validate", "--cases", str(path)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(path) in err and expected.split()[0] in err


def test_not_utf8_empty_and_folder_names_are_named(tmp_path, capsys):
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00garbage")
    assert main(["hw", "validate", str(tmp_path / "bin.yaml")]) == 2
    assert "not UTF-8 text" in capsys.readouterr().err
    assert main(["simulate", "--hw", "", "--workload", "mamba-130m"]) == 2
    err = capsys.readouterr().err
    assert "got an empty name" in err and "Is a directory" not in err
    with pytest.raises(SpecError, match="is a folder"):
        read_yaml(tmp_path)


def test_an_unknown_option_before_the_command_is_named(capsys):
    """Once: "the following arguments are required: command" for ``scansim --bogus``."""
    assert main(["--bogus", "hw", "list"]) == 2
    assert "unrecognized option '--bogus'" in capsys.readouterr().err


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_fuzzed_spec_files_load_or_fail_with_a_spec_error(tmp_path, data):
    """Whatever bytes a spec file holds: an Accelerator or a SpecError, never another exception."""
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    try:
        load_accelerator(path)
    except SpecError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)


_yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["name", "workloads", "accelerators", "axes", "sampler", "fidelity",
                                        "policy", "dtype", "event_budget", "objectives", "junk"]),
                       _yaml_values, max_size=6))
def test_fuzzed_sweep_files_load_or_fail_with_a_sweep_error(tmp_path, document):
    """Random documents in a sweep file's vocabulary: a sweep or a one-line SweepError."""
    import yaml

    from reports.sweep import SweepError, load_sweep

    path = tmp_path / "fuzz-sweep.yaml"
    path.write_text(yaml.safe_dump(document))
    try:
        load_sweep(path)
    except SweepError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)


def test_sweeps_too_large_to_run_are_refused_before_sampling(tmp_path):
    """A sobol sampler of 10^9 points once allocated 7.5 GiB; a grid's size is its product."""
    import yaml

    from reports.sweep import MAX_POINTS, SweepError, load_sweep

    base = {"workloads": [{"name": "mamba-130m"}], "accelerators": ["h100-sxm5-80gb"]}
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump({**base, "axes": {"accelerator.cores": {"low": 1, "high": 9}},
                                    "sampler": {"kind": "sobol", "points": 10**9}}))
    with pytest.raises(SweepError, match="sampler.points"):
        load_sweep(path)
    grid = {f"workload.{d}": list(range(1, 33)) for d in ("seq_len", "batch", "heads", "state")}
    path.write_text(yaml.safe_dump({**base, "axes": grid}))
    with pytest.raises(SweepError, match=f"1,048,576 points, more than the {MAX_POINTS:,}"):
        load_sweep(path)


def test_run_sweep_takes_a_path_a_dict_or_a_spec(tmp_path):
    """run_sweep("file.yaml") once raised AttributeError."""
    import yaml

    from reports.sweep import SweepError, load_sweep, run_sweep

    doc = {"workloads": [{"name": "diagonal-d64"}], "accelerators": ["h100-sxm5-80gb"],
           "axes": {"workload.seq_len": [64, 128]}, "fidelity": "analytic"}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    by_path = run_sweep(path, tmp_path / "a")
    by_dict = run_sweep(doc, tmp_path / "b")
    by_spec = run_sweep(load_sweep(str(path)), tmp_path / "c")
    assert len(by_path) == len(by_dict) == len(by_spec) == 2
    with pytest.raises(SweepError, match="sweep mapping: .*expected workloads or models"):
        run_sweep({"accelerators": ["h100-sxm5-80gb"]}, tmp_path / "d")
    with pytest.raises(TypeError, match="expected a sweep file path, a dict or a SweepSpec"):
        run_sweep(42, tmp_path / "e")


@pytest.mark.parametrize("clock", ["0", "-1", "nan", "inf", "fast"])
def test_calibrate_refuses_a_clock_that_is_not_a_positive_number(capsys, clock):
    """``calibrate --clock-hz 0`` was silently ignored and -1 gave a traceback."""
    assert main(["calibrate", "--clock-hz", clock, "-o", "/tmp/never-written.yaml"]) == 2
    assert "--clock-hz" in capsys.readouterr().err


def test_deer_beyond_capacity_says_so_at_once_and_names_quasi_deer(capsys):
    import time

    start = time.perf_counter()
    assert main(["simulate", "--hw", "h100-sxm5-80gb", "--workload", "lstm-2048", "--algo", "deer"]) == 2
    err = capsys.readouterr().err
    assert "exceeds" in err and "--algo quasi-deer" in err
    assert time.perf_counter() - start < 2  # before any Newton iteration is measured


# --------------------------------------------------------------------------- issue 21: hardening
#
# The contract: bad input gets one line on stderr naming the file, the field and what was
# expected, exit 2, no traceback, no hang, nothing left behind.

import errno  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

from reports.cli import one_line  # noqa: E402
from workloads.models import Model, ModelError, load_model, parameters  # noqa: E402
from workloads.models.model import MAX_LAYERS, MAX_SIZE  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "models"
LLAMA = json.loads((EXAMPLES / "llama-2-7b.json").read_text())
#: a small model file every kind of section of which the tests below vary
MODEL_FILE = {"name": "t", "d_model": 256, "vocab": 1000, "layers": {"pattern": ["attention/mlp"]},
              "attention": {"heads": 4, "head_dim": 64}, "mlp": {"d_ff": 512}}


def _refused_in_one_line(capsys, path, *messages, hw="h100-sxm5-80gb", extra=()) -> str:
    """``scansim model --config path`` exits 2 with one line naming the file and ``messages``."""
    start = time.perf_counter()
    assert main(["model", "--hw", hw, "--config", str(path), *extra]) == 2
    assert time.perf_counter() - start < 5
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("scansim: error: ") and "Traceback" not in err, err
    assert str(path) in err and all(m in err for m in messages), err
    return err


def _config(tmp_path, text: str, name="config.json") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("field,value,message", [
    ("num_hidden_layers", 10**12, f"num_hidden_layers: expected at most {MAX_LAYERS:,} (scansim's limit on layers"),
    ("num_hidden_layers", MAX_LAYERS + 1, f"expected at most {MAX_LAYERS:,}"),
    ("hidden_size", 10**12, f"hidden_size: expected at most {MAX_SIZE:,} (scansim's limit on a size"),
    ("vocab_size", 10**30, "vocab_size: expected at most"),
    ("intermediate_size", MAX_SIZE + 1, "intermediate_size: expected at most"),
])
def test_config_sizes_past_scansims_limits_are_refused_before_allocating(tmp_path, capsys, field, value, message):
    """``num_hidden_layers: 10^12`` once raised MemoryError building the layout."""
    path = _config(tmp_path, json.dumps({**LLAMA, field: value}))
    with pytest.raises(ModelError, match=message.replace("(", r"\(")):
        load_model(path)
    _refused_in_one_line(capsys, path, message)
    assert isinstance(load_model(_config(tmp_path, json.dumps({**LLAMA, "num_hidden_layers": MAX_LAYERS}))), Model)


@pytest.mark.parametrize("layers,message", [
    ({"pattern": ["attention/mlp"], "repeat": 10**12}, f"layers.repeat: expected at most {MAX_LAYERS:,}"),
    ({"pattern": ["attention/mlp"] * 2, "repeat": MAX_LAYERS}, f"2 × repeat {MAX_LAYERS} = 20,000 layers, "
                                                                f"expected at most {MAX_LAYERS:,}"),
])
def test_model_file_layers_past_scansims_limit_are_refused_before_allocating(tmp_path, capsys, layers, message):
    """``repeat: 1000000000000`` once raised MemoryError."""
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({**MODEL_FILE, "layers": layers}))
    _refused_in_one_line(capsys, path, message)
    path.write_text(yaml.safe_dump({**MODEL_FILE, "mlp": {"d_ff": 10**15}}))
    _refused_in_one_line(capsys, path, f"mlp.d_ff: expected at most {MAX_SIZE:,}")


def test_a_number_past_pythons_digit_limit_is_refused_in_one_line(tmp_path, capsys):
    """A 5,001-digit hidden_size once escaped json.loads as ValueError "Exceeds the limit
    (4300 digits)"; in an unused field it is harmless; in YAML (model and spec files) it
    escaped the YAML loader the same way."""
    text = json.dumps(LLAMA)
    path = _config(tmp_path, text.replace('"hidden_size": 4096', '"hidden_size": ' + "9" * 5001))
    _refused_in_one_line(capsys, path, "hidden_size: expected a whole number ≥ 1, got a number of 5,001 digits")
    unused = _config(tmp_path, text[:-1] + ', "unused": -' + "9" * 5001 + "}", "unused.json")
    assert load_model(unused).d_model == 4096
    model_file = tmp_path / "m.yaml"
    model_file.write_text(yaml.safe_dump(MODEL_FILE).replace("d_model: 256", "d_model: " + "9" * 5001))
    _refused_in_one_line(capsys, model_file, "a whole number of 5,001 characters: expected at most 4,300 digits")
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\ncores: " + "9" * 5001 + "\n")
    assert main(["hw", "validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{spec}:2: " in err and "5,001" in err


def test_deep_nesting_in_an_unused_config_field_is_refused_in_one_line(tmp_path, capsys):
    """100,000 nested arrays once raised RecursionError out of json."""
    path = _config(tmp_path, json.dumps(LLAMA)[:-1] + ', "junk": ' + "[" * 100_000 + "]" * 100_000 + "}")
    _refused_in_one_line(capsys, path, "nested too deeply to read")


@pytest.mark.parametrize("change,message", [
    ({"layers": {"pattern": ["rwkv7/mlp"]}},
     "layers.pattern: 'rwkv7/mlp': expected MIXER/FEED-FORWARD with a mixer of attention, mamba, mamba2, "
     "gated-deltanet, none"),
    ({"attention": {"heads": 4, "kv_heads": 3, "head_dim": 64}}, "attention.kv_heads: 3 does not divide heads = 4"),
    ({"attention": {"heads": 4, "kv_heads": 8, "head_dim": 64}}, "attention.kv_heads: 8 does not divide heads = 4"),
])
def test_model_file_refuses_what_config_json_refuses(tmp_path, capsys, change, message):
    """``pattern: [rwkv7/mlp]`` once raised KeyError 'rwkv7' (a model file has no RWKV-7
    section); kv_heads that do not divide heads were accepted, as config.json refuses them."""
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({**MODEL_FILE, **change}))
    _refused_in_one_line(capsys, path, message)
    path.write_text(yaml.safe_dump({**MODEL_FILE, "attention": {"heads": 4, "kv_heads": 2, "head_dim": 64}}))
    assert load_model(path).kv_heads == 2


def test_a_duplicate_key_in_a_model_file_is_refused(tmp_path, capsys):
    """A duplicate key once silently won; the model file is now read as spec files are."""
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(MODEL_FILE) + "d_model: 512\n")
    _refused_in_one_line(capsys, path, "duplicate key 'd_model' (first at line")


@pytest.mark.parametrize("change,message", [
    ({"axes": {"workload.seq_len": {"low": 1, "high": float("inf"), "integer": True}},
      "sampler": {"kind": "random", "points": 4}}, "axes: 'workload.seq_len': high: expected a finite number, got inf"),
    ({"axes": {"accelerator.clock_hz": {"low": float("-inf"), "high": 1e9}}, "sampler": {"kind": "sobol", "points": 4}},
     "low: expected a finite number"),
    ({"axes": {"workload.seq_len": {"low": 1, "high": 1e30, "integer": True}},
      "sampler": {"kind": "random", "points": 4}}, "high: expected an integer range's bound within ±"),
    ({"axes": {"workload.seq_len": [10**30]}}, "'workload.seq_len': value 10000"),
    ({"workloads": [{"name": "diagonal-d64", "params": {"batch": 10**30}}]}, "workloads[0].params: batch: expected"),
    ({"dtype": "fp128"}, "dtype: expected one of fp64, fp32"),
])
def test_sweep_values_no_point_could_take_are_refused_up_front(tmp_path, capsys, change, message):
    """A range up to .inf sampled NaN into an integer (ValueError); whole numbers past int64
    reached the parquet writer (OverflowError) after _sweep.json was written; a top-level
    ``dtype: fp128`` was accepted and every point then rejected."""
    doc = {"workloads": [{"name": "diagonal-d64"}], "accelerators": ["h100-sxm5-80gb"], "fidelity": "analytic",
           **change}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert main(["sweep", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and message in err, err
    assert not (tmp_path / "out").exists()  # refused before anything was written


class _FullDisk:
    """A standard output on a full disk."""

    def write(self, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self):
        pass


def test_a_full_disk_under_the_output_is_one_line(capsys, monkeypatch):
    """``scansim hw schema > /dev/full`` once gave an OSError traceback."""
    with monkeypatch.context() as m:
        m.setattr(sys, "stdout", _FullDisk())
        assert main(["hw", "schema"]) == 2
    err = capsys.readouterr().err
    assert err == ("scansim: error: the output: cannot write (No space left on device); free some space and "
                   "run again\n")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_one_line_for_real(tmp_path, capsys):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "reports.cli", "hw", "schema"], stdout=full,
                              stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "No space left on device" in done.stderr
    assert main(["hw", "init", "--base", "h100-sxm5-80gb", "-o", "/dev/full", "--force"]) == 2
    assert capsys.readouterr().err == "scansim: error: /dev/full: cannot write (No space left on device)\n"
    assert os.path.exists("/dev/full") and not Path("/dev/full").is_file()  # written to, not renamed over


def test_hw_init_leaves_nothing_behind_when_the_disk_fills(tmp_path, capsys, monkeypatch):
    real = Path.write_text

    def half_then_full(self, text, *args, **kwargs):
        real(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half_then_full)
    target = tmp_path / "mine.yaml"
    assert main(["hw", "init", "--base", "h100-sxm5-80gb", "-o", str(target)]) == 2
    assert capsys.readouterr().err == f"scansim: error: {target}: cannot write (No space left on device)\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["chip: rev 2", "# not a comment", "a\nb", "- x", "yes", "'quoted\""])
def test_hw_init_writes_any_name_so_that_it_loads_back(tmp_path, capsys, name):
    """``--name 'chip: rev 2'`` once wrote an unquoted colon and left a broken spec behind."""
    target = tmp_path / "mine.yaml"
    assert main(["hw", "init", "--base", "h100-sxm5-80gb", "-o", str(target), "--name", name]) == 0
    assert load_accelerator(target).name == name
    assert capsys.readouterr().err == ""


def test_json_output_is_valid_json_with_null_for_what_is_unknown(capsys):
    """A chip without a cost printed a bare NaN for usd_per_million_tokens: not JSON."""
    from reports.cli import _json

    def strict(text):
        return json.loads(text, parse_constant=lambda token: pytest.fail(f"{token} in JSON output"))

    assert main(["model", "--hw", "tpu-v4", "--config", str(EXAMPLES / "mamba-130m.json"), "--json",
                 "--prefill", "64", "--decode", "4"]) == 0
    record = strict(capsys.readouterr().out)
    assert record["usd_per_million_tokens"] is None and record["total_s"] > 0
    assert main(["model", "--hw", "tpu-v4", "--config", str(EXAMPLES / "mamba-130m.json"),
                 "--prefill", "64", "--decode", "4"]) == 0
    assert "usd_per_million_tokens     unknown" in capsys.readouterr().out
    assert main(["simulate", "--hw", "tpu-v4", "--workload", "mamba-130m", "--fidelity", "analytic", "--json"]) == 0
    assert strict(capsys.readouterr().out)["latency_s"] > 0
    assert _json({"a": math.nan, "b": 1.5}) == '{"a": null, "b": 1.5}'
    with pytest.raises(ValueError):  # an infinity is a bug, never printed as a bare Infinity
        _json({"a": math.inf})


def test_an_implementation_runs_its_own_algorithm(capsys):
    """``--impl fla-chunk --algo sequential`` was accepted and labelled sequential."""
    argv = ["simulate", "--hw", "h100-sxm5-80gb", "--workload", "mamba2-2.7b", "--seq-len", "256", "--impl",
            "fla-chunk", "--fidelity", "analytic", "--json"]
    assert main([*argv, "--algo", "sequential"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'fla-chunk' runs 'chunked', got 'sequential'" in err
    for algo in ([], ["--algo", "chunked"]):
        assert main(argv + algo) == 0
        assert json.loads(capsys.readouterr().out)["algorithm"] == "chunked"
    with pytest.raises(WorkloadError, match="runs 'chunked', got 'sequential'"):
        schedule(get_workload("mamba2-2.7b"), "sequential", impl="fla-chunk")
    assert schedule(get_workload("mamba-130m").with_params(seq_len=8)).meta["algorithm"] == "sequential"


def test_a_report_of_only_rejected_points_is_one_line_and_makes_no_folder(tmp_path, capsys):
    """It once printed a progress line, then the error (and made the report's folder)."""
    from reports.sweep.store import write_rows

    results = tmp_path / "results"
    results.mkdir()
    write_rows(results, [{"point_id": f"p{i}", "workload": "diagonal-d64", "accelerator": "h100-sxm5-80gb",
                          "seq_len": 64, "error": "dtype: expected one of fp32, got 'fp128'"} for i in range(2)])
    out = tmp_path / "report"
    assert main(["report", str(results), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "every one of the 2 points was rejected" in err and str(results) in err
    assert not out.exists()


def test_names_echoed_in_errors_stay_on_one_line(tmp_path, capsys):
    """A model named "a\\nb" once split its error over two lines."""
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({**MODEL_FILE, "name": "a\nb\x1b[31m"}))
    _refused_in_one_line(capsys, path, "heads = 4 does not split over 3 chips", extra=["--chips", "3"])
    path.write_text(yaml.safe_dump({**MODEL_FILE, "name": "a\nb\x1b[31m", "vocab": MAX_SIZE, "d_model": 100_000}))
    assert main(["model", "--hw", "h100-sxm5-80gb", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a\\nb\\x1b[31m at batch 1" in err and "does not fit" in err, err
    assert main(["simulate", "--hw", "h100-sxm5-80gb", "--workload", "no\nsuch"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    weird = tmp_path / "x\ny.yaml"
    assert main(["hw", "validate", str(weird)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert one_line("a\r\nb\u2028c\td") == "a\\r\\nb\\u2028c\\td" and one_line("≥ 1 µs ×") == "≥ 1 µs ×"


# --------------------------------------------------------------------------- fuzzed model descriptions

from workloads.catalog import WorkloadError  # noqa: E402

_CONFIGS = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))]
_MODEL_FILES = [yaml.safe_load((EXAMPLES / "gdn-hybrid-1.3b.yaml").read_text()), MODEL_FILE,
                {"name": "m", "d_model": 512, "vocab": 50, "layers": {"pattern": ["mamba2/none", "attention/moe"],
                                                                      "repeat": 2},
                 "mamba2": {"d_inner": 1024, "head_dim": 64, "groups": 2}, "attention": {"heads": 8, "head_dim": 64},
                 "moe": {"experts": 8, "per_token": 2, "d_ff": 256}},
                {"name": "m1", "d_model": 256, "vocab": 50, "layers": {"pattern": ["mamba/none"]},
                 "mamba": {"d_inner": 512, "dt_rank": 16}}]
#: stand-ins replaced in the written text: what json.dumps and yaml cannot write
_LONG, _DEEP = "@@long-number@@", "@@deep-nesting@@"
_FUZZ_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 70), st.integers(-10, 10**13), st.sampled_from([MAX_LAYERS + 1,
                                                                                              MAX_SIZE + 1, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6), st.sampled_from([_LONG, _DEEP, "auto"]),
    st.lists(st.sampled_from(["attention/mlp", "rwkv7/mlp", "M", "-", "*", 1, "full_attention"]), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(-2, 64), max_size=2))


def _paths(node, path=()) -> list[tuple]:
    """Every entry's path in a document, at every depth (a mapping's keys, a list's indices)."""
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    return [p for key, child in children for p in [(*path, key), *_paths(child, (*path, key))]]


def _mutated(data, doc: dict) -> dict:
    """``doc`` with one to three of its entries (at any depth) set, deleted, or given a sibling."""
    doc = json.loads(json.dumps(doc))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = _paths(doc)
        if not paths:
            break
        *parent, key = data.draw(st.sampled_from(paths), label="path")
        target = doc
        for step in parent:
            target = target[step]
        action = data.draw(st.sampled_from(["set", "delete", "add"]), label="action")
        if action == "set":
            target[key] = data.draw(_FUZZ_VALUES)
        elif action == "delete":
            del target[key]
        elif isinstance(target, dict):
            sibling = data.draw(st.sampled_from(["num_key_value_heads", "head_dim", "kv_heads", "repeat", "groups",
                                                 "layer_types", "mlp_only_layers", "junk"]))
            target[sibling] = data.draw(_FUZZ_VALUES)
    return doc


def _written(text: str) -> str:
    return (text.replace(f'"{_LONG}"', "9" * 5001).replace(_LONG, "9" * 5001)
            .replace(f'"{_DEEP}"', "[" * 3000 + "]" * 3000).replace(_DEEP, "[" * 3000 + "]" * 3000))


def _loads_or_refuses(path: Path, capsys) -> None:
    """The fuzz's assertion: a Model (whose parameters count) or a one-line ModelError naming
    the file, and then ``scansim model`` exits 2 with one line."""
    try:
        model = load_model(path)
    except ModelError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc), str(exc)
        assert main(["model", "--hw", "h100-sxm5-80gb", "--config", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("scansim: error: "), err
    else:
        assert isinstance(model, Model) and 0 < model.layers <= MAX_LAYERS and parameters(model) > 0


_FUZZ = hsettings(max_examples=60, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@_FUZZ
@given(data=st.data())
def test_fuzzed_config_json_loads_or_fails_with_a_model_error(tmp_path, capsys, data):
    doc = _mutated(data, data.draw(st.sampled_from(_CONFIGS)))
    path = tmp_path / "config.json"
    path.write_text(_written(json.dumps(doc)))
    _loads_or_refuses(path, capsys)


@_FUZZ
@given(data=st.data())
def test_fuzzed_model_files_load_or_fail_with_a_model_error(tmp_path, capsys, data):
    doc = _mutated(data, data.draw(st.sampled_from(_MODEL_FILES)))
    path = tmp_path / "model.yaml"
    text = yaml.safe_dump(doc, allow_unicode=True)
    path.write_text(_written(text) + data.draw(st.sampled_from(["", "d_model: 64\n", "layers: {pattern: []}\n"])))
    _loads_or_refuses(path, capsys)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode),
       suffix=st.sampled_from([".json", ".yaml"]))
def test_fuzzed_bytes_as_a_model_description_fail_with_a_model_error(tmp_path, capsys, data, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    _loads_or_refuses(path, capsys)
