"""Helpers for the benchmarks: medians of repeated runs, and this machine's memory ceiling.

Benchmarks print ratios measured in the same run (machines here are shared and noisy); Numba
compile time is measured once, separately, and never inside a timing.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from numba import njit, prange


def median_seconds(fn, *args, repeat: int = 7, warmup: int = 1) -> float:
    """Median wall time of ``fn(*args)`` over ``repeat`` runs, after ``warmup`` runs."""
    for _ in range(warmup):
        fn(*args)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compile_seconds(fn, *args) -> float:
    """Time of the first call (compilation or cache load plus one run)."""
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


@njit(parallel=True, cache=True)
def _triad(a, b, c, scalar):
    for i in prange(a.shape[0]):
        a[i] = b[i] + scalar * c[i]


def triad_bandwidth_bytes_per_s(n: int = 1 << 26, dtype=np.float32) -> float:
    """STREAM triad a = b + s·c with Numba prange: bytes moved (3 arrays) over median time."""
    b = np.random.default_rng(0).random(n).astype(dtype)
    c = np.random.default_rng(1).random(n).astype(dtype)
    a = np.empty_like(b)
    _triad(a, b, c, dtype(3.0))
    seconds = median_seconds(_triad, a, b, c, dtype(3.0))
    return 3 * a.nbytes / seconds
