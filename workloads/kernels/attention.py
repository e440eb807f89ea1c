"""Causal softmax attention, the transformer baseline: ``o_t = Σ_{s≤t} softmax_s(q_t·k_s / √D) v_s``.

The oracle computes each row's softmax directly (max-subtracted).  The blocked form is
FlashAttention's (Dao et al., arXiv 2205.14135): query blocks × key blocks with a running
row maximum ``m`` and normaliser ``ℓ`` (online softmax), so no T×T matrix is ever formed.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from workloads.kernels._checks import check_heads, check_int
from workloads.kernels._threads import over_copies

__all__ = ["attention"]


@njit(cache=True, nogil=True)
def _naive(q, k, v, o, lo, hi):
    """Each row's softmax directly, for the (batch, head) pairs in [lo, hi)."""
    Bn, T, H, D = q.shape
    scale = 1.0 / np.sqrt(D)
    s = np.empty(T)
    for bh in range(lo, hi):
        b = bh // H
        h = bh % H
        for t in range(T):
            top = -np.inf
            for j in range(t + 1):
                dot = 0.0
                for x in range(D):
                    dot += q[b, t, h, x] * k[b, j, h, x]
                s[j] = scale * dot
                top = max(top, s[j])
            total = 0.0
            for j in range(t + 1):
                s[j] = np.exp(s[j] - top)
                total += s[j]
            for e in range(v.shape[3]):
                acc = 0.0
                for j in range(t + 1):
                    acc += s[j] * v[b, j, h, e]
                o[b, t, h, e] = acc / total


@njit(cache=True, nogil=True)
def _blocked(q, k, v, o, Bq, Bk, lo, hi):
    """Online softmax over Bq×Bk tiles, in float64, for the (batch, head, query block) jobs in
    [lo, hi); plain loops (see ssd.py)."""
    Bn, T, H, D = q.shape
    E = v.shape[3]
    scale = 1.0 / np.sqrt(D)
    nq = (T + Bq - 1) // Bq
    m = np.empty(Bq)
    ell = np.empty(Bq)
    acc = np.empty((Bq, E))
    S = np.empty(Bk)
    for job in range(lo, hi):
        bh = job // nq
        b = bh // H
        h = bh % H
        t0 = (job % nq) * Bq
        t1 = min(T, t0 + Bq)
        for i in range(t1 - t0):
            m[i] = -np.inf
            ell[i] = 0.0
            for e in range(E):
                acc[i, e] = 0.0
        for s0 in range(0, t1, Bk):  # key blocks up to the causal edge
            s1 = min(t1, s0 + Bk)
            for i in range(t1 - t0):
                t = t0 + i
                row_max = m[i]
                for j in range(s1 - s0):
                    if s0 + j > t:
                        S[j] = -np.inf
                    else:
                        dot = 0.0
                        for x in range(D):
                            dot += q[b, t, h, x] * k[b, s0 + j, h, x]
                        S[j] = scale * dot
                    row_max = max(row_max, S[j])
                if row_max == -np.inf:
                    continue
                correction = np.exp(m[i] - row_max)
                ell[i] *= correction
                for e in range(E):
                    acc[i, e] *= correction
                for j in range(s1 - s0):
                    p = np.exp(S[j] - row_max)
                    ell[i] += p
                    for e in range(E):
                        acc[i, e] += p * v[b, s0 + j, h, e]
                m[i] = row_max
        for i in range(t1 - t0):
            for e in range(E):
                o[b, t0 + i, h, e] = acc[i, e] / ell[i]


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, algorithm: str = "naive",
              block: int = 64) -> np.ndarray:
    """Causal softmax attention.  q, k : (B, T, H, D); v : (B, T, H, E); float32 or float64.

    ``algorithm`` is ``"naive"`` (the oracle) or ``"blocked"`` (online softmax over
    ``block``×``block`` tiles).  Returns o (B, T, H, E).
    """
    q, k, v = check_heads(q, k, v, key="D", value="E")
    o = np.empty(v.shape, dtype=q.dtype)
    if algorithm == "naive":
        over_copies(_naive, q.shape[0] * q.shape[2], q, k, v, o)
    elif algorithm == "blocked":
        block = check_int("block", block)
        block = min(block, q.shape[1])
        nq = (q.shape[1] + block - 1) // block
        over_copies(_blocked, q.shape[0] * q.shape[2] * nq, q, k, v, o, block, block)
    else:
        raise ValueError(f"algorithm: expected 'naive' or 'blocked', got {algorithm!r}")
    return o
