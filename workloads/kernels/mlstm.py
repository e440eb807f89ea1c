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
from workloads.kernels._threads import over_copies
from workloads.kernels.ssd import state_read

__all__ = ["mlstm"]


@njit(cache=True)
def _log_sigmoid(x):
    return min(x, 0.0) - np.log1p(np.exp(-abs(x)))


@njit(cache=True, nogil=True)
def _mlstm_sequential(q, k, v, ig, fg, o, lo, hi):
    Bn, T, H, K = q.shape
    V = v.shape[3]
    for bh in range(lo, hi):
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
            for j in range(V):
                o[b, t, h, j] = 0.0
            for a in range(K):
                ka = i * k[b, t, h, a]
                qa = q[b, t, h, a]
                n[a] = f * n[a] + ka
                den += n[a] * qa
                for j in range(V):
                    S[a, j] = f * S[a, j] + ka * v[b, t, h, j]
                    o[b, t, h, j] += S[a, j] * qa
            scale = max(abs(den), np.exp(-m_new))
            for j in range(V):
                o[b, t, h, j] /= scale
            m = m_new


@njit(cache=True, nogil=True)
def _mlstm_chunked(q, k, v, ig, fg, o, C, lo, hi):
    """Per chunk: the stabilised intra-chunk weights, the carried state's share, the state
    update; in float64, in plain loops (see ssd.py)."""
    Bn, T, H, K = q.shape
    V = v.shape[3]
    Qc = np.empty((C, K))
    Kc = np.empty((C, K))
    Vc = np.empty((C, V))
    cum = np.empty(C)  # b_t: cumulative log forget gate
    D = np.empty((C, C))  # log-weights D_ts of step s at step t (s ≤ t)
    row = np.empty(V)
    for bh in range(lo, hi):
        b = bh // H
        h = bh % H
        S = np.zeros((K, V))
        n = np.zeros(K)
        m = 0.0
        for t0 in range(0, T, C):
            L = min(C, T - t0)
            run = 0.0
            for t in range(L):
                run += _log_sigmoid(np.float64(fg[b, t0 + t, h]))
                cum[t] = run
                for x in range(K):
                    Qc[t, x] = q[b, t0 + t, h, x]
                    Kc[t, x] = k[b, t0 + t, h, x]
                for j in range(V):
                    Vc[t, j] = v[b, t0 + t, h, j]
            for t in range(L):
                row_max = cum[t] + m  # the row's stabiliser: its largest log-weight
                for s in range(t + 1):
                    D[t, s] = cum[t] - cum[s] + ig[b, t0 + s, h]
                    row_max = max(row_max, D[t, s])
                carried = np.exp(cum[t] + m - row_max)
                state_read(Qc, t, S, row)
                den = 0.0
                for x in range(K):
                    den += n[x] * Qc[t, x]
                den *= carried
                for j in range(V):
                    row[j] *= carried
                for s in range(t + 1):
                    score = 0.0
                    for x in range(K):
                        score += Qc[t, x] * Kc[s, x]
                    w = np.exp(D[t, s] - row_max) * score  # stabilised, masked score
                    den += w
                    for j in range(V):
                        row[j] += w * Vc[s, j]
                scale = max(abs(den), np.exp(-row_max))
                for j in range(V):
                    o[b, t0 + t, h, j] = row[j] / scale
            # the state at the chunk's end, under its own stabiliser
            m_new = cum[L - 1] + m
            for s in range(L):
                m_new = max(m_new, cum[L - 1] - cum[s] + ig[b, t0 + s, h])
            keep = np.exp(cum[L - 1] + m - m_new)
            for x in range(K):
                n[x] *= keep
                for j in range(V):
                    S[x, j] *= keep
            for s in range(L):
                w = np.exp(cum[L - 1] - cum[s] + ig[b, t0 + s, h] - m_new)
                for x in range(K):
                    c = w * Kc[s, x]
                    n[x] += c
                    for j in range(V):
                        S[x, j] += c * Vc[s, j]
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
        over_copies(_mlstm_sequential, q.shape[0] * q.shape[2], q, k, v, i, f, o)
    elif algorithm == "chunked":
        chunk = min(check_int("chunk", chunk), q.shape[1])
        over_copies(_mlstm_chunked, q.shape[0] * q.shape[2], q, k, v, i, f, o, chunk)
    else:
        raise ValueError(f"algorithm: expected 'sequential' or 'chunked', got {algorithm!r}")
    return o
