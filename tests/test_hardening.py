"""Hostile inputs get a clear error, never a silent wrong answer or a traceback."""

import json

import pytest

from hwmodels.loader import SpecError, load_accelerator
from hwmodels.spec import Accelerator
from reports.cli import main
from simulator import SimulationError, simulate
from tests.conftest import toy_spec
from workloads.catalog import get_workload, schedule
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
    for name, n in (("kogge-stone", 2**40), ("sequential", 2**40), ("chunked", 2**31)):
        with pytest.raises(CircuitError, match="more than the"):
            prefix_circuit(name, n)


def test_one_step_still_reads_and_writes(capsys):
    """`--seq-len 1` once reported 0 s, 0 J and 0 DRAM bytes for circuit algorithms."""
    assert main(["simulate", "--hw", "h100-sxm5-80gb", "--workload", "mamba-130m", "--seq-len", "1",
                 "--algo", "kogge-stone", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["latency_s"] > 0 and record["energy_j"] > 0 and record["dram_bytes"] > 0
