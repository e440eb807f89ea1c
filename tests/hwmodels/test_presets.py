"""Shipped presets against their datasheets, inheritance, round trips, systolic cycles, cost."""

import json
import math

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hwmodels import loader, power
from hwmodels.cost import (chip_cost_usd, cost_per_good_die_usd, die_yield, dies_per_wafer,
                           usd_per_million_tokens)
from hwmodels.loader import SpecError, dump_accelerator, load_accelerator, preset_names
from hwmodels.systolic import gemm_cycles
from reports.cli import main
from tests.conftest import toy_spec

REQUIRED = {"a100-sxm4-80gb", "h100-sxm5-80gb", "h200-sxm-141gb", "b200", "tpu-v4", "tpu-v5e",
            "groq-lpu-style", "wse2-style", "edge-npu-32x32"}

# (preset, dtype, unit, datasheet peak in flop/s or byte/s, relative tolerance)
PEAKS = [
    ("a100-sxm4-80gb", "fp32", "vector", 19.5e12, 0.01),
    ("a100-sxm4-80gb", "bf16", "matrix", 312e12, 0.01),
    ("a100-sxm4-80gb", None, "dram", 2.039e12, 0.001),
    ("h100-sxm5-80gb", "fp32", "vector", 66.9e12, 0.01),
    ("h100-sxm5-80gb", "bf16", "matrix", 989.4e12, 0.01),
    ("h200-sxm-141gb", "bf16", "matrix", 989.4e12, 0.01),
    ("h200-sxm-141gb", None, "dram", 4.8e12, 0.001),
    ("b200", "bf16", "matrix", 2.25e15, 0.01),
    ("b200", "fp8", "matrix", 4.5e15, 0.01),
    ("b200", "fp32", "vector", 80e12, 0.01),
    ("tpu-v4", "bf16", "matrix", 275e12, 0.01),
    ("tpu-v5e", "bf16", "matrix", 197e12, 0.01),
    ("tpu-v5e", "int8", "matrix", 394e12, 0.01),
    ("groq-lpu-style", "int8", "matrix", 737e12, 0.01),
    ("edge-npu-32x32", "int8", "matrix", 2.048e12, 0.001),
    ("jetson-orin-nano-8gb", "int8", "matrix", 20e12, 0.03),
    ("rtx-4090", "fp32", "vector", 82.6e12, 0.01),
    ("rtx-4090", "bf16", "matrix", 165.2e12, 0.01),
    ("rtx-4090", None, "dram", 1.008e12, 0.001),
    ("v100-sxm2-16gb", "fp32", "vector", 15.7e12, 0.01),
    ("v100-sxm2-16gb", "fp16", "matrix", 125e12, 0.01),
    ("v100-sxm2-16gb", None, "dram", 900e9, 0.001),
    ("p100-pcie-16gb", "fp32", "vector", 9.3e12, 0.01),
    ("p100-pcie-16gb", "fp16", "vector", 18.7e12, 0.01),
    ("p100-pcie-16gb", None, "dram", 732e9, 0.001),
    ("t4", "fp32", "vector", 8.1e12, 0.01),
    ("t4", "fp16", "matrix", 65e12, 0.01),
    ("t4", None, "dram", 320e9, 0.001),
]


def test_required_presets_ship():
    assert REQUIRED <= set(preset_names())


@pytest.mark.parametrize("name,dtype,unit,peak,tol", PEAKS)
def test_preset_peaks_match_datasheets(name, dtype, unit, peak, tol):
    acc = load_accelerator(name)
    got = {"vector": lambda: acc.peak_flops_per_s(dtype),
           "matrix": lambda: acc.matrix_peak_flops_per_s(dtype),
           "dram": lambda: acc.dram.bandwidth_bytes_per_s}[unit]()
    assert got == pytest.approx(peak, rel=tol)


@pytest.mark.parametrize("name", sorted(REQUIRED | {"jetson-orin-nano-8gb"}))
def test_round_trip_is_exact(tmp_path, name):
    acc = load_accelerator(name)
    path = tmp_path / "spec.yaml"
    path.write_text(dump_accelerator(acc))
    assert load_accelerator(path) == acc
    assert power.tdp_w(acc) >= power.baseline_w(acc) >= power.idle_w(acc) >= acc.static_power_w
    assert acc.machine_balance_flops_per_byte > 0


def test_inheritance_overrides_deeply(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("base: h100-sxm5-80gb\nname: h100-fast-clock\nclock_hz: 2.2e+9\n"
                    "vector: {lanes: 256}\n")
    acc = load_accelerator(path)
    h100 = load_accelerator("h100-sxm5-80gb")
    assert (acc.clock_hz, acc.vector.lanes) == (2.2e9, 256)
    assert acc.vector.flops_per_lane_per_cycle == h100.vector.flops_per_lane_per_cycle  # merged
    assert acc.memory == h100.memory
    assert load_accelerator("h200-sxm-141gb").cores == 132


def test_base_errors(tmp_path, monkeypatch):
    path = tmp_path / "mine.yaml"
    path.write_text("base: h99\nname: x\n")
    with pytest.raises(SpecError, match=r"mine\.yaml: base: expected a preset name .* got 'h99'"):
        load_accelerator(path)
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "a.yaml").write_text("base: b\nname: a\n")
    (presets / "b.yaml").write_text("base: a\nname: b\n")
    monkeypatch.setattr(loader, "_preset_dir", lambda: presets)
    with pytest.raises(SpecError, match="inheritance cycle a → b → a"):
        load_accelerator("a")


def test_matrix_with_zero_rows_and_warnings(tmp_path):
    spec = toy_spec(matrix={"rows": 0, "cols": 4, "dataflow": "os", "clock_hz": 1.0,
                            "macs_per_cycle": {"fp32": 4}, "energy_per_mac_j": {"fp32": 0.0}})
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match=r"matrix\.rows: expected input should be greater than or equal to 1"):
        load_accelerator(path)
    spec = toy_spec()
    spec["memory"][0].update(capacity_bytes=1e12, bandwidth_bytes_per_s=0.5)
    path.write_text(yaml.safe_dump(spec))
    acc = load_accelerator(path)
    assert acc.warnings() and "memory[0] (sram) is larger than the outermost level and slower" in acc.warnings()[0]


def test_schema_command_prints_json_schema(capsys):
    assert main(["hw", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    whole, based = schema["$defs"]["Accelerator"], schema["anyOf"][1]
    assert {"cores", "clock_hz", "memory", "matrix"} <= set(whole["properties"]) and "base" in based["properties"]
    assert whole["additionalProperties"] is False and based["additionalProperties"] is False


@pytest.mark.parametrize("rows,cols,dataflow,m,n,k,expected", [
    (4, 4, "os", 4, 4, 4, 10),          # one fold: 4 + 4 + 4 − 2
    (4, 4, "os", 8, 4, 16, 2 * 22),     # S_r = m = 8 → 2 folds of 4 + 4 + 16 − 2
    (4, 4, "ws", 4, 4, 4, 14),          # preload 4 more: 2·4 + 4 + 4 − 2
    (4, 4, "ws", 3, 5, 6, 4 * 13),      # S_r = k = 6, S_c = n = 5 → 2·2 folds; T = m = 3: 8 + 4 + 3 − 2
    (32, 32, "is", 100, 10, 32, 4 * 104),  # S_r = k = 32, S_c = m = 100 → 4 folds; T = n = 10: 64 + 32 + 8
])
def test_systolic_cycles_by_hand(rows, cols, dataflow, m, n, k, expected):
    assert gemm_cycles(rows, cols, dataflow, m, n, k) == expected


@settings(max_examples=200, deadline=None)
@given(rows=st.integers(1, 64), cols=st.integers(1, 64), dataflow=st.sampled_from(["os", "ws", "is"]),
       m=st.integers(1, 300), n=st.integers(1, 300), k=st.integers(1, 300))
def test_systolic_cycles_never_beat_the_array_peak(rows, cols, dataflow, m, n, k):
    cycles = gemm_cycles(rows, cols, dataflow, m, n, k)
    assert cycles >= math.ceil(m * n * k / (rows * cols))
    assert gemm_cycles(rows, cols, dataflow, m, n, 2 * k) >= cycles


def test_cost_model_by_hand():
    # 300 mm wafer, 800 mm² die: π·150²/800 − π·300/√1600 = 88.36 − 23.56 = 64.8 → 64
    assert dies_per_wafer(800) == 64
    assert dies_per_wafer(46225) == 1  # wafer-scale
    # A = 8 cm², D₀ = 0.1/cm²: Poisson e^−0.8 = 0.4493; Murphy ((1 − e^−0.8)/0.8)² = 0.4738
    assert die_yield(800, 0.1, "poisson") == pytest.approx(0.449329, rel=1e-5)
    assert die_yield(800, 0.1, "murphy") == pytest.approx(0.473810, rel=1e-5)
    a100 = load_accelerator("a100-sxm4-80gb")
    good = dies_per_wafer(826) * die_yield(826, 0.1, "murphy")
    assert cost_per_good_die_usd(a100) == pytest.approx(9346 / good)
    assert chip_cost_usd(a100) == pytest.approx(9346 / good + 80 * 12 + 500)
    # one second for 10^6 tokens at 1 kJ: capex 1 s of a 4-year life at 50 %, plus 1/3600 kWh
    usd = usd_per_million_tokens(a100, 1.0, 1000.0, 10**6, utilisation=0.5, lifetime_years=4,
                                 electricity_usd_per_kwh=0.1)
    capex = chip_cost_usd(a100) / (4 * 365.25 * 24 * 3600 * 0.5)
    assert usd == pytest.approx(capex + 1000 / 3.6e6 * 0.1)
    with pytest.raises(ValueError, match="has no area block"):
        chip_cost_usd(load_accelerator("tpu-v4"))


@pytest.mark.slow
def test_calibrate_writes_a_valid_spec_of_this_machine(tmp_path, capsys):
    path = tmp_path / "host.yaml"
    assert main(["calibrate", "-o", str(path)]) == 0
    assert "GFLOP/s fp32" in capsys.readouterr().out
    host = load_accelerator(path)
    assert path.read_text().startswith("# Written by `scansim calibrate`")
    # timings are sanity-checked only: on a machine running another CPU-bound job a parallel
    # region's launch measured 14–17 ms (an idle one: well under 1 ms), so no test may
    # depend on the machine being idle
    assert host.cores >= 1 and host.clock_hz > 1e8
    assert host.vector.lanes >= 1 and 1 <= host.vector.op_latency_cycles < 1000
    assert host.dram.bandwidth_bytes_per_s > 1e8 and host.dram.capacity_bytes > 1e8
    assert host.memory[0].bandwidth_bytes_per_s > 0 and 0 < host.kernel_launch_s < 1.0


def test_pipelined_array_pays_one_fill_per_gemm():
    # 8×4×16 OS on 4×4: 2 folds of 16 MACs, one fill/drain of 4 + 4 − 2 → 38 (unpipelined 44)
    assert gemm_cycles(4, 4, "os", 8, 4, 16, pipelined=True) == 2 * 16 + 6
    assert gemm_cycles(4, 4, "ws", 4, 4, 4, pipelined=True) == 4 + 4 + 4 + 4 - 2
