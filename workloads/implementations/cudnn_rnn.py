"""cuDNN's RNN (``CUDNN_RNN_ALGO_STANDARD``): a GEMM and an elementwise kernel per time step.

Built as Appleyard, Kočiský & Blunsom describe the kernels that became cuDNN's RNN
(arXiv 1604.01946, §3 "Single iteration" and "Many iterations"; NVIDIA cuDNN developer guide,
``cudnnRNNForward*`` / ``cudnnRNNBackwardData`` / ``cudnnRNNBackwardWeights``):

* the input projection ``W·x`` of every step is one large GEMM before the recurrence (absent
  when the layer skips it: ``CUDNN_SKIP_INPUT``, ``inputs=0`` here, as DeepBench times);
* per time step the g gates' recurrent products are one GEMM ``U·h_{t−1}`` of
  (g·d) × d × batch (the four LSTM gate matrices stacked), then one fused elementwise kernel
  forms the gates, their activations and the new state — two kernel launches per step, the
  second waiting for the first, the next step's GEMM for both;
* every step's GEMM reads all of ``U`` (g·d² elements); a chip-level cache that holds it serves
  every step after the first (``step_reread_bytes``);
* a step's GEMM runs as one of the tiles a GEMM library offers for its data type (CUTLASS's
  instantiated kernels, ``python/cutlass_library/generator.py``: ``GenerateSM50_Simt`` for
  fp32 and fp64 — tiles of 128 × 128 down to 32 × 128 outputs, K stepped by 8 through two
  shared-memory stages — and ``GenerateSM70_TensorOp_884`` for 16-bit tensor-core math, K
  stepped by 32, two stages); the simulator picks the tile for the chip
  (:func:`simulator.policy.fit_tiles`).  A small layer or batch leaves most cores idle
  (``granule_ops``), and each block keeps one K-step of its operands in flight, so a step whose
  weights stream from DRAM takes about ``K / k_step`` memory latencies (Little's law);
* training: ``BackwardData`` runs the recurrence in reverse, per step the GEMM ``Uᵀ·δ`` and
  the elementwise gate derivatives (two kernels per step again), reading the activations the
  forward kept; ``BackwardWeights`` is one GEMM over all steps, ``dU = Σ_t δ_t h_{t−1}ᵀ``.

Vanilla RNNs are DeepBench's ``CUDNN_RNN_RELU`` (no transcendental); GRU and LSTM apply
sigmoids and tanh to every gate.
"""

from __future__ import annotations

import dataclasses
import math

from workloads.schedule import DTYPE_BYTES, Block, Stage

SOURCE = ("Appleyard, Kočiský & Blunsom, arXiv 1604.01946 (the cuDNN v5 RNN: one GEMM and one fused "
          "elementwise kernel per step); NVIDIA cuDNN API (cudnnRNNForward, BackwardData, BackwardWeights); "
          "CUTLASS python/cutlass_library/generator.py (GenerateSM50_Simt, GenerateSM70_TensorOp_884: the "
          "GEMM tiles, K steps and pipeline stages)")

GATES = {"elman": 1, "gru": 3, "lstm": 4}
#: (rows, columns, warps) of the GEMM tiles a library instantiates, and the K step: CUTLASS
#: generator.py, GenerateSM50_Simt (fp32 and fp64 FFMA, K step 8) and GenerateSM70_TensorOp_884
#: (fp16 / bf16 tensor cores, K step 32), every one with two shared-memory stages
_SIMT = (((128, 128, 8), (128, 64, 4), (64, 128, 4), (64, 64, 2), (128, 32, 2), (32, 128, 2)), 8)
_TENSOR = (((256, 128, 8), (128, 256, 8), (128, 128, 4), (256, 64, 4), (64, 256, 4), (64, 128, 4),
            (128, 64, 4), (64, 64, 4)), 32)
_STAGES = 2
_ELEMENTWISE_FLOPS = {"elman": 2, "gru": 10, "lstm": 8}  # per gate output: bias, gating, state update
_ACTIVATIONS = {"elman": 0, "gru": 1, "lstm": 1}  # transcendental per gate output (ReLU: none)


def _blocks(m: int, n: int, dtype: str) -> dict:
    """A GEMM stage's thread block and its indivisible unit of work (one block's outputs)."""
    block = _gemm_block(m, n, dtype)
    return {"block": block, "granule_ops": block.ops}


def _gemm_block(m: int, n: int, dtype: str) -> Block:
    """The thread block of an ``m`` × ``n``-output GEMM: CUTLASS's default tile (the first of the
    list), with the others as the alternatives the chip's heuristic picks from; a tile larger
    than the product is cut to it.  Each block loads one K-step of its operands per iteration,
    one stage in flight while it multiplies the other; of these, the rows of the weights are
    its own to fetch from memory (``in_flight_bytes``), while the few columns of the state or
    the batch every block reads alike come from the shared cache."""
    e = DTYPE_BYTES[dtype]
    tiles, k_step = _TENSOR if e <= 2 else _SIMT
    k_step = k_step * 2 // e if e < 2 else k_step  # 8-bit operands step twice as far in K

    def block(rows: int, cols: int, warps: int) -> Block:
        rows, cols = min(rows, m), min(cols, n)
        step = (rows + cols) * k_step * e
        return Block(threads=32 * warps, ops=rows * cols, shared_bytes=_STAGES * step,
                     in_flight_bytes=(_STAGES - 1) * rows * k_step * e, tile=(rows, cols))

    first, *rest = (block(*t) for t in tiles)
    return dataclasses.replace(first, alternatives=tuple(rest))


def build(w, dtype: str, direction: str = "fwd") -> tuple[Stage, ...]:
    e = DTYPE_BYTES[dtype]
    g, d, N, T = GATES[w.family], w.state, w.batch * w.heads, w.seq_len
    state = 2 * d if w.family == "lstm" else d  # h (and c) per sequence
    weights = g * d * d * e
    stages: list[Stage] = []
    if w.inputs:
        stages.append(Stage("input projection W·x (one GEMM over all steps)", "matrix", ops=N * T * g * d,
                            flops_per_op=2 * w.inputs, bytes_read_per_op=w.inputs * e / (g * d) + e,
                            bytes_written_per_op=e, latency_ops=math.log2(max(2, w.inputs)),
                            gemm_shape=(N * T, g * d, w.inputs), **_blocks(N * T, g * d, dtype)))
    ops = N * g * d  # one step's gate outputs
    per_step_read = weights + N * state * e + (N * g * d * e if w.inputs else 0)
    per_step_written = N * state * e + N * g * d * e  # new state; gate activations kept for training
    recurrence = Stage(
        "recurrence: GEMM U·h, then the gates' elementwise kernel, per step", "matrix", ops=ops, steps=T,
        flops_per_op=2 * d + _ELEMENTWISE_FLOPS[w.family], sfu_ops_per_op=_ACTIVATIONS[w.family],
        sfu_function="sigmoid" if w.family != "elman" else "tanh",
        bytes_read_per_op=per_step_read / ops, bytes_written_per_op=per_step_written / ops,
        latency_ops=math.log2(d), gemm_shape=(g * d, N, d), **_blocks(g * d, N, dtype), step_kernels=2,
        step_reread_bytes=weights, deps=(0,) if stages else ())
    stages.append(recurrence)
    if direction == "fwd":
        return tuple(stages)
    last = len(stages) - 1
    # BackwardData: per step Uᵀ·δ_gates (d × g·d × N) and the gate derivatives
    back_ops = N * d
    back_read = weights + N * g * d * e + N * (state + g * d) * e  # Uᵀ, δ, kept activations
    backward_data = Stage(
        "bwd data: GEMM Uᵀ·δ, then the gate derivatives, per step (reverse)", "matrix", ops=back_ops,
        steps=T, flops_per_op=2 * g * d + g * _ELEMENTWISE_FLOPS[w.family],
        bytes_read_per_op=back_read / back_ops, bytes_written_per_op=N * (state + g * d) * e / back_ops,
        latency_ops=math.log2(g * d), gemm_shape=(d, N, g * d), **_blocks(d, N, dtype), step_kernels=2,
        step_reread_bytes=weights, deps=(last,))
    # BackwardWeights: dU = Σ_t δ_t h_{t−1}ᵀ, one GEMM (g·d) × d × (N·T)
    backward_weights = Stage(
        "bwd weights: dU = Σ δ hᵀ (one GEMM over all steps)", "matrix", ops=g * d * d,
        flops_per_op=2 * N * T, bytes_read_per_op=N * T * (g * d + d) * e / (g * d * d),
        bytes_written_per_op=e, latency_ops=math.log2(max(2, N * T)), gemm_shape=(g * d, d, N * T),
        **_blocks(g * d, d, dtype), deps=(last + 1,))
    return (*stages, backward_data, backward_weights)
