"""The scansim pipeline for one design point, and for a grid of them.

One point reads top to bottom: build the circuit's schedule for the workload, check that the
same circuit computes the recurrence (Numba kernel against the sequential oracle, on a small
random input of the point's length), simulate on the accelerator, and record one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import product

import numpy as np
import pandas as pd

from hwmodels.spec import Accelerator
from simulator import DEFAULT_EVENT_BUDGET, simulate
from workloads.catalog import Workload, schedule
from workloads.circuits import CIRCUITS, prefix_circuit
from workloads.kernels import linear_scan

__all__ = ["Point", "run_point", "run_grid", "circuit_error"]

#: longest T at which a point executes its circuit to check it (the kernel run is O(T log T))
CHECK_MAX_T = 1 << 16


@dataclass(frozen=True)
class Point:
    workload: Workload
    accelerator: Accelerator
    algorithm: str
    dtype: str = "fp32"


@lru_cache(maxsize=256)
def circuit_error(algorithm: str, seq_len: int, channels: int = 4, seed: int = 0) -> float:
    """Max relative error of the circuit-executed diagonal scan against the sequential oracle.

    float64, decays in (0.5, 1), so the reference values stay O(1) to O(T).
    """
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 1.0, size=(seq_len, channels))
    b = rng.normal(size=(seq_len, channels))
    reference = linear_scan(a, b)
    scanned = linear_scan(a, b, prefix_circuit(algorithm, seq_len))
    return float(np.max(np.abs(scanned - reference)) / max(1.0, np.max(np.abs(reference))))


def run_point(point: Point, *, event_budget: int = DEFAULT_EVENT_BUDGET) -> dict:
    """Schedule, check, simulate and record one design point."""
    w = point.workload
    sched = schedule(w, point.algorithm, point.dtype)
    checkable = w.family == "diagonal" and point.algorithm in CIRCUITS and w.seq_len <= CHECK_MAX_T
    check = circuit_error(point.algorithm, w.seq_len) if checkable else np.nan
    result = simulate(sched, point.accelerator, event_budget=event_budget)
    return {
        "workload": w.name,
        "family": w.family,
        "seq_len": w.seq_len,
        "algorithm": point.algorithm,
        "depth_ops": sched.depth_ops,
        "circuit_max_rel_error": check,
        **result.to_record(),
    }


def run_grid(workloads: list[Workload], accelerators: list[Accelerator], algorithms: list[str],
             seq_lens: list[int], dtype: str = "fp32", *,
             event_budget: int = DEFAULT_EVENT_BUDGET) -> pd.DataFrame:
    """Every combination, one row each, in a DataFrame."""
    rows = [
        run_point(Point(w.with_params(seq_len=t), acc, algo, dtype), event_budget=event_budget)
        for w, t, algo, acc in product(workloads, seq_lens, algorithms, accelerators)
    ]
    return pd.DataFrame(rows)
