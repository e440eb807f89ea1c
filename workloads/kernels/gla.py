"""Gated linear attention (GLA): a matrix-state linear RNN with a vector gate.

``S_t = diag(α_t) S_{t-1} + k_t v_tᵀ`` (K×V per head, α_t = exp(g_t) ∈ (0, 1]^K, one decay
per key channel), ``o_t = S_tᵀ q_t`` (Yang, Wang, Shen, Panda, Kim, arXiv 2312.06635;
fla-org/flash-linear-attention ``fla/ops/gla/``).  With every channel's decay equal it is
the scalar-decay scan of :mod:`workloads.kernels.ssd`.

The chunked form: within a chunk of C steps, with b_t the cumulative log-gate of each key
channel (b_t = Σ_{s ≤ t} g_s, a K-vector),

* outputs: ``o_t = (q_t ⊙ e^{b_t})ᵀ S_0 + Σ_{s ≤ t} (Σ_i q_ti k_si e^{b_ti − b_si}) v_s``;
* next state: ``S_C = diag(e^{b_C}) S_0 + Σ_s (k_s ⊙ e^{b_C − b_s}) v_sᵀ``.

Every exponent is a difference b_t − b_s ≤ 0 of a later and an earlier cumulative gate, so
nothing overflows however small the gates (FLA reaches the same by secondary chunking).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from workloads.kernels._checks import REAL, check_array, check_heads, check_log_decays, check_shape
from workloads.kernels._threads import gated_scan

__all__ = ["gla"]


@njit(cache=True, nogil=True)
def _gla_sequential(q, k, v, g, o, lo, hi):
    Bn, T, H, K = q.shape
    V = v.shape[3]
    for bh in range(lo, hi):
        b = bh // H
        h = bh % H
        S = np.zeros((K, V), dtype=q.dtype)
        for t in range(T):
            for j in range(V):
                o[b, t, h, j] = 0.0
            for i in range(K):
                alpha = np.exp(g[b, t, h, i])
                ki = k[b, t, h, i]
                qi = q[b, t, h, i]
                for j in range(V):
                    S[i, j] = alpha * S[i, j] + ki * v[b, t, h, j]
                    o[b, t, h, j] += S[i, j] * qi


@njit(cache=True, nogil=True)
def _gla_chunked(q, k, v, g, o, C, lo, hi):
    """Per chunk: the gated intra-chunk scores, the carried state's share, the state update;
    in float64, in plain loops (see ssd.py)."""
    Bn, T, H, K = q.shape
    V = v.shape[3]
    Qg = np.empty((C, K))  # q_t ⊙ e^{b_t}: the query seen from the chunk's start
    Kc = np.empty((C, K))
    Vc = np.empty((C, V))
    bc = np.empty((C, K))  # cumulative log-gates, per key channel
    row = np.empty(V)
    for bh in range(lo, hi):
        b = bh // H
        h = bh % H
        S = np.zeros((K, V))
        for t0 in range(0, T, C):
            n = min(C, T - t0)
            for t in range(n):
                for i in range(K):
                    bc[t, i] = (bc[t - 1, i] if t > 0 else 0.0) + g[b, t0 + t, h, i]
                    Kc[t, i] = k[b, t0 + t, h, i]
                    Qg[t, i] = q[b, t0 + t, h, i] * np.exp(bc[t, i])
                for j in range(V):
                    Vc[t, j] = v[b, t0 + t, h, j]
            for t in range(n):  # o_t = (q_t ⊙ e^{b_t})ᵀ S + Σ_{s≤t} A_ts v_s
                for j in range(V):
                    row[j] = 0.0
                for i in range(K):
                    c = Qg[t, i]
                    for j in range(V):
                        row[j] += c * S[i, j]
                for s in range(t + 1):
                    a = 0.0  # A_ts = Σ_i q_ti k_si e^{b_ti − b_si}
                    for i in range(K):
                        a += q[b, t0 + t, h, i] * Kc[s, i] * np.exp(bc[t, i] - bc[s, i])
                    for j in range(V):
                        row[j] += a * Vc[s, j]
                for j in range(V):
                    o[b, t0 + t, h, j] = row[j]
            for i in range(K):  # S_i ← e^{b_C,i} S_i + Σ_s k_si e^{b_C,i − b_si} v_s
                last = bc[n - 1, i]
                decay = np.exp(last)
                for j in range(V):
                    S[i, j] *= decay
                for s in range(n):
                    c = Kc[s, i] * np.exp(last - bc[s, i])
                    for j in range(V):
                        S[i, j] += c * Vc[s, j]


def gla(q: np.ndarray, k: np.ndarray, v: np.ndarray, g: np.ndarray,
        algorithm: str = "sequential", chunk: int = 64) -> np.ndarray:
    """Gated linear attention.

    Parameters
    ----------
    q, k : (B, T, H, K);  v : (B, T, H, V);  g : (B, T, H, K) per-channel log-gates ≤ 0;
        float32 or float64, all of one dtype
    algorithm : ``"sequential"`` (the oracle) or ``"chunked"`` (chunks of ``chunk``)

    Returns
    -------
    o : (B, T, H, V)
    """
    q, k, v = check_heads(q, k, v)
    g = check_array("g", g, 4, "(B, T, H, K)", dtypes=REAL)
    check_shape("g", g, q.shape, "(B, T, H, K)")
    if g.dtype != q.dtype:
        raise ValueError(f"g: expected dtype {q.dtype} (the dtype of q), got {g.dtype}")
    check_log_decays(g)
    return gated_scan(_gla_sequential, _gla_chunked, q, k, v, g, algorithm, chunk)
