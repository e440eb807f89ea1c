"""Accuracy of every parallel form against its sequential oracle: max-abs error and RMSE ratio
‖x − y‖ / ‖y‖ at T = 1, a prime T = 97 and T = 100 003 (T = 4099 for attention, whose oracle is
quadratic), float32 and float64.  Random inputs in each family's stable range."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from workloads.circuits import prefix_circuit  # noqa: E402
from workloads.kernels import (attention, delta_rule, diagonal_scan_chunked, init_params,  # noqa: E402
                               linear_scan, permutation_diagonal_scan, rnn, ssd)


def errors(x, ref):
    diff = np.asarray(x, np.complex128) - np.asarray(ref, np.complex128)
    return np.abs(diff).max(), np.linalg.norm(diff) / max(np.linalg.norm(ref), 1e-300)


def cases(T, dtype, rng):
    """(form, oracle, candidate) triples at length T."""
    a = rng.uniform(0.99, 1.0, (T, 8)).astype(dtype)  # slow decay: carries cross chunks
    b = rng.normal(size=(T, 8)).astype(dtype)
    ac = (a * np.exp(1j * rng.uniform(-3, 3, (T, 8)))).astype(np.complex64 if dtype == np.float32 else np.complex128)
    yield "diagonal · kogge-stone", lambda: linear_scan(a, b), lambda: linear_scan(a, b, prefix_circuit("kogge-stone", T))
    yield "diagonal · brent-kung", lambda: linear_scan(a, b), lambda: linear_scan(a, b, prefix_circuit("brent-kung", T))
    yield "diagonal · chunked (threads)", lambda: linear_scan(a, b), lambda: diagonal_scan_chunked(a, b, 1024)
    yield "complex diagonal · sklansky", (lambda: linear_scan(ac, ac.real.astype(ac.dtype) * 0 + b.astype(ac.dtype))), \
        (lambda: linear_scan(ac, b.astype(ac.dtype), prefix_circuit("sklansky", T)))
    A = (rng.normal(size=(T, 3, 3)) / 4).astype(dtype)
    yield "dense 3×3 · brent-kung", lambda: linear_scan(A, b[:, :3].copy()), \
        lambda: linear_scan(A, b[:, :3].copy(), prefix_circuit("brent-kung", T))
    perm = np.argsort(rng.random((T, 5)), axis=1)
    diag = rng.uniform(-1, 1, (T, 5)).astype(dtype)
    yield "permutation-diagonal · ladner-fischer", lambda: permutation_diagonal_scan(perm, diag, b[:, :5].copy()), \
        lambda: permutation_diagonal_scan(perm, diag, b[:, :5].copy(), prefix_circuit("ladner-fischer", T))
    q, k = rng.normal(size=(2, 1, T, 2, 8))
    k /= np.linalg.norm(k, axis=-1, keepdims=True)
    v = rng.normal(size=(1, T, 2, 8))
    beta = rng.uniform(0, 2, (1, T, 2))
    g = np.log(rng.uniform(0.8, 1, (1, T, 2)))
    q, k, v, beta, g = (x.astype(dtype) for x in (q, k, v, beta, g))
    yield "DeltaNet · chunked WY", lambda: delta_rule(q, k, v, beta), lambda: delta_rule(q, k, v, beta, "chunked")
    yield "Gated DeltaNet · chunked WY", lambda: delta_rule(q, k, v, beta, g=g), \
        lambda: delta_rule(q, k, v, beta, "chunked", g=g)
    if T <= 1000:
        yield "DeltaNet · kogge-stone", lambda: delta_rule(q, k, v, beta), lambda: delta_rule(q, k, v, beta, "kogge-stone")
    yield "SSD · chunked", lambda: ssd(q, k, v, g), lambda: ssd(q, k, v, g, "chunked")
    p = init_params("gru", 8, 4, seed=1)
    x = rng.normal(size=(T, 4)).astype(dtype)
    yield "GRU · DEER", lambda: rnn("gru", p, x)[0], lambda: rnn("gru", p, x, "deer")[0]
    yield "GRU · quasi-DEER", lambda: rnn("gru", p, x)[0], lambda: rnn("gru", p, x, "quasi-deer")[0]
    Ta = min(T, 4099)
    qa, ka, va = (rng.normal(size=(1, Ta, 2, 16)).astype(dtype) for _ in range(3))
    yield f"attention · blocked (T={Ta})", lambda: attention(qa, ka, va), lambda: attention(qa, ka, va, "blocked")


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    print(f"{'form':42s} {'T':>7s} {'dtype':8s} {'max-abs':>10s} {'RMSE ratio':>11s}")
    for T in (1, 97, 100_003):
        for dtype in (np.float32, np.float64):
            for name, oracle, form in cases(T, dtype, rng):
                max_abs, ratio = errors(form(), oracle())
                print(f"{name:42s} {T:7d} {np.dtype(dtype).name:8s} {max_abs:10.2e} {ratio:11.2e}")
