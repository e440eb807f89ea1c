"""Kernel implementations: shipped kernels costed as they are built."""

import dataclasses

import pytest

from hwmodels.loader import load_accelerator, preset_names
from simulator import SimulationError, simulate
from simulator.policy import fit_tiles, share_panels
from simulator.units import matrix_rate, place, stage_work_seconds
from workloads.catalog import get_workload
from workloads.dispatch import schedule
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
    # 10 flops and one exponential per (t, d, n); Δ·u, D·u and the silu gate per (t, d), with
    # softplus(Δ) and silu's exponential
    assert fused.work_flops == pytest.approx(B * D * T * (10 * N + 5))
    stage = fused.stages[0]
    assert stage.total_ops * stage.sfu_ops_per_op == pytest.approx(B * D * T * (N + 3))
    # the lanes are the blocks' threads, the steps the (chunk, state) iterations, one after another
    assert (stage.ops, stage.steps, stage.step_loads) == (B * D * 128, 1 * N, 1)
    assert result.lower_bound_s <= result.latency_s <= result.upper_bound_s


def test_selective_scan_issues_the_fp32_instructions_its_source_counts():
    """Loaded as bf16, computed in fp32: a thread's (chunk, state) iteration issues, per element,
    B and C through shared memory, ΔA and B·Δu, the scan's combines and y += C·h (10), plus the
    block scan's shuffles and exchanges (45) and the channel's own work over the N states (25 / N)
    — each an fp32 FMA's issue slot, not the bf16 rate its 10 flops would get as FMAs."""
    w = get_workload("mamba-130m").with_params(seq_len=4096, batch=2, heads=256, state=16)
    stage = schedule(w, dtype="bf16", impl="selective-scan").stages[0]
    assert stage.compute_dtype == "fp32"
    assert stage.instructions_per_op == pytest.approx((10 + 25 / 16) * 16 + 45)  # 128 threads × 16 items
    h100 = load_accelerator("h100-sxm5-80gb")
    issue = stage_work_seconds(stage, place(stage, h100, "bf16"), h100, "bf16")
    lanes = stage.total_ops * stage.instructions_per_op / (h100.vector.lanes * h100.clock_hz)  # fp32: 1 cycle each
    sfu = stage.total_ops * stage.sfu_ops_per_op / (h100.sfu.exp.ops_per_cycle * h100.clock_hz)
    assert issue == pytest.approx(lanes + sfu)
    as_flops = dataclasses.replace(stage, compute_dtype=None, instructions_per_op=0.0)
    assert stage_work_seconds(as_flops, place(stage, h100, "bf16"), h100, "bf16") == pytest.approx(
        stage.total_ops * stage.flops_per_op / (4 * h100.vector.lanes * h100.clock_hz) + sfu)  # bf16 FMAs
    backward = schedule(w, dtype="bf16", impl="selective-scan", direction="fwd+bwd").stages[1]
    assert backward.instructions_per_op == pytest.approx((33 + 40 / 16) * 16 + 105)


def test_selective_scan_launch_follows_the_kernel_launcher():
    assert [launch(t) for t in (100, 128, 200, 512, 1000, 1025, 1 << 20)] == [
        (32, 4), (32, 4), (32, 8), (32, 16), (64, 16), (128, 16), (128, 16)]


def test_exponentials_off_the_chain_do_not_lengthen_the_depth():
    """The items' exp(ΔA) are independent of one another: only the scan's combines are on the
    dependent chain — per (chunk, state) iteration the thread's 16 items reduced, log₂ 128
    levels across the block, the 16 items again — after the iteration's B and C load, one L2
    latency; so the depth bound is that chain."""
    w = get_workload("mamba-130m").with_params(seq_len=4096, batch=1, heads=1)
    fused = schedule(w, dtype="fp32", impl="selective-scan")
    h100 = load_accelerator("h100-sxm5-80gb")
    stage = fused.stages[0]
    assert stage.steps == 2 * 16 and stage.latency_ops == 2 * 16 + 7  # 2 chunks of 2048, 16 states
    chain = stage.steps * (stage.latency_ops * h100.vector.op_latency_cycles / h100.clock_hz + h100.memory[1].latency_s)
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
        # the backward: the forward's combines twice, and dB, dC per element (4 flops)
        forward = schedule(w, dtype="bf16", impl="selective-scan").work_flops
        assert sched.work_flops == pytest.approx(3 * forward + 4 * w.batch * w.heads * w.seq_len * w.state)


def test_implementation_errors_name_what_was_expected():
    with pytest.raises(WorkloadError, match="unknown implementation 'cudnn'"):
        schedule(get_workload("mamba-130m"), impl="cudnn")
    with pytest.raises(WorkloadError, match="implements diagonal, not workload 'mamba2-2.7b'"):
        schedule(get_workload("mamba2-2.7b"), impl="selective-scan")
    with pytest.raises(WorkloadError, match="runs 'chunked', got 'kogge-stone'"):
        schedule(get_workload("mamba-130m"), "kogge-stone", impl="selective-scan")


# --------------------------------------------------------------------------- cuDNN RNN

def _rnn(family="lstm", **params):
    return get_workload(f"{family}-2048").with_params(**{"inputs": 0, **params})


def test_cudnn_rnn_launches_two_kernels_per_step_and_rereads_weights_that_do_not_fit():
    """Every step is a GEMM and an elementwise kernel: the chain pays two launches and two
    first loads per step; weights that fit the L2 come from DRAM once, others every step."""
    v100 = load_accelerator("v100-sxm2-16gb")
    T, N = 100, 16
    small, large = _rnn(state=256, batch=N, seq_len=T), _rnn(state=2048, batch=N, seq_len=T)
    for w in (small, large):
        result = simulate(schedule(w, dtype="fp16", impl="cudnn-rnn"), v100)
        per_step = 2 * (v100.kernel_launch_s + v100.dram.latency_s)
        assert result.depth_bound_s >= T * per_step
        assert result.lower_bound_s <= result.latency_s <= result.upper_bound_s
    weights = lambda w: 4 * w.state ** 2 * 2  # noqa: E731 — four gates, fp16
    assert weights(small) < v100.memory[1].capacity_bytes < weights(large)
    kept = simulate(schedule(small, dtype="fp16", impl="cudnn-rnn"), v100).dram_bytes
    reread = simulate(schedule(large, dtype="fp16", impl="cudnn-rnn"), v100).dram_bytes
    assert weights(small) <= kept < 2 * weights(small) + T * N * 4 * 256 * 2 * 3
    assert reread >= T * weights(large)


def test_cudnn_rnn_backward_adds_reverse_steps_and_one_weight_gradient_gemm():
    w = _rnn("gru", state=1024, batch=32, seq_len=50)
    fwd = schedule(w, dtype="fp32", impl="cudnn-rnn")
    both = schedule(w, dtype="fp32", impl="cudnn-rnn", direction="fwd+bwd")
    assert [s.steps for s in both.stages] == [50, 50, 1]
    # dU = Σ δ hᵀ: 2 · (3d) · d · N·T flops, as the forward's recurrent GEMMs
    assert both.stages[-1].flops == pytest.approx(2 * 3 * 1024 * 1024 * 32 * 50)
    p100 = load_accelerator("p100-pcie-16gb")  # no tensor cores: every GEMM on the vector unit
    one, two = simulate(fwd, p100), simulate(both, p100)
    assert 2 * one.latency_s < two.latency_s and any("vector unit" in n for n in one.notes)
    with_inputs = schedule(w.with_params(inputs=512), dtype="fp32", impl="cudnn-rnn")
    assert with_inputs.stages[0].gemm_shape == (32 * 50, 3 * 1024, 512)


def test_cudnn_rnn_step_waits_a_memory_latency_per_k_step_and_picks_its_tile_for_the_chip():
    """A small batch's step GEMM is a few blocks, each with one K-step of its weight rows in
    flight: it streams its weights at (rows in flight) / latency (Little's law), so a step
    takes about (K / 8) DRAM latencies for fp32 — then its two launches, which no other step
    hides.  The tile is the largest of the library's whose grid fills the chip, else the one
    with the most blocks."""
    v100 = load_accelerator("v100-sxm2-16gb")
    w = _rnn("elman", state=2048, batch=16, seq_len=20)  # 16 MB of fp32 weights: beyond the 6 MB L2
    sched = schedule(w, dtype="fp32", impl="cudnn-rnn")
    stage = fit_tiles(sched, v100).stages[0]
    # no tile fills 80 SMs with 2048 × 16 outputs: the most blocks, 32 × 16 (CUTLASS's 32 × 128 cut to the batch)
    assert stage.block.tile == (32, 16) and stage.granule_ops == 32 * 16 and not stage.block.alternatives
    assert stage.block.in_flight_bytes == 32 * 8 * 4  # one K-step of its 32 weight rows
    in_flight = 2048 // 32 * 32 * 8 * 4
    step_load = 2048 * 2048 * 4 / (in_flight / v100.dram.latency_s)
    assert step_load == pytest.approx(2048 / 8 * v100.dram.latency_s)
    per_step = step_load + 2 * (v100.kernel_launch_s + v100.dram.latency_s)
    for fidelity in ("analytic", "des"):
        result = simulate(sched, v100, fidelity=fidelity)
        assert result.latency_s == pytest.approx(20 * per_step, rel=0.05)
    # a batch of 128 on a 4096-wide LSTM gives 128 × 128 tiles enough blocks to fill the chip
    big = fit_tiles(schedule(_rnn(state=4096, batch=128, seq_len=2), dtype="fp32", impl="cudnn-rnn"), v100)
    assert big.stages[0].block.tile == (128, 128)
    # 16-bit math runs on tensor-core tiles stepping K by 32
    half = fit_tiles(schedule(w, dtype="fp16", impl="cudnn-rnn"), v100).stages[0].block
    assert half.in_flight_bytes == half.tile[0] * 32 * 2


# --------------------------------------------------------------------------- TFLA mLSTM kernels

def test_tfla_xl_chunk_forward_follows_the_source():
    """triton_xl_chunk's forward: the gates' kernel, the recurrent kernel walking S / min(128, L)
    chunks in 64 × 64 state tiles (storing every L / 128-th state, fp32), and the parallel
    kernel per (128-wide value tile, 64-row query block, chunk, batch·head), each query block
    walking the key blocks up to its own."""
    B, H, K, V, S = 2, 16, 128, 256, 4096
    w = get_workload("xlstm-7b").with_params(batch=B, seq_len=S, heads=H, state=K, value=V)
    for L in (64, 128, 1024):
        gates, recurrent, parallel = schedule(w, "chunked", "bf16", impl="tfla-xl-chunk", chunk=L).stages
        inter = min(128, L)
        assert (recurrent.ops, recurrent.steps) == ((K // 64) * (V // 64) * B * H, S // inter)
        per_step = 2 * 64 * 64 * inter + 2 * 64 * inter  # (k ⊙ a)ᵀ v and the normaliser's sum
        assert recurrent.flops == pytest.approx(recurrent.ops * recurrent.steps * per_step)
        saved = S // L + 1  # every L / inter-th of the S / inter chunk states, and the initial one
        assert recurrent.bytes_written == pytest.approx(B * H * saved * (K * V + K) * 4)
        blocks = L // 64
        assert parallel.ops == (V // 128) * blocks * (S // L) * B * H
        qk, sv, inter_flops = 2 * 64 * 64 * K, 2 * 64 * 64 * 128, 2 * 64 * K * 128 + 2 * 64 * K
        per_chunk = sum((j + 1) * (qk + sv) + inter_flops for j in range(blocks)) * (V // 128)
        assert parallel.flops == pytest.approx(per_chunk * (S // L) * B * H)
        assert gates.ops == B * H * S and parallel.rereaders == blocks
        # the loads, by hand: per key block q (reloaded), k and v tiles (bf16) and two fp32 gate
        # vectors; then q, the value tile's fp32 state slice and normaliser once
        loads = sum((j + 1) * (64 * (2 * K + 128) * 2 + 2 * 64 * 4) + 64 * K * 2 + (K * 128 + K) * 4
                    for j in range(blocks)) * (V // 128) * (S // L) * B * H
        assert parallel.bytes_read == pytest.approx(loads)
        # lane instructions, by hand: 8.5 per score and the accumulator's 128 / 64 rescale, the
        # diagonal block's mask (2), q's 5.5 per element, the state's conversion (0.5) and the
        # output's 3.5 per element
        lanes = sum((j + 1) * 64 * 64 * (8.5 + 2) for j in range(blocks)) / blocks \
            + 64 * 64 * 2 + 64 * K * 5.5 + K * 128 * 0.5 + 64 * 128 * 3.5
        assert parallel.lane_instructions_per_op == pytest.approx(lanes)
        assert recurrent.lane_instructions_per_op == 64 * inter * 1.5 + 64 * 64  # k ⊙ a, then C's FMA
        assert recurrent.step_dram_loads == 1 and not parallel.step_dram_loads  # num_stages = 1: each chunk waits
    with pytest.raises(WorkloadError, match="chunk: expected a power of two"):
        schedule(w, "chunked", "bf16", impl="tfla-xl-chunk", chunk=96)
    h100 = load_accelerator("h100-sxm5-80gb")
    result = simulate(schedule(w, "chunked", "bf16", impl="tfla-xl-chunk"), h100)
    assert result.lower_bound_s <= result.latency_s <= result.upper_bound_s


def test_tfla_xl_chunk_backward_follows_the_source():
    """triton_xl_chunk's backward: the chunk states recomputed, ∂C walked in reverse, the
    gates' kernel, then ∂V, ∂K and ∂Q per (128-wide head-dimension tile, 64-row block, chunk,
    batch·head), each walking half the chunk's blocks on average, and the gates' gradients."""
    B, H, K, V, S, L = 2, 16, 128, 256, 4096, 256
    w = get_workload("xlstm-7b").with_params(batch=B, seq_len=S, heads=H, state=K, value=V)
    stages = schedule(w, "chunked", "bf16", impl="tfla-xl-chunk", chunk=L, direction="fwd+bwd").stages
    assert [s.name.split(":")[0] for s in stages] == [
        "compute_chunkwise_log_gates_vecB", "recurrent_fw_C", "parallel_fw_Hintra", "bw", "recurrent_bw_dC",
        "compute_chunkwise_log_gates_vecB_vecA", "parallel_bw_dV", "parallel_bw_dK", "parallel_bw_dQ",
        "compute_gate_grads_vecDeltaI_vecDeltaF"]
    _, recurrent, _, again, dC, _, dV, dK, dQ, grads = stages
    assert again.flops == recurrent.flops and again.bytes_read == recurrent.bytes_read
    assert (dC.ops, dC.steps, dC.step_dram_loads) == (2 * 4 * B * H, S // 128, 1)
    assert dC.flops == pytest.approx(dC.ops * dC.steps * 2 * 64 * 64 * 128)
    assert dC.bytes_written == B * H * (S // L + 1) * K * V * 4  # every kept chunk's ∂C, fp32
    blocks, chunks = L // 64, S // L
    walked = (blocks + 1) / 2
    # by hand, per program: the walked blocks' score products and updates, and the inter part once
    assert dV.ops == 2 * blocks * chunks * B * H  # two 128-wide value tiles
    assert dV.flops == pytest.approx(dV.ops * (walked * (2 * 64 * 64 * K + 2 * 64 * 64 * 128) + 2 * 64 * K * 128))
    for grad in (dK, dQ):
        assert grad.ops == 1 * blocks * chunks * B * H  # one 128-wide key tile
        assert grad.flops == pytest.approx(grad.ops * (walked * (2 * 64 * 64 * V + 2 * 64 * 64 * K)
                                                       + 2 * 64 * V * K))
        assert grad.bytes_written == B * H * S * K * 2
    # ∂Q's loads, by hand: per walked block ∂h and v over the value dimension, the k tile and two
    # gate vectors; the chunk's state slice and three gate vectors once
    per_walk = 2 * 64 * V * 2 + 64 * K * 2 + 2 * 64 * 4
    assert dQ.bytes_read == pytest.approx(dQ.ops * (walked * per_walk + K * V * 4 + 3 * 64 * 4))
    assert dV.lane_instructions_per_op == pytest.approx(walked * 64 * 64 * 7.5 + 64 * 64 * 2 + 64 * K * 1.5
                                                        + K * 128 * 0.5)
    assert grads.bytes_read == pytest.approx(B * H * S * (4 * K * 2 + 4))
    h100 = load_accelerator("h100-sxm5-80gb")
    both = simulate(schedule(w, "chunked", "bf16", impl="tfla-xl-chunk", chunk=L, direction="fwd+bwd"), h100)
    fwd = simulate(schedule(w, "chunked", "bf16", impl="tfla-xl-chunk", chunk=L), h100)
    assert both.lower_bound_s <= both.latency_s <= both.upper_bound_s
    assert both.latency_s > 2 * fwd.latency_s  # the backward's three products per score against one


def test_tfla_limit_chunk_follows_the_source():
    """triton_limit_chunk: the gates in three PyTorch kernels, every chunk's state stored by the
    recurrent kernel, one program per (64-wide value tile, chunk, batch·head) with the whole
    chunk's scores; backward: the gates and states again, ∂C in reverse, one ∂q ∂k ∂v kernel
    per (64-wide key tile, chunk, batch·head) and the partial ∂v summed."""
    B, H, K, V, S, L = 2, 16, 128, 256, 4096, 64
    w = get_workload("xlstm-7b").with_params(batch=B, seq_len=S, heads=H, state=K, value=V)
    *gates, recurrent, parallel = schedule(w, "chunked", "bf16", impl="tfla-limit-chunk").stages
    NC, nk, nv = S // L, K // 64, V // 64
    assert len(gates) == 3 and (recurrent.ops, recurrent.steps, recurrent.step_dram_loads) == (nk * nv * B * H, NC, 1)
    assert recurrent.bytes_written == B * H * (NC + 1) * (K * V + K + 1) * 4  # every chunk's C, n, m
    assert parallel.ops == nv * NC * B * H
    # by hand, per program: q kᵀ and q̄ C over the key dimension in 64-wide steps, then S̄ v
    assert parallel.flops == pytest.approx(parallel.ops * (nk * (2 * L * L * 64 + 2 * L * 64 * 64) + 2 * L * L * 64))
    assert parallel.lane_instructions_per_op == pytest.approx(L * L * 9.5 + nk * (L * 64 * 1.5 + 64 * 64 * 0.5)
                                                              + L * 64 * 3.5)
    stages = schedule(w, "chunked", "bf16", impl="tfla-limit-chunk", direction="fwd+bwd").stages
    dC, dQKV, dv_sum, grads = stages[9], stages[10], stages[11], stages[12]
    assert len(stages) == 13 and stages[8].flops == recurrent.flops  # the states recomputed
    assert (dC.steps, dC.bytes_written) == (NC, B * H * (NC + 1) * K * V * 4)
    per_step = 4 * L * 64 * 64 + 2 * 2 * L * L * 64 + 2 * L * 64 * 64
    assert dQKV.ops == nk * NC * B * H
    assert dQKV.flops == pytest.approx(dQKV.ops * (2 * L * L * 64 + nv * per_step + 4 * L * L * 64))
    assert dQKV.bytes_written == 2 * B * H * S * K * 2 + nk * B * H * S * V * 2  # ∂q, ∂k; ∂v per key tile
    assert dv_sum.bytes_read == nk * B * H * S * V * 2 and grads.name.startswith("compute_gate_grads")
    with pytest.raises(WorkloadError, match="chunk: expected a power of two from 16 to 128"):
        schedule(w, "chunked", "bf16", impl="tfla-limit-chunk", chunk=256)
    h100 = load_accelerator("h100-sxm5-80gb")
    for direction in ("fwd", "fwd+bwd"):
        result = simulate(schedule(w, "chunked", "bf16", impl="tfla-limit-chunk", direction=direction), h100)
        assert result.lower_bound_s <= result.latency_s <= result.upper_bound_s


# --------------------------------------------------------------------------- FLA chunked kernels

def test_fla_chunk_kernels_follow_the_source():
    """chunk_simple_gla: forward = state pass + output; backward = fp32 state recompute,
    reverse dh pass, dv and dq/dk kernels.  chunk_gla adds the gate's cumsum, the intra-chunk
    scores (off-diagonal and diagonal sub-chunks), and in the backward dA, the intra-chunk
    dq/dk and the reverse cumsum."""
    ssd = get_workload("retnet-1.3b").with_params(batch=4, seq_len=4096, heads=16, state=128, value=128)
    gla = get_workload("gla-1.3b").with_params(batch=4, seq_len=4096, heads=16, state=128, value=128)
    names = lambda s: [st.name.split(":")[0] for st in s.stages]  # noqa: E731
    assert names(schedule(ssd, None, "bf16", impl="fla-chunk")) == ["chunk_fwd_h", "chunk_fwd_o"]
    both = schedule(ssd, None, "bf16", impl="fla-chunk", direction="fwd+bwd")
    assert names(both)[2:] == ["chunk_fwd_h", "chunk_bwd_dh", "chunk_bwd_dv", "chunk_bwd_dqk(g)"]
    assert len(schedule(gla, None, "bf16", impl="fla-chunk", direction="fwd+bwd").stages) == 5 + 7
    # one kernel after another, as one stream runs them
    assert all(st.deps == ((i - 1,) if i else ()) for i, st in enumerate(both.stages))
    # the state pass walks the chunks in order: 64-token chunks, a block per 64×64 state tile
    h = both.stages[0]
    assert h.steps == 4096 // 64 and h.ops == 2 * 2 * 4 * 16
    # it stores every chunk's state: bf16 in the forward, fp32 in the backward's recompute
    states = 4 * 16 * 64 * 128 * 128
    assert h.bytes_written == pytest.approx(states * 2) and both.stages[2].bytes_written == pytest.approx(states * 4)


def test_fla_fused_chunk_gla_walks_chunks_of_16_in_two_warp_programs():
    """fused_chunk_gla (FLA at 458c0186): cumsum, q̄ and k̄, the fused state walk over chunks of
    16 (mma.sync: two warps; one pipeline stage: each chunk waits for its loads), the key tiles'
    partial outputs summed, the elementwise intra-chunk scores and A v; the backward adds a
    two-pass fused kernel and the intra-chunk and gate kernels — counted by hand."""
    B, H, K, V, T = 2, 4, 128, 256, 1024
    w = get_workload("gla-1.3b").with_params(batch=B, seq_len=T, heads=H, state=K, value=V)
    fwd = schedule(w, "chunked", "bf16", impl="fla-fused-chunk").stages
    names = [st.name.split(":")[0] for st in fwd]
    assert names == ["chunk_local_cumsum", "prepare_qg_kg", "fused_chunk_gla_fwd_kernel", "o.sum(0)",
                     "fwd_inner_chunk", "A.sum(0)", "A @ v", "o.add_(o2)"]
    fused, inner = fwd[2], fwd[4]
    nk, nv, tokens = K // 64, V // 64, B * H * T
    assert (fused.ops, fused.steps) == (nv * nk * B * H, T // 16)
    assert fused.flops == pytest.approx(fused.ops * fused.steps * 2 * 2 * 16 * 64 * 64)  # q̄ h and k̄ᵀ v
    assert fused.sync_mma and fused.step_dram_loads == 1 and not fused.step_loads and fused.block.threads == 64
    # q̄ and k̄ once per value tile, v once per key tile, the gate's last row per chunk (fp32);
    # one partial output per key tile
    assert fused.bytes_read == pytest.approx(2 * tokens * K * 2 * nv + tokens * V * 2 * nk + tokens // 16 * K * 4 * nv)
    assert fused.bytes_written == pytest.approx(nk * tokens * V * 2)
    # one exponential per (row, column, key channel) of every 16 × 16 chunk
    assert inner.total_ops * inner.sfu_ops_per_op == pytest.approx(tokens * 16 * K)
    both = schedule(w, "chunked", "bf16", impl="fla-fused-chunk", direction="fwd+bwd").stages
    assert len(both) == 8 + 15 and all(st.deps == ((i - 1,) if i else ()) for i, st in enumerate(both))
    bwd = next(st for st in both if st.name.startswith("fused_chunk_gla_bwd_kernel"))
    assert bwd.steps == 2 * T // 16  # forwards for dq, then backwards for dk and dv
    assert bwd.flops == pytest.approx(bwd.ops * (T // 16) * (2 + 3) * 2 * 16 * 64 * 64)
    with pytest.raises(WorkloadError, match="seq_len: expected a multiple of 16"):
        schedule(w.with_params(seq_len=1000), "chunked", "bf16", impl="fla-fused-chunk")
    h100 = load_accelerator("h100-sxm5-80gb")
    for direction in ("fwd", "fwd+bwd"):
        result = simulate(schedule(w, "chunked", "bf16", impl="fla-fused-chunk", direction=direction), h100)
        assert result.lower_bound_s <= result.latency_s <= result.upper_bound_s


def test_a_stage_of_few_thread_blocks_runs_at_one_block_per_core():
    """8 thread blocks on a 132-SM chip: each runs on its own SM at one SM's rate, in the DES
    at any event budget as in the closed form — not stretched as if the chip's even share
    were smaller than one block."""
    w = get_workload("gla-1.3b").with_params(batch=2, seq_len=4096, heads=4, state=64, value=64)
    s = schedule(w, None, "bf16", impl="fla-chunk", launch="graph")
    h200 = load_accelerator("h200-sxm-141gb")
    stage = s.stages[1]
    assert stage.ops == 8 and stage.granule_ops == 1
    des = [simulate(s, h200, event_budget=b).latency_s for b in (256, 4096)]
    closed = simulate(s, h200, fidelity="analytic").latency_s
    assert des[0] == pytest.approx(des[1], rel=0.02)
    assert des[1] == pytest.approx(closed, rel=0.25)


def test_an_eager_call_costs_the_slower_of_its_host_and_its_device():
    """Back-to-back eager calls pipeline the host's issue with the device's run: a small FLA
    call is host-bound at the measured eager host time, a large one device-bound; a CUDA graph
    hides the host; bounds hold either way, and the device side is the same schedule."""
    from workloads.implementations import IMPLEMENTATIONS

    b200 = load_accelerator("b200")
    host = IMPLEMENTATIONS["fla-chunk"].host_s
    small = get_workload("retnet-1.3b").with_params(batch=8, seq_len=1024, heads=8, state=64, value=64)
    large = small.with_params(batch=8, seq_len=8192, heads=64, state=128, value=128)
    for direction in ("fwd", "fwd+bwd"):
        eager, graph = (simulate(schedule(small, None, "bf16", impl="fla-chunk", direction=direction,
                                          launch=launch), b200) for launch in ("eager", "graph"))
        assert eager.host_s == host[direction] > eager.device_s
        assert eager.latency_s == eager.host_s and any(n.startswith("host-bound") for n in eager.notes)
        assert graph.host_s == 0 and graph.latency_s == graph.device_s == pytest.approx(eager.device_s)
        for r in (eager, graph):
            assert r.lower_bound_s <= r.latency_s <= r.upper_bound_s
        assert eager.energy_j > graph.energy_j  # the chip idles, powered, while the host issues
        big = simulate(schedule(large, None, "bf16", impl="fla-chunk", direction=direction), b200)
        assert big.latency_s == big.device_s > big.host_s == host[direction]
    assert host["fwd+bwd"] > host["fwd"]
    from simulator.analytic import analytic_latency_batch  # the vectorised closed form pays it too

    assert analytic_latency_batch(schedule(small, None, "bf16", impl="fla-chunk"), [b200])[0] == host["fwd"]
    # an implementation without a measured host time is not host-bound, eager or not
    rnn = simulate(schedule(_rnn(state=256, batch=16, seq_len=10), dtype="fp32", impl="cudnn-rnn"), b200)
    assert rnn.host_s == 0 and rnn.latency_s == rnn.device_s
    with pytest.raises(WorkloadError, match="launch: expected one of eager, graph, got 'lazy'"):
        schedule(small, None, "bf16", impl="fla-chunk", launch="lazy")


def test_non_causal_attention_costs_every_query_key_pair():
    """An encoder's attention (causal = 0) scores all T² pairs, and blocked attention reads
    every key block for every query block — forward and backward."""
    w = get_workload("llama2-7b-attention").with_params(seq_len=2048, batch=2)
    h100 = load_accelerator("h100-sxm5-80gb")
    for direction in ("fwd", "fwd+bwd"):
        causal = schedule(w, "blocked", "bf16", direction=direction)
        full = schedule(w, "blocked", "bf16", direction=direction, causal=0)
        assert full.work_flops == pytest.approx(causal.work_flops * 2 * 2048 / 2049)
        assert full.dram_bytes > 1.5 * causal.dram_bytes
        assert simulate(full, h100).latency_s > 1.5 * simulate(causal, h100).latency_s
    with pytest.raises(WorkloadError, match="causal: expected 1"):
        schedule(w, "blocked", "bf16", causal=2)


def test_persistent_rnn_keeps_its_weights_on_chip_or_is_refused():
    """Diamos et al.'s persistent RNN: U read once and kept in the cores, one grid barrier per
    step instead of two launches — faster than cuDNN's standard kernels at a small batch —
    and refused, naming the capacity, when U does not fit the cores' memories."""
    h100 = load_accelerator("h100-sxm5-80gb")
    small = _rnn(state=1024, batch=16, seq_len=100)
    standard = simulate(schedule(small, dtype="fp16", impl="cudnn-rnn"), h100)
    persistent = simulate(schedule(small, dtype="fp16", impl="persistent-rnn"), h100)
    chain = schedule(small, dtype="fp16", impl="persistent-rnn").stages[0]
    assert chain.step_kernels == 0 and chain.step_barriers == 1 and chain.persistent_bytes == 4 * 1024 ** 2 * 2
    assert persistent.latency_s < standard.latency_s / 2
    assert persistent.depth_bound_s >= 100 * (h100.barrier_s + h100.dram.latency_s)
    assert persistent.lower_bound_s <= persistent.latency_s <= persistent.upper_bound_s
    with pytest.raises(SimulationError, match="keeps 134 MB in its cores .* per-core memories"):
        simulate(schedule(_rnn(state=4096, batch=16, seq_len=10), dtype="fp16", impl="persistent-rnn"), h100)
    both = schedule(small, dtype="fp16", impl="persistent-rnn", direction="fwd+bwd")
    assert [s.step_barriers for s in both.stages] == [1, 1, 0]  # the weight gradient is one GEMM


def test_flash_attention_generations_differ_in_instructions_and_tiles():
    """On an H100 FlashAttention-2's mma.sync reaches 2/3 of the tensor cores' rate, where
    FlashAttention-3's wgmma reaches it all; on an A100, whose native MMA is mma.sync, only the
    tiles differ.  The tiles are flash-attention's (FA2: csrc/flash_attn/src/
    flash_fwd_launch_template.h; FA3: hopper/tile_size.h), the causal option reaches the kernel,
    and an option an implementation lacks is refused."""
    w = get_workload("llama2-7b-attention").with_params(seq_len=16384, batch=1, heads=16)
    h100, a100 = load_accelerator("h100-sxm5-80gb"), load_accelerator("a100-sxm4-80gb")
    fa2, fa3 = (schedule(w, None, "bf16", impl=f"flash-attention-{g}") for g in (2, 3))
    assert fa2.stages[0].gemm_shape == (128, 64, 128) and fa3.stages[0].gemm_shape == (128, 128, 128)
    assert fa2.stages[0].flops == fa3.stages[0].flops
    assert schedule(w, None, "bf16", impl="flash-attention-3", causal=0).stages[0].gemm_shape == (128, 176, 128)
    # 128 × 64 × 128 tiles fill mma.sync's 16 × 8 × 16 exactly: the rate is the share alone
    assert matrix_rate(fa2.stages[0], h100, "bf16") == pytest.approx(0.667 * 2 * 2048 * 1.83e9)
    assert matrix_rate(fa2.stages[0], a100, "bf16") == pytest.approx(2 * 1024 * 1.41e9)
    # at the boost clock: both draw above the 700 W TDP, FA3 more, so the cap narrows the gap, as
    # it does on the part
    on_h100 = [simulate(s, h100.replace(power=None)) for s in (fa2, fa3)]
    assert on_h100[0].latency_s > 1.2 * on_h100[1].latency_s  # the exponentials cost both the same
    on_a100 = [simulate(s, a100).latency_s for s in (fa2, fa3)]
    assert on_a100[0] == pytest.approx(on_a100[1], rel=0.05)
    training = simulate(schedule(w, None, "bf16", impl="flash-attention-2", direction="fwd+bwd"), h100)
    assert training.latency_s > 2.5 * on_h100[0].latency_s
    with pytest.raises(WorkloadError, match="causal: not an option of implementation 'fla-chunk'"):
        schedule(get_workload("mamba2-2.7b"), None, "bf16", impl="fla-chunk", causal=0)


def test_attention_pays_its_softmax_lane_instructions_per_score():
    """The online softmax's lane instructions beside the products — FlashAttention-2's max, fused
    multiply-add before exp2, sum and 16-bit conversion (3.5 per score), and the output's rescale
    once per key block (E / key columns) — and its backward's (recomputed P, dS, conversions and
    stores, 4.25 per score, and the ∂Q accumulator's atomic adds, D / key columns): declared by
    the generic blocked schedule and both FlashAttention generations with their own key tiles,
    and issued on the vector lanes after the products."""
    from simulator.units import step_parts
    from workloads.backward import BACKWARD_SOFTMAX_LANES
    from workloads.families import SOFTMAX_LANES

    w = get_workload("llama2-7b-attention").with_params(seq_len=4096, batch=1, heads=16)
    D = E = w.state
    generic = schedule(w, "blocked", "bf16", direction="fwd+bwd").stages
    assert generic[0].lane_instructions_per_op == pytest.approx(SOFTMAX_LANES + E / 128)
    assert generic[1].lane_instructions_per_op == pytest.approx(BACKWARD_SOFTMAX_LANES + D / 128)
    assert (SOFTMAX_LANES, BACKWARD_SOFTMAX_LANES) == (3.5, 4.25)
    fa2 = schedule(w, None, "bf16", impl="flash-attention-2", direction="fwd+bwd").stages
    assert fa2[0].gemm_shape == (128, 64, 128)
    assert [s.lane_instructions_per_op for s in fa2] == pytest.approx([3.5 + 2, 4.25 + 2])
    d64 = schedule(w.with_params(state=64, value=64), None, "bf16", impl="flash-attention-2").stages[0]
    assert d64.gemm_shape == (128, 128, 64) and d64.lane_instructions_per_op == pytest.approx(4.0)
    # on one core: the lanes issue 5.5 instructions per score after the products and the exponential
    h100 = load_accelerator("h100-sxm5-80gb")
    ops = 128 * 64
    issue, _, _ = step_parts(fa2[0], place(fa2[0], h100, "bf16"), h100, "bf16", ops)
    bare, _, _ = step_parts(dataclasses.replace(fa2[0], lane_instructions_per_op=0.0), place(fa2[0], h100, "bf16"),
                            h100, "bf16", ops)
    assert issue - bare == pytest.approx(ops * 5.5 / (h100.vector.lanes * h100.clock_hz))


def test_long_convolution_implementations_follow_flashfftconvs_repository():
    """FlashFFTConv: the filter's spectrum, its permutation, one fused kernel that reads u and
    the gates once and writes y once, its products issued as WMMA (mma.sync); the PyTorch
    reference: one kernel per op, each through DRAM — and a shipped kernel's stages are never
    fused by the policy."""
    w = get_workload("long-conv-d1024").with_params(seq_len=4096, batch=8, heads=768)
    rows, T, e = 8 * 768, 4096, 2
    flash = schedule(w, None, "fp16", impl="flashfftconv", gated=1, circular=1)
    fused = [s for s in flash.stages if s.unit == "matrix"]
    assert len(fused) == 2 and all(s.sync_mma for s in fused) and fused[1].launch is False
    u_gates_y = sum(s.bytes_read + s.bytes_written for s in fused) - 768 * T * 2 * e  # less the spectrum
    assert u_gates_y == pytest.approx(4 * rows * T * e)
    plain = schedule(w, None, "fp16", impl="flashfftconv", circular=1)
    assert sum(s.bytes_read for s in plain.stages) == pytest.approx(
        sum(s.bytes_read for s in flash.stages) - 2 * rows * T * e)
    torch = schedule(w, None, "fp16", impl="torch-fft-conv", gated=1, circular=1)
    h100 = load_accelerator("h100-sxm5-80gb")
    for sched in (flash, torch):
        auto = simulate(sched, h100)
        assert auto.fused_stages == 0 and auto.dram_bytes == pytest.approx(sched.dram_bytes)
    assert simulate(flash, h100).latency_s < simulate(torch, h100).latency_s / 3
    with pytest.raises(WorkloadError, match="transform lengths 256 … 32,768"):
        schedule(w.with_params(seq_len=65536), None, "fp16", impl="flashfftconv", circular=1)
    with pytest.raises(WorkloadError, match="flashfftconv runs fp16 or bf16"):
        schedule(w, None, "fp32", impl="flashfftconv")
    with pytest.raises(WorkloadError, match="circular: .* a power of two; got T = 3000"):
        schedule(w.with_params(seq_len=3000), None, "fp16", impl="torch-fft-conv", circular=1)


def test_synchronous_mma_fills_its_instruction_tiles_not_the_array():
    """Products a kernel issues as mma.sync m16n8k16 pad to that tile, not to the 64×32 array
    standing for Hopper's widest (wgmma) instruction: a 16×16×16 product fills the tiles.  A
    library's small product does no worse than that instruction at its share of the peak."""
    from simulator.units import systolic_efficiency
    from workloads.schedule import Stage

    h100 = load_accelerator("h100-sxm5-80gb")
    small = Stage("dft", "matrix", ops=1, flops_per_op=1, gemm_shape=(16, 16, 16))
    assert systolic_efficiency(dataclasses.replace(small, sync_mma=True), h100) == 1.0
    assert systolic_efficiency(small, h100) == pytest.approx(h100.matrix.sync_mma_share)
    odd = dataclasses.replace(small, sync_mma=True, gemm_shape=(20, 8, 16))
    assert systolic_efficiency(odd, h100) == pytest.approx(20 / 32)
    assert systolic_efficiency(odd, load_accelerator("v100-sxm2-16gb")) != pytest.approx(20 / 32)


def test_lightning_attention2_walks_its_blocks_in_one_kernel_at_the_tf32_rate():
    """_fwd_kernel: a program per (batch·head, 32-wide value tile) walks the T/64 blocks, four
    products a block; every operand cast to fp32, so tl.dot multiplies as TF32; the backward's
    intra kernel a program per block, its inter kernel one per batch·head over the 32-row
    sub-blocks, forwards then backwards."""
    B, H, d, e, T = 2, 8, 128, 128, 1024
    w = get_workload("retnet-1.3b").with_params(batch=B, seq_len=T, heads=H, state=d, value=e)
    (fwd,) = schedule(w, "chunked", "bf16", impl="lightning-attn2").stages
    assert (fwd.ops, fwd.steps) == (B * H * e // 32, T // 64)
    assert fwd.flops_per_op == 2 * 64 * 64 * d + 2 * 64 * 64 * 32 + 2 * 64 * d * 32 + 2 * d * 64 * 32
    assert fwd.bytes_read == pytest.approx(B * H * T * (2 * d * e // 32 + e) * 2)  # q, k per value tile; v once
    h100 = load_accelerator("h100-sxm5-80gb")
    assert matrix_rate(fwd, h100, "bf16") == pytest.approx(matrix_rate(dataclasses.replace(
        fwd, compute_dtype=None, tf32=False), h100, "bf16") / 2)  # TF32: half the bf16 rate
    both = schedule(w, "chunked", "bf16", impl="lightning-attn2", direction="fwd+bwd").stages
    intra, inter = both[1], both[2]
    assert intra.ops == B * H * T // 64 and (inter.ops, inter.steps) == (B * H, 2 * T // 32)
    result = simulate(schedule(w, "chunked", "bf16", impl="lightning-attn2", direction="fwd+bwd"), h100)
    assert result.lower_bound_s <= result.latency_s <= result.upper_bound_s


def test_mamba2_split_conv1d_adds_the_convolution_and_the_gate():
    """mamba_split_conv1d_scan_combined: the causal conv1d reads and writes xBC once (x, B and
    C: h·p + 2·g·n channels), the chunk scan then reads z and writes the gated and the ungated
    output; its backward recomputes the convolution, adds the gate's gradient, the
    convolution's backward and the copy into dzxbcdt."""
    b, T, h, p, n, g = 2, 1024, 8, 64, 64, 1
    w = get_workload("mamba2-2.7b").with_params(batch=b, seq_len=T, heads=h, state=n, value=p, groups=g)
    plain = schedule(w, "chunked", "bf16", impl="mamba2-ssd").stages
    fwd = schedule(w, "chunked", "bf16", impl="mamba2-split-conv1d").stages
    channels = h * p + 2 * g * n
    conv, scan = fwd[0], fwd[-1]
    assert conv.name.startswith("causal_conv1d_fwd") and conv.ops == b * T * channels
    assert conv.bytes_read == conv.bytes_written == b * T * channels * 2
    x = b * T * h * p * 2
    assert scan.bytes_read == pytest.approx(plain[-1].bytes_read + x)  # z
    assert scan.bytes_written == pytest.approx(2 * plain[-1].bytes_written)  # the gated and the ungated output
    both = [s.name.split(":")[0] for s in schedule(w, "chunked", "bf16", impl="mamba2-split-conv1d",
                                                   direction="fwd+bwd").stages]
    assert both[6] == "recompute" and both[7] == "_chunk_scan_bwd_dz" and both[-2:] == ["causal_conv1d_bwd", "copy"]
    with pytest.raises(WorkloadError, match="width: expected 2, 3 or 4 taps"):
        schedule(w, "chunked", "bf16", impl="mamba2-split-conv1d", width=5)


def test_mamba2_chunk_scan_counts_by_hand():
    """mamba_chunk_scan_combined forward, T = 512 in two chunks of 256, 8 heads of p = 64 in 2
    groups, n = 128: five launches; flops and DRAM bytes counted by hand from the kernels."""
    w = get_workload("mamba2-2.7b").with_params(seq_len=512, batch=1, heads=8, groups=2)
    s = schedule(w, None, "bf16", impl="mamba2-ssd")
    h, g, p, n, Q, nc, T, e = 8, 2, 64, 128, 256, 2, 512, 2
    assert [st.name.split(":")[0] for st in s.stages] == [
        "_chunk_cumsum_fwd", "_chunk_state_fwd", "_state_passing_fwd", "_bmm_chunk_fwd", "_chunk_scan_fwd"]
    matmul = (nc * h * 2 * Q * p * n  # chunk states: p × n over Q
              + nc * g * 2 * Q * Q * n  # C·Bᵀ per group
              + nc * h * (2 * Q * n * p + 2 * p * 128 * (128 + 256)))  # C·state, causal blocks to the diagonal
    assert sum(st.flops for st in s.stages if st.unit == "matrix") == pytest.approx(matmul)
    x, bc, dt = T * h * p * e, T * g * n * e, T * h * 2 * 4
    states, cb = nc * h * p * n, nc * g * Q * Q * 4
    rep = h // g  # the kernels over the heads load their group's B, C and C·Bᵀ once per head
    loads = (T * h * e) + (x + rep * bc + dt) + states * 4 + 2 * bc + (rep * cb + x + dt + rep * bc + states * e)
    writes = T * h * 8 + states * 4 + states * e + cb + x
    assert sum(st.bytes_read for st in s.stages) == pytest.approx(loads)
    assert sum(st.bytes_written for st in s.stages) == pytest.approx(writes)
    # ... a head's sweep apart: an L2 that holds a group's whole tensor serves the re-reads, and
    # the DRAM moves B, C and C·Bᵀ once per group — a grouping of 8 heads in one group moves
    # less than one per head
    h100 = load_accelerator("h100-sxm5-80gb")
    dram = lambda sch: share_panels(sch, h100).dram_bytes  # noqa: E731
    reads = (T * h * e) + (x + bc + dt) + states * 4 + 2 * bc + (cb + x + dt + bc + states * e)
    assert dram(s) == pytest.approx(reads + writes)
    one = schedule(w.with_params(groups=1), None, "bf16", impl="mamba2-ssd")
    each = schedule(w.with_params(groups=8), None, "bf16", impl="mamba2-ssd")
    assert dram(one) < dram(s) < dram(each)
    # at 65,536 tokens one group's C·Bᵀ (fp32, 67 MB) outgrows the H100's 50 MB L2: the chunk scan
    # reads it from DRAM for every head, while B (8 MB) is still re-read from the L2
    long = schedule(w.with_params(groups=1, seq_len=65536), None, "bf16", impl="mamba2-ssd")
    state_kernel, scan = share_panels(long, h100).stages[1], share_panels(long, h100).stages[4]
    assert state_kernel.cache_bytes > 0 and scan.cache_bytes == 0
    assert scan.bytes_read == pytest.approx(long.stages[4].bytes_read)
    backward = schedule(w, None, "bf16", impl="mamba2-ssd", direction="fwd+bwd")
    assert len(backward.stages) == 5 + 14 and backward.work_flops > 3 * s.work_flops
    with pytest.raises(WorkloadError, match="chunk: expected a power of two"):
        schedule(w, None, "bf16", impl="mamba2-ssd", chunk=100)


def test_fla_delta_rule_kernels_as_launched():
    """chunk_gated_delta_rule forward: gate cumsum, memset, fused KKᵀ + solve, w/u, the chunk
    loop, the output — six launches, the loop sequential over the chunks; the plain delta rule
    its unfused KKᵀ (fp32), memset and solve instead; the backward recomputes w, u and h."""
    gdn = get_workload("gated-deltanet-1.3b").with_params(seq_len=1000, batch=2, heads=4, state=128, value=128)
    fwd = schedule(gdn, None, "bf16", impl="fla-delta-chunk")
    names = [s.name.split(":")[0] for s in fwd.stages]
    assert names == ["chunk_local_cumsum", "memset", "chunk_gated_delta_rule_fwd_kkt_solve", "recompute_w_u",
                     "chunk_fwd_h", "chunk_fwd_o"]
    loop = fwd.stages[4]
    assert loop.steps == 16 and loop.ops == 2 * 4 * 2  # ⌈1000 / 64⌉ chunks; (value tiles, batch·head) programs
    # the state of every chunk is stored in the input dtype: B·NT·H·K·V elements
    assert loop.bytes_written == pytest.approx(2 * 16 * 4 * 128 * 128 * 2 + 2 * 1000 * 4 * 128 * 2)
    plain = schedule(get_workload("deltanet-1.3b").with_params(seq_len=1000, batch=2), None, "bf16", impl="fla-delta-chunk")
    assert [s.name.split(":")[0] for s in plain.stages][:3] == ["chunk_scaled_dot_kkt", "memset", "solve_tril"]
    both = schedule(gdn, None, "bf16", impl="fla-delta-chunk", direction="fwd+bwd")
    assert sum(s.name.startswith("recompute: ") for s in both.stages) == 2 and both.work_flops > 2 * fwd.work_flops
