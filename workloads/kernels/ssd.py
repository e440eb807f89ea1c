"""Scalar-decay linear RNNs with matrix state: Mamba-2 SSD, RetNet, (GLA with scalar gates).

``S_t = α_t S_{t-1} + k_t v_tᵀ`` (K×V per head, α_t = exp(g_t) ≤ 1), ``o_t = S_tᵀ q_t``.  The
chunked form is the SSD algorithm (Dao & Gu, arXiv 2405.21060; state-spaces/mamba
``ssd_minimal.py``): within a chunk the outputs are a masked matmul
``(L ⊙ Q Kᵀ) V`` with ``L_ti = exp(γ_t − γ_i)`` for i ≤ t (γ the cumulative log-decay); the
chunk's state is carried to the next chunk by one decayed K×V update.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from workloads.kernels._checks import check_heads, check_log_decays, gated_scan

__all__ = ["ssd"]

@njit(cache=True, parallel=True)
def _ssd_sequential(q, k, v, g, o):
    Bn, T, H, K = q.shape
    V = v.shape[3]
    for bh in prange(Bn * H):
        b = bh // H
        h = bh % H
        S = np.zeros((K, V), dtype=q.dtype)
        for t in range(T):
            alpha = np.exp(g[b, t, h])
            o[b, t, h, :] = 0.0
            for i in range(K):  # j innermost: contiguous, no reductions, vectorises
                ki = k[b, t, h, i]
                qi = q[b, t, h, i]
                for j in range(V):
                    S[i, j] = alpha * S[i, j] + ki * v[b, t, h, j]
                    o[b, t, h, j] += S[i, j] * qi


@njit(cache=True)
def chunk_of(q, k, v, g, b, h, t0, n):
    """Steps t0 … t0+n of one (batch, head) in float64, and their cumulative log-decay γ."""
    Qc = q[b, t0:t0 + n, h, :].astype(np.float64)
    Kc = k[b, t0:t0 + n, h, :].astype(np.float64)
    Vc = v[b, t0:t0 + n, h, :].astype(np.float64)
    gam = np.cumsum(g[b, t0:t0 + n, h].astype(np.float64))
    return Qc, Kc, Vc, gam


@njit(cache=True, parallel=True)
def _ssd_chunked(q, k, v, g, o, C):
    """SSD: masked intra-chunk matmul plus inter-chunk state passing, in float64."""
    Bn, T, H, K = q.shape
    V = v.shape[3]
    for bh in prange(Bn * H):
        b = bh // H
        h = bh % H
        S = np.zeros((K, V))
        for t0 in range(0, T, C):
            n = min(C, T - t0)
            Qc, Kc, Vc, gam = chunk_of(q, k, v, g, b, h, t0, n)
            L = Qc @ np.ascontiguousarray(Kc.T)
            for t in range(n):
                for i in range(n):
                    L[t, i] = L[t, i] * np.exp(gam[t] - gam[i]) if i <= t else 0.0
            o[b, t0:t0 + n, h, :] = np.exp(gam).reshape(n, 1) * (Qc @ S) + L @ Vc
            w = np.exp(gam[n - 1] - gam).reshape(n, 1)
            S = np.exp(gam[n - 1]) * S + np.ascontiguousarray(Kc.T) @ (w * Vc)


def ssd(q: np.ndarray, k: np.ndarray, v: np.ndarray, g: np.ndarray,
        algorithm: str = "sequential", chunk: int = 64) -> np.ndarray:
    """Scalar-decay matrix-state scan (Mamba-2 SSD / RetNet).

    Parameters
    ----------
    q, k : (B, T, H, K) — Mamba-2's C and B;  v : (B, T, H, V) — its x (times Δ);
    g : (B, T, H) log-decays ≤ 0 (Mamba-2: Δ_t · A_h);  float32 or float64
    algorithm : ``"sequential"`` or ``"chunked"`` (the SSD form, chunks of ``chunk``)

    Returns
    -------
    o : (B, T, H, V)
    """
    q, k, v, g = check_heads(q, k, v, g=g)
    check_log_decays(g)
    return gated_scan(_ssd_sequential, _ssd_chunked, q, k, v, g, algorithm, chunk)
