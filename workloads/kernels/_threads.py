"""Running kernels: independent copies on every core, from a thread pool.

Numba's ``parallel=True`` costs 4–5 s of compile per kernel and dtype (its parfor pass and the
gufunc it builds; measured on this package's chunked delta rule: 9.6 s against 3.6 s plain),
more than most calls of these kernels take to run.  Kernels over independent copies — (batch,
head) pairs, query blocks, steps that read only the previous guess — are compiled plain with
``nogil=True`` and take the ``[lo, hi)`` range of copies they run as their last two arguments;
:func:`over_copies` splits the range evenly over ``numba.get_num_threads()`` threads (the
``NUMBA_NUM_THREADS`` setting that ``prange`` honours).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from workloads.kernels._checks import check_int


def threads() -> int:
    return numba.get_num_threads()


def over_copies(kernel, n: int, *args) -> list:
    """Run ``kernel(*args, lo, hi)`` over ``[0, n)`` in contiguous slices, one per thread, and
    return what each slice returned (in order)."""
    workers = min(n, threads())
    if workers <= 1:
        return [kernel(*args, 0, n)]
    edges = [n * w // workers for w in range(workers + 1)]
    pool = _pool(workers)
    runs = [pool.submit(kernel, *args, lo, hi) for lo, hi in zip(edges, edges[1:])]
    return [run.result() for run in runs]  # a kernel's error reaches the caller


_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    """This process's pool of ``workers`` threads, made once (a new one after a fork: the
    child has none of its parent's threads); starting threads each call cost ~0.4 ms."""
    key = (os.getpid(), workers)
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(workers, thread_name_prefix="scansim-kernel")
    return _POOLS[key]


def gated_scan(sequential, chunked, q, k, v, g, algorithm: str, chunk: int) -> np.ndarray:
    """Run a gated matrix-state scan's ``sequential`` or ``chunked`` kernel (checked inputs,
    ``(q, k, v, g, o[, chunk], lo, hi)`` over the (batch, head) pairs in [lo, hi)) into a fresh
    output of v's shape, the pairs spread over every core."""
    o = np.empty(v.shape, dtype=q.dtype)
    pairs = q.shape[0] * q.shape[2]
    if algorithm == "sequential":
        over_copies(sequential, pairs, q, k, v, g, o)
    elif algorithm == "chunked":
        over_copies(chunked, pairs, q, k, v, g, o, min(check_int("chunk", chunk), q.shape[1]))
    else:
        raise ValueError(f"algorithm: expected 'sequential' or 'chunked', got {algorithm!r}")
    return o
