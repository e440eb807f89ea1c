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

from workloads.kernels._checks import REAL, check_array, check_heads, check_log_decays, check_shape, gated_scan

__all__ = ["gla"]


@njit(cache=True)
def _gla_sequential(q, k, v, g, o):
    Bn, T, H, K = q.shape
    V = v.shape[3]
    for bh in range(Bn * H):  # references: plain loops compile in a fraction of prange's time
        b = bh // H
        h = bh % H
        S = np.zeros((K, V), dtype=q.dtype)
        for t in range(T):
            o[b, t, h, :] = 0.0
            for i in range(K):
                alpha = np.exp(g[b, t, h, i])
                ki = k[b, t, h, i]
                qi = q[b, t, h, i]
                for j in range(V):
                    S[i, j] = alpha * S[i, j] + ki * v[b, t, h, j]
                    o[b, t, h, j] += S[i, j] * qi


@njit(cache=True)
def _gla_chunked(q, k, v, g, o, C):
    """Per chunk: the gated intra-chunk scores, the carried state's share, the state update;
    in float64."""
    Bn, T, H, K = q.shape
    V = v.shape[3]
    for bh in range(Bn * H):  # references: plain loops compile in a fraction of prange's time
        b = bh // H
        h = bh % H
        S = np.zeros((K, V))
        for t0 in range(0, T, C):
            n = min(C, T - t0)
            Qc = q[b, t0:t0 + n, h, :].astype(np.float64)
            Kc = k[b, t0:t0 + n, h, :].astype(np.float64)
            Vc = v[b, t0:t0 + n, h, :].astype(np.float64)
            bc = np.empty((n, K))  # cumulative log-gates, per key channel
            run = np.zeros(K)
            for t in range(n):
                run += g[b, t0 + t, h, :].astype(np.float64)
                bc[t] = run
            A = np.zeros((n, n))
            for t in range(n):
                for s in range(t + 1):
                    acc = 0.0
                    for i in range(K):
                        acc += Qc[t, i] * Kc[s, i] * np.exp(bc[t, i] - bc[s, i])
                    A[t, s] = acc
            o[b, t0:t0 + n, h, :] = (Qc * np.exp(bc)) @ S + A @ Vc
            last = bc[n - 1]
            S = np.exp(last).reshape(K, 1) * S + np.ascontiguousarray((Kc * np.exp(last - bc)).T) @ Vc


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
