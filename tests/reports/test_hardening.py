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
