"""The SimPy discrete-event simulation of a schedule on an accelerator.

Model (every resource is a SimPy resource or event; the environment belongs to one run):

* the chip is simulated as ``G`` core groups, ``G = min(cores, event_budget // stages)``:
  each group has the lanes, matrix MACs, SFU throughput and per-core memory of
  ``cores / G`` cores (see :func:`coarsen`), so a smaller budget simulates the same chip
  more coarsely instead of leaving cores idle;
* each core (group) has a vector unit and a matrix unit, each shared by the tiles on the
  core (processor sharing: the issue slots interleave), and an SRAM (a SimPy container of
  its capacity in bytes) of which a tile holds at most ``1 / buffers``;
* DRAM is a processor-sharing channel at the bandwidth it sustains (measured, or the
  documented share of the peak): the transfers in flight share it equally, so no set of
  transfers beats ``bytes / bandwidth`` and none waits behind another whole transfer; a
  transfer's data arrives ``latency_s`` after its last byte; and a stage's tiles together
  load no faster than their cores' bytes in flight return over that latency (Little's law,
  :func:`simulator.core.load_rate`: reads only — a store needs no reply);
* a stage starts one kernel launch (or barrier) after all its dependencies end, and is
  split into ``min(ops, G)`` tiles, one per core group (continuing round-robin where the
  previous stage stopped, so that independent stages share the chip); a chain (``steps``
  > 1) stays in one tile per group, its carry in registers;
* a tile streams its bytes through its SRAM share as ``k`` sub-tiles (``k`` = its bytes
  over the share: what follows from the SRAM and the stage's shape, not from the budget):
  it computes once its first sub-tile has arrived, cannot finish before its last one has
  arrived and been computed, and stores all but the last sub-tile's results while it
  computes.  So load, compute and store overlap as in a double-buffered kernel, and only
  one sub-tile's load and store are exposed — except in a stage of indivisible thread
  blocks (``granule_ops``), whose blocks fall in waves over the cores: the busiest core's
  share sets the compute, and each later wave exposes two DRAM latencies (see
  :func:`simulator.units.waves`);
* compute per step is ``max(issue, latency)`` cycles: issuing the group's ops over its lanes,
  or one dependent op chain — or, where every step is its own kernels, the step's loads —
  whichever is longer, then the step's launches or barriers (:func:`simulator.units.
  step_seconds`); the unit is busy only for the issue cycles, so independent tiles on one
  core hide each other's latency.

The number of tiles, hence of events, is at most ``event_budget``: simulation cost grows
with the tiles, not with T × d, and the answer does not depend on the budget beyond the
rounding of lanes in :func:`coarsen`.
"""

from __future__ import annotations

import heapq
import math
from functools import partial

import simpy

from hwmodels.loader import load_accelerator
from hwmodels.spec import Accelerator
from simulator.bounds import SimulationError, bounds, placements, start_overhead_s, upper_bound_s
from simulator.core import issue_share, load_rate, occupancy
from simulator.energy import at_power_cap
from simulator.policy import POLICIES, fuse, onchip_level, share_panels
from simulator.result import SimResult
from simulator.units import Placement, step_load_s, step_parts, wave_exposure_s, waves
from workloads.schedule import Schedule, Stage

__all__ = ["simulate", "SimulationError", "DEFAULT_EVENT_BUDGET", "coarsen"]

DEFAULT_EVENT_BUDGET = 4096  # tiles in the whole schedule
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


def _split(total: int, parts: int, i: int) -> int:
    """Size of part ``i`` of ``total`` split into ``parts`` near-equal parts."""
    return (i + 1) * total // parts - i * total // parts


class _SharedServer:
    """A processor-sharing server: the ``n`` transfers in flight each move at
    ``bandwidth / n``.  Kept in virtual time (bytes served to every active transfer so far),
    so each arrival and completion costs O(log n): a transfer of ``B`` bytes that arrives at
    virtual time ``v`` completes when the virtual time reaches ``v + B``."""

    def __init__(self, env: simpy.Environment, bandwidth_bytes_per_s: float):
        self.env = env
        self.bandwidth = bandwidth_bytes_per_s
        self.virtual = 0.0
        self.updated = 0.0
        self.active: list[tuple[float, int, simpy.Event]] = []
        self.arrivals = 0
        self.generation = 0  # a completion timer is stale once a later event re-planned it

    def _advance(self) -> None:
        if self.active:
            self.virtual += (self.env.now - self.updated) * self.bandwidth / len(self.active)
        self.updated = self.env.now

    def transfer(self, nbytes: float) -> simpy.Event:
        """An event that succeeds when ``nbytes`` have crossed the channel."""
        self._advance()
        done = self.env.event()
        heapq.heappush(self.active, (self.virtual + nbytes, self.arrivals, done))
        self.arrivals += 1
        self._plan()
        return done

    def _plan(self) -> None:
        self.generation += 1
        if self.active:
            wait = max(0.0, (self.active[0][0] - self.virtual) * len(self.active) / self.bandwidth)
            timer = self.env.timeout(wait)
            timer.callbacks.append(lambda _, generation=self.generation: self._complete(generation))

    def _complete(self, generation: int) -> None:
        if generation != self.generation:
            return
        self._advance()
        finish, _, done = heapq.heappop(self.active)
        self.virtual = max(self.virtual, finish)
        done.succeed()
        while self.active and self.active[0][0] <= self.virtual * (1 + 1e-12):
            heapq.heappop(self.active)[2].succeed()
        self._plan()


class _Machine:
    """The SimPy resources of one (coarsened) accelerator for one run, and what they record."""

    def __init__(self, env: simpy.Environment, acc: Accelerator, buffers: int):
        self.env = env
        self.acc = acc
        kinds = ("vector", "matrix") if acc.matrix is not None else ("vector",)
        # each unit is shared by the tiles on its core: issue slots interleave, cycle by cycle
        self.units = {kind: [_SharedServer(env, 1.0) for _ in range(acc.cores)] for kind in kinds}
        # whole bytes: a float level would drift and a final put could block forever
        capacity = int(acc.sram.capacity_bytes)
        self.sram = [simpy.Container(env, capacity=capacity, init=capacity) for _ in range(acc.cores)]
        self.share = max(1, capacity // buffers)
        level = onchip_level(acc)
        self.onchip_bw_per_core = level[2] / acc.cores if level else acc.dram.bandwidth_bytes_per_s
        self.dram = _SharedServer(env, acc.dram.sustained_bytes_per_s)
        self.next_core = 0  # round-robin over all stages, so concurrent stages spread out
        self.dram_busy_s = 0.0
        self.unit_busy_s = {"vector": 0.0, "matrix": 0.0}
        self.stage_compute_s: dict[int, float] = {}  # the longest tile compute of each stage
        self.rows: list[tuple] = []

    def _move(self, nbytes: float, cap: float) -> simpy.Event:
        """The event that ``nbytes`` have crossed DRAM (their data lands a latency later), at
        no more than ``cap`` bytes per second (a tile's loads: its share of its stage's load
        rate)."""
        self.dram_busy_s += nbytes / self.acc.dram.bandwidth_bytes_per_s
        moved = self.dram.transfer(nbytes)
        return simpy.AllOf(self.env, [moved, self.env.timeout(nbytes / cap)]) if cap else moved

    def transfer(self, nbytes: float, not_before: float = 0.0):
        """Move ``nbytes`` over DRAM, the last byte not before ``not_before`` (a tile's loads at
        its load rate); the data is there one DRAM latency after the last byte.  Returns (as a
        process, its value) the time it arrived."""
        if nbytes > 0:
            yield self._move(nbytes, 0.0)
            if self.env.now < not_before:
                yield self.env.timeout(not_before - self.env.now)
            yield self.env.timeout(self.acc.dram.latency_s)
        return self.env.now

    def _stream_out(self, delay: float, written: float, k: int) -> simpy.Process | None:
        """Store all but the last of ``k`` sub-tiles' results, from ``delay`` on (when the
        first sub-tile has been computed), while the tile goes on computing."""
        if k == 1 or written <= 0:
            return None

        def store():
            yield self.env.timeout(delay)
            yield from self.transfer(written - written / k)
        return self.env.process(store())

    def tile(self, index: int, stage: Stage, placement: Placement, tile: int, core: int, ops: int,
             dtype: str, stretch: float, exposure_s: float, cap: float, load_s: float, share: float):
        env = self.env
        read = ops * stage.steps * stage.bytes_read_per_op
        written = ops * stage.steps * stage.bytes_written_per_op
        # sub-tiles: an SRAM share's worth of bytes, and never coarser than one pass over the
        # lanes in one step — the granularity at which a kernel double-buffers its operands
        passes = stage.steps * math.ceil(ops / self.acc.vector.lanes)
        k = max(1, math.ceil((read + written) / self.share), passes)
        held = min(self.share, max(1, math.ceil(read + written)))
        yield self.sram[core].get(held)
        start = env.now
        rest = None
        if read > 0:
            yield self._move(read / k, cap)  # the first sub-tile's bytes; the rest follow at once,
            # all of them loaded no faster than the tile's share of its stage's load rate
            done_by = start + read / cap if cap else 0.0
            rest = env.process(self.transfer(read - read / k, done_by)) if k > 1 else None
            yield env.timeout(self.acc.dram.latency_s)
        compute_start = env.now
        work = 0.0
        streamed = None
        if placement.unit != "transfer":
            # The unit issues ``busy`` seconds of work, shared with the other tiles on its
            # core; a step cannot finish before its dependent chain either, so the tile takes
            # at least ``work``, and the chains of tiles sharing a core hide each other's
            # latency, as warps do on a GPU.
            # ``stretch``: the busiest core of a stage of whole thread blocks (see units.waves)
            issue, chain, sync = step_parts(stage, placement, self.acc, dtype, ops, share)
            busy = stage.steps * issue
            busy += ops * stage.steps * stage.onchip_bytes_per_op / self.onchip_bw_per_core
            busy *= stretch
            work = busy + stage.steps * (max(0.0, chain - issue, load_s - issue) + sync)
            # the first sub-tile's results are ready after its share of the work, and never before
            # one step's dependent chain has run (a chain-bound step finishes all its ops at once)
            streamed = self._stream_out(max(work / k, min(work, chain + sync)), written, k)
            self.unit_busy_s[placement.unit] += busy
            yield simpy.AllOf(env, [self.units[placement.unit][core].transfer(busy), env.timeout(work)])
            if exposure_s:  # later waves of blocks wait for their first load, last store
                yield env.timeout(exposure_s)
        else:
            streamed = self._stream_out(0.0, written, k)
        if rest is not None:  # the last sub-tile arrives, then is computed
            yield rest
            last = rest.value + work / k
            if last > env.now:
                yield env.timeout(last - env.now)
        compute_end = env.now
        yield from self.transfer(written / k)
        if streamed is not None:
            yield streamed
        yield self.sram[core].put(held)
        self.stage_compute_s[index] = max(self.stage_compute_s.get(index, 0.0),
                                          work * (1 + 1 / k) + exposure_s)
        self.rows.append((index, stage.name, tile, placement.unit, core, start, compute_start,
                          compute_end, env.now, read, written))


def _stretch(busiest: float, real: Accelerator, groups: int, ops: int) -> float:
    """How much longer than its share of the stage a tile of ``ops`` ops computes, when the
    stage is made of whole thread blocks and the busiest real core runs ``busiest`` ops
    (``waves · granule``, see units.waves), while the tile's group of ``real.cores / groups``
    cores, working fluidly, would give each of them ``ops · groups / real.cores``."""
    return max(1.0, busiest * real.cores / (groups * ops)) if busiest else 1.0


def _run_stage(machine: _Machine, index: int, stage: Stage, placement: Placement,
               deps: list[simpy.Event], dtype: str, real: Accelerator):
    env, acc = machine.env, machine.acc
    if deps:
        yield simpy.AllOf(env, deps)
    yield env.timeout(start_overhead_s(stage, acc))
    # the cores the stage's thread blocks reach (a grid smaller than the chip leaves cores idle),
    # as groups of the simulated chip's
    active = occupancy(stage, real, dtype).active_cores if placement.unit != "transfer" else real.cores
    groups = max(1, min(stage.ops, acc.cores, math.ceil(active * acc.cores / real.cores)))
    # where its cores' loads in flight cannot cover the DRAM latency, each tile loads at no more
    # than its share of the stage's load rate (Little's law); otherwise the DRAM's sharing decides
    rate = load_rate(stage, real, dtype)
    rate = rate if rate < real.dram.sustained_bytes_per_s else 0.0
    first_core = machine.next_core
    machine.next_core = (first_core + groups) % acc.cores
    exposure = wave_exposure_s(stage, real) if placement.unit != "transfer" else 0.0
    step_load = step_load_s(stage, real, dtype)  # a step kernel's loads, on the real chip's cores
    busiest = waves(stage, real)[0] * stage.granule_ops  # 0 for a stage without thread blocks
    share = issue_share(stage, real, dtype)  # of a real core's issue slots, its warps reach
    procs = []
    for g in range(groups):
        ops = _split(stage.ops, groups, g)
        procs.append(env.process(machine.tile(index, stage, placement, g, (first_core + g) % acc.cores, ops,
                                              dtype, _stretch(busiest, real, acc.cores, ops), exposure,
                                              rate * ops / stage.ops, step_load, share)))
    yield simpy.AllOf(env, procs)


def simulate(schedule: Schedule, accelerator: Accelerator, policy: str = "auto", *,
             event_budget: int = DEFAULT_EVENT_BUDGET, buffers: int = 2,
             fidelity: str = "des") -> SimResult:
    """Simulate ``schedule`` on ``accelerator``; return latency, energy, bounds and trace.

    Parameters
    ----------
    accelerator : an :class:`~hwmodels.spec.Accelerator`, or what
        :func:`hwmodels.loader.load_accelerator` takes (a preset name, a spec path, a mapping)
    policy : ``unfused``, ``fused`` or ``auto`` (the faster of the two; see
        :mod:`simulator.policy`)
    event_budget : maximum number of tiles over the whole schedule (≥ 1)
    buffers : SRAM share per tile is 1/buffers; 2 overlaps a tile's load with the previous
        tile's compute
    fidelity : ``des`` (this discrete-event simulation) or ``analytic`` (closed form, see
        :mod:`simulator.analytic`)
    """
    if not isinstance(schedule, Schedule):
        raise TypeError(f"simulate: expected a Schedule (workloads.schedule), got {type(schedule).__name__}")
    if not isinstance(accelerator, Accelerator):  # a preset name, a spec file or a mapping
        accelerator = load_accelerator(accelerator)
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
    results = [at_power_cap(partial(run, s, event_budget=event_budget, buffers=buffers),
                             partial(_simulate_analytic, s), accelerator, fidelity == "analytic", s.dtype)
               for s in candidates]
    best = min(results, key=lambda r: (r.latency_s, r.device_s))  # host-bound: the faster device
    _check_finite(best, accelerator)
    return best


def _check_finite(result: SimResult, acc: Accelerator) -> None:
    """A result is finite or an error: a denormal rate or a huge latency in a spec can make
    times overflow, and an Infinity must never be printed as an answer."""
    values = {k: v for k, v in result.to_record().items() if isinstance(v, float)}
    bad = [k for k, v in values.items() if not math.isfinite(v)]
    if bad:
        raise SimulationError(
            f"accelerator {acc.name!r}: the result is not finite ({', '.join(bad[:3])}): a rate "
            "in the spec is too small or a latency too large for double precision "
            "(expected bandwidths, clocks and rates ≥ 1e-30, latencies ≤ 1e30)")


def _simulate_analytic(schedule, accelerator, **_):
    from simulator.analytic import analytic

    return analytic(schedule, accelerator)


def _simulate_des(schedule: Schedule, accelerator: Accelerator, *, event_budget: int,
                  buffers: int) -> SimResult:
    placed = placements(schedule, accelerator)
    env = simpy.Environment()
    groups = min(MAX_SIMULATED_CORES, max(1, event_budget // max(1, len(schedule.stages))))
    machine = _Machine(env, coarsen(accelerator, groups), buffers)
    stage_procs: list[simpy.Process] = []
    for i, (stage, placement) in enumerate(zip(schedule.stages, placed)):
        deps = [stage_procs[d] for d in stage.deps]
        stage_procs.append(env.process(_run_stage(machine, i, stage, placement, deps, schedule.dtype,
                                                  accelerator)))
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
    import pandas as pd  # here, not at import: `scansim --help` must not pay for pandas

    trace = pd.DataFrame(machine.rows, columns=[
        "stage", "stage_name", "tile", "unit", "core", "start_s", "compute_start_s",
        "compute_end_s", "end_s", "bytes_read", "bytes_written"])
    by_stage = trace.groupby("stage")
    ends = by_stage["end_s"].max().reindex(range(len(schedule.stages)), fill_value=0.0)
    starts = by_stage["start_s"].min().reindex(range(len(schedule.stages)), fill_value=0.0)
    compute = [machine.stage_compute_s.get(i, 0.0) for i in range(len(schedule.stages))]
    return SimResult.build(
        schedule, accelerator, latency_s=env.now, bounds=bounds(schedule, accelerator, placed),
        upper_bound_s=upper_bound_s(schedule, accelerator, compute, exposed_latencies=3),
        placed=placed, stage_start_s=starts.to_numpy(), stage_end_s=ends.to_numpy(), trace=trace, events=events,
        busy_s=machine.unit_busy_s, dram_busy_s=machine.dram_busy_s, fidelity="des")
