"""The nonlinear RNN kernels (Elman, GRU, LSTM) against a plain-NumPy twin: the sequential
recurrence, DEER's and quasi-DEER's Newton iterations, long sequences and bad input.

Errors are absolute differences against the sequential kernel and the twin."""

import numpy as np
import pytest

from workloads.circuits import prefix_circuit
from workloads.kernels import init_params, rnn


def rnn_python(cell, p, x):
    """Plain-numpy twin of the three cells."""
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    d = p["W"].shape[1]
    h, c = np.zeros(d), np.zeros(d)
    out = []
    for xt in x:
        if cell == "elman":
            h = np.tanh(p["W"] @ h + p["U"] @ xt + p["b"])
        elif cell == "gru":
            gi, gh = p["U"] @ xt + p["b"], p["W"] @ h
            z, r = sig(gi[:d] + gh[:d]), sig(gi[d:2 * d] + gh[d:2 * d])
            n = np.tanh(gi[2 * d:] + r * (gh[2 * d:] + p["c"]))
            h = (1 - z) * n + z * h
        else:
            a = p["W"] @ h + p["U"] @ xt + p["b"]
            i, f, g, o = sig(a[:d]), sig(a[d:2 * d]), np.tanh(a[2 * d:3 * d]), sig(a[3 * d:])
            c = f * c + i * g
            h = o * np.tanh(c)
        out.append(h)
    return np.array(out)


@pytest.mark.parametrize("cell", ["elman", "gru", "lstm"])
@pytest.mark.parametrize("T", [1, 97, 2048])
def test_rnn_newton_forms_converge_to_the_sequential_oracle(cell, T):
    rng = np.random.default_rng(9)
    p = init_params(cell, 6, 3, seed=1)
    x = rng.normal(size=(T, 3))
    ref, one = rnn(cell, p, x)
    assert one == 1
    if T <= 97:
        assert np.abs(ref - rnn_python(cell, p, x)).max() < 1e-13
    for algorithm in ("deer", "quasi-deer"):
        h, iterations = rnn(cell, p, x, algorithm)
        assert np.abs(h - ref).max() < 1e-9
        assert 1 <= iterations <= T + 1
    h, iterations = rnn(cell, p, x.astype(np.float32), "deer",
                        circuit=prefix_circuit("kogge-stone", T))
    assert np.abs(h - rnn(cell, p, x.astype(np.float32))[0]).max() < 1e-9
    if T == 2048:
        assert iterations <= 10  # Newton: a handful of iterations, not T


def test_rnn_bad_input():
    p = init_params("gru", 4, 2)
    with pytest.raises(ValueError, match="cell: expected one of elman, gru, lstm"):
        rnn("transformer", p, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"params\['U'\]: expected shape \(gates·d, n_in\) = \(12, 3\)"):
        rnn("gru", p, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="x: contains NaN"):
        rnn("gru", p, np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="no convergence"):
        rnn("gru", p, np.ones((50, 2)), "quasi-deer", max_iterations=2)


def test_long_sequence_newton():
    T = 100_003
    rng = np.random.default_rng(13)
    p = init_params("gru", 4, 2, seed=2)
    x = rng.normal(size=(T, 2))
    ref, _ = rnn("gru", p, x)
    for algorithm in ("deer", "quasi-deer"):
        h, iterations = rnn("gru", p, x, algorithm)
        assert np.abs(h - ref).max() < 1e-9 and iterations < 50
