"""Closed-form bounds on a schedule's latency on an accelerator.

No execution of the schedule can beat any of: the work each unit kind must issue, spread over
all cores at peak; its DRAM bytes at the DRAM bandwidth; or its longest dependent chain at one
op latency per link plus one kernel launch per stage on that chain.  A simulated latency below
their maximum is a bug.

The upper bound (:func:`upper_bound_s`) is the schedule run with no overlap at all: stage
after stage, each paying its launch, all its DRAM traffic, its exposed DRAM latencies and its
busiest core's compute end to end.  Whatever runs at once in a simulation only shortens
that; a simulated latency above it is a bug too.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwmodels.spec import Accelerator
from simulator.core import memory_seconds
from simulator.units import Placement, chain_seconds, place, stage_work_seconds
from workloads.schedule import UNITS, Schedule


class SimulationError(ValueError):
    """A schedule that cannot run on an accelerator; the message names the stage and resource."""


@dataclass(frozen=True)
class Bounds:
    compute_s: float
    memory_s: float
    depth_s: float

    @property
    def lower_s(self) -> float:
        return max(self.compute_s, self.memory_s, self.depth_s)



def start_overhead_s(stage, acc: Accelerator) -> float:
    """A kernel launch, or a barrier for a stage that continues a fused kernel."""
    return acc.kernel_launch_s if stage.launch else acc.barrier_s


def placements(schedule: Schedule, acc: Accelerator) -> list[Placement]:
    """Check ``schedule`` against ``acc`` and place every stage; :class:`SimulationError` if
    a stage cannot run there."""
    out = []
    for i, stage in enumerate(schedule.stages):
        where = f"schedule {schedule.name!r} stage {i} ({stage.name})"
        if stage.unit not in UNITS:
            raise SimulationError(f"{where}: unknown unit {stage.unit!r}, expected one of {', '.join(UNITS)}")
        if stage.ops < 1 or stage.steps < 1:
            raise SimulationError(f"{where}: ops and steps must be ≥ 1, got {stage.ops} and {stage.steps}")
        if stage.unit == "transfer" and (stage.flops_per_op or stage.sfu_ops_per_op or stage.lane_instructions_per_op):
            raise SimulationError(f"{where}: a 'transfer' stage moves bytes only, but has flops or lane instructions")
        for d in stage.deps:
            if not 0 <= d < i:
                raise SimulationError(
                    f"{where}: depends on stage {d}; a stage may depend only on earlier stages, "
                    "so this schedule is cyclic or malformed")
        if stage.working_set_bytes_per_copy > acc.dram.capacity_bytes:
            hint = ("; quasi-DEER keeps only the Jacobians' diagonals (--algo quasi-deer)"
                    if schedule.meta.get("algorithm") == "deer" else "")
            raise SimulationError(
                f"{where}: one copy's working set of {stage.working_set_bytes_per_copy:.3g} bytes "
                f"exceeds the {acc.dram.capacity_bytes:.3g}-byte '{acc.dram.name}' memory, "
                f"the largest accelerator {acc.name!r} has{hint}")
        on_chip = sum(m.capacity_bytes * acc.cores for m in acc.memory if m.scope == "core")
        if stage.persistent_bytes > on_chip:
            raise SimulationError(
                f"{where}: keeps {stage.persistent_bytes / 1e6:.3g} MB in its cores for its whole run, more "
                f"than the {on_chip / 1e6:.3g} MB of {acc.name!r}'s per-core memories (a persistent kernel's "
                "weights must fit; a per-step kernel re-reads them instead)")
        if stage.sfu_ops_per_op and stage.sfu_function not in ("exp", "tanh", "sigmoid"):
            raise SimulationError(f"{where}: unknown special function {stage.sfu_function!r}, "
                                  "expected exp, tanh or sigmoid")
        if stage.sfu_ops_per_op and acc.sfu is None:
            raise SimulationError(f"{where}: needs the 'sfu' resource (special functions), "
                                  f"which accelerator {acc.name!r} does not specify")
        placement = place(stage, acc, schedule.dtype)
        if placement.unit == "vector" and (stage.flops_per_op > 0 or stage.instructions_per_op > 0):
            try:
                acc.flops_per_lane_per_cycle(stage.compute_dtype or schedule.dtype)
            except KeyError as exc:
                raise SimulationError(f"{where}: {exc.args[0]}") from None
        out.append(placement)
    return out


def bounds(schedule: Schedule, acc: Accelerator, placed: list[Placement] | None = None) -> Bounds:
    """The three closed-form lower-bound terms of ``schedule`` on ``acc``."""
    placed = placed if placed is not None else placements(schedule, acc)
    work: dict[str, float] = {}
    for stage, placement in zip(schedule.stages, placed):
        work[placement.unit] = work.get(placement.unit, 0.0) + stage_work_seconds(
            stage, placement, acc, schedule.dtype)
    compute = max(work.values(), default=0.0) / acc.cores
    memory = schedule.dram_bytes / acc.dram.bandwidth_bytes_per_s
    finish: list[float] = []
    for stage, placement in zip(schedule.stages, placed):
        start = max((finish[d] for d in stage.deps), default=0.0)
        finish.append(start + start_overhead_s(stage, acc) + chain_seconds(stage, placement, acc))
    return Bounds(compute_s=compute, memory_s=memory, depth_s=max(finish, default=0.0))


def upper_bound_s(schedule: Schedule, acc: Accelerator, compute_s: list[float],
                  exposed_latencies: int) -> float:
    """The stages one after another, nothing overlapped: per stage its start overhead, its DRAM
    bytes at the sustained bandwidth and its reads at what its cores' bytes in flight allow
    (:func:`simulator.core.memory_seconds`),
    ``exposed_latencies`` DRAM latencies if it moves any bytes,
    and ``compute_s`` — the longest compute of one core on that stage, as the fidelity that
    asks models it."""
    total = 0.0
    for stage, compute in zip(schedule.stages, compute_s):
        moved = stage.bytes_read + stage.bytes_written
        total += start_overhead_s(stage, acc) + compute
        total += memory_seconds(stage, acc, schedule.dtype)
        if moved:
            total += exposed_latencies * acc.dram.latency_s
    return total
