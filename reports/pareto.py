"""Pareto fronts: which designs no other design beats on every objective (all minimised)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["pareto_mask", "pareto_ranks", "pareto_front"]


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """True for each row no other row dominates (≤ on every column and < on one)."""
    values = np.asarray(values, dtype=float)
    keep = np.ones(len(values), dtype=bool)
    for i in range(len(values)):
        if not keep[i]:
            continue
        dominated_by = np.all(values <= values[i], axis=1) & np.any(values < values[i], axis=1)
        if dominated_by.any():
            keep[i] = False
    return keep


def pareto_ranks(values: np.ndarray) -> np.ndarray:
    """Non-dominated sorting: rank 0 is the front, rank 1 the front once it is removed, …"""
    values = np.asarray(values, dtype=float)
    ranks = np.full(len(values), -1)
    remaining = np.arange(len(values))
    rank = 0
    while len(remaining):
        front = pareto_mask(values[remaining])
        ranks[remaining[front]] = rank
        remaining = remaining[~front]
        rank += 1
    return ranks


def pareto_front(frame: pd.DataFrame, objectives: list[str]) -> pd.DataFrame:
    """The rows of ``frame`` on the front of ``objectives`` (rows with a missing value skipped)."""
    usable = frame.dropna(subset=objectives)
    return usable[pareto_mask(usable[objectives].to_numpy())]
