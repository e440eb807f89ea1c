"""Closed-form bounds on a schedule's latency on an accelerator.

No execution of the schedule can beat any of: its flops at the chip's peak, its DRAM bytes at
the DRAM bandwidth, or its longest dependent chain at one op latency per link plus one
kernel launch per stage on that chain.  A simulated latency below their maximum is a bug.
Brent's bound, ``work / p + depth`` (here: compute + memory + depth time), is what a greedy
schedule with perfectly divisible work would stay under.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwmodels.spec import Accelerator
from workloads.schedule import Schedule, Stage


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

    @property
    def brent_upper_s(self) -> float:
        return self.compute_s + self.memory_s + self.depth_s


def stage_latency_s(stage: Stage, acc: Accelerator) -> float:
    """One op latency per dependent unit op along the stage, plus its launch."""
    if stage.unit == "transfer":
        return acc.kernel_launch_s
    return acc.kernel_launch_s + stage.depth_ops * acc.vector.op_latency_cycles / acc.clock_hz


def check_schedule(schedule: Schedule, acc: Accelerator) -> None:
    """Raise :class:`SimulationError` for a schedule that cannot run on ``acc``."""
    for i, stage in enumerate(schedule.stages):
        where = f"schedule {schedule.name!r} stage {i} ({stage.name})"
        if stage.unit not in ("vector", "transfer"):
            raise SimulationError(
                f"{where}: needs a {stage.unit!r} unit, which accelerator {acc.name!r} lacks "
                "(it has: vector)")
        if stage.ops < 1 or stage.steps < 1:
            raise SimulationError(f"{where}: ops and steps must be ≥ 1, got {stage.ops} and {stage.steps}")
        if stage.unit == "transfer" and (stage.flops_per_op or stage.sfu_ops_per_op):
            raise SimulationError(f"{where}: a 'transfer' stage moves bytes only, but has flops")
        for d in stage.deps:
            if not 0 <= d < i:
                raise SimulationError(
                    f"{where}: depends on stage {d}; a stage may depend only on earlier stages, "
                    "so this schedule is cyclic or malformed")
        if stage.unit == "vector" and stage.flops_per_op > 0:
            try:
                acc.flops_per_lane_per_cycle(schedule.dtype)
            except KeyError as exc:
                raise SimulationError(f"{where}: {exc.args[0]}") from None


def bounds(schedule: Schedule, acc: Accelerator) -> Bounds:
    """The three closed-form lower-bound terms of ``schedule`` on ``acc``."""
    check_schedule(schedule, acc)
    compute = 0.0
    if schedule.work_flops > 0:
        compute = schedule.work_flops / acc.peak_flops_per_s(schedule.dtype)
    memory = schedule.dram_bytes / acc.dram.bandwidth_bytes_per_s
    finish: list[float] = []
    for stage in schedule.stages:
        start = max((finish[d] for d in stage.deps), default=0.0)
        finish.append(start + stage_latency_s(stage, acc))
    return Bounds(compute_s=compute, memory_s=memory, depth_s=max(finish, default=0.0))
