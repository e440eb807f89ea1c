"""Nonlinear RNNs — Elman (tanh), GRU, LSTM — sequentially and by Newton iteration (DEER).

A nonlinear cell ``s_t = f(s_{t-1}, x_t)`` has no associative combine: its natural depth is T.
DEER (Lim et al., arXiv 2309.12252) linearises it around the current guess of all states and
solves the linear recurrence ``s_t = J_t s_{t-1} + (f(ŝ_{t-1}, x_t) − J_t ŝ_{t-1})`` with a
parallel scan, repeating until the states stop moving: Newton's method on the whole sequence.
Quasi-DEER (Gonzalez et al., arXiv 2407.19115) keeps only the Jacobians' diagonals, making
every iteration an O(T·d) diagonal scan.  Both are exact after at most T iterations (each
iteration makes at least one more leading step exact); how many they need is data-dependent,
which is why :func:`rnn` returns the count it measured.

Cells (state s; LSTM's state is [h, c]); σ is the logistic function:

* ``elman``: s' = tanh(W s + U x + b);  W (d, d), U (d, n), b (d)
* ``gru`` (PyTorch's form): z, r = σ(W_{z,r} s + U_{z,r} x + b_{z,r});
  n = tanh(U_n x + b_n + r ⊙ (W_n s + c)); s' = (1 − z) ⊙ n + z ⊙ s;
  W (3d, d), U (3d, n), b (3d), c (d), gate order [z, r, n]
* ``lstm``: i, f, o = σ(·), g = tanh(·) of W h + U x + b, gate order [i, f, g, o];
  c' = f ⊙ c + i ⊙ g; h' = o ⊙ tanh(c');  W (4d, d), U (4d, n), b (4d)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from workloads.kernels._checks import check_array, check_int
from workloads.kernels._threads import over_copies
from workloads.kernels.affine import linear_scan

__all__ = ["rnn", "CELLS", "init_params"]

ELMAN, GRU, LSTM = 0, 1, 2
CELLS = {"elman": ELMAN, "gru": GRU, "lstm": LSTM}
_GATES = {ELMAN: 1, GRU: 3, LSTM: 4}


@njit(cache=True)
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@njit(cache=True)
def _step(cell, W, U, b, c, s, x, out, jac, want_jac):
    """out = f(s, x); if ``want_jac``, jac = ∂f/∂s (full matrix, state-sized)."""
    d = W.shape[1]
    gi = U @ x + b  # input part of every gate
    gh = W @ s[:d]  # recurrent part
    if cell == ELMAN:
        for i in range(d):
            out[i] = np.tanh(gi[i] + gh[i])
        if want_jac:
            for i in range(d):
                for j in range(d):
                    jac[i, j] = (1.0 - out[i] ** 2) * W[i, j]
    elif cell == GRU:
        for i in range(d):
            z = _sigmoid(gi[i] + gh[i])
            r = _sigmoid(gi[d + i] + gh[d + i])
            m = gh[2 * d + i] + c[i]  # W_n s + c, the part r gates
            n = np.tanh(gi[2 * d + i] + r * m)
            out[i] = (1.0 - z) * n + z * s[i]
            if want_jac:
                dz = z * (1.0 - z)
                dr = r * (1.0 - r)
                dn = 1.0 - n * n
                for j in range(d):
                    dn_ds = dn * (m * dr * W[d + i, j] + r * W[2 * d + i, j])
                    jac[i, j] = (s[i] - n) * dz * W[i, j] + (1.0 - z) * dn_ds
                jac[i, i] += z
    else:  # LSTM, s = [h, c]
        for i in range(d):
            ig = _sigmoid(gi[i] + gh[i])
            fg = _sigmoid(gi[d + i] + gh[d + i])
            gg = np.tanh(gi[2 * d + i] + gh[2 * d + i])
            og = _sigmoid(gi[3 * d + i] + gh[3 * d + i])
            cn = fg * s[d + i] + ig * gg
            th = np.tanh(cn)
            out[i] = og * th
            out[d + i] = cn
            if want_jac:
                di, df, dg, do = ig * (1 - ig), fg * (1 - fg), 1 - gg * gg, og * (1 - og)
                for j in range(d):
                    dc = s[d + i] * df * W[d + i, j] + gg * di * W[i, j] + ig * dg * W[2 * d + i, j]
                    jac[d + i, j] = dc
                    jac[i, j] = th * do * W[3 * d + i, j] + og * (1 - th * th) * dc
                for j in range(d):
                    jac[d + i, d + j] = 0.0
                    jac[i, d + j] = 0.0
                jac[d + i, d + i] = fg
                jac[i, d + i] = og * (1 - th * th) * fg


@njit(cache=True)
def _sequential(cell, W, U, b, c, x, S):
    T = x.shape[0]
    n = S.shape[1]
    prev = np.zeros(n)
    jac = np.empty((1, 1))
    for t in range(T):
        _step(cell, W, U, b, c, prev, x[t], S[t], jac, False)
        prev = S[t]


@njit(cache=True, nogil=True)
def _linearise(cell, W, U, b, c, x, guess, F, J, lo, hi):
    """F[t] = f(guess[t-1], x_t) and J[t] = ∂f/∂s there, for the steps t in [lo, hi): each
    reads only the previous guess, so they run in parallel."""
    T, n = guess.shape
    for t in range(lo, hi):
        prev = np.zeros(n) if t == 0 else guess[t - 1].copy()
        _step(cell, W, U, b, c, prev, x[t], F[t], J[t], True)


def _state_size(cell: int, d: int) -> int:
    return 2 * d if cell == LSTM else d


def init_params(cell: str, d: int, n_in: int, seed: int = 0, scale: float = 1.0) -> dict:
    """Random parameters of the shapes ``cell`` needs (uniform ±scale/√d, like PyTorch)."""
    kind = _cell(cell)
    rng = np.random.default_rng(seed)
    g = _GATES[kind]
    bound = scale / np.sqrt(d)
    params = {"W": rng.uniform(-bound, bound, (g * d, d)),
              "U": rng.uniform(-bound, bound, (g * d, n_in)),
              "b": rng.uniform(-bound, bound, g * d)}
    if kind == GRU:
        params["c"] = rng.uniform(-bound, bound, d)
    return params


def _cell(cell: str) -> int:
    try:
        return CELLS[cell]
    except (KeyError, TypeError):
        raise ValueError(f"cell: expected one of {', '.join(CELLS)}, got {cell!r}") from None


def _unpack(kind: int, params: dict, n_in: int):
    if not isinstance(params, dict):
        raise ValueError(f"params: expected a dict of arrays, got {type(params).__name__}")
    want = {"W", "U", "b"} | ({"c"} if kind == GRU else set())
    if set(params) != want:
        raise ValueError(f"params: expected keys {sorted(want)}, got {sorted(params)}")
    W = check_array("params['W']", np.asarray(params["W"], np.float64), 2, "(gates·d, d)")
    g, d = _GATES[kind], W.shape[1]
    if W.shape != (g * d, d):
        raise ValueError(f"params['W']: expected shape (gates·d, d) = {(g * d, d)}, got {W.shape}")
    U = check_array("params['U']", np.asarray(params["U"], np.float64), 2, "(gates·d, n_in)")
    if U.shape != (g * d, n_in):
        raise ValueError(f"params['U']: expected shape (gates·d, n_in) = {(g * d, n_in)}, got {U.shape}")
    b = check_array("params['b']", np.asarray(params["b"], np.float64), 1, "(gates·d,)")
    if b.shape != (g * d,):
        raise ValueError(f"params['b']: expected shape {(g * d,)}, got {b.shape}")
    c = np.zeros(d)
    if kind == GRU:
        c = check_array("params['c']", np.asarray(params["c"], np.float64), 1, "(d,)")
        if c.shape != (d,):
            raise ValueError(f"params['c']: expected shape {(d,)}, got {c.shape}")
    return W, U, b, c


def rnn(cell: str, params: dict, x: np.ndarray, algorithm: str = "sequential", *,
        tol: float = 1e-10, max_iterations: int | None = None, circuit=None):
    """Run a nonlinear RNN over ``x`` (T, n_in) from a zero state, in float64.

    ``algorithm`` is ``"sequential"`` (the oracle), ``"deer"`` (Newton with dense Jacobians)
    or ``"quasi-deer"`` (diagonal Jacobians).  The Newton forms stop when no state moves by
    more than ``tol`` (after at most ``max_iterations``, default T + 1); ``circuit`` picks the
    prefix circuit of their linear scans (None: the sequential kernel, fastest on a CPU).

    Returns
    -------
    (h, iterations) : h of shape (T, d) — for an LSTM the hidden state, not the cell — and
        the number of Newton iterations (1 for ``sequential``: one pass).
    """
    kind = _cell(cell)
    x = check_array("x", np.asarray(x) if isinstance(x, np.ndarray) else x, 2, "(T, n_in)",
                    dtypes=(np.float32, np.float64)).astype(np.float64)
    T = x.shape[0]
    W, U, b, c = _unpack(kind, params, x.shape[1])
    d = W.shape[1]
    n = _state_size(kind, d)
    if algorithm == "sequential":
        S = np.empty((T, n))
        _sequential(kind, W, U, b, c, x, S)
        return S[:, :d].copy(), 1
    if algorithm not in ("deer", "quasi-deer"):
        raise ValueError(f"algorithm: expected 'sequential', 'deer' or 'quasi-deer', got {algorithm!r}")
    limit = check_int("max_iterations", T + 1 if max_iterations is None else max_iterations)
    guess = np.zeros((T, n))
    F = np.empty((T, n))
    J = np.empty((T, n, n))
    for iteration in range(1, limit + 1):
        over_copies(_linearise, T, kind, W, U, b, c, x, guess, F, J)
        prev = np.vstack([np.zeros((1, n)), guess[:-1]])
        if algorithm == "deer":
            rhs = F - np.einsum("tij,tj->ti", J, prev)
            new = linear_scan(J, rhs, circuit)
        else:
            diag = np.ascontiguousarray(np.diagonal(J, axis1=1, axis2=2))
            new = linear_scan(diag, F - diag * prev, circuit)
        moved = np.max(np.abs(new - guess))
        guess = new
        if moved <= tol:
            return guess[:, :d].copy(), iteration
    raise ValueError(f"{algorithm}: no convergence to tol={tol} in {limit} iterations "
                     f"(last change {moved:.3g}); raise max_iterations or tol")
