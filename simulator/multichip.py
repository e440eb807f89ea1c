"""Several chips: sequence-parallel scans and layer pipelines, over the spec's link.

Sequence parallelism (a linear recurrence over T steps on P chips):

1. every chip scans its own T/P steps from a zero state — the single-chip simulation;
2. the chips' carries — each chunk's affine map, ``carry_bytes`` each — are scanned across
   chips over the link: on a ring the carry walks P − 1 hops one after another; with a fully
   connected or torus topology the chips run a Kogge–Stone scan, ⌈log₂ P⌉ rounds of one
   message per chip.  A hop costs ``link.latency_s + carry_bytes / link.bandwidth_bytes_per_s``;
3. every chip folds its incoming carry into its chunk: ``h_t += (Π a) · carry``, one
   multiply-add per element, reading the chunk's decays and states and writing the states.

Layer pipelining (L layers split over P chips, M micro-batches): the classic fill-and-drain
``(P + M − 1)`` stage slots, each the slowest chip's share of the layers plus one activation
transfer over the link.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwmodels.spec import Accelerator
from simulator.bounds import SimulationError
from simulator.engine import simulate
from simulator.result import SimResult
from workloads.catalog import Workload, schedule
from workloads.schedule import DTYPE_BYTES, Schedule, Stage

__all__ = ["SequenceParallelResult", "carry_hop_s", "sequence_parallel", "pipeline_latency_s"]


@dataclass(frozen=True)
class SequenceParallelResult:
    chips: int
    latency_s: float
    chip_scan_s: float
    carry_s: float
    fixup_s: float
    link_bytes: float
    energy_j: float
    per_chip: SimResult

    def to_record(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "per_chip"}


def carry_hop_s(acc: Accelerator, nbytes: float) -> float:
    """One message of ``nbytes`` over one link."""
    return acc.link.latency_s + nbytes / acc.link.bandwidth_bytes_per_s


def _carry_rounds(acc: Accelerator, chips: int) -> int:
    if chips == 1:
        return 0
    return chips - 1 if acc.link.topology == "ring" else math.ceil(math.log2(chips))


def sequence_parallel(workload: Workload, algorithm: str, acc: Accelerator, chips: int, *,
                      dtype: str = "fp32", policy: str = "auto", carry_bytes: float | None = None,
                      **simulate_options) -> SequenceParallelResult:
    """Latency and energy of ``workload`` split along the sequence over ``chips`` chips.

    ``carry_bytes`` defaults to the state a diagonal-family chunk hands on: the product of its
    decays and its last state, for every channel of every copy.
    """
    if isinstance(chips, bool) or not isinstance(chips, int) or chips < 1:
        raise SimulationError(f"chips: expected an integer ≥ 1, got {chips!r}")
    if chips > 1 and acc.link is None:
        raise SimulationError(f"accelerator {acc.name!r} has no 'link' resource: cannot use {chips} chips")
    e = DTYPE_BYTES[dtype]
    local = workload.with_params(seq_len=max(1, math.ceil(workload.seq_len / chips)))
    per_chip = simulate(schedule(local, algorithm, dtype), acc, policy, **simulate_options)
    channels = workload.batch * workload.heads * workload.state
    if carry_bytes is None:
        carry_bytes = 2.0 * channels * e
    rounds = _carry_rounds(acc, chips)
    carry = rounds * carry_hop_s(acc, carry_bytes)
    fixup_s, fixup_energy = 0.0, 0.0
    if chips > 1:
        fix = Schedule("carry fix-up", dtype, (Stage(
            "h += (Π a)·carry", "vector", ops=local.seq_len * channels, flops_per_op=2,
            bytes_read_per_op=2 * e, bytes_written_per_op=e),))
        fixed = simulate(fix, acc, "unfused", **simulate_options)
        fixup_s, fixup_energy = fixed.latency_s, fixed.energy_j
    messages = rounds * (chips if acc.link is not None and acc.link.topology != "ring" else 1)
    link_bytes = messages * carry_bytes
    link_j = link_bytes * (acc.link.energy_per_byte_j if acc.link else 0.0)
    energy = chips * (per_chip.energy_j + fixup_energy) + link_j
    return SequenceParallelResult(chips=chips, latency_s=per_chip.latency_s + carry + fixup_s,
                                  chip_scan_s=per_chip.latency_s, carry_s=carry, fixup_s=fixup_s,
                                  link_bytes=link_bytes, energy_j=energy, per_chip=per_chip)


def pipeline_latency_s(layer_s: float, layers: int, chips: int, microbatches: int,
                       activation_bytes: float, acc: Accelerator) -> float:
    """Latency of ``layers`` layers of ``layer_s`` each (for one micro-batch) pipelined over
    ``chips`` chips with ``microbatches`` micro-batches."""
    for name, value in (("layers", layers), ("chips", chips), ("microbatches", microbatches)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SimulationError(f"{name}: expected an integer ≥ 1, got {value!r}")
    if chips > 1 and acc.link is None:
        raise SimulationError(f"accelerator {acc.name!r} has no 'link' resource: cannot pipeline")
    slot = math.ceil(layers / chips) * layer_s
    if chips > 1:
        slot += carry_hop_s(acc, activation_bytes)
    return (chips + microbatches - 1) * slot
