"""Numba kernels that execute linear recurrences, sequentially and as prefix circuits.

Each ``@njit`` kernel takes arrays only and writes into an output it is given; the Python
wrappers below check shapes, dtypes and values, allocate, and pick the kernel.  The
sequential kernels are the oracles every parallel form is tested against.

The recurrence is ``h_t = a_t ⊙ h_{t-1} + b_t`` (diagonal, ``a`` of shape (T, d)) or
``h_t = A_t h_{t-1} + b_t`` (dense, ``A`` of shape (T, d, d)), with ``h_{-1} = 0``.  Its
steps are affine maps, and affine maps compose associatively:
``(A₁, b₁) ⊕ (A₂, b₂) = (A₂A₁, A₂b₁ + b₂)`` — which is why a prefix circuit can run it.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from workloads.circuits import Circuit

__all__ = ["linear_scan", "diagonal_scan_chunked"]

_FLOAT_DTYPES = (np.float32, np.float64, np.complex64, np.complex128)


# --------------------------------------------------------------------------- diagonal


@njit(cache=True, parallel=True)
def _diag_sequential(a, b, h, nblocks):
    """h[t] = a[t] * h[t-1] + b[t]; prange over contiguous channel blocks, serial in t."""
    T, d = a.shape
    for blk in prange(nblocks):
        c0 = blk * d // nblocks
        c1 = (blk + 1) * d // nblocks
        for c in range(c0, c1):
            h[0, c] = b[0, c]
        for t in range(1, T):
            for c in range(c0, c1):
                h[t, c] = a[t, c] * h[t - 1, c] + b[t, c]


@njit(cache=True, parallel=True)
def _diag_circuit(a, b, ptr, src, dst, nblocks):
    """Run a prefix circuit in place on (a, b); b ends holding every h_t.

    ``x[dst] = x[src] ⊕ x[dst]`` is ``b[dst] = a[dst] b[src] + b[dst]; a[dst] = a[dst] a[src]``.
    Pairs within a level come sorted by descending dst (see :class:`Circuit`), so in-place
    updates honour the synchronous semantics.
    """
    d = a.shape[1]
    for blk in prange(nblocks):
        c0 = blk * d // nblocks
        c1 = (blk + 1) * d // nblocks
        for j in range(len(ptr) - 1):
            for p in range(ptr[j], ptr[j + 1]):
                s = src[p]
                t = dst[p]
                for c in range(c0, c1):
                    b[t, c] = a[t, c] * b[s, c] + b[t, c]
                    a[t, c] = a[t, c] * a[s, c]


@njit(cache=True, parallel=True)
def _diag_chunked(a, b, h, chunk):
    """Reduce-then-scan over time chunks: for few channels and long T.

    Pass 1 (prange over chunks) reduces each chunk to its affine map (A, B); pass 2 scans the
    chunk carries serially; pass 3 (prange over chunks) rescans each chunk from its carry.
    Reads a and b twice, writes h once.
    """
    T, d = a.shape
    nchunks = (T + chunk - 1) // chunk
    A = np.ones((nchunks, d), dtype=a.dtype)
    B = np.zeros((nchunks, d), dtype=b.dtype)
    for k in prange(nchunks):
        for t in range(k * chunk, min(T, (k + 1) * chunk)):
            for c in range(d):
                B[k, c] = a[t, c] * B[k, c] + b[t, c]
                A[k, c] = a[t, c] * A[k, c]
    carry = np.zeros((nchunks, d), dtype=b.dtype)  # carry[k] = h at the end of chunk k - 1
    for k in range(1, nchunks):
        for c in range(d):
            carry[k, c] = A[k - 1, c] * carry[k - 1, c] + B[k - 1, c]
    for k in prange(nchunks):
        t0 = k * chunk
        for c in range(d):
            h[t0, c] = a[t0, c] * carry[k, c] + b[t0, c]
        for t in range(t0 + 1, min(T, t0 + chunk)):
            for c in range(d):
                h[t, c] = a[t, c] * h[t - 1, c] + b[t, c]


# --------------------------------------------------------------------------- dense


@njit(cache=True, parallel=True)
def _dense_sequential(A, b, h):
    """h[t] = A[t] @ h[t-1] + b[t]; prange over the rows of each step's mat-vec."""
    T, d = b.shape
    for i in range(d):
        h[0, i] = b[0, i]
    for t in range(1, T):
        for i in prange(d):
            acc = b[t, i]
            for k in range(d):
                acc += A[t, i, k] * h[t - 1, k]
            h[t, i] = acc


@njit(cache=True, parallel=True)
def _dense_circuit(A, b, ptr, src, dst):
    """Run a prefix circuit in place on (A, b): (A_s, b_s) ⊕ (A_d, b_d) = (A_d A_s, A_d b_s + b_d).

    Each level computes its new values into scratch (prange over pairs), then writes them:
    a level's pairs are independent only under the synchronous semantics.
    """
    d = b.shape[1]
    for j in range(len(ptr) - 1):
        p0, p1 = ptr[j], ptr[j + 1]
        nb = np.empty((p1 - p0, d), dtype=b.dtype)
        nA = np.empty((p1 - p0, d, d), dtype=A.dtype)
        for q in prange(p1 - p0):
            s = src[p0 + q]
            t = dst[p0 + q]
            for i in range(d):
                acc = b[t, i]
                for k in range(d):
                    acc += A[t, i, k] * b[s, k]
                nb[q, i] = acc
                for m in range(d):
                    acc2 = A[t, i, 0] * A[s, 0, m]
                    for k in range(1, d):
                        acc2 += A[t, i, k] * A[s, k, m]
                    nA[q, i, m] = acc2
        for q in prange(p1 - p0):
            t = dst[p0 + q]
            b[t, :] = nb[q]
            A[t, :, :] = nA[q]


# --------------------------------------------------------------------------- wrappers


def _threads() -> int:
    return numba.get_num_threads()


def _check_array(name: str, x, ndim: int, expected: str) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array of shape {expected}, got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{name}: expected shape {expected}, got {x.shape}")
    if x.dtype.type not in _FLOAT_DTYPES:
        raise ValueError(
            f"{name}: expected dtype float32, float64, complex64 or complex128, got {x.dtype}"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: contains NaN or Inf")
    return x


def _check_circuit(circuit, T: int) -> Circuit | None:
    if circuit is None:
        return None
    if not isinstance(circuit, Circuit):
        raise ValueError(f"circuit: expected a Circuit or None, got {type(circuit).__name__}")
    if circuit.n != T:
        raise ValueError(f"circuit: built for n={circuit.n}, but the inputs have T={T} steps")
    return circuit


def linear_scan(a: np.ndarray, b: np.ndarray, circuit: Circuit | None = None) -> np.ndarray:
    """All states of ``h_t = a_t h_{t-1} + b_t`` with ``h_{-1} = 0``.

    Parameters
    ----------
    a : ndarray, shape (T, d) for a diagonal recurrence or (T, d, d) for a dense one
    b : ndarray, shape (T, d), same dtype as ``a``
    circuit : Circuit with ``n == T``, or None for the sequential kernel

    Returns
    -------
    h : ndarray, shape (T, d), dtype of ``b``
    """
    b = _check_array("b", b, 2, "(T, d)")
    T, d = b.shape
    if T < 1 or d < 1:
        raise ValueError(f"b: expected T ≥ 1 and d ≥ 1, got shape {b.shape}")
    dense = isinstance(a, np.ndarray) and a.ndim == 3
    a = _check_array("a", a, 3 if dense else 2, "(T, d, d)" if dense else "(T, d)")
    if a.shape[:2] != (T, d) or (dense and a.shape[2] != d):
        want = f"({T}, {d}, {d})" if dense else f"({T}, {d})"
        raise ValueError(f"a: expected shape {want} to match b {b.shape}, got {a.shape}")
    if a.dtype != b.dtype:
        raise ValueError(f"a: expected dtype {b.dtype} (the dtype of b), got {a.dtype}")
    circuit = _check_circuit(circuit, T)
    a = np.ascontiguousarray(a)
    b = np.ascontiguousarray(b)
    if circuit is None:
        h = np.empty_like(b)
        if dense:
            _dense_sequential(a, b, h)
        else:
            _diag_sequential(a, b, h, min(_threads(), d))
        return h
    A, h = a.copy(), b.copy()
    if dense:
        _dense_circuit(A, h, circuit.ptr, circuit.src, circuit.dst)
    else:
        _diag_circuit(A, h, circuit.ptr, circuit.src, circuit.dst, min(_threads(), d))
    return h


def diagonal_scan_chunked(a: np.ndarray, b: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Diagonal scan by reduce-then-scan over time chunks (``prange`` over chunks).

    The parallel form for few channels and long T; same contract as :func:`linear_scan`.
    """
    b = _check_array("b", b, 2, "(T, d)")
    a = _check_array("a", a, 2, "(T, d)")
    if a.shape != b.shape or a.dtype != b.dtype:
        raise ValueError(f"a: expected shape {b.shape} and dtype {b.dtype}, got {a.shape} {a.dtype}")
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk: expected an integer ≥ 1, got {chunk!r}")
    h = np.empty_like(b)
    _diag_chunked(np.ascontiguousarray(a), np.ascontiguousarray(b), h, int(chunk))
    return h
