"""The closed-form fidelity: the same quantities as the DES, without events.

Per stage: its start overhead (launch or barrier), then the longest of

* compute — ``steps`` steps of the stage's ops shared evenly over the cores its thread blocks
  reach, each step as long as the DES's (issue or dependent chain, whichever binds), plus
  on-chip traffic;
* memory — its DRAM bytes at the rate the DRAM sustains and its reads at what its cores'
  bytes in flight allow (:func:`simulator.core.memory_seconds`), plus one DRAM latency;

and stages chain through their dependencies (longest path).  What it leaves out is what the
DES adds: contention between stages that run at once (they each get the full bandwidth
here), pipeline fill and drain of a stage's tiles, and round-robin imbalance when the tiles do
not divide evenly over the cores.  Where none of those matter the two agree within a few per
cent (tested); where concurrent stages share DRAM the path is optimistic, so the answer is
never less than the closed-form lower bound (the totals of work and bytes).
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from hwmodels import power
from hwmodels.spec import Accelerator
from simulator.bounds import bounds, placements, start_overhead_s, upper_bound_s
from simulator.core import issue_share, memory_seconds, occupancy
from simulator.energy import at_power_cap, call_energy
from simulator.policy import onchip_level, share_panels
from simulator.result import SimResult
from simulator.units import (cache_latency_s, matrix_rate, stage_work_seconds, step_load_s, step_seconds,
                             vector_cycles_per_op, wave_exposure_s, waves)
from workloads.schedule import Schedule


def analytic(schedule: Schedule, acc: Accelerator) -> SimResult:
    placed = placements(schedule, acc)
    level = onchip_level(acc)
    onchip_bw_per_core = level[2] / acc.cores if level else acc.dram.bandwidth_bytes_per_s
    finish = np.zeros(len(schedule.stages))
    begin = np.zeros(len(schedule.stages))
    compute_s = [0.0] * len(schedule.stages)
    busy = {"vector": 0.0, "matrix": 0.0}
    dram_busy = 0.0
    for i, (stage, placement) in enumerate(zip(schedule.stages, placed)):
        start = max((finish[d] for d in stage.deps), default=0.0)
        begin[i] = start + start_overhead_s(stage, acc)
        compute = 0.0
        if placement.unit != "transfer":
            stretch = waves(stage, acc)[1]
            cores = acc.cores if stage.granule_ops else occupancy(stage, acc, schedule.dtype).active_cores
            per_core = math.ceil(stage.ops / cores * stretch)
            compute = stage.steps * step_seconds(stage, placement, acc, schedule.dtype, per_core)
            compute += per_core * stage.steps * stage.onchip_bytes_per_op / onchip_bw_per_core
            compute += wave_exposure_s(stage, acc)
            busy[placement.unit] += stage_work_seconds(stage, placement, acc, schedule.dtype)
        compute_s[i] = compute
        moved = stage.bytes_read + stage.bytes_written
        memory = memory_seconds(stage, acc, schedule.dtype)
        dram_busy += moved / acc.dram.bandwidth_bytes_per_s
        if moved:
            memory += acc.dram.latency_s
        finish[i] = begin[i] + max(compute, memory)
    # stages that run at once share the chip: the closed form never beats its totals
    limits = bounds(schedule, acc, placed)
    latency = max(float(finish.max()) if len(finish) else 0.0, limits.lower_s)
    return SimResult.build(schedule, acc, latency_s=latency, bounds=limits,
                           upper_bound_s=upper_bound_s(schedule, acc, compute_s, exposed_latencies=1),
                           placed=placed, stage_start_s=begin, stage_end_s=finish, trace=None, events=0,
                           busy_s=busy, dram_busy_s=dram_busy, fidelity="analytic")


def analytic_latency_batch(schedule: Schedule, accelerators: list[Accelerator]) -> np.ndarray:
    """Closed-form latency of one schedule on many accelerators at once (seconds, one per
    accelerator), vectorised over the accelerators: the same arithmetic as :func:`analytic`,
    for sweeps of thousands of design points.  Accelerators are grouped by where each stage
    runs (with or without a matrix unit), then every stage is one numpy expression."""
    out = np.empty(len(accelerators))
    groups: dict[tuple, list[int]] = {}
    shared: dict[tuple, Schedule] = {}
    for i, acc in enumerate(accelerators):
        own = share_panels(schedule, acc)
        # accelerators share a group when their stages run on the same units and move the
        # same bytes (a shared cache may merge reads: see share_panels)
        key = (tuple(p.unit for p in placements(own, acc)), tuple(s.bytes_read_per_op for s in own.stages))
        shared[key] = own
        groups.setdefault(key, []).append(i)
    for key, members in groups.items():
        units, own = key[0], shared[key]
        accs = [accelerators[i] for i in members]
        col = lambda f: np.array([f(a) for a in accs], dtype=float)  # noqa: E731
        cores, lanes, clock = col(lambda a: a.cores), col(lambda a: a.vector.lanes), col(lambda a: a.clock_hz)
        latency_cycles = col(lambda a: a.vector.op_latency_cycles)
        bw, dram_lat = col(lambda a: a.dram.bandwidth_bytes_per_s), col(lambda a: a.dram.latency_s)
        launch, barrier = col(lambda a: a.kernel_launch_s), col(lambda a: a.barrier_s)
        onchip_bw = col(lambda a: (onchip_level(a) or (None, 0, a.dram.bandwidth_bytes_per_s))[2]) / cores
        finish = np.zeros((len(own.stages), len(accs)))
        depth = np.zeros((len(own.stages), len(accs)))  # the lower bound's terms, as in bounds()
        work = {u: np.zeros(len(accs)) for u in ("vector", "matrix")}
        for s_idx, (stage, unit) in enumerate(zip(own.stages, units)):
            start = np.max(finish[list(stage.deps)], axis=0) if stage.deps else np.zeros(len(accs))
            overhead = launch if stage.launch else barrier
            active = col(lambda a: occupancy(stage, a, own.dtype).active_cores) if unit != "transfer" else cores
            per_core = np.ceil(stage.ops / active)
            exposure = np.zeros(len(accs))
            if stage.granule_ops and unit != "transfer":  # thread blocks in waves: units.waves
                blocks = max(1, math.ceil(stage.ops / stage.granule_ops))
                n_waves = np.ceil(blocks / cores)
                per_core = np.ceil(stage.ops / cores * (n_waves * cores / blocks))
                exposure = (n_waves - 1) * 2 * dram_lat
            compute = np.zeros(len(accs))
            chain_s = np.zeros(len(accs))
            if unit != "transfer":
                if unit == "matrix":
                    rate = col(lambda a: matrix_rate(stage, a, own.dtype))
                    issue = per_core * stage.flops_per_op / rate
                    total = stage.total_ops * stage.flops_per_op / rate
                else:
                    cycles = col(lambda a: vector_cycles_per_op(stage, a, own.dtype))
                    issue = np.ceil(per_core / lanes) * cycles / clock
                    total = stage.total_ops * cycles / (lanes * clock)
                if stage.lane_instructions_per_op:  # units.lane_seconds
                    issue = issue + per_core * stage.lane_instructions_per_op / (lanes * clock)
                    total = total + stage.total_ops * stage.lane_instructions_per_op / (lanes * clock)
                chain = stage.latency_ops * latency_cycles
                if stage.sfu_ops_per_op:
                    fn_rate = col(lambda a: a.sfu.function(stage.sfu_function).ops_per_cycle)
                    fn_lat = col(lambda a: a.sfu.function(stage.sfu_function).latency_cycles)
                    issue = issue + per_core * stage.sfu_ops_per_op / (fn_rate * clock)
                    total = total + stage.total_ops * stage.sfu_ops_per_op / (fn_rate * clock)
                    chain = chain + (fn_lat if stage.sfu_on_chain else 0.0)
                issue = issue / col(lambda a: issue_share(stage, a, own.dtype))  # units.step_parts
                work[unit] = work[unit] + total
                sync = (stage.step_kernels * (launch + dram_lat) + stage.step_barriers * (barrier + dram_lat)
                        + stage.step_loads * col(cache_latency_s) + stage.step_dram_loads * dram_lat)
                # (units.step_sync_s)
                chain_s = stage.steps * (chain / clock + sync)
                loads = col(lambda a: step_load_s(stage, a, own.dtype))  # units.step_load_s
                compute = stage.steps * (np.maximum(np.maximum(issue, chain / clock), loads) + sync)
                compute = compute + per_core * stage.steps * stage.onchip_bytes_per_op / onchip_bw + exposure
            dep_depth = np.max(depth[list(stage.deps)], axis=0) if stage.deps else 0.0
            depth[s_idx] = dep_depth + overhead + chain_s
            moved = stage.bytes_read + stage.bytes_written
            memory = col(lambda a: memory_seconds(stage, a, own.dtype)) + (dram_lat if moved else 0.0)
            finish[s_idx] = start + overhead + np.maximum(compute, memory)
        if not len(own.stages):
            out[members] = 0.0
            continue
        lower = np.maximum.reduce([work["vector"] / cores, work["matrix"] / cores,
                                   own.dram_bytes / bw, depth.max(axis=0)])
        out[members] = np.maximum(finish.max(axis=0), lower)
        for i, acc in zip(members, accs):  # above its TDP a chip's clock throttles: that one alone
            if _above_tdp(own, acc, float(out[i])):
                run = partial(analytic, own)
                out[i] = at_power_cap(run, run, acc, True, own.dtype).device_s
    return np.maximum(out, float(schedule.meta.get("host_s", 0.0)))  # an eager call's host side (SimResult)


def _above_tdp(schedule: Schedule, acc: Accelerator, latency_s: float) -> bool:
    """Whether the call would average more than the chip's TDP at its boost clock."""
    if acc.power is None or latency_s <= 0:  # an unstated TDP is all units at peak: never exceeded
        return False
    dynamic, _ = call_energy(schedule, placements(schedule, acc), acc)
    return dynamic.dynamic / latency_s + power.baseline_w(acc) > acc.power.tdp_w * (1 + 1e-9)
