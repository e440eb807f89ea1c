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
* a step's GEMM is split over thread blocks of 128 × 128 outputs (CUTLASS's default
  threadblock tile, ``cutlass/gemm/device/default_gemm_configuration.h``), so a small layer
  or batch leaves most of the chip's cores idle (``granule_ops``);
* training: ``BackwardData`` runs the recurrence in reverse, per step the GEMM ``Uᵀ·δ`` and
  the elementwise gate derivatives (two kernels per step again), reading the activations the
  forward kept; ``BackwardWeights`` is one GEMM over all steps, ``dU = Σ_t δ_t h_{t−1}ᵀ``.

Vanilla RNNs are DeepBench's ``CUDNN_RNN_RELU`` (no transcendental); GRU and LSTM apply
sigmoids and tanh to every gate.
"""

from __future__ import annotations

import math

from workloads.schedule import DTYPE_BYTES, Stage

SOURCE = ("Appleyard, Kočiský & Blunsom, arXiv 1604.01946 (the cuDNN v5 RNN: one GEMM and one fused "
          "elementwise kernel per step); NVIDIA cuDNN API (cudnnRNNForward, BackwardData, BackwardWeights); "
          "CUTLASS default_gemm_configuration.h (128×128 threadblock tile)")

GATES = {"elman": 1, "gru": 3, "lstm": 4}
_TILE = 128  # threadblock tile edge of a GEMM (CUTLASS's default configuration)
_ELEMENTWISE_FLOPS = {"elman": 2, "gru": 10, "lstm": 8}  # per gate output: bias, gating, state update
_ACTIVATIONS = {"elman": 0, "gru": 1, "lstm": 1}  # transcendental per gate output (ReLU: none)


def _granule(batch: int) -> int:
    """Outputs of one thread block of a step's GEMM: a 128-row slab of every batch column."""
    return _TILE * min(batch, _TILE)


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
                            gemm_shape=(N * T, g * d, w.inputs), granule_ops=_TILE * _TILE))
    ops = N * g * d  # one step's gate outputs
    per_step_read = weights + N * state * e + (N * g * d * e if w.inputs else 0)
    per_step_written = N * state * e + N * g * d * e  # new state; gate activations kept for training
    recurrence = Stage(
        "recurrence: GEMM U·h, then the gates' elementwise kernel, per step", "matrix", ops=ops, steps=T,
        flops_per_op=2 * d + _ELEMENTWISE_FLOPS[w.family], sfu_ops_per_op=_ACTIVATIONS[w.family],
        sfu_function="sigmoid" if w.family != "elman" else "tanh",
        bytes_read_per_op=per_step_read / ops, bytes_written_per_op=per_step_written / ops,
        latency_ops=math.log2(d), gemm_shape=(g * d, N, d), granule_ops=_granule(N),
        step_kernels=2, step_reread_bytes=weights, deps=(0,) if stages else ())
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
        latency_ops=math.log2(g * d), gemm_shape=(d, N, g * d), granule_ops=_granule(N),
        step_kernels=2, step_reread_bytes=weights, deps=(last,))
    # BackwardWeights: dU = Σ_t δ_t h_{t−1}ᵀ, one GEMM (g·d) × d × (N·T)
    backward_weights = Stage(
        "bwd weights: dU = Σ δ hᵀ (one GEMM over all steps)", "matrix", ops=g * d * d,
        flops_per_op=2 * N * T, bytes_read_per_op=N * T * (g * d + d) * e / (g * d * d),
        bytes_written_per_op=e, latency_ops=math.log2(max(2, N * T)), gemm_shape=(g * d, d, N * T),
        granule_ops=_TILE * _TILE, deps=(last + 1,))
    return (*stages, backward_data, backward_weights)
