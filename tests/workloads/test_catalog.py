"""Every catalog workload under every algorithm of its family: schedules with the closed-form
totals of their families, simulated on every preset within the bounds."""

import math

import pytest

from hwmodels.loader import load_accelerator, preset_names
from simulator import SimulationError, simulate
from workloads.catalog import CATALOG, WorkloadError, algorithms, get_workload
from workloads.dispatch import schedule

CASES = [(name, algo) for name, w in CATALOG.items() for algo in algorithms(w)]


@pytest.fixture(scope="module")
def presets():
    return [load_accelerator(n) for n in preset_names()]


def small(w):
    """The workload at a length that keeps the test quick."""
    return w.with_params(seq_len=min(w.seq_len, 1024)) if w.seq_len > 1 else w


@pytest.mark.parametrize("name,algo", CASES)
def test_every_schedule_simulates_within_bounds(presets, name, algo):
    sched = schedule(small(CATALOG[name]), algo)
    assert sched.work_flops > 0 and sched.dram_bytes > 0
    ran = 0
    for acc in presets:
        try:
            result = simulate(sched, acc, "unfused", event_budget=128)  # bounds hold at any budget
        except SimulationError as exc:  # a working set no memory of that chip can hold
            assert "exceeds the" in str(exc)
            continue
        ran += 1
        assert result.lower_bound_s * (1 - 1e-9) <= result.latency_s <= result.upper_bound_s * (1 + 1e-9)
        assert result.energy_j > 0
    assert ran >= 1


def test_closed_form_totals():
    T = 1024
    ssd = get_workload("mamba2-2.7b").with_params(seq_len=T)
    N, K, V = ssd.heads, ssd.state, ssd.value
    assert schedule(ssd, "sequential").work_flops == 5 * N * K * V * T
    # GLA: the same recurrence arithmetic, but a gate (read and exponentiated) per key channel
    gla = get_workload("gla-1.3b").with_params(seq_len=T)
    seq = schedule(gla, "sequential").stages[0]
    assert schedule(gla, "sequential").work_flops == 5 * gla.heads * gla.state * gla.value * T
    assert seq.total_ops * seq.sfu_ops_per_op == pytest.approx(gla.heads * gla.state * T)
    ssd_like = get_workload("retnet-1.3b").with_params(seq_len=T)
    assert schedule(ssd_like, "sequential").stages[0].sfu_ops_per_op * 256 * 512 == pytest.approx(1)
    dn = get_workload("deltanet-1.3b").with_params(seq_len=T)
    assert schedule(dn, "sequential").work_flops == 8 * dn.heads * dn.state * dn.value * T
    dp = get_workload("deltaproduct-1.3b").with_params(seq_len=T)
    assert schedule(dp, "sequential").work_flops == 2 * schedule(dn, "sequential").work_flops
    att = get_workload("llama2-7b-attention").with_params(seq_len=T)
    pairs = T * (T + 1) / 2
    assert schedule(att, "blocked").work_flops == pytest.approx(att.heads * pairs * 4 * att.state)
    g = get_workload("gemm-4096").with_params(m=300, n=200, k=50)
    assert schedule(g, "tiled").work_flops == 2 * 300 * 200 * 50
    e = get_workload("elementwise-256m").with_params(elements=1000)
    assert schedule(e, "map").dram_bytes == 1000 * 3 * 4
    lstm = get_workload("lstm-2048").with_params(seq_len=T, state=8, inputs=4)
    # 4 gates: U·x over all T (2·n_in each) plus per step 4·d dot products of length d
    assert schedule(lstm, "sequential").work_flops == 4 * 8 * T * (2 * 4) + 4 * 8 * T * (2 * 8 + 4)


def test_mlstm_and_long_convolution_totals():
    """mLSTM: the scalar-decay recurrence with its normaliser as one more value column, four
    special-function ops per head-step.  Long convolutions: T(T+1)/2 multiply-adds per row
    directly; the transforms the kernels run (2.5 N log₂(N/2) flops per cuFFT rfft, FlashFFTConv's
    levels of r-point DFT matrices); FlashFFTConv's fused kernel reads u and writes y once."""
    T = 1000
    x = get_workload("xlstm-7b").with_params(seq_len=T)
    H, K, V = x.heads, x.state, x.value
    seq = schedule(x, "sequential", "bf16").stages[0]
    assert seq.flops == 5 * H * K * (V + 1) * T and seq.total_ops * seq.sfu_ops_per_op == pytest.approx(4 * H * T)
    assert seq.bytes_written == pytest.approx(H * T * V * 2)  # o only, not the normaliser
    ssd = schedule(get_workload("mamba2-2.7b").with_params(seq_len=T, heads=H, state=K, value=V, groups=0), "chunked", "bf16")
    assert 1 < schedule(x, "chunked", "bf16").work_flops / ssd.work_flops < 1 + 3 / V

    w = get_workload("long-conv-d1024").with_params(seq_len=T, batch=2)
    rows, D, e, N = 2 * 1024, 1024, 2, 2048
    assert schedule(w, "direct", "bf16").work_flops == 2 * rows * T * (T + 1) // 2
    fft = schedule(w, "fft", "bf16")
    rfft = [s for s in fft.stages if s.name.startswith("rfft")]
    assert [s.flops for s in rfft] == [10 * D * N // 4 * 10, 10 * rows * N // 4 * 10]  # log₂ 1024 = 10 levels
    monarch = schedule(w, "monarch", "bf16")
    levels = [s for s in monarch.stages if s.name.startswith("monarch")]
    assert [s.steps for s in levels] == [3, 3] and "16·16·8" in levels[0].name  # N = 2048 = 16·16·8
    fused = sum(s.bytes_read + s.bytes_written for s in levels)
    assert fused == pytest.approx(2 * rows * T * e + D * N * 2 * e)
    assert monarch.dram_bytes < fft.dram_bytes / 3


def test_kogge_stone_over_dplr_densifies():
    """The paper's point about DPLR: circuit combines multiply K×K matrices, so a log-depth
    circuit costs ~K× the recurrence's work, while the chunked WY form stays near it."""
    w = get_workload("deltanet-1.3b").with_params(seq_len=2048)
    seq = schedule(w, "sequential").work_flops
    assert schedule(w, "kogge-stone").work_flops > 100 * seq
    assert schedule(w, "chunked").work_flops < 3 * seq
    assert schedule(w, "kogge-stone").depth_ops < schedule(w, "sequential").depth_ops / 5


def test_deer_iterations_are_measured_and_scale_the_schedule():
    w = get_workload("gru-2048").with_params(seq_len=256, state=16, inputs=16)
    measured = schedule(w, "deer")
    fixed = schedule(w, "deer", iterations=2)
    linearise = [s for s in measured.stages if s.name.startswith("linearise")]
    assert len(linearise) == measured.meta["iterations"] >= 2
    assert len([s for s in fixed.stages if s.name.startswith("linearise")]) == 2
    depth = math.ceil(math.log2(256))
    assert len(fixed.stages) == 1 + 2 * (1 + depth + 1)


def test_a_parameter_the_family_does_not_read_is_refused():
    """Once ``-p value=999`` on a diagonal workload was accepted and changed nothing."""
    with pytest.raises(WorkloadError, match="'value' is not a dimension of family 'diagonal'"):
        get_workload("mamba-130m").with_params(value=999)
    with pytest.raises(WorkloadError, match="expected one of m, n, k"):
        get_workload("gemm-4096").with_params(heads=4)
    # T alone is accepted by every workload: sweeps vary it across mixed workloads
    assert get_workload("gemm-4096").with_params(seq_len=4).m == 4096
    assert get_workload("deltaproduct-1.3b").with_params(householders=3).householders == 3
