"""A persistent RNN: the recurrent weights stay in the cores for every step of one kernel.

Built as Diamos et al. describe it ("Persistent RNNs: Stashing Recurrent Weights On-Chip",
ICML 2016; cuDNN's ``CUDNN_RNN_ALGO_PERSIST_STATIC``):

* one kernel for the whole sequence: every core loads its slice of ``U`` (the g gates'
  g·d × d recurrent matrix) once, from DRAM into its registers and shared memory, and keeps it
  — so ``U`` must fit the cores' memories (else the simulator refuses the schedule);
* per time step each core multiplies its rows of ``U`` by the whole previous state
  ``h_{t−1}`` (published through the chip's memory system, read once per step as cuDNN's
  standard algorithm reads it), applies the gates' nonlinearities to its outputs and
  publishes its slice of ``h_t``; then a grid-wide barrier (``step_barriers``) and the load
  of the new state, since step t + 1 needs every core's slice;
* the input projection, when the layer has one, is one GEMM before the recurrence, as in
  cuDNN's standard algorithm; training runs the reverse chain the same way with ``Uᵀ``
  resident, and the weight gradient as one GEMM over all steps.
"""

from __future__ import annotations

import dataclasses

from workloads.implementations import cudnn_rnn
from workloads.schedule import DTYPE_BYTES, Stage

SOURCE = ("Diamos et al., 'Persistent RNNs: Stashing Recurrent Weights On-Chip', ICML 2016; NVIDIA cuDNN API "
          "(CUDNN_RNN_ALGO_PERSIST_STATIC)")


def build(w, dtype: str, direction: str = "fwd") -> tuple[Stage, ...]:
    """The standard algorithm's stages (:mod:`workloads.implementations.cudnn_rnn`) with the
    per-step chains made persistent: ``U`` read once and kept, one barrier per step instead of
    two launches, the previous state read from the chip by every core."""
    e = DTYPE_BYTES[dtype]
    g, d = cudnn_rnn.GATES[w.family], w.state
    weights = g * d * d * e
    out = []
    for stage in cudnn_rnn.build(w, dtype, direction):
        if stage.step_kernels:  # a per-step chain: the recurrence, or the backward's reverse chain
            stage = dataclasses.replace(
                stage, name=("recurrence: persistent U·h with the gates, one barrier per step"
                             if not stage.name.startswith("bwd") else
                             "bwd data: persistent Uᵀ·δ with the gate derivatives, one barrier per step (reverse)"),
                # U read once, not every step
                bytes_read_per_op=(stage.bytes_read - (stage.steps - 1) * weights) / stage.total_ops,
                step_kernels=0, step_barriers=1, step_reread_bytes=0.0, granule_ops=0.0, persistent_bytes=weights)
        out.append(stage)
    return tuple(out)
