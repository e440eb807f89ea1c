"""Kernel implementations: shipped kernels costed as they are built."""

import pytest

from hwmodels.loader import load_accelerator, preset_names
from simulator import SimulationError, simulate
from workloads.catalog import get_workload, schedule
from workloads.errors import WorkloadError
from workloads.implementations.selective_scan import launch


def test_selective_scan_reads_its_inputs_once_and_never_writes_the_state():
    """Mamba-1's fused kernel reads u, Δ, z, B, C once and writes y (plus per-chunk state
    checkpoints): no a or b of shape (B, L, D, N) ever crosses DRAM, unlike the generic
    diagonal schedule, which reads both."""
    B, D, N, T = 8, 4096, 16, 2048
    w = get_workload("mamba-1.4b").with_params(seq_len=T, batch=B)
    fused = schedule(w, dtype="bf16", impl="selective-scan")
    assert fused.meta["impl"] == "selective-scan" and fused.meta["algorithm"] == "chunked"
    h100 = load_accelerator("h100-sxm5-80gb")
    result = simulate(fused, h100)
    inputs, outputs = B * T * (3 * D + 2 * N) * 2, B * D * T * 2
    checkpoints = B * D * 1 * 2 * N * 4  # one chunk of 2048 steps
    # every channel's block re-reads B and C: the shared L2 merges them, one fetch per wave
    # of concurrent blocks (simulator.policy.share_panels): 4095 re-reads of 1 MB / 132
    rereads = (D - 1) * B * 2 * N * T * 2 / h100.cores
    assert result.dram_bytes == pytest.approx(inputs + outputs + checkpoints + rereads)
    generic = simulate(schedule(w, "sequential", "bf16"), h100)
    assert generic.dram_bytes > 10 * result.dram_bytes and generic.latency_s > result.latency_s
    # 7 flops and one exponential per (t, d, n); D·u and the silu gate per (t, d)
    assert fused.work_flops == pytest.approx(B * D * T * (7 * N + 5))
    stage = fused.stages[0]
    assert stage.total_ops * stage.sfu_ops_per_op == pytest.approx(B * D * T * (N + 1))
    assert result.lower_bound_s <= result.latency_s <= result.upper_bound_s


def test_selective_scan_launch_follows_the_kernel_launcher():
    assert [launch(t) for t in (100, 128, 200, 512, 1000, 1025, 1 << 20)] == [
        (32, 4), (32, 4), (32, 8), (32, 16), (64, 16), (128, 16), (128, 16)]


def test_exponentials_off_the_chain_do_not_lengthen_the_depth():
    """The items' exp(ΔA) are independent of one another: only the scan's multiply-add is on
    the dependent chain, so the depth bound is the chain of combines."""
    w = get_workload("mamba-130m").with_params(seq_len=4096, batch=1, heads=1)
    fused = schedule(w, dtype="fp32", impl="selective-scan")
    h100 = load_accelerator("h100-sxm5-80gb")
    stage = fused.stages[0]
    chain = stage.steps * h100.vector.op_latency_cycles / h100.clock_hz
    assert simulate(fused, h100).depth_bound_s == pytest.approx(h100.kernel_launch_s + chain)


@pytest.mark.parametrize("direction", ["fwd", "fwd+bwd"])
def test_selective_scan_simulates_within_bounds_on_every_preset(direction):
    w = get_workload("mamba-130m").with_params(seq_len=1000, batch=2)
    sched = schedule(w, dtype="bf16", impl="selective-scan", direction=direction)
    ran = 0
    for name in preset_names():
        try:
            result = simulate(sched, load_accelerator(name), fidelity="analytic")
        except SimulationError as exc:  # no bf16 vector rate there
            assert "rate" in str(exc)
            continue
        ran += 1
        assert result.lower_bound_s * (1 - 1e-9) <= result.latency_s <= result.upper_bound_s * (1 + 1e-9)
    assert ran >= 5
    if direction == "fwd+bwd":
        assert sched.work_flops == pytest.approx(3 * schedule(w, dtype="bf16", impl="selective-scan").work_flops)


def test_implementation_errors_name_what_was_expected():
    with pytest.raises(WorkloadError, match="unknown implementation 'cudnn'"):
        schedule(get_workload("mamba-130m"), impl="cudnn")
    with pytest.raises(WorkloadError, match="implements diagonal, not workload 'mamba2-2.7b'"):
        schedule(get_workload("mamba2-2.7b"), impl="selective-scan")
    with pytest.raises(WorkloadError, match="runs 'chunked', got 'kogge-stone'"):
        schedule(get_workload("mamba-130m"), "kogge-stone", impl="selective-scan")
