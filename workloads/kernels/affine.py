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

import numpy as np
from numba import njit

from workloads.circuits import Circuit, sequential
from workloads.kernels._checks import (
    check_array,
    check_finite,
    check_circuit,
    check_int,
    check_same_dtype,
    check_shape,
)
from workloads.kernels._threads import over_copies, threads

__all__ = ["linear_scan", "diagonal_scan_chunked", "permutation_diagonal_scan", "matrix_product_scan"]


# --------------------------------------------------------------------------- diagonal


@njit(cache=True, nogil=True)
def _diag_sequential(a, b, h, nblocks, lo, hi):
    """h[t] = a[t] * h[t-1] + b[t] for the contiguous channel blocks [lo, hi) of ``nblocks``,
    serial in t.

    Returns whether every h is finite.  A NaN or Inf in a or b always reaches h at its step
    (NaN·0 and Inf·0 are NaN), so this doubles as the input check without a second pass:
    ``chk += x − x`` stays 0 for finite x and turns NaN otherwise, and vectorises.
    """
    T, d = a.shape
    finite = True
    for blk in range(lo, hi):
        c0 = blk * d // nblocks
        c1 = (blk + 1) * d // nblocks
        carry = np.zeros(c1 - c0, dtype=h.dtype)
        chk = np.zeros(c1 - c0, dtype=h.dtype)
        for t in range(T):
            # a[t][c0:c1] keeps the C layout (a[t, c0:c1] would not), so LLVM vectorises
            at = a[t][c0:c1]
            bt = b[t][c0:c1]
            ht = h[t][c0:c1]
            for c in range(c1 - c0):
                x = at[c] * carry[c] + bt[c]
                carry[c] = x
                ht[c] = x
                chk[c] += x - x
        for c in range(c1 - c0):
            finite = finite and np.isfinite(chk[c])
    return finite


@njit(cache=True, nogil=True)
def _diag_circuit(a, b, ptr, src, dst, nblocks, lo, hi):
    """Run a prefix circuit in place on (a, b) for the channel blocks [lo, hi) of ``nblocks``;
    b ends holding every h_t.

    ``x[dst] = x[src] ⊕ x[dst]`` is ``b[dst] = a[dst] b[src] + b[dst]; a[dst] = a[dst] a[src]``.
    Pairs within a level come sorted by descending dst (see :class:`Circuit`), so in-place
    updates honour the synchronous semantics.
    """
    d = a.shape[1]
    for blk in range(lo, hi):
        c0 = blk * d // nblocks
        c1 = (blk + 1) * d // nblocks
        for j in range(len(ptr) - 1):
            for p in range(ptr[j], ptr[j + 1]):
                s = src[p]
                t = dst[p]
                for c in range(c0, c1):
                    b[t, c] = a[t, c] * b[s, c] + b[t, c]
                    a[t, c] = a[t, c] * a[s, c]


@njit(cache=True, nogil=True)
def _chunk_maps(a, b, A, B, chunk, lo, hi):
    """Reduce each time chunk in [lo, hi) to its affine map (A, B)."""
    T, d = a.shape
    for k in range(lo, hi):
        for c in range(d):
            A[k, c] = 1.0
            B[k, c] = 0.0
        for t in range(k * chunk, min(T, (k + 1) * chunk)):
            for c in range(d):
                B[k, c] = a[t, c] * B[k, c] + b[t, c]
                A[k, c] = a[t, c] * A[k, c]


@njit(cache=True, nogil=True)
def _chunk_rescan(a, b, h, carry, chunk, lo, hi):
    """Rescan each time chunk in [lo, hi) from its carry (h at the end of the chunk before)."""
    T, d = a.shape
    for k in range(lo, hi):
        t0 = k * chunk
        for c in range(d):
            h[t0, c] = a[t0, c] * carry[k, c] + b[t0, c]
        for t in range(t0 + 1, min(T, t0 + chunk)):
            for c in range(d):
                h[t, c] = a[t, c] * h[t - 1, c] + b[t, c]


# --------------------------------------------------------------------------- dense
# Serial: a dense circuit's pairs are independent only within a level, and a barrier per level
# is what Numba's parallel=True would compile for (seconds per dtype); these are the O(d³)
# forms that show why dense recurrences are costly, not the fast path.


@njit(cache=True)
def _dense_sequential(A, b, h):
    """h[t] = A[t] @ h[t-1] + b[t]."""
    T, d = b.shape
    for i in range(d):
        h[0, i] = b[0, i]
    for t in range(1, T):
        for i in range(d):
            acc = b[t, i]
            for k in range(d):
                acc += A[t, i, k] * h[t - 1, k]
            h[t, i] = acc


@njit(cache=True)
def _dense_circuit(A, b, ptr, src, dst):
    """Run a prefix circuit in place on (A, b): (A_s, b_s) ⊕ (A_d, b_d) = (A_d A_s, A_d b_s + b_d).

    Pairs within a level come sorted by descending dst (see :class:`Circuit`): a pair's source
    is read before any pair of the level writes it, so in-place updates through one pair's
    scratch honour the synchronous semantics.
    """
    d = b.shape[1]
    nb = np.empty(d, dtype=b.dtype)
    nA = np.empty((d, d), dtype=A.dtype)
    for j in range(len(ptr) - 1):
        for q in range(ptr[j], ptr[j + 1]):
            s = src[q]
            t = dst[q]
            for i in range(d):
                acc = b[t, i]
                for k in range(d):
                    acc += A[t, i, k] * b[s, k]
                nb[i] = acc
                for m in range(d):
                    nA[i, m] = 0.0
                for k in range(d):
                    x = A[t, i, k]
                    for m in range(d):
                        nA[i, m] += x * A[s, k, m]
            for i in range(d):
                b[t, i] = nb[i]
                for m in range(d):
                    A[t, i, m] = nA[i, m]


# --------------------------------------------------------------------------- wrappers


def _channel_blocks(b: np.ndarray) -> int:
    """Threads for the channel-parallel scan: each block's slice of a row should span at least
    4 KiB, or the strided streams defeat the prefetchers (measured: 64 fp32 channels split over
    2 threads ran at 0.6 of one thread's bandwidth)."""
    return int(max(1, min(threads(), b.shape[1] * b.itemsize // 4096)))


def _output(out: np.ndarray | None, like: np.ndarray, *inputs: np.ndarray) -> np.ndarray:
    if out is None:
        return np.empty_like(like)
    if not isinstance(out, np.ndarray) or out.shape != like.shape or out.dtype != like.dtype \
            or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"out: expected a writeable C-contiguous array of shape {like.shape} "
                         f"and dtype {like.dtype}")
    if any(np.may_share_memory(out, x) for x in (like, *inputs)):
        raise ValueError("out: must not overlap the inputs")
    return out


def _raise_non_finite(**arrays: np.ndarray) -> None:
    check_finite(**arrays)
    raise ValueError("h: the recurrence overflowed the range of its dtype "
                     f"({next(iter(arrays.values())).dtype}); inputs were finite")


def linear_scan(a: np.ndarray, b: np.ndarray, circuit: Circuit | None = None, *,
                out: np.ndarray | None = None) -> np.ndarray:
    """All states of ``h_t = a_t h_{t-1} + b_t`` with ``h_{-1} = 0``.

    Parameters
    ----------
    a : ndarray, shape (T, d) for a diagonal recurrence or (T, d, d) for a dense one
    b : ndarray, shape (T, d), same dtype as ``a``
    circuit : Circuit with ``n == T``, or None for the sequential kernel
    out : optional C-contiguous ndarray like ``b`` to write the states into (a reused buffer
        saves the page faults of a fresh one: on this project's machines they cost as much
        as the scan itself at T·d = 2^26)

    Returns
    -------
    h : ndarray, shape (T, d), dtype of ``b`` (``out`` when given)
    """
    b = check_array("b", b, 2, "(T, d)", finite=False)
    T, d = b.shape
    if T < 1 or d < 1:
        raise ValueError(f"b: expected T ≥ 1 and d ≥ 1, got shape {b.shape}")
    dense = isinstance(a, np.ndarray) and a.ndim == 3
    if dense:
        a = check_array("a", a, 3, "(T, d, d)", finite=False)
        check_shape("a", a, (T, d, d), "(T, d, d)")
    else:
        a = check_array("a", a, 2, "(T, d)", finite=False)
        check_shape("a", a, (T, d), "(T, d)")
    check_same_dtype("a", a, b, "b")
    circuit = check_circuit(circuit, T)
    h = _output(out, b, a)
    if circuit is None and not dense:
        nblocks = _channel_blocks(b)
        if not all(over_copies(_diag_sequential, nblocks, a, b, h, nblocks)):
            _raise_non_finite(a=a, b=b)
        return h
    check_finite(a=a, b=b)
    if circuit is None:
        _dense_sequential(a, b, h)
        return h
    A = a.copy()
    np.copyto(h, b)
    if dense:
        _dense_circuit(A, h, circuit.ptr, circuit.src, circuit.dst)
    else:
        nblocks = min(threads(), d)
        over_copies(_diag_circuit, nblocks, A, h, circuit.ptr, circuit.src, circuit.dst, nblocks)
    return h


def diagonal_scan_chunked(a: np.ndarray, b: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Diagonal scan by reduce-then-scan over time chunks (chunks spread over every core).

    The parallel form for few channels and long T; same contract as :func:`linear_scan`.
    """
    b = check_array("b", b, 2, "(T, d)")
    a = check_array("a", a, 2, "(T, d)")
    check_shape("a", a, b.shape, "(T, d)")
    check_same_dtype("a", a, b, "b")
    chunk = check_int("chunk", chunk)
    h = np.empty_like(b)
    T, d = b.shape
    nchunks = (T + chunk - 1) // chunk
    A = np.empty((nchunks, d), dtype=a.dtype)
    B = np.empty((nchunks, d), dtype=b.dtype)
    over_copies(_chunk_maps, nchunks, a, b, A, B, chunk)  # pass 1: each chunk's map
    carry = np.zeros((nchunks, d), dtype=b.dtype)  # carry[k] = h at the end of chunk k - 1
    if nchunks > 1:  # pass 2: the carries are the scan of the chunks' maps
        _diag_sequential(A[:-1], B[:-1], carry[1:], 1, 0, 1)
    over_copies(_chunk_rescan, nchunks, a, b, h, carry, chunk)  # pass 3: rescan from the carry
    return h


# --------------------------------------------------------------------------- permutation-diagonal


@njit(cache=True)
def _pd_sequential(perm, diag, b, h):
    T, d = b.shape
    for i in range(d):
        h[0, i] = b[0, i]
    for t in range(1, T):
        for i in range(d):
            h[t, i] = diag[t, i] * h[t - 1, perm[t, i]] + b[t, i]


@njit(cache=True)
def _pd_circuit(perm, diag, b, ptr, src, dst):
    """Compose permutation-diagonal affine maps along a circuit, in place.

    Step t maps h to ``h'[i] = D_t[i] h[P_t[i]] + b_t[i]``.  Applying s then t gives
    ``P = P_s[P_t]``, ``D = D_t · D_s[P_t]``, ``b = D_t · b_s[P_t] + b_t``: O(d) per combine,
    because permutations compose as index maps.
    """
    d = b.shape[1]
    P = np.empty(d, dtype=perm.dtype)
    D = np.empty(d, dtype=diag.dtype)
    B = np.empty(d, dtype=b.dtype)
    for j in range(len(ptr) - 1):
        for p in range(ptr[j], ptr[j + 1]):
            s = src[p]
            t = dst[p]
            for i in range(d):
                k = perm[t, i]
                P[i] = perm[s, k]
                D[i] = diag[t, i] * diag[s, k]
                B[i] = diag[t, i] * b[s, k] + b[t, i]
            for i in range(d):
                perm[t, i] = P[i]
                diag[t, i] = D[i]
                b[t, i] = B[i]


def permutation_diagonal_scan(perm: np.ndarray, diag: np.ndarray, b: np.ndarray,
                              circuit: Circuit | None = None) -> np.ndarray:
    """All states of ``h_t[i] = diag_t[i] · h_{t-1}[perm_t[i]] + b_t[i]``, ``h_{-1} = 0``.

    Parameters
    ----------
    perm : int ndarray (T, d), each row a permutation of 0..d-1
    diag, b : float or complex ndarray (T, d), same dtype
    circuit : Circuit with ``n == T``, or None for the sequential kernel
    """
    b = check_array("b", b, 2, "(T, d)")
    T, d = b.shape
    diag = check_array("diag", diag, 2, "(T, d)")
    check_shape("diag", diag, b.shape, "(T, d)")
    check_same_dtype("diag", diag, b, "b")
    perm = check_array("perm", perm, 2, "(T, d)", dtypes=(np.int32, np.int64))
    check_shape("perm", perm, b.shape, "(T, d)")
    if not np.array_equal(np.sort(perm, axis=1), np.broadcast_to(np.arange(d), (T, d))):
        raise ValueError(f"perm: expected every row to be a permutation of 0..{d - 1}")
    circuit = check_circuit(circuit, T)
    if circuit is None:
        h = np.empty_like(b)
        _pd_sequential(perm, diag, b, h)
        return h
    h = b.copy()
    _pd_circuit(perm.astype(np.int64), diag.copy(), h, circuit.ptr, circuit.src, circuit.dst)
    return h


# --------------------------------------------------------------------------- exact products mod p


@njit(cache=True)
def _matmul_mod(X, Y, p):
    n, k = X.shape
    m = Y.shape[1]
    out = np.zeros((n, m), dtype=np.int64)
    for i in range(n):
        for j in range(m):
            acc = 0
            for r in range(k):
                acc = (acc + X[i, r] * Y[r, j]) % p
            out[i, j] = acc
    return out


@njit(cache=True)
def _product_circuit_mod(M, p, ptr, src, dst):
    """x[dst] = x[dst] · x[src] mod p (later factors on the left), synchronous, in place."""
    for j in range(len(ptr) - 1):
        for q in range(ptr[j], ptr[j + 1]):  # descending dst: sources read before written
            product = _matmul_mod(M[dst[q]], M[src[q]], p)
            for i in range(product.shape[0]):
                for m in range(product.shape[1]):
                    M[dst[q], i, m] = product[i, m]


def matrix_product_scan(M: np.ndarray, p: int, circuit: Circuit | None = None) -> np.ndarray:
    """Prefix products ``P_t = M_t ⋯ M_1 M_0 mod p`` of integer matrices, exactly (int64).

    The A-part of the dense LRNN ``h_t = A_t h_{t-1} + b_t`` over the integers mod p: the
    iterated matrix product that makes DPLR LRNNs PNC¹-complete.  ``p`` must keep
    ``p² · d`` below 2^63.
    """
    M = check_array("M", M, 3, "(T, d, d)", dtypes=(np.int64,))
    T, d, d2 = M.shape
    if d != d2 or T < 1 or d < 1:
        raise ValueError(f"M: expected shape (T, d, d) with T, d ≥ 1, got {M.shape}")
    p = check_int("p", p, 2)
    if p * p * d >= 2**63:
        raise ValueError(f"p: p² · d must stay below 2^63 for exact int64 products, got p={p}")
    if M.min() < 0 or M.max() >= p:
        raise ValueError(f"M: expected entries in 0..{p - 1}")
    circuit = check_circuit(circuit, T) or sequential(T)
    out = M.copy()
    _product_circuit_mod(out, p, circuit.ptr, circuit.src, circuit.dst)
    return out

