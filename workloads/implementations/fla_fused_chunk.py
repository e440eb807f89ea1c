"""flash-linear-attention's fused_chunk_gla: one kernel per state tile walks chunks of 16 in order.

Built as ``fla/ops/gla/fused_chunk.py`` of fla-org/flash-linear-attention ran it at commit
458c0186 (2025-01-19, the FLA that TFLA's benchmarks called; the function was deprecated in
2025-11).  With chunks of BT = 16 rows, key and value tiles BK = min(K, 64), BV = min(V, 64)
(NK = K / BK, NV = V / BV) and NT = T / 16, the forward launches, one after another:

* ``chunk_local_cumsum`` — the gate's running sum within each chunk, into fp32;
* ``prepare_qg_kg`` — a one-warp program per (key tile, chunk, batch·head) walks its 16 rows:
  ``q ⊙ exp(g) · scale`` and ``k ⊙ exp(g_last − g)``, stored in the input dtype;
* ``fused_chunk_gla_fwd_kernel`` — a program per (value tile, key tile, batch·head), two warps
  and one pipeline stage, walks the NT chunks in order: per chunk it loads q̄, k̄ and v, forms
  ``o = q̄ h`` (stored, one partial output per key tile) and updates its fp32 state tile
  ``h ← h ⊙ exp(g_last) + k̄ᵀ v``;
* ``o.sum(0)`` over the key tiles (PyTorch);
* ``fwd_inner_chunk`` — a four-warp program per (key tile, chunk, batch·head) forms the
  16 × 16 intra-chunk scores elementwise, ``Σ_c q_ic k_jc exp(g_ic − g_jc)`` — one exponential
  per (row, column, key channel) — stored in the input dtype, one partial per key tile;
* ``A.sum(0)``, ``A @ v`` (a batched 16 × 16 by 16 × V product) and ``o.add_`` (PyTorch).

The backward recomputes the cumsum and q̄, k̄; its fused kernel (two warps, one stage) walks the
chunks forwards for dq and then backwards for dk and dv (partials per tile, summed by
PyTorch); PyTorch forms ``dA = (do vᵀ) · scale`` and ``Aᵀ do``; ``bwd_inner_chunk`` (one warp
per 16-wide key tile) the intra-chunk dq, dk elementwise; ``bwd_decay_global_cumsum`` (one
warp per 32-wide key tile) combines them with the gate and the gate's gradient, whose reverse
cumulative sum PyTorch finishes.

Two warps cannot issue Hopper's warpgroup MMAs (``wgmma`` takes four), so Triton lowers the
fused kernels' products to ``mma.sync`` (``sync_mma``); with one pipeline stage each chunk
waits for its loads (``step_dram_loads``: data no earlier chunk touched, so a DRAM latency).
Lane instructions are counted from the source as for the other Triton kernels
(:mod:`workloads.implementations.tfla_mlstm`).
"""

from __future__ import annotations

import dataclasses
import math

from workloads.errors import WorkloadError
from workloads.implementations.triton_kernel import matrix_kernel
from workloads.schedule import DTYPE_BYTES, Block, Stage, in_stream_order

SOURCE = ("fla-org/flash-linear-attention fla/ops/gla/fused_chunk.py at 458c0186 (2025-01-19): prepare_qg_kg, "
          "fused_chunk_gla_fwd_kernel, fwd_inner_chunk, fused_chunk_gla_bwd_kernel, bwd_inner_chunk, "
          "bwd_decay_global_cumsum, FusedChunkGLAFunction")

BT = 16  # the chunk: BT = 16 in FusedChunkGLAFunction.forward and .backward
_TILE = 64  # BK = min(K, 64), BV = min(V, 64)
_FP32 = 4


def _vector(name: str, ops: float, reads: float, writes: float, *, instructions: float = 1.0, exps: float = 0.0,
            block: Block | None = None, latency_ops: float = 1.0) -> Stage:
    """An elementwise kernel over ``ops`` elements (``reads`` and ``writes`` its DRAM bytes in
    all), ``instructions`` fp32 lane instructions and ``exps`` exponentials per element."""
    return Stage(name, "vector", ops=int(ops), instructions_per_op=instructions, compute_dtype="fp32",
                 sfu_ops_per_op=exps, sfu_function="exp", sfu_on_chain=False,
                 bytes_read_per_op=reads / ops, bytes_written_per_op=writes / ops, latency_ops=latency_ops,
                 block=block)


def _rows_program(warps: int, width: int, row_bytes: float) -> Block:
    """A program walking its chunk's 16 rows of ``width`` channels, one row's loads
    (``row_bytes``) in flight at a time."""
    return Block(threads=32 * warps, ops=BT * width, in_flight_bytes=row_bytes)


def build(w, dtype: str, direction: str = "fwd") -> tuple[Stage, ...]:
    e = DTYPE_BYTES[dtype]
    B, H, K, V, T = w.batch, w.heads, w.state, w.value, w.seq_len
    if T % BT:
        raise WorkloadError(f"seq_len: expected a multiple of {BT} (fused_chunk_gla pads to whole chunks of 16), "
                            f"got {T!r}")
    BH, NT = B * H, T // BT
    bk, bv = min(K, _TILE), min(V, _TILE)
    nk, nv = math.ceil(K / bk), math.ceil(V / bv)
    tokens = BH * T
    qk, vv = tokens * K, tokens * V  # elements of q (or k, g), of v (or o)

    def cumsum(label=""):
        return _vector(f"chunk_local_cumsum{label}: the gate's running sum per chunk of 16", qk, qk * e, qk * _FP32,
                       latency_ops=math.log2(BT))

    def prepare(label=""):
        # per element: q · exp(g) · scale (two multiplies, exp's log₂e multiply), k · exp(g_last − g)
        # (a subtract, the multiply, a multiply), both narrowed (half an instruction each)
        return _vector(f"prepare_qg_kg{label}: q ⊙ exp(g), k ⊙ exp(g_last − g)", qk, qk * (2 * e + _FP32),
                       2 * qk * e, instructions=2 + 1 + 3 + 1, exps=2,
                       block=_rows_program(1, bk, bk * (2 * e + _FP32)))

    stages = [cumsum(), prepare()]
    programs = nv * nk * BH
    chunk_loads = (2 * BT * bk + BT * bv) * e  # q̄, k̄ and v of one chunk
    fused_block = Block(threads=64, ops=1, shared_bytes=chunk_loads, in_flight_bytes=chunk_loads, tile=(BT, bv))
    # per chunk: h narrowed for q̄ h and scaled by exp(g_last) (1.5 per state element), o narrowed
    stages.append(_fused(matrix_kernel(
        "fused_chunk_gla_fwd_kernel: o = q̄ h, h ← h ⊙ exp(g_last) + k̄ᵀ v (sequential over chunks of 16)",
        blocks=programs, steps=NT, block_flops=2 * (2 * BT * bk * bv),
        reads=2 * qk * e * nv + vv * e * nk + BH * NT * K * _FP32 * nv, writes=vv * e * nk,
        exps=BH * NT * K * nv, shape=(BT, bv, bk), block=fused_block,
        lanes=1.5 * bk * bv + 0.5 * BT * bv)))
    stages.append(_vector("o.sum(0): the key tiles' partial outputs", vv, nk * vv * e, vv * e, instructions=nk))
    # per (row, column, key channel): safe_exp's compare and select, the subtract and exp's
    # multiply, q · k · exp (two multiplies) and the row sum's add
    stages.append(_vector("fwd_inner_chunk: intra-chunk scores, elementwise", qk * BT, qk * (2 * e + 2 * _FP32),
                          nk * tokens * BT * e, instructions=7, exps=1,
                          block=Block(threads=128, ops=BT * BT * bk, in_flight_bytes=BT * bk * (e + _FP32)),
                          latency_ops=math.log2(bk)))
    stages.append(_vector("A.sum(0): the key tiles' partial scores", tokens * BT, nk * tokens * BT * e,
                          tokens * BT * e, instructions=nk))
    stages.append(_bmm("A @ v: the intra-chunk outputs (batched 16 × 16 · 16 × V)", vv, BT,
                       (tokens * BT + vv) * e, vv * e, (BT, V, BT)))
    stages.append(_vector("o.add_(o2)", vv, 2 * vv * e, vv * e))
    if direction == "fwd":
        return in_stream_order(stages)

    stages += [cumsum(" (backward)"), prepare(" (backward)")]
    # two passes over the chunks: forwards, dq = do hᵀ and h updated (two products); backwards,
    # dk, dv and dh updated (three); per chunk on average 2.5 products of 16 × 64 × 64
    bwd_loads = (2 * BT * bk + 2 * BT * bv) * e
    stages.append(_fused(matrix_kernel(
        "fused_chunk_gla_bwd_kernel: dq forwards, then dk, dv backwards (sequential over chunks of 16)",
        blocks=programs, steps=2 * NT, block_flops=2.5 * 2 * BT * bk * bv,
        reads=3 * qk * e * nv + 4 * vv * e * nk + 2 * BH * NT * K * _FP32 * nv,
        writes=2 * qk * e * nv + vv * e * nk, exps=2 * BH * NT * K * nv, shape=(BT, bv, bk),
        block=Block(threads=64, ops=1, shared_bytes=bwd_loads, in_flight_bytes=bwd_loads, tile=(BT, bv)),
        lanes=1.5 * bk * bv + BT * bk + 0.25 * BT * (bk + bv))))
    stages += [_vector("dq.sum(0), dk.sum(0): the value tiles' partials", 2 * qk, 2 * nv * qk * e, 2 * qk * e,
                       instructions=nv),
               _vector("dv.sum(0): the key tiles' partials", vv, nk * vv * e, vv * e, instructions=nk),
               _bmm("dA = do vᵀ (batched 16 × V · V × 16)", tokens * BT, V, 2 * vv * e, tokens * BT * e,
                    (BT, BT, V)),
               _vector("dA · scale", tokens * BT, tokens * BT * e, tokens * BT * e),
               _bmm("dv2 = Aᵀ do (batched 16 × 16 · 16 × V)", vv, BT, (tokens * BT + vv) * e, vv * e, (BT, V, BT))]
    # per (row, column, key channel): safe_exp (compare, select, subtract, multiply), the
    # causal mask (compare, select), dA · score, dk's multiply-add, dq's multiply and add
    inner_tile = min(K, 16)
    stages.append(_vector("bwd_inner_chunk: intra-chunk dq, dk, elementwise", qk * BT,
                          qk * (2 * e + 2 * _FP32) + math.ceil(K / inner_tile) * tokens * BT * e, 2 * qk * e,
                          instructions=11, exps=1,
                          block=_rows_program(1, BT * inner_tile, inner_tile * (e + _FP32) + BT * e),
                          latency_ops=math.log2(BT)))
    # per element: dq_inter · exp(g) + dq_inner, dk_inter · exp(g_last − g) + dk_inner (with
    # safe_exp's compare and select), dg = dq q − dk k and its running sum, three stores narrowed
    decay_tile = min(K, 32)
    stages.append(_vector("bwd_decay_global_cumsum: dq, dk with the gate; the gate's gradient", qk,
                          qk * (6 * e + _FP32), qk * (2 * e + _FP32), instructions=13, exps=2,
                          block=_rows_program(1, decay_tile, decay_tile * (6 * e + _FP32)),
                          latency_ops=BT))
    chunk_rows = BH * NT * K
    stages += [_vector("dg[..., 0, :].cumsum(-2)", chunk_rows, chunk_rows * _FP32, chunk_rows * _FP32),
               _vector("cumsum[-1] − cumsum: the reverse exclusive sum", chunk_rows, 2 * chunk_rows * _FP32,
                       chunk_rows * _FP32),
               _vector("dg.add_(reverse sum)", qk, qk * _FP32 + chunk_rows * _FP32, qk * _FP32),
               _vector("dv.add_(dv2)", vv, 2 * vv * e, vv * e),
               _vector("dg.to(g's dtype)", qk, qk * _FP32, qk * e)]
    return in_stream_order(stages)


def _fused(stage: Stage) -> Stage:
    """A fused kernel's products as two warps issue them (``mma.sync``), each chunk waiting for
    its loads from the DRAM (one pipeline stage)."""
    return dataclasses.replace(stage, sync_mma=True, step_dram_loads=1)


def _bmm(name: str, outputs: float, k: int, reads: float, writes: float, shape: tuple[int, int, int]) -> Stage:
    """A PyTorch batched product (cuBLAS): ``outputs`` elements, each a dot product of ``k``."""
    return Stage(name, "matrix", ops=int(outputs), flops_per_op=2 * k, bytes_read_per_op=reads / outputs,
                 bytes_written_per_op=writes / outputs, latency_ops=2 * math.log2(max(2, k)), gemm_shape=shape)
