"""Mapping search: the schedule that runs a workload fastest on a chip.

:func:`tune` enumerates a workload's mappings (:mod:`workloads.mapping`: algorithm, chunk,
circuits, block, tile, fusion policy), drops those the chip cannot hold or the schedule
refuses, and ranks the rest with the closed form, pruned by scansim's own lower bound; the
best few are re-checked with the discrete-event simulation.  It is the one entry point for a
tuned schedule: ``workloads`` may not import the simulator, so no ``schedule(..., tune=True)``
exists.  ``scansim simulate --tune`` and ``tune: true`` in a sweep file call it.

The search, in order:

1. the space's points (a space over :data:`MAX_POINTS` is subsampled: seeded random
   sampling — ``random.Random(seed).sample`` — as optuna, the optimiser scansim would use, is
   not installed; the default mapping is always kept);
2. legality: a point whose working set does not fit one core (:func:`core_bytes`), whose
   schedule is refused (:class:`~workloads.errors.WorkloadError`, a circuit error) or that
   cannot be placed on the chip (:class:`~simulator.bounds.SimulationError`) is illegal;
3. the lower bound (:func:`simulator.bounds.bounds`) of exactly the schedule the policy
   runs — panels shared, and fused under ``fused`` — for every legal point;
4. points in order of lower bound: each is costed in closed form
   (``simulate(..., fidelity="analytic")``) unless its lower bound already exceeds the best
   latency found, in which case it and every later point cannot win (the closed form never
   answers below the lower bound) and are counted as pruned;
5. the ``top_k`` fastest in closed form, and the default mapping, re-simulated with the DES
   (``fidelity="des"``); the DES-fastest is the answer.  With ``fidelity="analytic"`` the
   closed form's fastest is.

Deterministic for a seed: the order of points is the space's, ties break by that order.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache

from hwmodels.loader import load_accelerator
from hwmodels.spec import Accelerator
from simulator.bounds import SimulationError, bounds
from simulator.engine import DEFAULT_EVENT_BUDGET, simulate
from simulator.policy import fuse, share_panels
from simulator.result import SimResult
from workloads.catalog import Workload
from workloads.circuits import CircuitError
from workloads.dispatch import schedule
from workloads.errors import WorkloadError
from workloads.families import measured_iterations
from workloads.mapping import MappingSpace, default_mapping, illegal, mapping_space
from workloads.schedule import Schedule

__all__ = ["tune", "TuneResult", "Candidate", "core_bytes", "MAX_POINTS", "KNOB_COLUMNS"]

#: the largest space searched point by point; a larger one is subsampled to this many
MAX_POINTS = 2000
#: the knobs a tuned result reports, in this order (the sweep's ``tuned_<knob>`` columns)
KNOB_COLUMNS = ("algorithm", "impl", "chunk", "inner", "outer", "block", "tile", "circuit", "policy")


@dataclass(frozen=True)
class Candidate:
    """One legal mapping and what the search learnt of it: its lower bound and, unless it was
    pruned, its closed-form latency (seconds; None when pruned)."""

    mapping: dict
    lower_bound_s: float
    latency_s: float | None


@dataclass(frozen=True)
class TuneResult:
    """What :func:`tune` found.

    ``best`` is the chosen mapping and ``result`` its simulation (DES, or closed form with
    ``fidelity="analytic"``); ``default`` the untuned mapping, ``default_latency_s`` its
    latency at the same fidelity (``default_legal`` False only when its schedule cannot run at
    all; the default always competes, whatever its working set, so the search never answers
    slower than not searching); ``candidates`` every legal mapping in order of lower bound,
    with its closed-form latency unless ``pruned``; ``illegal`` how many points the chip or the
    schedule refused; ``space_size`` the space's points and ``sampled`` whether it was
    subsampled.
    """

    best: dict
    result: SimResult
    default: dict
    default_latency_s: float
    default_legal: bool
    candidates: tuple[Candidate, ...]
    pruned: int
    illegal: int
    space_size: int
    sampled: bool
    fidelity: str

    @property
    def latency_s(self) -> float:
        return self.result.latency_s

    @property
    def gain(self) -> float:
        """The default's latency over the tuned one (≥ 1 when the default is a candidate)."""
        return self.default_latency_s / self.latency_s

    def to_record(self) -> dict:
        """The chosen knobs as ``tuned_<knob>`` (None for a knob the mapping lacks), the
        default's and the tuned latency, the gain and the search's counts."""
        return {**{f"tuned_{k}": self.best.get(k) for k in KNOB_COLUMNS},
                "default_latency_s": self.default_latency_s, "tuned_latency_s": self.latency_s,
                "tune_gain": self.gain, "tune_candidates": len(self.candidates), "tune_pruned": self.pruned,
                "tune_illegal": self.illegal}


def core_bytes(acc: Accelerator) -> float:
    """What one core holds on chip for a kernel's working set: the shared memory its blocks may
    hold (a GPU's ``core.shared_bytes``), else its innermost memory (per core, a chip-wide
    innermost level shared evenly)."""
    if acc.core is not None:
        return float(acc.core.shared_bytes)
    level = acc.sram
    return level.capacity_bytes / (acc.cores if level.scope == "chip" else 1)


@lru_cache(maxsize=64)
def _iterations(workload: Workload, algorithm: str, weight_scale: float) -> int:
    """DEER's Newton iterations, measured once per workload (they do not depend on the mapping)."""
    return measured_iterations(workload, algorithm, weight_scale)[0]


def _schedule_of(workload: Workload, mapping: dict, dtype: str, direction: str, fixed: dict) -> Schedule:
    options = {k: v for k, v in mapping.items() if k not in ("algorithm", "impl", "policy")}
    options.update(fixed)
    if mapping.get("impl"):
        return schedule(workload, None, dtype, direction=direction, impl=mapping["impl"], **options)
    if mapping["algorithm"] in ("deer", "quasi-deer") and "iterations" not in options:
        scale = options.pop("weight_scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale < 1e3:
            raise WorkloadError(f"weight_scale: expected a number in (0, 1000), got {scale!r}")
        options["iterations"] = _iterations(workload, mapping["algorithm"], float(scale))
    return schedule(workload, mapping["algorithm"], dtype, direction=direction, **options)


def _lower_bound_s(sched: Schedule, acc: Accelerator, policy: str) -> float:
    """The lower bound of what ``simulate(sched, acc, policy)`` runs: ``auto`` runs the faster
    of the fused and the unfused schedule, so its bound is the smaller of theirs."""
    shared = share_panels(sched, acc)
    runs = {"unfused": [shared], "fused": [fuse(shared, acc)], "auto": [shared, fuse(shared, acc)]}[policy]
    return min(bounds(s, acc).lower_s for s in runs)


def tune(workload: Workload, accelerator: Accelerator | str, dtype: str = "bf16", direction: str = "fwd", *,
         impl: str | None = None, space: MappingSpace | None = None, default: dict | None = None,
         top_k: int = 3, seed: int = 0, fidelity: str = "des", event_budget: int = DEFAULT_EVENT_BUDGET,
         max_points: int = MAX_POINTS) -> TuneResult:
    """The fastest mapping of ``workload`` on ``accelerator`` (see the module's doc).

    Parameters
    ----------
    workload : the layer to run (:class:`~workloads.catalog.Workload`)
    accelerator : an :class:`~hwmodels.spec.Accelerator`, a preset name or a spec path
    dtype, direction : as :func:`workloads.dispatch.schedule` takes them
    impl : search a shipped kernel's own knobs instead of the family's
        (:func:`workloads.mapping.mapping_space`)
    space : the mappings to search (default: ``mapping_space(workload, impl)``)
    default : the untuned mapping the result compares with (default:
        :func:`workloads.mapping.default_mapping`)
    top_k : how many of the closed form's fastest the DES re-checks (≥ 1)
    seed : the subsampling seed of a space over ``max_points``
    fidelity : ``des`` (re-check with the DES) or ``analytic`` (closed form only)
    event_budget : the DES's event budget (see :func:`simulator.simulate`)

    Raises :class:`~simulator.bounds.SimulationError` when no mapping of the space can run on
    the chip.
    """
    if not isinstance(accelerator, Accelerator):
        accelerator = load_accelerator(accelerator)
    if fidelity not in ("des", "analytic"):
        raise SimulationError(f"fidelity: expected 'des' or 'analytic', got {fidelity!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise SimulationError(f"top_k: expected an integer ≥ 1, got {top_k!r}")
    space = space if space is not None else mapping_space(workload, impl)
    fixed = dict(space.fixed)
    default = default if default is not None else default_mapping(workload, impl=impl)
    points = list(space.points())
    size = len(points)
    sampled = size > max_points
    if sampled:
        points = random.Random(seed).sample(points, max_points)
    if default not in points:
        points.append(default)
    capacity = core_bytes(accelerator)

    legal: list[tuple[float, int, dict, Schedule]] = []
    refused = 0
    why = ""
    default_legal = False
    for order, mapping in enumerate(points):
        try:
            # the default competes whatever its working set: it is what an untuned run costs, so
            # the search never answers slower than not searching; the rule binds the alternatives
            reason = illegal(workload, mapping, dtype, capacity) if mapping != default else ""
            if reason:
                raise WorkloadError(reason)
            sched = _schedule_of(workload, mapping, dtype, direction, fixed)
            legal.append((_lower_bound_s(sched, accelerator, mapping["policy"]), order, mapping, sched))
            default_legal |= mapping == default
        except (WorkloadError, CircuitError, SimulationError) as exc:
            refused += 1
            why = why or f"{mapping}: {exc}"
    if not legal:
        raise SimulationError(f"tune: no mapping of {workload.name!r} ({size} points) can run on "
                              f"{accelerator.name!r} (the first: {why})")
    legal.sort(key=lambda c: (c[0], c[1]))

    best_s = float("inf")
    costed: list[tuple[float, int, dict, Schedule, SimResult]] = []
    candidates: list[Candidate] = []
    for lower, order, mapping, sched in legal:
        if lower > best_s:  # this and every later point: not even their bound beats the best
            candidates.append(Candidate(mapping, lower, None))
            continue
        result = simulate(sched, accelerator, mapping["policy"], fidelity="analytic")
        candidates.append(Candidate(mapping, lower, result.latency_s))
        costed.append((result.latency_s, order, mapping, sched, result))
        best_s = min(best_s, result.latency_s)
    pruned = sum(c.latency_s is None for c in candidates)
    costed.sort(key=lambda c: (c[0], c[1]))

    def run(mapping: dict, sched: Schedule) -> SimResult:
        return simulate(sched, accelerator, mapping["policy"], event_budget=event_budget, fidelity=fidelity)

    if fidelity == "des":  # the closed form's fastest, and the default: never slower than not searching
        finalists = [(order, m, s) for _, order, m, s, _ in costed[:top_k]]
        if default_legal and all(m != default for _, m, _ in finalists):
            finalists += [(order, m, s) for _, order, m, s in legal if m == default]
        checked = [(run(m, s), order, m) for order, m, s in finalists]
    else:
        checked = [(r, order, m) for _, order, m, _, r in costed]
    result, _, best = min(checked, key=lambda c: (c[0].latency_s, c[1]))
    default_result = next((r for r, _, m in checked if m == default), None)
    if default_result is not None:
        default_s = default_result.latency_s
    else:  # pruned (analytic), or illegal on this chip: costed as an untuned run costs it
        try:
            default_s = run(default, _schedule_of(workload, default, dtype, direction, fixed)).latency_s
        except (WorkloadError, CircuitError, SimulationError):
            default_s = math.nan
    return TuneResult(best=best, result=result, default=default, default_latency_s=default_s,
                      default_legal=default_legal, candidates=tuple(candidates), pruned=pruned, illegal=refused,
                      space_size=size, sampled=sampled, fidelity=fidelity)
