import json
import subprocess
import sys

import pytest
import yaml

from reports.cli import main
from tests.conftest import toy_spec


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_json_has_si_keys(capsys):
    code, out, err = run(capsys, "simulate", "--hw", "h100-sxm5-80gb", "--workload", "mamba-130m",
                         "--seq-len", "65536", "--json")
    assert code == 0 and err == ""
    record = json.loads(out)
    assert record["latency_s"] > 0 and record["energy_j"] > 0 and record["dram_bytes"] > 0
    assert record["latency_s"] >= record["lower_bound_s"]
    assert record["seq_len"] == 65536


def test_simulate_overrides_and_spec_file(capsys, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(toy_spec(cores=4)))
    code, out, _ = run(capsys, "simulate", "--hw", str(path), "--workload", "diagonal-d64",
                       "-p", "state=8", "--seq-len", "33", "--algo", "brent-kung", "--json")
    assert code == 0
    record = json.loads(out)
    assert record["accelerator"] == "toy" and record["flops"] > 0


def test_listing_commands(capsys):
    code, out, _ = run(capsys, "hw", "list")
    assert code == 0 and "h100-sxm5-80gb" in out and "jetson-orin-nano-8gb" in out
    code, out, _ = run(capsys, "hw", "show", "h100-sxm5-80gb")
    assert code == 0 and yaml.safe_load(out)["cores"] == 132
    code, out, _ = run(capsys, "workloads", "list")
    assert code == 0 and "mamba-130m" in out


@pytest.mark.parametrize("argv,expected", [
    (["simulate", "--hw", "nope", "--workload", "mamba-130m"], "unknown accelerator 'nope'"),
    (["simulate", "--hw", "h100-sxm5-80gb", "--workload", "nope"], "unknown workload 'nope'"),
    (["simulate", "--hw", "h100-sxm5-80gb", "--workload", "mamba-130m", "--seq-len", "0"],
     "seq_len must be an integer ≥ 1, got 0"),
    (["simulate", "--hw", "h100-sxm5-80gb", "--workload", "mamba-130m", "-p", "heads"],
     "expected KEY=VALUE"),
    (["simulate", "--hw", "h100-sxm5-80gb", "--workload", "mamba-130m", "--algo", "fft"],
     "family 'diagonal' runs sequential, kogge-stone"),
    (["simulate", "--hw", "jetson-orin-nano-8gb", "--workload", "mamba-130m", "--dtype", "bf16"],
     "no vector rate for dtype 'bf16'"),
    (["simulate", "--hw", "b200", "--workload", "retnet-1.3b", "--launch", "graph"],
     "--launch: applies to --impl"),
    (["hw", "validate", "/nonexistent/x.yaml"], "/nonexistent/x.yaml: no such file"),
    (["frobnicate"], "invalid choice"),
])
def test_user_errors_are_one_line_exit_2(capsys, argv, expected):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("scansim: error: ")
    assert expected in err
    assert "Traceback" not in err


def test_bad_spec_file_names_file_and_field(capsys, tmp_path):
    spec = toy_spec()
    spec["memory"][1]["bandwidth_bytes_per_s"] = -5
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    code, _, err = run(capsys, "hw", "validate", str(path))
    assert code == 2
    assert f"{path}: memory[1].bandwidth_bytes_per_s: expected input should be greater than 0" in err
    path.write_text(yaml.safe_dump(toy_spec()))
    assert run(capsys, "hw", "validate", str(path))[0] == 0


def test_console_script_entry_point():
    done = subprocess.run([sys.executable, "-m", "reports.cli", "simulate", "--hw", "nope",
                           "--workload", "mamba-130m"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("scansim: error: unknown accelerator")


def test_the_command_line_starts_without_numba_pandas_or_scipy():
    """`scansim --help`, `hw` and `workloads` once took 3–5 s importing everything: the CLI
    now imports Numba (0.75 s), pandas and SciPy only in the commands that use them."""
    import subprocess
    import sys

    code = ("import sys; import reports.cli as c; c.main(['workloads', 'list']); c.main(['hw', 'list']); "
            "print(sorted(m for m in ('numba', 'pandas', 'scipy', 'matplotlib', 'distributed') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
