"""mLSTM: xLSTM's matrix-memory cell, a scalar-gated matrix state with a normaliser.

Per head (Beck et al., arXiv 2405.04517 §2.3), with exponential input gate i_t = exp(ĩ_t) and
sigmoid forget gate f_t = σ(f̃_t)::

    S_t = f_t S_{t-1} + i_t k_t v_tᵀ        (K×V)
    n_t = f_t n_{t-1} + i_t k_t             (K)
    h_t = S_tᵀ q_t / max(|n_tᵀ q_t|, 1)

The exponential gate overflows unless stabilised: the kernels carry a running maximum m_t of
the log-scale and hold S̄ = S·e^{−m}, n̄ = n·e^{−m}, dividing by max(|n̄ᵀq|, e^{−m}) — the same
h for any choice of m, so the sequential stabiliser ``m_t = max(log f_t + m_{t-1}, ĩ_t)`` and the
chunked one (the largest log-weight in sight) agree to rounding.

The chunked form (xLSTM's chunkwise kernels, NX-AI/mlstm_kernels; Beck et al., arXiv
2503.14376): within a chunk, with b_t the cumulative log forget gate, step s reaches step t with
log-weight D_ts = b_t − b_s + ĩ_s and the carried state with b_t + m_prev; each row's largest
log-weight stabilises it, so every exponential is of a number ≤ 0.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from workloads.kernels._checks import check_heads, check_int

__all__ = ["mlstm"]


@njit(cache=True)
def _log_sigmoid(x):
    return min(x, 0.0) - np.log1p(np.exp(-abs(x)))


@njit(cache=True)
def _mlstm_sequential(q, k, v, ig, fg, o):
    Bn, T, H, K = q.shape
    V = v.shape[3]
    for bh in range(Bn * H):  # references: plain loops compile in a fraction of prange's time
        b = bh // H
        h = bh % H
        S = np.zeros((K, V), dtype=q.dtype)
        n = np.zeros(K, dtype=q.dtype)
        m = 0.0
        for t in range(T):
            log_f = _log_sigmoid(fg[b, t, h])
            m_new = max(log_f + m, ig[b, t, h])
            f = np.exp(log_f + m - m_new)
            i = np.exp(ig[b, t, h] - m_new)
            den = 0.0
            o[b, t, h, :] = 0.0
            for a in range(K):
                ka = i * k[b, t, h, a]
                qa = q[b, t, h, a]
                n[a] = f * n[a] + ka
                den += n[a] * qa
                for j in range(V):
                    S[a, j] = f * S[a, j] + ka * v[b, t, h, j]
                    o[b, t, h, j] += S[a, j] * qa
            o[b, t, h, :] /= max(abs(den), np.exp(-m_new))
            m = m_new


@njit(cache=True)
def _mlstm_chunked(q, k, v, ig, fg, o, C):
    """Per chunk: the stabilised intra-chunk weights, the carried state's share, the state
    update; in float64."""
    Bn, T, H, K = q.shape
    V = v.shape[3]
    for bh in range(Bn * H):
        b = bh // H
        h = bh % H
        S = np.zeros((K, V))
        n = np.zeros(K)
        m = 0.0
        for t0 in range(0, T, C):
            L = min(C, T - t0)
            Qc = q[b, t0:t0 + L, h, :].astype(np.float64)
            Kc = k[b, t0:t0 + L, h, :].astype(np.float64)
            Vc = v[b, t0:t0 + L, h, :].astype(np.float64)
            cum = np.empty(L)  # b_t: cumulative log forget gate
            run = 0.0
            for t in range(L):
                run += _log_sigmoid(np.float64(fg[b, t0 + t, h]))
                cum[t] = run
            # log-weights D_ts of step s at step t (s ≤ t), and each row's stabiliser
            D = np.full((L, L), -np.inf)
            row_max = np.empty(L)
            for t in range(L):
                mt = cum[t] + m
                for s in range(t + 1):
                    D[t, s] = cum[t] - cum[s] + ig[b, t0 + s, h]
                    mt = max(mt, D[t, s])
                row_max[t] = mt
            W = np.exp(D - row_max.reshape(L, 1)) * (Qc @ np.ascontiguousarray(Kc.T))  # stabilised, masked scores
            carried = np.exp(cum + m - row_max)
            num = carried.reshape(L, 1) * (Qc @ S) + W @ Vc
            den = carried * (Qc @ n) + W.sum(axis=1)
            o[b, t0:t0 + L, h, :] = num / np.maximum(np.abs(den), np.exp(-row_max)).reshape(L, 1)
            # the state at the chunk's end, under its own stabiliser
            to_end = cum[L - 1] - cum + ig[b, t0:t0 + L, h].astype(np.float64)
            m_new = max(cum[L - 1] + m, to_end.max())
            weights = np.exp(to_end - m_new)
            keep = np.exp(cum[L - 1] + m - m_new)
            Kw = Kc * weights.reshape(L, 1)
            S = keep * S + np.ascontiguousarray(Kw.T) @ Vc
            n = keep * n + Kw.sum(axis=0)
            m = m_new


def mlstm(q: np.ndarray, k: np.ndarray, v: np.ndarray, i: np.ndarray, f: np.ndarray,
          algorithm: str = "sequential", chunk: int = 64) -> np.ndarray:
    """xLSTM's mLSTM cell over every head.

    Parameters
    ----------
    q, k : (B, T, H, K);  v : (B, T, H, V);  i, f : (B, T, H) input- and forget-gate
        pre-activations (any real: i enters as exp(i), f as sigmoid(f)); float32 or float64,
        all of one dtype
    algorithm : ``"sequential"`` (the oracle) or ``"chunked"`` (chunks of ``chunk``)

    Returns
    -------
    h : (B, T, H, V)
    """
    q, k, v, i, f = check_heads(q, k, v, i=i, f=f)
    o = np.empty(v.shape, dtype=q.dtype)
    if algorithm == "sequential":
        _mlstm_sequential(q, k, v, i, f, o)
    elif algorithm == "chunked":
        _mlstm_chunked(q, k, v, i, f, o, check_int("chunk", chunk))
    else:
        raise ValueError(f"algorithm: expected 'sequential' or 'chunked', got {algorithm!r}")
    return o
