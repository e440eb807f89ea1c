"""flash-linear-attention's chunked delta rule: ``chunk_delta_rule`` and ``chunk_gated_delta_rule``.

Built from fla-org/flash-linear-attention's Triton kernels (``fla/ops/delta_rule/chunk.py``,
``fla/ops/gated_delta_rule/chunk.py``, ``chunk_fwd.py``, ``wy_fast.py``,
``fla/ops/common/chunk_delta_h.py``, ``chunk_o.py``, ``chunk_scaled_dot_kkt.py``,
``fla/ops/utils/solve_tril.py``; Yang et al., arXiv 2406.06484 §3 and 2412.06464 §3 for the
WY/UT form).  Chunks of C = 64, NT = ⌈T / C⌉, per (chunk, head) programs unless said.  Forward:

* the gated rule first sums its gate within each chunk (``chunk_local_cumsum``, fp32);
* the UT transform's A = (I + tril(β k kᵀ))⁻¹: for the gated rule one fused kernel (K·Kᵀ and the
  16 × 16-block triangular solve, A in the input dtype, into a zeroed buffer — a memset); for the
  plain rule ``chunk_scaled_dot_kkt`` (A in fp32), a memset and ``solve_tril``'s 64 × 64 inverse;
* ``recompute_w_u``: w = A (β k [⊙ e^g]) and u = A (β v), written;
* ``chunk_fwd_h``: a program per (value tile of 64, head) walks the chunks in order — the
  sequential part — forming v_new = u − w h, storing the state h of every chunk and v_new, then
  h ← e^{g_last} h + kᵀ v_new;
* ``chunk_fwd_o``: o = q h + (q kᵀ ⊙ M) v_new per (value tile of 128, chunk, head).

Backward (``chunk_*_bwd``): w, u, h and v_new recomputed, then dv (intra-chunk), the state
gradients in reverse over the chunks (dh of every chunk stored), dq, dk, dw (and the gate's
gradient), the WY representation's backward, and the gate's reverse cumulative sum.  Tiles are
the largest of each kernel's autotuning list (as :mod:`workloads.implementations.fla_chunk`).
"""

from __future__ import annotations

import math

from workloads.implementations.triton_kernel import matrix_kernel, tile_block
from workloads.schedule import DTYPE_BYTES, Stage, in_stream_order

SOURCE = ("fla-org/flash-linear-attention fla/ops/delta_rule/chunk.py, fla/ops/gated_delta_rule/chunk.py, chunk_fwd.py, "
          "wy_fast.py, fla/ops/common/chunk_delta_h.py, chunk_o.py, chunk_scaled_dot_kkt.py, fla/ops/utils/solve_tril.py; "
          "Yang et al., arXiv 2406.06484 and 2412.06464")

C = 64
_STATE, _OUT = 64, 128  # value tiles of the state and output kernels (BV; chunk_o's BK, BV = 128)
_FP32 = 4
_SOLVE_FLOPS = C ** 3 // 3  # a C × C unit lower-triangular inverse by forward substitution (≈ C³/3 multiply-adds)


def build(w, dtype: str, direction: str = "fwd") -> tuple[Stage, ...]:
    e = DTYPE_BYTES[dtype]
    B, H, K, V, T = w.batch, w.heads, w.state, w.value, w.seq_len
    gated = w.family == "gated-deltanet"
    NT, BH = math.ceil(T / C), B * H
    tokens = B * T * H
    q, v = tokens * K * e, tokens * V * e  # q, k (or w) and v (or u, v_new, o)
    gate = tokens * _FP32 if gated else 0
    beta = tokens * e
    a_bytes = tokens * C * e  # A: C columns per token
    states = BH * NT * K * V
    nv, ov = math.ceil(V / _STATE), math.ceil(V / _OUT)
    programs = BH * NT
    square = tile_block(C, C, min(K, 64), 3, 4, e)
    state_tile = tile_block(K, _STATE, C, 4, 4, e)
    out_tile = tile_block(C, _OUT, min(K, _OUT), 3, 8, e)

    def cumsum(name):
        return Stage(name, "vector", ops=tokens, flops_per_op=1, bytes_read_per_op=_FP32,
                     bytes_written_per_op=_FP32, latency_ops=math.log2(C))

    def w_u(label=""):
        return matrix_kernel(f"{label}recompute_w_u: w = A(βk), u = A(βv)", blocks=programs,
                             block_flops=2 * C * C * (K + V), reads=q + v + beta + a_bytes + gate,
                             writes=q + v, shape=(C, K + V, C), block=square,
                             exps=tokens * K if gated else 0)

    def fwd_h(label="", state_bytes=e):
        return matrix_kernel(f"{label}chunk_fwd_h: v_new = u − w h, state of every chunk (sequential over chunks)",
                             blocks=nv * BH, steps=NT, block_flops=2 * C * K * _STATE * 2,
                             reads=nv * (2 * q + gate) + v, writes=states * state_bytes + v,
                             shape=(K, _STATE, C), block=state_tile, exps=tokens * nv if gated else 0)

    stages: list[Stage] = []
    if gated:
        stages.append(cumsum("chunk_local_cumsum: the gate's running sum per chunk, fp32"))
        stages.append(Stage("memset: the zeroed A buffer", "vector", ops=tokens * C, bytes_written_per_op=e))
        stages.append(matrix_kernel("chunk_gated_delta_rule_fwd_kkt_solve: A = (I + tril(βkkᵀ))⁻¹, fused",
                                    blocks=programs, block_flops=2 * C * C * K + 2 * _SOLVE_FLOPS,
                                    reads=q + beta + gate, writes=a_bytes, shape=(C, C, K), block=square,
                                    exps=programs * C * C))
    else:
        stages.append(matrix_kernel("chunk_scaled_dot_kkt: β k kᵀ per chunk, fp32", blocks=programs,
                                    block_flops=2 * C * C * K, reads=q + beta, writes=tokens * C * _FP32,
                                    shape=(C, C, K), block=square))
        stages.append(Stage("memset: the zeroed inverse", "vector", ops=tokens * C, bytes_written_per_op=e))
        stages.append(matrix_kernel("solve_tril: the 64 × 64 unit lower-triangular inverse", blocks=programs,
                                    block_flops=2 * _SOLVE_FLOPS, reads=tokens * C * _FP32, writes=a_bytes,
                                    shape=(C, C, C), block=square))
    stages += [w_u(), fwd_h()]
    stages.append(matrix_kernel("chunk_fwd_o: o = q h + (q kᵀ ⊙ M) v_new", blocks=ov * programs,
                                block_flops=2 * C * K * _OUT + 2 * C * C * K + 2 * C * C * _OUT,
                                reads=ov * (2 * q + gate) + states * e + v, writes=v, shape=(C, _OUT, K),
                                block=out_tile, exps=ov * programs * C * C if gated else 0))
    if direction == "fwd":
        return in_stream_order(stages)

    rc = "recompute: "
    stages += [w_u(rc), fwd_h(rc)]
    stages.append(matrix_kernel("chunk_bwd_dv_local: dv from the intra-chunk scores", blocks=programs,
                                block_flops=2 * C * C * K + 2 * C * C * V, reads=2 * q + v + gate, writes=v,
                                shape=(C, V, C), block=square))
    stages.append(matrix_kernel("chunk_bwd_dhu: state gradients in reverse over the chunks (sequential)",
                                blocks=nv * BH, steps=NT, block_flops=2 * C * K * _STATE * 3,
                                reads=nv * (3 * q + gate) + 2 * v, writes=states * e + v,
                                shape=(K, _STATE, C), block=state_tile, exps=tokens * nv if gated else 0))
    stages.append(matrix_kernel("chunk_bwd_dqkwg: dq, dk, dw (and the gate's gradient)", blocks=programs,
                                block_flops=4 * C * K * V + 4 * C * C * K + 2 * C * C * V,
                                reads=2 * q + 3 * v + 2 * states * e + gate,
                                writes=3 * q + (tokens * _FP32 if gated else 0), shape=(C, K, V), block=square))
    stages.append(matrix_kernel("prepare_wy_repr_bwd: dk, dv, dβ through A", blocks=programs,
                                block_flops=4 * C * C * (K + V), reads=2 * q + 2 * v + beta + a_bytes + gate,
                                writes=q + v + beta, shape=(C, K + V, C), block=square))
    if gated:
        stages.append(cumsum("chunk_local_cumsum (reverse): the gate's gradient"))
    return in_stream_order(stages)
