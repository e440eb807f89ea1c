"""Causal softmax attention, the transformer baseline: ``o_t = Σ_{s≤t} softmax_s(q_t·k_s / √D) v_s``.

The oracle computes each row's softmax directly (max-subtracted).  The blocked form is
FlashAttention's (Dao et al., arXiv 2205.14135): query blocks × key blocks with a running
row maximum ``m`` and normaliser ``ℓ`` (online softmax), so no T×T matrix is ever formed.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from workloads.kernels._checks import check_heads, check_int

__all__ = ["attention"]


@njit(cache=True, parallel=True)
def _naive(q, k, v, o):
    Bn, T, H, D = q.shape
    scale = 1.0 / np.sqrt(D)
    for bh in prange(Bn * H):
        b = bh // H
        h = bh % H
        for t in range(T):
            s = np.empty(t + 1)
            for j in range(t + 1):
                s[j] = scale * (q[b, t, h] @ k[b, j, h])
            p = np.exp(s - s.max())
            p /= p.sum()
            for e in range(v.shape[3]):
                acc = 0.0
                for j in range(t + 1):
                    acc += p[j] * v[b, j, h, e]
                o[b, t, h, e] = acc


@njit(cache=True, parallel=True)
def _blocked(q, k, v, o, Bq, Bk):
    Bn, T, H, D = q.shape
    E = v.shape[3]
    scale = 1.0 / np.sqrt(D)
    nq = (T + Bq - 1) // Bq
    for job in prange(Bn * H * nq):
        bh = job // nq
        b = bh // H
        h = bh % H
        t0 = (job % nq) * Bq
        t1 = min(T, t0 + Bq)
        n = t1 - t0
        Q = q[b, t0:t1, h, :].astype(np.float64) * scale
        m = np.full(n, -np.inf)
        ell = np.zeros(n)
        acc = np.zeros((n, E))
        for s0 in range(0, t1, Bk):  # key blocks up to the causal edge
            s1 = min(t1, s0 + Bk)
            Kb = k[b, s0:s1, h, :].astype(np.float64)
            Vb = v[b, s0:s1, h, :].astype(np.float64)
            S = Q @ np.ascontiguousarray(Kb.T)
            for i in range(n):
                for j in range(s1 - s0):
                    if s0 + j > t0 + i:
                        S[i, j] = -np.inf
            for i in range(n):
                row_max = max(m[i], S[i].max())
                if row_max == -np.inf:
                    continue
                correction = np.exp(m[i] - row_max)
                p = np.exp(S[i] - row_max)
                ell[i] = ell[i] * correction + p.sum()
                acc[i] = acc[i] * correction + p @ Vb
                m[i] = row_max
        for i in range(n):
            o[b, t0 + i, h, :] = acc[i] / ell[i]


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, algorithm: str = "naive",
              block: int = 64) -> np.ndarray:
    """Causal softmax attention.  q, k : (B, T, H, D); v : (B, T, H, E); float32 or float64.

    ``algorithm`` is ``"naive"`` (the oracle) or ``"blocked"`` (online softmax over
    ``block``×``block`` tiles).  Returns o (B, T, H, E).
    """
    q, k, v = check_heads(q, k, v, key="D", value="E")
    o = np.empty(v.shape, dtype=q.dtype)
    if algorithm == "naive":
        _naive(q, k, v, o)
    elif algorithm == "blocked":
        block = check_int("block", block)
        _blocked(q, k, v, o, block, block)
    else:
        raise ValueError(f"algorithm: expected 'naive' or 'blocked', got {algorithm!r}")
    return o
