"""The power model: energy by component, power over time, the power cap (simulator.energy,
hwmodels.power)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwmodels import power
from hwmodels.loader import SpecError, load_accelerator
from hwmodels.spec import Accelerator
from simulator import simulate
from simulator.energy import COMPONENTS, power_profile
from tests.conftest import toy_spec
from workloads.catalog import get_workload
from workloads.dispatch import schedule
from workloads.schedule import Schedule, Stage

PARTS = [column for column in COMPONENTS.values() if column != "energy_link_j"]  # a result's


def _check_additive(r) -> None:
    for name in PARTS + ["energy_vector_j", "energy_matrix_j"]:
        assert getattr(r, name) >= 0, name
    assert sum(getattr(r, k) for k in PARTS) == pytest.approx(r.energy_j, rel=1e-9)
    assert r.energy_compute_j >= r.energy_vector_j + r.energy_matrix_j - 1e-15
    assert r.dynamic_energy_j == pytest.approx(r.energy_compute_j + r.energy_onchip_j + r.energy_dram_j, rel=1e-9)


def test_hand_count_of_the_rules_for_datapath_energies():
    """A spec of datapath energies gets the instructions and the control of its data movement:
    one lane's 4 flops are 4 instructions (+ 2 bytes / 16 per load), each 70/4.6 fp32 FMAs
    [Horowitz]; the DRAM bytes cost 1 / (1 − 0.625) of their datapath figure."""
    acc = Accelerator.model_validate(toy_spec())
    r = simulate(Schedule("s", "fp32", (Stage("s", "vector", ops=1, flops_per_op=4, bytes_read_per_op=2),)), acc)
    instruction = power.INSTRUCTION_OVER_FMA * 2 * 1.0
    assert r.energy_vector_j == pytest.approx(4.0)
    assert r.energy_compute_j == pytest.approx(4.0 + (4 + 2 / 16) * instruction)
    assert r.energy_dram_j == pytest.approx(2 * 0.5 / (1 - power.DEFAULT_CONTROL_SHARE))
    assert r.energy_baseline_j == pytest.approx((power.baseline_w(acc) - acc.static_power_w) * r.latency_s)
    _check_additive(r)


def test_lane_instructions_beside_the_products_cost_an_fp32_operation_and_an_instruction_each():
    """A stage's lane instructions beside its products (``lane_instructions_per_op``: a softmax's
    max, scale, sum and conversions) each cost one fp32 operation's datapath energy and one
    instruction's, and take one lane cycle."""
    acc = Accelerator.model_validate(toy_spec())
    bare = Stage("s", "vector", ops=1, flops_per_op=4, bytes_read_per_op=2)
    r0, r1 = (simulate(Schedule("s", "fp32", (st_,)), acc)
              for st_ in (bare, Stage("s", "vector", ops=1, flops_per_op=4, bytes_read_per_op=2,
                                      lane_instructions_per_op=3)))
    instruction = power.INSTRUCTION_OVER_FMA * 2 * 1.0
    assert r1.energy_vector_j - r0.energy_vector_j == pytest.approx(3 * 1.0)  # toy: 1 J per fp32 flop
    assert (r1.energy_compute_j - r0.energy_compute_j) == pytest.approx(3 * 1.0 + 3 * instruction)
    assert r1.latency_s - r0.latency_s == pytest.approx(3 / (acc.vector.lanes * acc.clock_hz))
    _check_additive(r1)


@pytest.mark.parametrize("name", ["h100-sxm5-80gb", "a100-sxm4-80gb", "v100-sxm2-16gb", "tpu-v4", "groq-lpu-style"])
@pytest.mark.parametrize("workload, algorithm", [("mamba2-2.7b", "chunked"), ("gemm-4096", "tiled"),
                                                 ("llama3-8b-decode-attention", "split-kv")])
def test_energy_is_additive_and_power_over_time_integrates_to_it(name, workload, algorithm):
    acc = load_accelerator(name)
    planned = schedule(get_workload(workload).with_params(**({"seq_len": 1024} if workload != "gemm-4096" else {})),
                       algorithm, "bf16" if "bf16" in acc.vector.flops_per_lane_per_cycle else "fp32")
    for fidelity in ("analytic", "des"):
        r = simulate(planned, acc, fidelity=fidelity)
        _check_additive(r)
        assert r.peak_power_w >= r.average_power_w * (1 - 1e-9)
        assert r.average_power_w <= power.tdp_w(acc, r.dtype) * (1 + 1e-6)
        assert r.average_power_w >= power.baseline_w(acc) * (1 - 1e-9)  # a busy chip never draws less


def test_power_profile_is_a_step_function_of_the_stages():
    times, watts = power_profile(np.array([0.0, 1.0]), np.array([2.0, 3.0]), np.array([4.0, 1.0]), 10.0, 4.0)
    assert times.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert watts.tolist() == [12.0, 12.5, 10.5, 10.0]  # 2 W from 0 to 2, 0.5 W from 1 to 3, floor 10 W
    energy = float(np.sum(np.diff(times) * watts))
    assert energy == pytest.approx(10.0 * 4 + 4 + 1)


def _capped(tdp: float) -> Accelerator:
    return load_accelerator("h100-sxm5-80gb").replace(power={
        "tdp_w": tdp, "whole_stack": True, "idle_w": {"value": 75.0, "source": "test"},
        "baseline_w": {"value": 75.0, "source": "test"}})


def test_a_compute_bound_gemm_throttles_to_its_tdp():
    """cuBLAS-sized bf16 GEMM: at its boost clock it would draw more than a low cap; the cap holds
    the clock lower, the latency grows, the average power lands just under the cap."""
    planned = schedule(get_workload("gemm-4096").with_params(m=8192, n=8192, k=8192), "tiled", "bf16")
    free = simulate(planned, _capped(5000.0), fidelity="analytic")
    assert free.clock_scale == 1.0
    cap = 0.6 * free.average_power_w
    capped = simulate(planned, _capped(cap), fidelity="analytic")
    assert capped.clock_scale < 1
    assert capped.latency_s > free.latency_s
    assert 0.9 * cap <= capped.average_power_w <= cap * (1 + 1e-6)
    assert any(n.startswith("power-capped") for n in capped.notes)
    _check_additive(capped)


_presets = st.sampled_from(["h100-sxm5-80gb", "a100-sxm4-80gb", "b200", "v100-sxm2-16gb", "rtx-4090",
                            "tpu-v5e", "groq-lpu-style", "edge-npu-32x32"])
_work = st.sampled_from([("gemm-4096", "tiled", {"m": 512, "n": 2048, "k": 1024}),
                         ("mamba-130m", "sequential", {"seq_len": 64}),
                         ("mamba2-2.7b", "chunked", {"seq_len": 512}),
                         ("llama2-7b-attention", "blocked", {"seq_len": 512}),
                         ("elementwise-256m", "map", {"elements": 1 << 20})])


@settings(max_examples=25, deadline=None)
@given(name=_presets, work=_work, cap=st.floats(0.05, 2.0), scale=st.floats(0.1, 10.0))
def test_property_no_result_averages_above_its_tdp(name, work, cap, scale):
    """Over presets, workloads and power caps (stated TDPs from 5 % to twice what the call would
    draw unthrottled, energies scaled ×0.1–10): energy adds up by component and is non-negative,
    and the average power never exceeds the TDP — unless the clock is at its floor, which the
    result says."""
    acc = load_accelerator(name)
    acc = acc.replace(vector=acc.vector.model_copy(update={
        "energy_per_flop_j": {k: v * scale for k, v in acc.vector.energy_per_flop_j.items()}}))
    workload, algorithm, params = work
    dtype = "bf16" if "bf16" in acc.vector.flops_per_lane_per_cycle else "fp32"
    planned = schedule(get_workload(workload).with_params(**params), algorithm, dtype)
    free = simulate(planned, acc, fidelity="analytic")
    _check_additive(free)
    assert free.average_power_w <= power.tdp_w(acc, dtype) * (1 + 1e-6)
    tdp = max(cap * free.average_power_w, power.baseline_w(acc) * 1.01)
    capped_acc = acc.replace(power={"tdp_w": tdp, "baseline_w": {"value": power.baseline_w(acc), "source": "test"}})
    r = simulate(planned, capped_acc, fidelity="analytic")
    _check_additive(r)
    floor = r.clock_scale == power.MIN_CLOCK_SCALE and any("floor" in n for n in r.notes)
    assert r.average_power_w <= tdp * (1 + 1e-6) or floor
    assert r.latency_s >= free.latency_s * (1 - 1e-9)


def test_a_chip_at_rest_draws_its_idle_power():
    h100 = load_accelerator("h100-sxm5-80gb")
    assert power.idle_w(h100) == 75.0  # Splitwise's measured idle power of an H100 SXM
    proposed = load_accelerator("groq-lpu-style")  # no measurement: the median share of the TDP
    assert power.idle_w(proposed) == pytest.approx(max(power.DEFAULT_IDLE_FRACTION * power.tdp_w(proposed),
                                                       proposed.static_power_w))
    for name in ("h100-sxm5-80gb", "b200", "tpu-v4", "wse2-style"):
        acc = load_accelerator(name)
        assert acc.static_power_w <= power.idle_w(acc) <= power.baseline_w(acc) <= power.tdp_w(acc)


def test_at_clock_scales_rates_with_the_clock_and_energies_with_the_voltage_squared():
    acc = load_accelerator("v100-sxm2-16gb")
    slow = power.at_clock(acc, 0.5)
    assert slow.clock_hz == pytest.approx(acc.clock_hz / 2)
    assert slow.matrix.clock_hz == pytest.approx(acc.matrix.clock_hz / 2)
    assert slow.vector.energy_per_flop_j["fp32"] == pytest.approx(acc.vector.energy_per_flop_j["fp32"] / 4)
    assert slow.dram == acc.dram  # the memory keeps its own clock
    assert power.tdp_w(slow) == power.tdp_w(acc)
    clocked = power.baseline_w(acc) - acc.static_power_w
    assert power.baseline_w(slow) == pytest.approx(acc.static_power_w + clocked * 0.5 * 0.25)
    with pytest.raises(ValueError, match="clock_scale"):
        power.at_clock(acc, 0.0)


def test_power_block_errors_name_the_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("base: h100-sxm5-80gb\nname: bad\npower: {tdp_w: 700, whole_stack: true, "
                    "instruction_energy_j: 1.0e-12}\n")
    with pytest.raises(SpecError, match=r"bad\.yaml.*power.*whole_stack"):
        load_accelerator(path)
    path.write_text("base: h100-sxm5-80gb\nname: bad\npower: {tdp_w: 50, idle_w: {value: 75, source: x}}\n")
    with pytest.raises(SpecError, match=r"idle_w: 75 W is above tdp_w 50 W"):
        load_accelerator(path)


def test_models_energy_by_component_adds_up_and_waiting_draws_the_baseline():
    from simulator.model import ENERGY_PARTS, simulate_generation
    from workloads.models import load_model

    m = load_model("examples/models/llama-3-8b.json")
    _, _, run = simulate_generation(m, "h100-sxm5-80gb", 128, 64, 16, "bf16", chips=2)
    assert sum(run[k] for k in ENERGY_PARTS) == pytest.approx(run["energy_j"], rel=1e-9)
    assert run["energy_link_j"] > 0  # two chips: the tensor-parallel all-reduces
    assert all(run[k] >= 0 for k in ENERGY_PARTS)
    assert 75.0 <= run["average_power_w"] <= 700.0
    assert run["energy_per_output_token_j"] == pytest.approx(run["energy_j"] / (16 * 64))
    assert math.isfinite(run["peak_power_w"]) and run["peak_power_w"] >= run["average_power_w"] * 0.999
