"""Scalar-decay linear RNNs with matrix state: Mamba-2 SSD, RetNet, (GLA with scalar gates).

``S_t = α_t S_{t-1} + k_t v_tᵀ`` (K×V per head, α_t = exp(g_t) ≤ 1), ``o_t = S_tᵀ q_t``.  The
chunked form is the SSD algorithm (Dao & Gu, arXiv 2405.21060; state-spaces/mamba
``ssd_minimal.py``): within a chunk the outputs are a masked matmul
``(L ⊙ Q Kᵀ) V`` with ``L_ti = exp(γ_t − γ_i)`` for i ≤ t (γ the cumulative log-decay); the
chunk's state is carried to the next chunk by one decayed K×V update.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from workloads.kernels._checks import check_heads, check_log_decays
from workloads.kernels._threads import gated_scan

__all__ = ["ssd"]

@njit(cache=True, nogil=True)
def _ssd_sequential(q, k, v, g, o, lo, hi):
    Bn, T, H, K = q.shape
    V = v.shape[3]
    for bh in range(lo, hi):
        b = bh // H
        h = bh % H
        S = np.zeros((K, V), dtype=q.dtype)
        for t in range(T):
            alpha = np.exp(g[b, t, h])
            for j in range(V):
                o[b, t, h, j] = 0.0
            for i in range(K):  # j innermost: contiguous, no reductions, vectorises
                ki = k[b, t, h, i]
                qi = q[b, t, h, i]
                for j in range(V):
                    S[i, j] = alpha * S[i, j] + ki * v[b, t, h, j]
                    o[b, t, h, j] += S[i, j] * qi


# The chunked forms below (SSD here, the delta rule's WY form in delta.py) run in plain loops
# on float64 buffers: their products are C×K by K×V, and loops compile in a fraction of the
# time Numba's array expressions take while running about as fast at these sizes.


@njit(cache=True)
def load_chunk(q, k, g, b, h, t0, n, Qc, Kc, gam):
    """Steps t0 … t0+n of one (batch, head) into float64 buffers, and their cumulative
    log-decay γ."""
    acc = 0.0
    for t in range(n):
        acc += g[b, t0 + t, h]
        gam[t] = acc
        for x in range(Qc.shape[1]):
            Qc[t, x] = q[b, t0 + t, h, x]
            Kc[t, x] = k[b, t0 + t, h, x]


@njit(cache=True)
def state_read(X, t, S, row):
    """row = Sᵀ X[t] (j innermost: contiguous, vectorises)."""
    for j in range(S.shape[1]):
        row[j] = 0.0
    for x in range(S.shape[0]):
        xv = X[t, x]
        for j in range(S.shape[1]):
            row[j] += xv * S[x, j]


@njit(cache=True)
def chunk_outputs(Qc, Kc, X, gam, n, S, o, b, t0, h, row):
    """o_t = e^{γ_t} Sᵀ q_t + Σ_{i≤t} e^{γ_t−γ_i} (k_iᵀ q_t) X_i for the chunk's steps."""
    for t in range(n):
        state_read(Qc, t, S, row)
        et = np.exp(gam[t])
        for j in range(S.shape[1]):
            row[j] *= et
        for i in range(t + 1):
            s = 0.0
            for x in range(Qc.shape[1]):
                s += Qc[t, x] * Kc[i, x]
            c = np.exp(gam[t] - gam[i]) * s
            for j in range(S.shape[1]):
                row[j] += c * X[i, j]
        for j in range(S.shape[1]):
            o[b, t0 + t, h, j] = row[j]


@njit(cache=True)
def pass_state(Kc, X, gam, n, S):
    """The next chunk's state: S ← e^{γ_C} S + Σ_i e^{γ_C−γ_i} k_i X_iᵀ."""
    decay = np.exp(gam[n - 1])
    for x in range(S.shape[0]):
        for j in range(S.shape[1]):
            S[x, j] *= decay
    for i in range(n):
        w = np.exp(gam[n - 1] - gam[i])
        for x in range(S.shape[0]):
            c = w * Kc[i, x]
            for j in range(S.shape[1]):
                S[x, j] += c * X[i, j]


@njit(cache=True, nogil=True)
def _ssd_chunked(q, k, v, g, o, C, lo, hi):
    """SSD: masked intra-chunk products plus inter-chunk state passing, in float64."""
    Bn, T, H, K = q.shape
    V = v.shape[3]
    Qc = np.empty((C, K))
    Kc = np.empty((C, K))
    Vc = np.empty((C, V))
    gam = np.empty(C)
    row = np.empty(V)
    for bh in range(lo, hi):
        b = bh // H
        h = bh % H
        S = np.zeros((K, V))
        for t0 in range(0, T, C):
            n = min(C, T - t0)
            load_chunk(q, k, g, b, h, t0, n, Qc, Kc, gam)
            for t in range(n):
                for j in range(V):
                    Vc[t, j] = v[b, t0 + t, h, j]
            chunk_outputs(Qc, Kc, Vc, gam, n, S, o, b, t0, h, row)
            pass_state(Kc, Vc, gam, n, S)


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
