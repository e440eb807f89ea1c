"""Reverse-mode gradients of the linear scans: the backward of a scan is a scan in reverse.

Diagonal (and dense) recurrences ``h_t = a_t ⊙ h_{t-1} + b_t`` (h_{-1} = 0), given the loss
gradient ``dy_t = ∂L/∂h_t``:

* ``g_t = dy_t + a_{t+1} ⊙ g_{t+1}`` (g_{T-1} = dy_{T-1}) — itself a linear scan, over the
  reversed sequence with the transitions shifted by one, run by the same circuit as the
  forward pass (so the costed backward circuit is executed too);
* ``∂L/∂b_t = g_t`` and ``∂L/∂a_t = g_t ⊙ h_{t-1}`` (for a dense A: ``g_t h_{t-1}ᵀ``, and the
  reverse scan runs on ``A_{t+1}ᵀ``).

Scalar-decay matrix state (Mamba-2 SSD, RetNet), ``S_t = α_t S_{t-1} + k_t v_tᵀ``,
``o_t = S_tᵀ q_t``, ``α_t = exp(g_t)``, given ``do_t``:

* ``dS_t = α_{t+1} dS_{t+1} + q_t do_tᵀ`` (the reverse scan), ``dq_t = S_t do_t``,
  ``dk_t = dS_t v_t``, ``dv_t = dS_tᵀ k_t``, ``dg_t = α_t ⟨dS_t, S_{t-1}⟩``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from workloads.kernels._checks import check_array, check_heads, check_log_decays, check_shape
from workloads.kernels._threads import over_copies
from workloads.kernels.affine import linear_scan

__all__ = ["linear_scan_backward", "ssd_backward"]


def linear_scan_backward(a: np.ndarray, b: np.ndarray, dy: np.ndarray, circuit=None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """``(∂L/∂a, ∂L/∂b)`` of ``h = linear_scan(a, b, circuit)`` for ``dy = ∂L/∂h``.

    a : (T, d) or (T, d, d);  b, dy : (T, d), one real dtype.  ``circuit`` (None: sequential)
    runs both the forward scan and the reverse scan of the gradients.
    """
    h = linear_scan(a, b, circuit)
    dy = check_array("dy", dy, 2, "(T, d)")
    check_shape("dy", dy, h.shape, "(T, d) like b")
    dense = a.ndim == 3
    shifted = np.zeros_like(a)  # transitions a_{t+1}: the reverse scan's a_t
    shifted[:-1] = np.swapaxes(a[1:], 1, 2) if dense else a[1:]
    g = linear_scan(np.ascontiguousarray(shifted[::-1]), np.ascontiguousarray(dy[::-1]), circuit)[::-1]
    previous = np.zeros_like(h)
    previous[1:] = h[:-1]
    da = np.einsum("ti,tj->tij", g, previous) if dense else g * previous
    return da, np.ascontiguousarray(g)


@njit(cache=True, nogil=True)
def _ssd_backward(q, k, v, g, do, dq, dk, dv, dg, lo, hi):
    """The reverse scan of dS for the (batch, head) pairs in [lo, hi), in plain float64 loops."""
    Bn, T, H, K = q.shape
    V = v.shape[3]
    for bh in range(lo, hi):
        b = bh // H
        h = bh % H
        states = np.zeros((T + 1, K, V))  # S_{-1} … S_{T-1}: the forward pass, recomputed
        for t in range(T):
            alpha = np.exp(g[b, t, h])
            for i in range(K):
                for j in range(V):
                    states[t + 1, i, j] = alpha * states[t, i, j] + k[b, t, h, i] * v[b, t, h, j]
        dS = np.zeros((K, V))
        for t in range(T - 1, -1, -1):
            decay = np.exp(g[b, t + 1, h]) if t + 1 < T else 1.0
            for j in range(V):
                dv[b, t, h, j] = 0.0
            inner = 0.0
            for i in range(K):
                qi = q[b, t, h, i]
                dqi = 0.0
                dki = 0.0
                for j in range(V):
                    x = decay * dS[i, j] + qi * do[b, t, h, j]
                    dS[i, j] = x
                    dqi += states[t + 1, i, j] * do[b, t, h, j]
                    dki += x * v[b, t, h, j]
                    dv[b, t, h, j] += x * k[b, t, h, i]
                    inner += x * states[t, i, j]
                dq[b, t, h, i] = dqi
                dk[b, t, h, i] = dki
            dg[b, t, h] = np.exp(g[b, t, h]) * inner


def ssd_backward(q, k, v, g, do) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(dq, dk, dv, dg)`` of :func:`workloads.kernels.ssd` for ``do = ∂L/∂o``, by the
    reverse scan of dS (shapes as for ``ssd``; float64 accumulation)."""
    q, k, v, g = check_heads(q, k, v, g=g)
    check_log_decays(g)
    do = check_array("do", do, 4, "(B, T, H, V)")
    check_shape("do", do, v.shape, "(B, T, H, V) like v")
    dq, dk, dv = np.empty(q.shape), np.empty(k.shape), np.empty(v.shape)
    dg = np.empty(g.shape)
    over_copies(_ssd_backward, q.shape[0] * q.shape[2], q, k, v, g, do, dq, dk, dv, dg)
    return tuple(x.astype(q.dtype) for x in (dq, dk, dv, dg))
