"""The points of a sweep: every combination (grid) or sample (random, Sobol) of its axes,
each a dict of plain values with a stable id, and the workload and schedule a point stands for."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
from scipy.stats import qmc

from reports.sweep.spec import MODEL_AXES, SweepSpec, axis_value, entry_point
from workloads.catalog import Workload, algorithms, get_workload
from workloads.dispatch import schedule
from workloads.schedule import Schedule

__all__ = ["points", "point_id", "point_schedule"]


def points(spec: SweepSpec) -> list[dict]:
    """Every design point of the sweep: its inputs, as plain values (stable order)."""
    base = list(itertools.product(range(len(spec.workloads)), spec.accelerators))
    names = sorted(spec.axes)
    if spec.sampler.kind == "grid":
        settings = [dict(zip(names, combo)) for combo in itertools.product(*(spec.axes[n] for n in names))]
    else:
        d = max(1, len(names))
        if spec.sampler.kind == "sobol":
            u = qmc.Sobol(d, scramble=True, seed=spec.sampler.seed).random(spec.sampler.points)
        else:
            u = np.random.default_rng(spec.sampler.seed).random((spec.sampler.points, d))
        settings = [{n: axis_value(spec.axes[n], float(row[i])) for i, n in enumerate(names)} for row in u]
    out = []
    seen = set()
    for model, acc, setting in itertools.product(spec.models, spec.accelerators, settings or [{}]):
        point = {"model": model.config, "model_name": model.name or Path(model.config).stem, "phase": spec.phase,
                 **entry_point(acc), "dtype": spec.dtype,
                 **{k: v for k, v in setting.items() if k.startswith(MODEL_AXES)}}
        point["point_id"] = point_id(point)
        if point["point_id"] not in seen:  # the workloads' axes do not make model points differ
            seen.add(point["point_id"])
            out.append(point)
    for (wi, acc), setting in itertools.product(base, settings or [{}]):
        entry = spec.workloads[wi]
        own = entry.algorithms if entry.algorithms and "algorithm" not in setting else (None,)
        for algorithm in own:
            point = {"workload": entry.name, "workload_params": dict(entry.params), **entry_point(acc),
                     "algorithm": algorithm, "dtype": spec.dtype, "policy": spec.policy,
                     "fidelity": spec.fidelity, "event_budget": spec.event_budget,
                     **{k: v for k, v in setting.items() if not k.startswith("model.")}}
            point["point_id"] = point_id(point)
            if point["point_id"] not in seen:  # the models' axes do not make workload points differ
                seen.add(point["point_id"])
                out.append(point)
    return out


def point_id(point: dict) -> str:
    canonical = json.dumps({k: v for k, v in point.items() if k != "point_id"}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


#: the schedule options a point may carry, by algorithm (a swept ``chunk``, or a tuned row's knobs)
_OPTIONS = {"chunked": ("chunk", "inner", "outer"), "blocked": ("block",), "tiled": ("tile",),
            "deer": ("circuit",), "quasi-deer": ("circuit",)}
_WHOLE = ("chunk", "block", "tile")


def point_schedule(point: dict) -> tuple[Workload, str, dict, Schedule]:
    """The workload (catalog entry, its ``workload_params`` and swept ``workload.*`` axes),
    algorithm, schedule options (the swept ``chunk``, or a tuned row's knobs) and schedule of a point — the one place
    that builds them, for the sweep, the report's Gantt chart and its sensitivity tornado."""
    dims = dict(point.get("workload_params") or {})
    dims.update({k.split(".", 1)[1]: int(v) for k, v in point.items() if k.startswith("workload.")})
    w = get_workload(point["workload"]).with_params(**dims)
    algorithm = point.get("algorithm") or algorithms(w)[0]
    options = {k: (int(point[k]) if k in _WHOLE else point[k]) for k in _OPTIONS.get(algorithm, ())
               if point.get(k) is not None}
    direction = point.get("direction") or "fwd"
    return w, algorithm, options, schedule(w, algorithm, point["dtype"], direction=direction, **options)

