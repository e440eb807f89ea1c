"""flash-linear-attention's chunked kernels: chunk_simple_gla (scalar gate) and chunk_gla.

Built as the Triton kernels of fla-org/flash-linear-attention are (``fla/ops/common/chunk_h.py``,
``fla/ops/common/chunk_o.py``, ``fla/ops/simple_gla/chunk.py``, ``fla/ops/gla/chunk.py``; Yang
et al., arXiv 2312.06635 §4 for GLA's secondary chunking).  With chunk C = 64 and NT = T / C:

* ``chunk_fwd_h``: a thread block per (key tile, value tile, batch·head) walks the NT chunks in
  order, storing the state h of every chunk (the input dtype; fp32 in the backward's
  recompute) and adding ``kᵀ v`` — k is read once per value tile, v once per key tile;
* ``chunk_fwd_o``: a block per (value tile, chunk, batch·head) forms ``q h`` and the masked
  intra-chunk ``(q kᵀ) v``, reading q and k once per value tile;
* backward (``chunk_*_bwd``): h recomputed in fp32, ``chunk_bwd_dh`` walks the chunks in
  reverse storing dh (fp32), then ``dq, dk`` (and the gate's gradient) and ``dv`` kernels;
* GLA adds a gate per key channel: the gate's cumulative sum (fp32), the intra-chunk scores A
  (fp32) computed in 16-row sub-chunks — off the diagonal as gated matmuls, on the diagonal
  elementwise, one ``exp2`` per (row, column, key channel) — and gate factors ``exp2(g)``
  applied to q and k in every kernel that reads them; its backward adds dA, the intra-chunk
  dq/dk and the gate gradient's reverse cumulative sum.

Tiles are the largest of each kernel's autotuning list (64 for the state kernels, 128 for
the output kernels, ``BKV_LIST`` / ``_O_CONFIGS``).  ``exp2`` runs on the SFU (MUFU.EX2, 16
per SM per clock: CUDA C++ Programming Guide, arithmetic instruction throughput).
"""

from __future__ import annotations

import math

from workloads.errors import WorkloadError
from workloads.implementations.triton_kernel import matrix_kernel, tile_block
from workloads.schedule import DTYPE_BYTES, Stage, in_stream_order

SOURCE = ("fla-org/flash-linear-attention fla/ops/common/chunk_h.py, chunk_o.py, fla/ops/simple_gla/chunk.py, "
          "fla/ops/gla/chunk.py; Yang et al., arXiv 2312.06635 §4 (secondary chunking)")

# The host side of one eager call — FLA's Python entry point (autograd function, input guards,
# allocation, Triton's launcher per kernel) — measured against the same call replayed as a
# CUDA graph on an H100: chunk_simple_gla, eager forward 263.2 µs (graph 8.2 µs), eager
# forward + backward 943.1 µs (graph 27.2 µs), medians of the baseline rows.  The eager times
# are the host's: the device work is 30× shorter.  GLA's path launches more kernels, so for
# it this is the low end.
EAGER_HOST_S = {"fwd": 263.2e-6, "fwd+bwd": 943.1e-6}
HOST_SOURCE = ("fla-org/flash-linear-attention pull request #1243 (2026-09), H100 benchmark table: "
               "simple_gla eager vs CUDA-graph medians")

C, SUB = 64, 16  # FLA's chunk size and GLA's sub-chunk
_STATE_TILE, _OUT_TILE = 64, 128
_FP32 = 4


def _tiles(n: int, tile: int) -> int:
    return math.ceil(n / tile)


#: programs as the largest entries of the kernels' autotuning lists: the state kernels 64 × 64
#: tiles stepping the chunk (BK = BV = 64, num_warps 4, num_stages 4: ``chunk_h.py``), the
#: output kernels (BK, BV, num_warps, num_stages) = (128, 128, 8, 3) (``chunk_o.py``)
_STATE_PROGRAM, _OUT_PROGRAM = (4, 4), (8, 3)  # (num_warps, num_stages)


def _kernel(name, *, blocks: int, block_flops: float, reads: float, writes: float,
            steps: int = 1, exps: float = 0.0, shape=(C, C, C), out: bool = False) -> Stage:
    """One Triton kernel of FLA's: ``blocks`` programs per step (see :func:`matrix_kernel`);
    ``out``: an output kernel's program (else a state kernel's)."""
    warps, stages = _OUT_PROGRAM if out else _STATE_PROGRAM
    block = tile_block(shape[0], shape[1], min(shape[2], _OUT_TILE), stages, warps, 2)
    return matrix_kernel(name, blocks=blocks, block_flops=block_flops, reads=reads, writes=writes, steps=steps,
                         exps=exps, shape=shape, latency_ops=2 * math.log2(C), block=block)


def build(w, dtype: str, direction: str = "fwd", state_tile: int = _STATE_TILE, out_tile: int = _OUT_TILE
          ) -> tuple[Stage, ...]:
    """The kernels of one call; ``state_tile`` and ``out_tile`` are the state and output kernels'
    BK = BV (their autotuning lists: 32 or 64, and 32, 64 or 128; shipped as the largest)."""
    for name, value, legal in (("state_tile", state_tile, (32, 64)), ("out_tile", out_tile, (32, 64, 128))):
        if value not in legal:
            raise WorkloadError(f"{name}: expected one of {', '.join(map(str, legal))} (FLA's autotuning list), got {value!r}")
    e = DTYPE_BYTES[dtype]
    B, H, K, V, T = w.batch, w.heads, w.state, w.value, w.seq_len
    BH, NT = B * H, _tiles(T, C)
    gla = w.family == "gla"
    tokens = B * T * H
    q_bytes, v_bytes = tokens * K * e, tokens * V * e
    gate = tokens * (K if gla else 1) * _FP32  # g after its cumulative sum (fp32)
    nk, nv = _tiles(K, state_tile), _tiles(V, state_tile)
    ok, ov = _tiles(K, out_tile), _tiles(V, out_tile)
    states = BH * NT * K * V  # one state per chunk

    def fwd_h(state_bytes: int) -> Stage:
        # per step and block: the state tile's update kᵀv (2·C·64·64) and, for GLA, the gate
        # factors of its k tile
        return _kernel("chunk_fwd_h: state of every chunk (sequential over chunks)",
                       blocks=nk * nv * BH, steps=NT, block_flops=2 * C * state_tile ** 2,
                       reads=q_bytes * nv + v_bytes * nk + (gate * nv if gla else 0),
                       writes=states * state_bytes, exps=tokens * K * nv if gla else 0,
                       shape=(state_tile, state_tile, C))

    stages: list[Stage] = []
    if gla:
        stages.append(Stage("chunk_local_cumsum: the gate's running sum per chunk", "vector",
                            ops=tokens * K, flops_per_op=1, bytes_read_per_op=_FP32,
                            bytes_written_per_op=_FP32, latency_ops=math.log2(C)))
    stages.append(fwd_h(e))
    if gla:
        # scores A (fp32, B·T·H·C): off-diagonal sub-blocks as gated matmuls (q and k scaled by
        # exp2 of the gate), diagonal sub-blocks elementwise: SUB·SUB·K exp2s and 3 flops each
        sub = C // SUB
        pairs = sub * (sub - 1) // 2
        inter = _kernel("chunk_gla_fwd_A intra_sub_inter: gated off-diagonal scores", blocks=NT * sub * sub * BH,
                        block_flops=2 * SUB * SUB * K * pairs / (sub * sub),
                        reads=2 * q_bytes * sub / 2 + gate * sub, writes=tokens * C * _FP32,
                        exps=BH * NT * pairs * 2 * SUB * K, shape=(SUB, SUB, K))
        diagonal = Stage("chunk_gla_fwd_A intra_sub_intra: diagonal scores, elementwise", "vector",
                         ops=BH * NT * sub * SUB * SUB * K, flops_per_op=3, sfu_ops_per_op=1,
                         sfu_function="exp", sfu_on_chain=False,
                         bytes_read_per_op=(2 * q_bytes + gate) / (BH * NT * sub * SUB * SUB * K),
                         bytes_written_per_op=tokens * SUB * _FP32 / (BH * NT * sub * SUB * SUB * K),
                         latency_ops=math.log2(K))
        stages += [inter, diagonal]
        out = _kernel("chunk_gla_fwd_o: o = (q ⊙ exp2 g) h + A v", out=True, blocks=ov * NT * BH,
                      block_flops=2 * C * K * out_tile + 2 * C * C * out_tile,
                      reads=(q_bytes + gate) * ov + states * e + tokens * C * _FP32 * ov + v_bytes,
                      writes=v_bytes, exps=tokens * K * ov, shape=(C, out_tile, K))
    else:
        out = _kernel("chunk_fwd_o: o = q h + (q kᵀ ⊙ M) v", out=True, blocks=ov * NT * BH,
                      block_flops=2 * C * K * out_tile + 2 * C * C * K + 2 * C * C * out_tile,
                      reads=2 * q_bytes * ov + states * e + v_bytes + gate, writes=v_bytes,
                      exps=ov * tokens * (C + 1), shape=(C, out_tile, K))
    stages.append(out)
    if direction == "fwd":
        return in_stream_order(stages)

    stages.append(fwd_h(_FP32))  # recomputed, in fp32
    stages.append(_kernel("chunk_bwd_dh: state gradient of every chunk (reverse)", blocks=nk * nv * BH,
                          steps=NT, block_flops=2 * C * state_tile ** 2,
                          reads=q_bytes * nv + v_bytes * nk + (gate * nv if gla else 0),
                          writes=states * _FP32, exps=tokens * K * nv if gla else 0,
                          shape=(state_tile, state_tile, C)))
    # dv = (q kᵀ ⊙ M)ᵀ do + k dh: a block per (value tile, chunk, batch·head)
    stages.append(_kernel("chunk_bwd_dv", out=True, blocks=ov * NT * BH,
                          block_flops=2 * C * C * K + 2 * C * C * out_tile + 2 * C * K * out_tile,
                          reads=2 * q_bytes * ov + v_bytes + states * _FP32 + (gate * ov if gla else 0),
                          writes=v_bytes, exps=tokens * K * ov if gla else 0, shape=(C, out_tile, K)))
    # dq, dk (and dg): a block per (key tile, chunk, batch·head), looping over value tiles
    # through v, do, h and dh
    stages.append(_kernel("chunk_bwd_dqk(g): dq, dk and the gate's gradient", out=True, blocks=ok * NT * BH,
                          block_flops=4 * C * V * out_tile + 2 * C * C * V + 2 * C * C * out_tile,
                          reads=2 * v_bytes * ok + 2 * states * _FP32 + 2 * q_bytes + gate,
                          writes=2 * q_bytes + gate * ok, exps=tokens * K * 2 if gla else 0,
                          shape=(C, out_tile, V)))
    if gla:
        # dA (fp32 scores' gradient), the intra-chunk dq/dk from it (sub-chunks, diagonal
        # elementwise as in the forward), and the gate gradient's reverse cumulative sum
        sub = C // SUB
        stages.append(_kernel("chunk_gla_bwd_dA: dA = do vᵀ", blocks=NT * BH, block_flops=2 * C * C * V,
                              reads=2 * v_bytes, writes=tokens * C * _FP32, shape=(C, C, V)))
        stages.append(Stage("chunk_gla_bwd_dqk_intra: intra-chunk dq, dk, elementwise on the diagonal",
                            "vector", ops=2 * BH * NT * sub * SUB * SUB * K, flops_per_op=3,
                            sfu_ops_per_op=1, sfu_function="exp", sfu_on_chain=False,
                            bytes_read_per_op=(2 * q_bytes + gate + tokens * C * _FP32)
                            / (2 * BH * NT * sub * SUB * SUB * K),
                            bytes_written_per_op=2 * tokens * K * _FP32 / (2 * BH * NT * sub * SUB * SUB * K),
                            latency_ops=math.log2(K)))
        stages.append(Stage("chunk_local_cumsum (reverse): the gate's gradient", "vector", ops=tokens * K,
                            flops_per_op=1, bytes_read_per_op=_FP32, bytes_written_per_op=_FP32,
                            latency_ops=math.log2(C)))
    return in_stream_order(stages)
