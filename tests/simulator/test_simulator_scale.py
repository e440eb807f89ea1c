"""Multi-chip, the paper's claims measured, analytic vs DES, and capacity errors."""

import math

import numpy as np
import pytest

from hwmodels.loader import load_accelerator
from hwmodels.spec import Accelerator
from simulator import SimulationError, simulate
from simulator.multichip import carry_hop_s, pipeline_latency_s, sequence_parallel
from tests.conftest import toy_spec
from workloads.catalog import Workload, get_workload
from workloads.dispatch import schedule
from workloads.schedule import Schedule, Stage

LINK = {"topology": "ring", "links_per_chip": 2, "bandwidth_bytes_per_s": 4.0, "latency_s": 0.5,
        "energy_per_byte_j": 1.0}


def test_chunk_carry_over_a_link_costs_latency_plus_bytes_over_bandwidth():
    acc = Accelerator.model_validate(toy_spec(link=LINK))
    assert carry_hop_s(acc, 8.0) == 0.5 + 8 / 4
    w = Workload("w", "diagonal", seq_len=64, state=1)
    two = sequence_parallel(w, "sequential", acc, 2, carry_bytes=8.0, policy="unfused")
    assert two.carry_s == pytest.approx(2.5)
    assert two.latency_s == pytest.approx(two.chip_scan_s + 2.5 + two.fixup_s)
    assert two.link_bytes == 8.0
    one = sequence_parallel(w, "sequential", acc, 1, policy="unfused")
    assert one.carry_s == 0 and one.fixup_s == 0
    assert two.chip_scan_s < one.chip_scan_s  # each chip scans half the sequence


def test_carry_rounds_follow_the_topology():
    ring = Accelerator.model_validate(toy_spec(link=LINK))
    full = Accelerator.model_validate(toy_spec(link=dict(LINK, topology="fully-connected")))
    w = Workload("w", "diagonal", seq_len=256, state=1)
    # ring: 2 links shared by 2 neighbours, one 4-byte hop 0.5 + 4/4 s, 7 hops in a row
    assert sequence_parallel(w, "sequential", ring, 8, carry_bytes=4.0).carry_s == pytest.approx(7 * 1.5)
    # through a switch both links reach any chip: 0.5 + 4/8 s, 3 Kogge–Stone rounds
    assert sequence_parallel(w, "sequential", full, 8, carry_bytes=4.0).carry_s == pytest.approx(3 * 1.0)
    torus = Accelerator.model_validate(toy_spec(link=dict(LINK, topology="torus-2d", links_per_chip=8)))
    assert sequence_parallel(w, "sequential", torus, 8, carry_bytes=4.0).carry_s == pytest.approx(3 * 1.0)
    with pytest.raises(SimulationError, match="no 'link' resource"):
        sequence_parallel(w, "sequential", Accelerator.model_validate(toy_spec()), 2)


def test_default_carry_is_the_families_affine_map_and_chips_idle_while_it_travels():
    acc = Accelerator.model_validate(toy_spec(link=LINK, static_power_w=3.0))
    diag = Workload("d", "diagonal", seq_len=64, heads=2, state=3)
    assert sequence_parallel(diag, "sequential", acc, 2).link_bytes == 2 * 3 * 2 * 4  # a and h
    delta = Workload("dn", "deltanet", seq_len=64, heads=2, state=4, value=8)
    two = sequence_parallel(delta, "sequential", acc, 2)
    assert two.link_bytes == 2 * (4 * 4 + 4 * 8) * 4  # K×K transition and K×V state per head
    alone = 2 * (two.per_chip.energy_j + 0) + two.link_bytes * 1.0
    assert two.energy_j > alone + 2 * 3.0 * two.carry_s * (1 - 1e-9)  # static power while waiting
    with pytest.raises(SimulationError, match="no associative carry"):
        sequence_parallel(Workload("r", "lstm", seq_len=64, state=4), "sequential", acc, 2)


def test_layer_pipeline_by_hand():
    acc = Accelerator.model_validate(toy_spec(link=LINK))
    # 8 layers of 1 s on 4 chips: 2 layers per chip + one 2-byte hop (0.5 + 0.5) = 3 s per
    # slot; 4 chips and 6 micro-batches fill and drain in 4 + 6 − 1 = 9 slots
    assert pipeline_latency_s(1.0, 8, 4, 6, 2.0, acc) == pytest.approx(9 * 3.0)
    assert pipeline_latency_s(1.0, 8, 1, 1, 2.0, acc) == 8.0


def _pram(lanes: int) -> Accelerator:
    """An idealised machine with at least T lanes, unit op latency and free memory: what is
    left is the depth of the schedule."""
    spec = toy_spec(clock_hz=1e9, kernel_launch_s=0.0, cores=4)  # one core per tile of a level
    spec["vector"]["lanes"] = lanes
    spec["vector"]["flops_per_lane_per_cycle"] = {"fp32": 4.0}  # a combine issues in one cycle
    spec["memory"][0]["capacity_bytes"] = 1e15
    spec["memory"][1].update(bandwidth_bytes_per_s=1e21, capacity_bytes=1e18)
    spec["sfu"] = {f: {"ops_per_cycle": lanes, "latency_cycles": 1} for f in ("exp", "tanh", "sigmoid")}
    spec["sfu"]["energy_per_op_j"] = 0.0
    return Accelerator.model_validate(spec)


def _exponent(ts, lat):
    return float(np.polyfit(np.log(ts), np.log(lat), 1)[0])


def test_the_paper_measured_log_depth_linear_vs_depth_t_nonlinear():
    ts = [2**k for k in range(8, 21, 2)]
    pram = _pram(1 << 21)
    diag = Workload("lrnn", "diagonal", state=1)
    ks = [simulate(schedule(diag.with_params(seq_len=t), "kogge-stone"), pram, "unfused").latency_s for t in ts]
    # Kogge–Stone: one level per doubling of T, each one op latency: latency ∝ log T
    np.testing.assert_allclose(ks, [math.ceil(math.log2(t)) * 1e-9 for t in ts], rtol=1e-4)
    assert _exponent(ts, ks) < 0.25
    rnn = Workload("rnn", "elman", state=4, inputs=4)
    chain = [simulate(schedule(rnn.with_params(seq_len=t), "sequential"), pram, "unfused").latency_s for t in ts]
    assert 0.95 < _exponent(ts, chain) < 1.05  # depth-T chain: latency ∝ T


def test_chunked_overtakes_kogge_stone_on_a_gpu():
    """The crossover T where the chunked scan beats Kogge–Stone on the H100 preset (narrow
    head, fp32, auto policy): reported, and it exists within 2 … 2^16 — short sequences
    favour the shallow circuit, long ones the work-efficient chunked one."""
    h100 = load_accelerator("h100-sxm5-80gb")
    w = get_workload("diagonal-d64")
    crossover = None
    for k in range(1, 17):
        t = 2**k
        ks = simulate(schedule(w.with_params(seq_len=t), "kogge-stone"), h100).latency_s
        ch = simulate(schedule(w.with_params(seq_len=t), "chunked", chunk=64), h100).latency_s
        if ch < ks:
            crossover = t
            break
    print(f"chunked(64) beats Kogge–Stone on h100-sxm5-80gb from T = {crossover}")
    assert crossover is not None and crossover > 2


@pytest.mark.parametrize("name,algo", [("mamba-130m", "sequential"), ("mamba-130m", "kogge-stone"),
                                       ("mamba2-2.7b", "sequential"), ("deltanet-1.3b", "sequential"),
                                       ("mamba-130m", "brent-kung")])
def test_analytic_agrees_with_des_on_uncontended_schedules(name, algo):
    """Large stages on a chain of dependencies: no two stages contend, and a stage's tile
    fill is small next to its run, so the closed form is within 5 % of the DES.  On small,
    latency-bound levels it is not: diagonal-d64 under Brent–Kung at T = 2^16 (31 levels of at
    most 2^15 × 64 combines) comes out 10 % faster in closed form, which counts one DRAM
    latency per stage where the DES pays a load, a compute and a store per tile."""
    h100 = load_accelerator("h100-sxm5-80gb")
    sched = schedule(get_workload(name).with_params(seq_len=1 << 16), algo)
    des = simulate(sched, h100, "unfused")
    fast = simulate(sched, h100, "unfused", fidelity="analytic")
    assert abs(fast.latency_s / des.latency_s - 1) < 0.05
    assert fast.dram_bytes == des.dram_bytes and fast.fidelity == "analytic"


def test_analytic_never_beats_the_totals_of_concurrent_stages(toy):
    """Two independent memory-bound stages at once: the DES shares the one DRAM between them;
    the closed form's longest path gives each the full bandwidth (100 s) but is held to the
    lower bound, all bytes over the bandwidth (200 s).  Two stages of 2^20 ops × 1 KiB on an
    H100 likewise: the closed form was once below its own lower bound (323 µs vs 641 µs)."""
    acc = toy.replace(cores=2)
    stage = Stage("copy", "transfer", ops=1, bytes_read_per_op=100)
    sched = Schedule("two", "fp32", (stage, stage))
    des = simulate(sched, acc, "unfused").latency_s
    fast = simulate(sched, acc, "unfused", fidelity="analytic")
    assert des == pytest.approx(200) and fast.latency_s == pytest.approx(200) == fast.lower_bound_s
    big = Stage("copy", "vector", ops=1 << 20, flops_per_op=1, bytes_read_per_op=1024)
    h100 = load_accelerator("h100-sxm5-80gb")
    for fidelity in ("des", "analytic"):
        r = simulate(Schedule("two", "fp32", (big, big)), h100, "unfused", fidelity=fidelity)
        assert r.lower_bound_s <= r.latency_s <= r.upper_bound_s, fidelity


def test_working_set_beyond_all_memory_names_stage_and_memory(toy):
    huge = Stage("levels", "vector", ops=10, resident_bytes_per_op=1e9)
    with pytest.raises(SimulationError, match=r"stage 0 \(levels\): one copy's working set .* 'dram' memory"):
        simulate(Schedule("big", "fp32", (huge,)), toy)
    with pytest.raises(SimulationError, match="policy: expected one of unfused, fused, auto"):
        simulate(Schedule("big", "fp32", (Stage("s", "vector", ops=1),)), toy, "greedy")


def test_wafer_scale_chip_is_simulated_in_core_groups():
    wse = load_accelerator("wse2-style")
    result = simulate(schedule(get_workload("mamba-130m"), "sequential", "fp16"), wse)
    assert result.latency_s >= result.lower_bound_s and result.trace["core"].max() < 1024


@pytest.mark.parametrize("name,algorithm,dtype", [
    ("mamba-130m", "kogge-stone", "fp32"), ("gemm-4096", "tiled", "bf16"),
    ("llama2-7b-attention", "blocked", "bf16"), ("deltanet-1.3b", "chunked", "bf16"),
])
def test_vectorised_analytic_equals_one_at_a_time(name, algorithm, dtype):
    from simulator.analytic import analytic_latency_batch

    w = get_workload(name).with_params(seq_len=2048)
    sched = schedule(w, algorithm, dtype)
    accs = [load_accelerator(p) for p in ("a100-sxm4-80gb", "h100-sxm5-80gb", "b200", "tpu-v4")]
    accs += [accs[1].replace(cores=c) for c in (4, 16, 64)]  # fewer cores: less sharing in L2
    batch = analytic_latency_batch(sched, accs)
    for acc, latency in zip(accs, batch):
        one = simulate(sched, acc, policy="unfused", fidelity="analytic").latency_s
        assert latency == pytest.approx(one, rel=1e-9), acc.name


def test_shared_cache_merges_gemm_panels_and_attention_rereads():
    from simulator.policy import share_panels, wave_tile
    from workloads.schedule import gemm_read_bytes

    spec = toy_spec(cores=16)
    l2 = {"name": "l2", "scope": "chip", "capacity_bytes": 1e9, "bandwidth_bytes_per_s": 1e9,
          "latency_s": 0.0, "energy_per_byte_j": 0.0}
    with_l2 = Accelerator.model_validate({**spec, "memory": [spec["memory"][0], l2, spec["memory"][1]]})
    small = {**l2, "capacity_bytes": 2 * 512 * 128 * 4 - 1}  # one 128-deep slab of a 512 wave won't fit
    tiny_l2 = Accelerator.model_validate({**spec, "memory": [spec["memory"][0], small, spec["memory"][1]]})
    no_l2 = Accelerator.model_validate(spec)
    # 16 cores → a wave of 4 × 4 tiles of 128: output blocks of 512
    assert wave_tile(with_l2, 128, 4) == 512
    assert wave_tile(tiny_l2, 128, 4) == wave_tile(no_l2, 128, 4) == 128
    assert gemm_read_bytes(512, 512, 512, 128, 4) == 4 * 512 * (512 * 4 + 512 * 4)
    gemm = schedule(get_workload("gemm-4096").with_params(m=512, n=512, k=512), "tiled", "fp32")
    shared = share_panels(gemm, with_l2).stages[0]
    assert shared.bytes_read == pytest.approx(4 * 512 * (512 + 512))  # each panel read once
    assert share_panels(gemm, no_l2) is gemm
    # attention: K and V are re-read by every query block of a head; 16 cores read them at once
    attn = schedule(get_workload("llama2-7b-attention").with_params(seq_len=4096, batch=1, heads=1),
                    "blocked", "fp32")
    stage, merged = attn.stages[0], share_panels(attn, with_l2).stages[0]
    nq = 4096 // 128
    kv_once = 4096 * (128 + 128) * 4
    assert stage.bytes_read == pytest.approx(4096 * 128 * 4 + (nq + 1) / 2 * kv_once)
    assert merged.bytes_read == pytest.approx(
        4096 * 128 * 4 + kv_once + ((nq + 1) / 2 * kv_once - kv_once) / 16)
    # a cache smaller than one head's K and V (4 MB here) merges nothing
    assert share_panels(attn, tiny_l2).stages[0].bytes_read == stage.bytes_read
