"""The closed-form fidelity: the same quantities as the DES, without events.

Per stage: its start overhead (launch or barrier), then the longest of

* compute — ``steps`` steps of the stage's ops shared evenly over the cores, each step as
  long as the DES's (issue or dependent chain, whichever binds), plus on-chip traffic;
* memory — its DRAM bytes at the full DRAM bandwidth, plus one DRAM latency;

and stages chain through their dependencies (longest path).  What it leaves out is what the
DES adds: contention between stages that run at once (they each get the full bandwidth
here), pipeline fill and drain of a stage's tiles, and round-robin imbalance when the tiles do
not divide evenly over the cores.  Where none of those matter the two agree within a few per
cent (tested); where concurrent stages share DRAM the analytic answer is optimistic.
"""

from __future__ import annotations

import math

import numpy as np

from hwmodels.spec import Accelerator
from simulator.bounds import bounds, placements, start_overhead_s
from simulator.policy import onchip_level
from simulator.result import SimResult
from simulator.units import step_seconds, stage_work_seconds
from workloads.schedule import Schedule


def analytic(schedule: Schedule, acc: Accelerator) -> SimResult:
    placed = placements(schedule, acc)
    level = onchip_level(acc)
    onchip_bw_per_core = level[2] / acc.cores if level else acc.dram.bandwidth_bytes_per_s
    finish = np.zeros(len(schedule.stages))
    busy = {"vector": 0.0, "matrix": 0.0}
    dram_busy = 0.0
    for i, (stage, placement) in enumerate(zip(schedule.stages, placed)):
        start = max((finish[d] for d in stage.deps), default=0.0)
        compute = 0.0
        if placement.unit != "transfer":
            per_core = math.ceil(stage.ops / acc.cores)
            compute = stage.steps * step_seconds(stage, placement, acc, schedule.dtype, per_core)
            compute += per_core * stage.steps * stage.onchip_bytes_per_op / onchip_bw_per_core
            busy[placement.unit] += stage_work_seconds(stage, placement, acc, schedule.dtype)
        moved = stage.bytes_read + stage.bytes_written
        memory = moved / acc.dram.bandwidth_bytes_per_s
        dram_busy += memory
        if moved:
            memory += acc.dram.latency_s
        finish[i] = start + start_overhead_s(stage, acc) + max(compute, memory)
    latency = float(finish.max()) if len(finish) else 0.0
    return SimResult.build(schedule, acc, latency_s=latency, bounds=bounds(schedule, acc, placed),
                           placed=placed, stage_end_s=finish, trace=None, events=0,
                           busy_s=busy, dram_busy_s=dram_busy, fidelity="analytic")
