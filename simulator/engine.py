"""The SimPy discrete-event simulation of a schedule on an accelerator.

Model (every resource is a SimPy resource; the environment belongs to one run):

* each core has one vector unit (capacity 1) and an SRAM (a SimPy container of its capacity
  in bytes): a tile holds its bytes there from load to store, at most ``1 / buffers`` of the
  SRAM (a larger tile streams through that share), so with ``buffers = 2`` a tile loads while
  the previous one computes, and small tiles prefetch as deep as the SRAM allows — which is
  how a real core hides DRAM latency;
* DRAM is one server at the full bandwidth: a transfer of ``B`` bytes holds it for
  ``B / bandwidth`` and its data arrives ``latency_s`` later, so concurrent tiles share the
  bandwidth and no set of transfers beats ``bytes / bandwidth``; waiting loads go before
  waiting stores, each in program order;
* a stage starts one kernel launch after all its dependencies end, and is split into tiles:
  ``groups`` slices of its ops, dealt round-robin to the cores (continuing where the previous
  stage stopped, so that independent stages share the chip), times ``blocks`` slices of
  its steps; block ``k`` of a group waits for block ``k − 1`` of that group (the carry);
* a tile takes a slot on its core, loads its bytes, computes on its core's vector unit, stores
  its bytes, frees the slot.  Compute per step is ``max(issue, latency)`` cycles: issuing the
  slice's ops over the lanes, or one dependent op chain, whichever is longer; the unit is
  held only for the issue cycles, so independent chains on one core hide each other's
  latency.

The number of tiles, hence of events, is capped by ``event_budget``: simulation cost grows
with the tiles, not with T × d.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import pandas as pd
import simpy

from hwmodels.spec import Accelerator
from simulator.bounds import SimulationError, bounds, placements, start_overhead_s
from simulator.policy import POLICIES, fuse, onchip_level, share_panels
from simulator.result import SimResult
from simulator.units import Placement, step_parts
from workloads.schedule import Schedule, Stage

__all__ = ["simulate", "SimulationError", "DEFAULT_EVENT_BUDGET", "coarsen"]

DEFAULT_EVENT_BUDGET = 4096  # tiles in the whole schedule
_TILES_PER_CORE = 4  # enough tiles per core for load/compute overlap to show
_CHAIN_BLOCKS = 8  # blocks of a chain's steps that pipeline its loads with its compute
MAX_SIMULATED_CORES = 1024  # beyond this, cores are simulated in equal groups


def coarsen(acc: Accelerator, max_cores: int = MAX_SIMULATED_CORES) -> Accelerator:
    """The same chip as ``max_cores`` core groups, each with the lanes, matrix MACs, SFU
    throughput and per-core memory of ``cores / max_cores`` cores (lanes rounded down, so the
    grouped chip is never faster).  A wafer of 850,000 cores then costs what 1,024 do."""
    if acc.cores <= max_cores:
        return acc
    factor = acc.cores / max_cores
    spec = acc.model_dump()
    spec["cores"] = max_cores
    spec["vector"]["lanes"] = max(1, int(acc.vector.lanes * factor))
    if acc.matrix is not None:
        spec["matrix"]["macs_per_cycle"] = {k: v * factor for k, v in acc.matrix.macs_per_cycle.items()}
    if acc.sfu is not None:
        for name in ("exp", "tanh", "sigmoid"):
            spec["sfu"][name]["ops_per_cycle"] *= factor
    for level in spec["memory"]:
        if level["scope"] == "core":
            level["capacity_bytes"] *= factor
            level["bandwidth_bytes_per_s"] *= factor
    return Accelerator.model_validate(spec)


@dataclass(frozen=True)
class _Tiling:
    groups: int
    blocks: int
    span: int = 1  # cores each tile stands for, when the budget leaves fewer tiles than cores

    def ops(self, g: int, stage: Stage) -> int:
        return (g + 1) * stage.ops // self.groups - g * stage.ops // self.groups

    def steps(self, b: int, stage: Stage) -> int:
        return (b + 1) * stage.steps // self.blocks - b * stage.steps // self.blocks


def _tiling(stage: Stage, cores: int, lanes: int, budget: int) -> _Tiling:
    if stage.steps == 1:
        # up to _TILES_PER_CORE tiles per core for overlap, but never a tile smaller than one
        # pass over the lanes: splitting a single pass would only add issue slots
        batches = math.ceil(stage.ops / (cores * lanes))
        per_core = max(1, min(_TILES_PER_CORE, batches))
        groups = max(1, min(stage.ops, cores * per_core, budget))
        return _Tiling(groups=groups, blocks=1, span=max(1, cores // groups))
    # a chain keeps at least _CHAIN_BLOCKS blocks (its load/compute pipeline) however many
    # cores there are: cores beyond budget / _CHAIN_BLOCKS widen each tile (span), so adding
    # cores never trades away the chain's overlap
    groups = max(1, min(stage.ops, cores, budget // min(stage.steps, _CHAIN_BLOCKS)))
    blocks = max(1, min(stage.steps, budget // groups))
    return _Tiling(groups=groups, blocks=blocks, span=max(1, cores // groups))


class _OrderedServer:
    """One server that, when it frees, serves the waiting request of lowest ``order`` (any
    comparable key; ties: first come) — SimPy's ``PriorityResource`` semantics with a heap,
    because that class re-sorts its whole queue on every request, quadratic in the thousands
    of tiles that queue for DRAM at once."""

    def __init__(self, env: simpy.Environment):
        self.env = env
        self.busy = False
        self.waiting: list[tuple[object, int, simpy.Event]] = []
        self.arrivals = 0

    def request(self, order) -> simpy.Event:
        granted = self.env.event()
        if self.busy:
            heapq.heappush(self.waiting, (order, self.arrivals, granted))
            self.arrivals += 1
        else:
            self.busy = True
            granted.succeed()
        return granted

    def release(self) -> None:
        if self.waiting:
            heapq.heappop(self.waiting)[2].succeed()
        else:
            self.busy = False


class _Machine:
    """The SimPy resources of one accelerator for one run, and the trace they record."""

    def __init__(self, env: simpy.Environment, acc: Accelerator, buffers: int):
        self.env = env
        self.acc = acc
        kinds = ("vector", "matrix") if acc.matrix is not None else ("vector",)
        self.units = {kind: [simpy.Resource(env, capacity=1) for _ in range(acc.cores)] for kind in kinds}
        # whole bytes: a float level would drift and a final put could block forever
        capacity = int(acc.sram.capacity_bytes)
        self.sram = [simpy.Container(env, capacity=capacity, init=capacity) for _ in range(acc.cores)]
        self.share = max(1, capacity // buffers)
        level = onchip_level(acc)
        self.onchip_bw_per_core = level[2] / acc.cores if level else acc.dram.bandwidth_bytes_per_s
        # Loads before stores, then oldest tile first (stage, then tile order), not first come
        # — the read priority of a DRAM controller: a load feeds compute that waits for it,
        # while a store only frees its tile's SRAM (which throttles the loads when full).
        # Serving stores in tile order instead let late loads starve behind early stores.
        self.dram = _OrderedServer(env)
        self.next_core = 0  # round-robin over all stages, so concurrent stages spread out
        self.dram_busy_s = 0.0
        self.unit_busy_s = {"vector": 0.0, "matrix": 0.0}
        self.rows: list[tuple] = []

    def transfer(self, nbytes: float, order: tuple[int, int]):
        if nbytes <= 0:
            return
        yield self.dram.request(order)
        duration = nbytes / self.acc.dram.bandwidth_bytes_per_s
        self.dram_busy_s += duration
        yield self.env.timeout(duration)
        self.dram.release()
        yield self.env.timeout(self.acc.dram.latency_s)

    def tile(self, index: int, stage: Stage, placement: Placement, tile: int, core: int, ops: int,
             steps: int, after: simpy.Event | None, computed: simpy.Event, dtype: str, span: int):
        env = self.env
        read = ops * steps * stage.bytes_read_per_op
        written = ops * steps * stage.bytes_written_per_op
        held = min(self.share, max(1, math.ceil(read + written)))
        yield self.sram[core].get(held)
        start = env.now
        order = (index << 32) + tile
        yield from self.transfer(read, (0, order))
        if after is not None:
            yield after
        compute_start = env.now
        if placement.unit != "transfer":
            # The unit is held only while it issues (steps × issue); a step's latency beyond
            # its issue time is waited out after release, so the dependent chains of
            # independent tiles on one core interleave, as warps hide latency on a GPU.
            # A tile standing for `span` cores spreads its ops over them.
            issue, chain = step_parts(stage, placement, self.acc, dtype, math.ceil(ops / span))
            busy = steps * issue
            busy += ops * steps * stage.onchip_bytes_per_op / (self.onchip_bw_per_core * span)
            with self.units[placement.unit][core].request() as unit:
                yield unit
                compute_start = env.now
                self.unit_busy_s[placement.unit] += busy
                yield env.timeout(busy)
            if chain > issue:
                yield env.timeout(steps * (chain - issue))
        compute_end = env.now
        computed.succeed()
        yield from self.transfer(written, (1, order))
        yield self.sram[core].put(held)
        self.rows.append((index, stage.name, tile, placement.unit, core, start, compute_start,
                          compute_end, env.now, read, written))


def _run_stage(machine: _Machine, index: int, stage: Stage, placement: Placement,
               deps: list[simpy.Event], budget: int, dtype: str):
    env, acc = machine.env, machine.acc
    if deps:
        yield simpy.AllOf(env, deps)
    yield env.timeout(start_overhead_s(stage, acc))
    # a pure transfer issues nothing, so its tiles need not fill the lanes
    lanes = 1 if placement.unit == "transfer" else acc.vector.lanes
    tiling = _tiling(stage, acc.cores, lanes, budget)
    first_core = machine.next_core
    machine.next_core = (first_core + tiling.groups) % acc.cores
    procs = []
    carry: list[simpy.Event | None] = [None] * tiling.groups  # block k waits for block k − 1
    tile = 0
    for b in range(tiling.blocks):
        steps = tiling.steps(b, stage)
        for g in range(tiling.groups):
            computed = env.event()
            procs.append(env.process(machine.tile(
                index, stage, placement, tile, (first_core + g) % acc.cores, tiling.ops(g, stage),
                steps, carry[g], computed, dtype, tiling.span)))
            carry[g] = computed
            tile += 1
    yield simpy.AllOf(env, procs)


def simulate(schedule: Schedule, accelerator: Accelerator, policy: str = "auto", *,
             event_budget: int = DEFAULT_EVENT_BUDGET, buffers: int = 2,
             fidelity: str = "des") -> SimResult:
    """Simulate ``schedule`` on ``accelerator``; return latency, energy, bounds and trace.

    Parameters
    ----------
    policy : ``unfused``, ``fused`` or ``auto`` (the faster of the two; see
        :mod:`simulator.policy`)
    event_budget : maximum number of tiles over the whole schedule (≥ 1)
    buffers : SRAM share per tile is 1/buffers; 2 overlaps a tile's load with the previous
        tile's compute
    fidelity : ``des`` (this discrete-event simulation) or ``analytic`` (closed form, see
        :mod:`simulator.analytic`)
    """
    if policy not in POLICIES:
        raise SimulationError(f"policy: expected one of {', '.join(POLICIES)}, got {policy!r}")
    if fidelity not in ("des", "analytic"):
        raise SimulationError(f"fidelity: expected 'des' or 'analytic', got {fidelity!r}")
    if isinstance(event_budget, bool) or not isinstance(event_budget, int) or event_budget < 1:
        raise SimulationError(f"event_budget: expected an integer ≥ 1, got {event_budget!r}")
    if isinstance(buffers, bool) or not isinstance(buffers, int) or buffers < 1:
        raise SimulationError(f"buffers: expected an integer ≥ 1, got {buffers!r}")
    run = _simulate_des if fidelity == "des" else _simulate_analytic
    schedule = share_panels(schedule, accelerator)
    candidates = [schedule] if policy == "unfused" else [fuse(schedule, accelerator)]
    if policy == "auto" and candidates[0] is not schedule:
        candidates.append(schedule)
    results = [run(s, accelerator, event_budget=event_budget, buffers=buffers) for s in candidates]
    return min(results, key=lambda r: r.latency_s)


def _simulate_analytic(schedule, accelerator, **_):
    from simulator.analytic import analytic

    return analytic(schedule, accelerator)


def _simulate_des(schedule: Schedule, accelerator: Accelerator, *, event_budget: int,
                  buffers: int) -> SimResult:
    placed = placements(schedule, accelerator)
    env = simpy.Environment()
    machine = _Machine(env, coarsen(accelerator), buffers)
    per_stage = max(1, event_budget // max(1, len(schedule.stages)))
    stage_procs: list[simpy.Process] = []
    for i, (stage, placement) in enumerate(zip(schedule.stages, placed)):
        deps = [stage_procs[d] for d in stage.deps]
        stage_procs.append(env.process(
            _run_stage(machine, i, stage, placement, deps, per_stage, schedule.dtype)))
    events = 0
    while True:
        try:
            env.step()
        except simpy.core.EmptySchedule:
            break
        events += 1
    stuck = [i for i, proc in enumerate(stage_procs) if not proc.triggered]
    if stuck:  # a bug, not a user error: the model must never wedge
        raise RuntimeError(f"simulation of {schedule.name!r} deadlocked in stage {stuck[0]}")
    trace = pd.DataFrame(machine.rows, columns=[
        "stage", "stage_name", "tile", "unit", "core", "start_s", "compute_start_s",
        "compute_end_s", "end_s", "bytes_read", "bytes_written"])
    ends = trace.groupby("stage")["end_s"].max().reindex(range(len(schedule.stages)), fill_value=0.0)
    return SimResult.build(
        schedule, accelerator, latency_s=env.now, bounds=bounds(schedule, accelerator, placed),
        placed=placed, stage_end_s=ends.to_numpy(), trace=trace, events=events,
        busy_s=machine.unit_busy_s, dram_busy_s=machine.dram_busy_s, fidelity="des")
