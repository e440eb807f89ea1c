"""Helpers for the benchmarks: medians of repeated runs, and this machine's memory ceiling.

Benchmarks print ratios measured in the same run (machines here are shared and noisy); Numba
compile time is measured once, separately, and never inside a timing.  The median timer and
the STREAM triad are the ones ``scansim calibrate`` measures this machine with.
"""

from __future__ import annotations

import time

from hwmodels.calibrate import median_seconds, triad_bandwidth_bytes_per_s

__all__ = ["median_seconds", "triad_bandwidth_bytes_per_s", "compile_seconds"]


def compile_seconds(fn, *args) -> float:
    """Time of the first call (compilation or cache load plus one run)."""
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start
