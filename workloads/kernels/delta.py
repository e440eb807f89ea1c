"""DPLR linear RNNs with matrix state: DeltaNet, Gated DeltaNet, RWKV-7-style, DeltaProduct.

State ``S`` is K×V (FLA's convention), starts at 0, and every step is an affine map
``S_t = A_t S_{t-1} + B_t`` with a K×K transition ``A_t`` (diagonal plus low rank) and a K×V
input ``B_t``; the output is ``o_t = S_tᵀ q_t``.  Three ways to run it:

* ``sequential`` — the recurrence, O(K·V) per step (the oracle);
* any prefix circuit — dense-element combines ``(A_d A_s, A_d B_s + B_d)``, O(K²(K+V)) each:
  the products densify, which is why the paper puts DPLR LRNNs in PNC¹;
* ``chunked`` — the WY/UT form of Yang et al. (arXiv 2406.06484): within a chunk of C steps,
  ``(I + tril(diag(β) K Kᵀ ⊙ Γ, −1)) Δ = diag(β)(V − diag(Γ) K S_0)`` gives the delta rule's
  state corrections Δ, after which only matmuls remain.  Γ holds the gate's cumulative
  decays, formed in log space as ``exp(γ_t − γ_i) ≤ 1`` so that nothing underflows.  For the
  RWKV-7-style recurrence the same idea with a decay per key channel (flash-linear-attention's
  ``chunk_dplr_delta_rule``): the rank-1 reads ``y_t = S_{t−1}ᵀ b_t`` of a chunk solve one
  unit lower-triangular system, ``y_s = (Γ_{s−1} b_s)ᵀ S_0 + Σ_{r<s} (a_r ⊙ b_s ⊙ Γ_{s−1}/Γ_r)·1
  y_r + (k_r ⊙ b_s ⊙ Γ_{s−1}/Γ_r)·1 v_r``, and the outputs and the chunk's last state are
  matmuls of y and v; the decay ratios Γ_t/Γ_s are running products of w over (s, t], never
  quotients, so a gate of 0 is exact.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from workloads.circuits import CIRCUITS, prefix_circuit
from workloads.kernels._checks import (REAL, check_array, check_heads, check_int, check_log_decays,
                                      check_same_dtype, check_shape)
from workloads.kernels._threads import over_copies
from workloads.kernels.ssd import chunk_outputs, load_chunk, pass_state, state_read

__all__ = ["delta_rule", "matrix_state_scan", "dplr_scan", "delta_product"]



# --------------------------------------------------------------------------- generic affine


@njit(cache=True, nogil=True)
def _mat_sequential(A, B, S, lo, hi):
    """S[n, t] = A[n, t] @ S[n, t-1] + B[n, t] for the copies n in [lo, hi)."""
    N, T, K, V = B.shape
    for n in range(lo, hi):
        _mul_add(A[n, 0], S[n, 0], B[n, 0], S[n, 0], False)
        for t in range(1, T):
            _mul_add(A[n, t], S[n, t - 1], B[n, t], S[n, t], True)


@njit(cache=True)
def _mul_add(X, Y, Z, out, multiply):
    """out = X @ Y + Z (Z alone unless ``multiply``), row by row, j innermost (contiguous, it
    vectorises); ``out`` may be Z but not X or Y."""
    for i in range(X.shape[0]):
        for j in range(Y.shape[1]):
            out[i, j] = Z[i, j]
        for x in range(X.shape[1] if multiply else 0):
            xi = X[i, x]
            for j in range(Y.shape[1]):
                out[i, j] += xi * Y[x, j]


@njit(cache=True, nogil=True)
def _mat_circuit(A, B, ptr, src, dst, lo, hi):
    """Dense-element circuit in place: (A_s, B_s) ⊕ (A_d, B_d) = (A_d A_s, A_d B_s + B_d)."""
    K = A.shape[2]
    AA = np.empty((K, K), dtype=A.dtype)
    zero = np.zeros((K, K), dtype=A.dtype)
    for n in range(lo, hi):
        for j in range(len(ptr) - 1):
            for p in range(ptr[j], ptr[j + 1]):  # descending dst: sources read before written
                s = src[p]
                t = dst[p]
                _mul_add(A[n, t], B[n, s], B[n, t], B[n, t], True)
                _mul_add(A[n, t], A[n, s], zero, AA, True)
                _mul_add(A[n, t], AA, AA, A[n, t], False)  # copy AA back


def matrix_state_scan(A: np.ndarray, B: np.ndarray, circuit=None) -> np.ndarray:
    """All states of ``S_t = A_t S_{t-1} + B_t``, ``S_{-1} = 0``, for N independent copies.

    A : (N, T, K, K), B : (N, T, K, V), same real dtype; returns (N, T, K, V).
    """
    B = check_array("B", B, 4, "(N, T, K, V)", dtypes=REAL)
    N, T, K, V = B.shape
    A = check_array("A", A, 4, "(N, T, K, K)", dtypes=REAL)
    check_shape("A", A, (N, T, K, K), "(N, T, K, K)")
    check_same_dtype("A", A, B, "B")
    if circuit is None:
        S = np.empty_like(B)
        over_copies(_mat_sequential, N, A, B, S)
        return S
    if circuit.n != T:
        raise ValueError(f"circuit: built for n={circuit.n}, but the inputs have T={T} steps")
    S = B.copy()
    over_copies(_mat_circuit, N, A.copy(), S, circuit.ptr, circuit.src, circuit.dst)
    return S


# --------------------------------------------------------------------------- delta rule


@njit(cache=True, nogil=True)
def _delta_sequential(q, k, v, beta, g, o, lo, hi):
    """S ← α (S − β k (kᵀ S)) + β k vᵀ, o = Sᵀ q, per (batch, head) in [lo, hi); α = exp(g)."""
    Bn, T, H, K = q.shape
    V = v.shape[3]
    for bh in range(lo, hi):
        b = bh // H
        h = bh % H
        S = np.zeros((K, V), dtype=q.dtype)
        u = np.empty(V, dtype=q.dtype)
        vt = np.empty(V, dtype=q.dtype)
        ot = np.empty(V, dtype=q.dtype)
        for t in range(T):
            alpha = np.exp(g[b, t, h])
            bt = beta[b, t, h]
            # Loops run over j (a row of S) innermost, through local vectors: contiguous, free
            # of reductions and of possible aliasing with the outputs, so they vectorise.
            for j in range(V):
                vt[j] = v[b, t, h, j]
                u[j] = 0.0
                ot[j] = 0.0
            for i in range(K):
                ki = k[b, t, h, i]
                Si = S[i]
                for j in range(V):
                    u[j] += ki * Si[j]
            for i in range(K):  # update the row and fold it into the output in one pass
                ki = bt * k[b, t, h, i]
                qi = q[b, t, h, i]
                Si = S[i]
                for j in range(V):
                    x = alpha * (Si[j] - ki * u[j]) + ki * vt[j]
                    Si[j] = x
                    ot[j] += x * qi
            for j in range(V):
                o[b, t, h, j] = ot[j]


@njit(cache=True, nogil=True)
def _delta_chunked(q, k, v, beta, g, o, C, lo, hi):
    """WY/UT chunked delta rule (with optional scalar gate) for the (batch, head) pairs in
    [lo, hi).

    Chunks are computed in float64 whatever the input dtype (accumulate wide, store narrow),
    in plain loops (see ssd.py); the outputs and the state passing are SSD's, with the state
    corrections Δ in place of the values.
    """
    Bn, T, H, K = q.shape
    V = v.shape[3]
    Qc = np.empty((C, K))
    Kc = np.empty((C, K))
    D = np.empty((C, V))
    KK = np.empty((C, C))
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
                for i in range(t):
                    s = 0.0
                    for x in range(K):
                        s += Kc[t, x] * Kc[i, x]
                    KK[t, i] = s
            # forward substitution: Δ_t = β_t (v_t − Γ_t S_0ᵀ k_t − Σ_{i<t} e^{γ_t−γ_i} (k_iᵀk_t) Δ_i)
            for t in range(n):
                state_read(Kc, t, S, row)
                et = np.exp(gam[t])
                for j in range(V):
                    row[j] = v[b, t0 + t, h, j] - et * row[j]
                for i in range(t):
                    c = np.exp(gam[t] - gam[i]) * KK[t, i]
                    for j in range(V):
                        row[j] -= c * D[i, j]
                bt = beta[b, t0 + t, h]
                for j in range(V):
                    D[t, j] = bt * row[j]
            chunk_outputs(Qc, Kc, D, gam, n, S, o, b, t0, h, row)
            pass_state(Kc, D, gam, n, S)


@njit(cache=True, nogil=True)
def _dplr_chunked(q, w, a, bb, k, v, o, C, lo, hi):
    """The chunked DPLR recurrence ``S_t = (diag(w_t) + a_t b_tᵀ) S_{t−1} + k_t v_tᵀ`` for the
    (batch, head) pairs in [lo, hi) (see the module's doc), in float64 whatever the input dtype.
    ``rat[s, t]`` is Π_{u=s+1..t} w_u (1 at t = s), ``g0[t]`` Π_{u≤t} w_u, both within the chunk."""
    Bn, T, H, K = q.shape
    V = v.shape[3]
    rat = np.empty((C, C, K))
    g0 = np.empty((C, K))
    Y = np.empty((C, V))
    row = np.empty(V)
    new = np.empty((K, V))
    for bh in range(lo, hi):
        b = bh // H
        h = bh % H
        S = np.zeros((K, V))
        for t0 in range(0, T, C):
            n = min(C, T - t0)
            for s in range(n):
                for i in range(K):
                    rat[s, s, i] = 1.0
                for t in range(s + 1, n):
                    for i in range(K):
                        rat[s, t, i] = rat[s, t - 1, i] * w[b, t0 + t, h, i]
            for i in range(K):
                g0[0, i] = w[b, t0, h, i]
            for t in range(1, n):
                for i in range(K):
                    g0[t, i] = g0[t - 1, i] * w[b, t0 + t, h, i]
            # y_s = S_{s-1}ᵀ b_s: forward substitution through the chunk
            for s in range(n):
                for j in range(V):
                    row[j] = 0.0
                for i in range(K):
                    c = (g0[s - 1, i] if s > 0 else 1.0) * bb[b, t0 + s, h, i]
                    for j in range(V):
                        row[j] += c * S[i, j]
                for r in range(s):
                    lab = 0.0
                    lkb = 0.0
                    for i in range(K):
                        f = bb[b, t0 + s, h, i] * rat[r, s - 1, i]
                        lab += a[b, t0 + r, h, i] * f
                        lkb += k[b, t0 + r, h, i] * f
                    for j in range(V):
                        row[j] += lab * Y[r, j] + lkb * v[b, t0 + r, h, j]
                for j in range(V):
                    Y[s, j] = row[j]
            # o_t = S_tᵀ q_t = (Γ_t q_t)ᵀ S_0 + Σ_{s≤t} (a_s ⊙ q_t ⊙ Γ_t/Γ_s)·1 y_s + (k_s ⊙ …)·1 v_s
            for t in range(n):
                for j in range(V):
                    row[j] = 0.0
                for i in range(K):
                    c = g0[t, i] * q[b, t0 + t, h, i]
                    for j in range(V):
                        row[j] += c * S[i, j]
                for s in range(t + 1):
                    paq = 0.0
                    pkq = 0.0
                    for i in range(K):
                        f = q[b, t0 + t, h, i] * rat[s, t, i]
                        paq += a[b, t0 + s, h, i] * f
                        pkq += k[b, t0 + s, h, i] * f
                    for j in range(V):
                        row[j] += paq * Y[s, j] + pkq * v[b, t0 + s, h, j]
                for j in range(V):
                    o[b, t0 + t, h, j] = row[j]
            # the chunk's last state: Γ_n S_0 + Σ_s (Γ_n/Γ_s) (a_s y_sᵀ + k_s v_sᵀ)
            for i in range(K):
                for j in range(V):
                    new[i, j] = g0[n - 1, i] * S[i, j]
            for s in range(n):
                for i in range(K):
                    fa = rat[s, n - 1, i] * a[b, t0 + s, h, i]
                    fk = rat[s, n - 1, i] * k[b, t0 + s, h, i]
                    for j in range(V):
                        new[i, j] += fa * Y[s, j] + fk * v[b, t0 + s, h, j]
            for i in range(K):
                for j in range(V):
                    S[i, j] = new[i, j]


def _check_qkv(q, k, v, beta, g):
    if g is None:
        q, k, v, beta = check_heads(q, k, v, beta=beta)
        return q, k, v, beta, np.zeros(beta.shape, dtype=q.dtype)
    q, k, v, beta, g = check_heads(q, k, v, beta=beta, g=g)
    check_log_decays(g)
    return q, k, v, beta, g


def delta_rule(q: np.ndarray, k: np.ndarray, v: np.ndarray, beta: np.ndarray,
               algorithm: str = "sequential", chunk: int = 64, g: np.ndarray | None = None) -> np.ndarray:
    """The (gated) delta rule: ``S_t = α_t (S_{t-1} − β_t k_t (k_tᵀ S_{t-1})) + β_t k_t v_tᵀ``.

    Parameters
    ----------
    q, k : (B, T, H, K);  v : (B, T, H, V);  beta : (B, T, H);  float32 or float64
    algorithm : ``"sequential"``, ``"chunked"`` (WY/UT form, chunks of ``chunk``), or a
        prefix-circuit name (dense-element circuit over the K×K transitions)
    g : optional (B, T, H) log-decays ≤ 0 for Gated DeltaNet (α_t = exp(g_t)); None is DeltaNet

    Returns
    -------
    o : (B, T, H, V) with ``o_t = S_tᵀ q_t``
    """
    q, k, v, beta, g = _check_qkv(q, k, v, beta, g)
    o = np.empty(v.shape, dtype=q.dtype)
    if algorithm == "sequential":
        over_copies(_delta_sequential, q.shape[0] * q.shape[2], q, k, v, beta, g, o)
        return o
    if algorithm == "chunked":
        chunk = min(check_int("chunk", chunk), q.shape[1])
        over_copies(_delta_chunked, q.shape[0] * q.shape[2], q, k, v, beta, g, o, chunk)
        return o
    if algorithm in CIRCUITS:
        Bn, T, H, K = q.shape
        eye = np.eye(K, dtype=q.dtype)
        kk = np.einsum("bthi,bthj->bthij", k, k)
        A = np.exp(g)[..., None, None] * (eye - beta[..., None, None] * kk)
        Bm = np.einsum("bth,bthi,bthj->bthij", beta, k, v)
        return _readout(A, Bm, q, prefix_circuit(algorithm, T))
    raise ValueError(f"algorithm: expected 'sequential', 'chunked' or one of {', '.join(CIRCUITS)}, "
                     f"got {algorithm!r}")


def _readout(A, Bm, q, circuit):
    """Scan (B, T, H, K, ·) transitions as (B·H) copies and return o_t = S_tᵀ q_t."""
    Bn, T, H, K = q.shape
    V = Bm.shape[-1]
    A = np.ascontiguousarray(A.transpose(0, 2, 1, 3, 4).reshape(Bn * H, T, K, K))
    Bm = np.ascontiguousarray(Bm.transpose(0, 2, 1, 3, 4).reshape(Bn * H, T, K, V))
    S = matrix_state_scan(A, Bm, None if circuit.name == "sequential" else circuit)
    S = S.reshape(Bn, H, T, K, V).transpose(0, 2, 1, 3, 4)
    return np.einsum("bthkv,bthk->bthv", S, q)


def dplr_scan(q, w, a, b, k, v, algorithm: str = "sequential", chunk: int = 64) -> np.ndarray:
    """RWKV-7-style diagonal-plus-rank-1 recurrence ``S_t = (diag(w_t) + a_t b_tᵀ) S_{t-1} + k_t v_tᵀ``.

    q, w, a, b, k : (B, T, H, K);  v : (B, T, H, V).  ``algorithm`` is ``"sequential"``,
    ``"chunked"`` (the matmul form in chunks of ``chunk``: see the module's doc) or a
    prefix-circuit name (dense-element combines).  Returns o (B, T, H, V) with ``o_t = S_tᵀ q_t``.
    """
    q = check_array("q", q, 4, "(B, T, H, K)", dtypes=REAL)
    for name, x in (("w", w), ("a", a), ("b", b), ("k", k)):
        x = check_array(name, x, 4, "(B, T, H, K)", dtypes=REAL)
        check_shape(name, x, q.shape, "(B, T, H, K)")
        check_same_dtype(name, x, q, "q")
    v = check_array("v", v, 4, "(B, T, H, V)", dtypes=REAL)
    if v.shape[:3] != q.shape[:3]:
        raise ValueError(f"v: expected shape (B, T, H, V) with (B, T, H) = {q.shape[:3]}, got {v.shape}")
    if algorithm == "chunked":
        chunk = min(check_int("chunk", chunk), q.shape[1])
        o = np.empty(v.shape, dtype=q.dtype)
        over_copies(_dplr_chunked, q.shape[0] * q.shape[2], q, w, a, b, k, v, o, chunk)
        return o
    if algorithm not in CIRCUITS:
        raise ValueError(f"algorithm: expected 'chunked' or one of {', '.join(CIRCUITS)}, got {algorithm!r}")
    A = np.einsum("bthi,ij->bthij", w, np.eye(q.shape[3], dtype=q.dtype)) + np.einsum("bthi,bthj->bthij", a, b)
    Bm = np.einsum("bthi,bthj->bthij", k, v)
    return _readout(A, Bm, q, prefix_circuit(algorithm, q.shape[1]))


def delta_product(q, k, v, beta, algorithm: str = "sequential", chunk: int = 64) -> np.ndarray:
    """DeltaProduct (arXiv 2502.10297): n_h delta-rule (Householder) steps per token.

    q : (B, T, H, K);  k : (B, T, n_h, H, K);  v : (B, T, n_h, H, V);  beta : (B, T, n_h, H).
    Runs the delta rule over the T·n_h interleaved micro-steps and reads the output after the
    last micro-step of each token, as the paper's implementation does.  Returns (B, T, H, V).
    """
    q = check_array("q", q, 4, "(B, T, H, K)", dtypes=REAL)
    Bn, T, H, K = q.shape
    k = check_array("k", k, 5, "(B, T, n_h, H, K)", dtypes=REAL)
    nh = k.shape[2]
    check_shape("k", k, (Bn, T, nh, H, K), "(B, T, n_h, H, K)")
    v = check_array("v", v, 5, "(B, T, n_h, H, V)", dtypes=REAL)
    if v.shape[:4] != (Bn, T, nh, H):
        raise ValueError(f"v: expected shape (B, T, n_h, H, V) with leading {(Bn, T, nh, H)}, got {v.shape}")
    beta = check_array("beta", beta, 4, "(B, T, n_h, H)", dtypes=REAL)
    check_shape("beta", beta, (Bn, T, nh, H), "(B, T, n_h, H)")
    qx = np.zeros((Bn, T, nh, H, K), dtype=q.dtype)
    qx[:, :, -1] = q
    o = delta_rule(qx.reshape(Bn, T * nh, H, K), k.reshape(Bn, T * nh, H, K),
                   v.reshape(Bn, T * nh, H, -1), beta.reshape(Bn, T * nh, H), algorithm, chunk)
    return o.reshape(Bn, T, nh, H, -1)[:, :, -1]
