"""Every matrix-state, nonlinear and attention kernel against its oracle.

Errors are reported as max-abs and RMSE ratio ‖x − y‖ / ‖y‖; the bounds below are what
float64 / float32 arithmetic allows, with room for the reassociation of parallel forms.
"""

import numpy as np
import pytest

from workloads.circuits import prefix_circuit
from workloads.kernels import (attention, delta_product, delta_rule, dplr_scan, init_params,
                               matrix_state_scan, rnn, ssd)

RMSE = {np.float32: 2e-5, np.float64: 1e-11}


def rmse(x, ref):
    return float(np.linalg.norm(np.asarray(x, float) - ref) / max(np.linalg.norm(ref), 1e-300))


def qkv(T, dtype, B=1, H=2, K=6, V=5, seed=0, gated=False):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(B, T, H, K))
    k = rng.normal(size=(B, T, H, K))
    k /= np.linalg.norm(k, axis=-1, keepdims=True)  # L2-normalised keys
    v = rng.normal(size=(B, T, H, V))
    beta = rng.uniform(0.0, 2.0, (B, T, H))  # (0, 2): negative eigenvalues allowed
    g = np.log(rng.uniform(0.7, 1.0, (B, T, H))) if gated else None
    cast = (lambda x: None if x is None else x.astype(dtype))
    return cast(q), cast(k), cast(v), cast(beta), cast(g)


def delta_python(q, k, v, beta, g=None):
    """Plain-numpy twin of the delta-rule recurrence."""
    B, T, H, K = q.shape
    o = np.zeros(v.shape)
    for b in range(B):
        for h in range(H):
            S = np.zeros((K, v.shape[3]))
            for t in range(T):
                kt = k[b, t, h].astype(float)
                alpha = 1.0 if g is None else np.exp(float(g[b, t, h]))
                S = alpha * (S - beta[b, t, h] * np.outer(kt, kt @ S)) + beta[b, t, h] * np.outer(kt, v[b, t, h])
                o[b, t, h] = S.T @ q[b, t, h]
    return o


@pytest.mark.parametrize("gated", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T", [1, 97])
def test_delta_rule_forms_match_the_recurrence(T, dtype, gated):
    q, k, v, beta, g = qkv(T, dtype, gated=gated)
    ref = delta_python(q, k, v, beta, g)
    assert rmse(delta_rule(q, k, v, beta, g=g), ref) < RMSE[dtype]
    for algorithm, chunk in (("chunked", 16), ("chunked", 1), ("chunked", 200), ("kogge-stone", 0),
                             ("brent-kung", 0)):
        got = delta_rule(q, k, v, beta, algorithm, chunk=chunk or 64, g=g)
        assert got.dtype == dtype
        assert rmse(got, ref) < 5 * RMSE[dtype], (algorithm, chunk)


def test_delta_rule_long_sequence_stays_bounded_and_chunked_matches():
    T = 100_003
    q, k, v, beta, _ = qkv(T, np.float64, H=1, K=8, V=4, seed=1)
    ref = delta_rule(q, k, v, beta)
    assert np.all(np.isfinite(ref)) and np.abs(ref).max() < 100
    assert rmse(delta_rule(q, k, v, beta, "chunked", chunk=64), ref) < 1e-5
    q32, k32, v32, b32, _ = (x.astype(np.float32) for x in (q, k, v, beta, beta))
    assert rmse(delta_rule(q32, k32, v32, b32, "chunked"), ref) < 1e-4


def test_dplr_rwkv7_style_circuits_match_sequential():
    rng = np.random.default_rng(2)
    B, T, H, K, V = 1, 61, 2, 4, 3
    for dtype in (np.float32, np.float64):
        w = rng.uniform(0.5, 1.0, (B, T, H, K)).astype(dtype)
        kappa = rng.normal(size=(B, T, H, K))
        kappa /= np.linalg.norm(kappa, axis=-1, keepdims=True)
        a = (-kappa * 0.5).astype(dtype)  # diag(w) − ½ κ κᵀ, RWKV-7's removal term
        bb = kappa.astype(dtype)
        q, k = rng.normal(size=(2, B, T, H, K)).astype(dtype)
        v = rng.normal(size=(B, T, H, V)).astype(dtype)
        ref = dplr_scan(q, w, a, bb, k, v)
        for name in ("kogge-stone", "sklansky", "chunked"):
            assert rmse(dplr_scan(q, w, a, bb, k, v, name), ref) < 5 * RMSE[dtype]


def test_delta_product_with_one_householder_is_the_delta_rule_and_forms_agree():
    q, k, v, beta, _ = qkv(40, np.float64, seed=3)
    one = delta_product(q, k[:, :, None], v[:, :, None], beta[:, :, None])
    assert rmse(one, delta_rule(q, k, v, beta)) < 1e-14
    rng = np.random.default_rng(4)
    k3 = rng.normal(size=(1, 40, 3, 2, 6))
    k3 /= np.linalg.norm(k3, axis=-1, keepdims=True)
    v3, b3 = rng.normal(size=(1, 40, 3, 2, 5)), rng.uniform(0, 2, (1, 40, 3, 2))
    ref = delta_product(q, k3, v3, b3)
    assert rmse(delta_product(q, k3, v3, b3, "chunked", chunk=8), ref) < 1e-12
    # under a circuit the kernel scans the T·n_h micro-steps: what the schedule costs
    assert rmse(delta_product(q, k3, v3, b3, "brent-kung"), ref) < 1e-12
    # by hand for one token: two Householder steps then a read-out
    S = np.zeros((6, 5))
    for j in range(3):
        kj = k3[0, 0, j, 0]
        S = S - b3[0, 0, j, 0] * np.outer(kj, kj @ S) + b3[0, 0, j, 0] * np.outer(kj, v3[0, 0, j, 0])
    np.testing.assert_allclose(ref[0, 0, 0], S.T @ q[0, 0, 0], rtol=1e-12, atol=1e-12)


def test_matrix_state_scan_bad_input():
    with pytest.raises(ValueError, match=r"A: expected shape \(N, T, K, K\)"):
        matrix_state_scan(np.zeros((1, 3, 2, 3)), np.zeros((1, 3, 2, 4)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T", [1, 97, 100_003])
def test_ssd_chunked_matches_sequential(T, dtype):
    rng = np.random.default_rng(T)
    H, K, V = (1, 4, 4) if T > 1000 else (3, 8, 5)
    q, k = rng.normal(size=(2, 1, T, H, K))
    v = rng.normal(size=(1, T, H, V))
    g = np.log(rng.uniform(0.3, 1.0, (1, T, H)))
    g[0, ::7] = -80.0  # near-total forgetting: exp(γ_t − γ_i) underflows, must not NaN
    args = [x.astype(dtype) for x in (q, k, v, g)]
    ref = ssd(*args)
    got = ssd(*args, algorithm="chunked", chunk=64)
    assert np.all(np.isfinite(got))
    assert rmse(got, ref) < 5 * RMSE[dtype]


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T", [1, 97, 300])
def test_blocked_attention_matches_naive_and_numpy(T, dtype):
    rng = np.random.default_rng(T)
    q, k, v = (rng.normal(size=(2, T, 2, 8)) * s for s in (3.0, 1.0, 1.0))
    s = np.einsum("bthd,bshd->bhts", q, k) / np.sqrt(8)
    s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    ref = np.einsum("bhts,bshe->bthe", p / p.sum(-1, keepdims=True), v)
    args = [x.astype(dtype) for x in (q, k, v)]
    assert rmse(attention(*args), ref) < RMSE[dtype]
    for block in (1, 16, 64):
        assert rmse(attention(*args, algorithm="blocked", block=block), ref) < RMSE[dtype]


def test_family_bad_inputs_name_the_argument():
    q, k, v, beta, _ = qkv(5, np.float64)
    with pytest.raises(ValueError, match=r"beta: expected shape \(B, T, H\)"):
        delta_rule(q, k, v, beta[:, :4])
    with pytest.raises(ValueError, match="g: expected log-decays ≤ 0"):
        delta_rule(q, k, v, beta, g=np.ones_like(beta))
    with pytest.raises(ValueError, match="chunk: expected an integer ≥ 1"):
        delta_rule(q, k, v, beta, "chunked", chunk=0)
    with pytest.raises(ValueError, match="algorithm: expected"):
        delta_rule(q, k, v, beta, "magic")
    with pytest.raises(ValueError, match="k: expected dtype float64"):
        delta_rule(q, k.astype(np.float32), v, beta)
    with pytest.raises(ValueError, match="v: contains NaN"):
        ssd(q, k, np.full_like(v, np.nan), np.zeros_like(beta))
    with pytest.raises(ValueError, match=r"v: expected shape \(B, T, H, E\)"):
        attention(q, k, v[:, :3])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_sequences_for_every_circuit_family(dtype):
    """T ≥ 10^5 for the dense, permutation-diagonal and matrix-state circuit forms."""
    from workloads.kernels import linear_scan, permutation_diagonal_scan

    T = 100_003
    rng = np.random.default_rng(11)
    c = prefix_circuit("brent-kung", T)
    A = (rng.normal(size=(T, 2, 2)) / 3).astype(dtype)
    b = rng.normal(size=(T, 2)).astype(dtype)
    assert rmse(linear_scan(A, b, c), linear_scan(A, b).astype(float)) < 10 * RMSE[dtype]
    perm = np.array([rng.permutation(3) for _ in range(T)])
    diag = rng.uniform(-1, 1, (T, 3)).astype(dtype)
    b3 = rng.normal(size=(T, 3)).astype(dtype)
    ref = permutation_diagonal_scan(perm, diag, b3).astype(float)
    assert rmse(permutation_diagonal_scan(perm, diag, b3, c), ref) < 10 * RMSE[dtype]
    q, k, v, beta, _ = qkv(T, dtype, H=1, K=2, V=2, seed=12)
    ref = delta_rule(q, k, v, beta).astype(float)
    assert rmse(delta_rule(q, k, v, beta, "brent-kung"), ref) < 10 * RMSE[dtype]


def test_long_sequence_newton():
    T = 100_003
    rng = np.random.default_rng(13)
    p = init_params("gru", 4, 2, seed=2)
    x = rng.normal(size=(T, 2))
    ref, _ = rnn("gru", p, x)
    for algorithm in ("deer", "quasi-deer"):
        h, iterations = rnn("gru", p, x, algorithm)
        assert np.abs(h - ref).max() < 1e-9 and iterations < 50


def _gla_inputs(rng, T, H, K, V, dtype):
    q, k = rng.normal(size=(2, 1, T, H, K))
    v = rng.normal(size=(1, T, H, V))
    g = np.log(rng.uniform(0.3, 1.0, (1, T, H, K)))
    g[0, ::7, :, ::2] = -80.0  # some channels forget almost everything: exp(b_t − b_s) underflows
    return [x.astype(dtype) for x in (q, k, v, g)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T", [1, 97, 20_011])
def test_gla_chunked_matches_sequential(T, dtype):
    from workloads.kernels import gla

    rng = np.random.default_rng(T)
    H, K, V = (1, 4, 4) if T > 1000 else (3, 8, 5)
    args = _gla_inputs(rng, T, H, K, V, dtype)
    ref = gla(*args)
    got = gla(*args, algorithm="chunked", chunk=64)
    assert np.all(np.isfinite(got))
    assert rmse(got, ref) < 5 * RMSE[dtype]


def test_gla_sequential_is_the_matrix_state_recurrence_with_a_diagonal_transition():
    """The oracle checked against an independent one: the generic affine matrix-state scan
    with A_t = diag(α_t), read out as o_t = S_tᵀ q_t; and with all channels' gates equal,
    GLA is the scalar-decay SSD."""
    from workloads.kernels import gla

    rng = np.random.default_rng(3)
    T, H, K, V = 33, 2, 4, 3
    q, k, v, g = _gla_inputs(rng, T, H, K, V, np.float64)
    A = np.zeros((H, T, K, K))
    for h in range(H):
        for t in range(T):
            A[h, t] = np.diag(np.exp(g[0, t, h]))
    B = np.einsum("thk,thv->htkv", k[0], v[0])
    S = matrix_state_scan(A, B)
    expected = np.einsum("htkv,thk->thv", S, q[0])[None]
    np.testing.assert_allclose(gla(q, k, v, g), expected, atol=1e-12)
    scalar = np.repeat(g[..., :1], K, axis=3)
    np.testing.assert_allclose(gla(q, k, v, scalar, "chunked", chunk=8), ssd(q, k, v, g[..., 0].copy()),
                               atol=1e-10)
    with pytest.raises(ValueError, match="g: expected log-decays"):
        gla(q, k, v, -g)
    with pytest.raises(ValueError, match="g: expected shape"):
        gla(q, k, v, g[..., 0])


def _mlstm_python(q, k, v, i, f):
    """Plain-numpy twin of the mLSTM cell as the paper writes it: no stabiliser."""
    B, T, H, K = q.shape
    o = np.zeros(v.shape)
    for b in range(B):
        for h in range(H):
            S, n = np.zeros((K, v.shape[3])), np.zeros(K)
            for t in range(T):
                forget, gate = 1 / (1 + np.exp(-f[b, t, h])), np.exp(i[b, t, h])
                S = forget * S + gate * np.outer(k[b, t, h], v[b, t, h])
                n = forget * n + gate * k[b, t, h]
                o[b, t, h] = S.T @ q[b, t, h] / max(abs(n @ q[b, t, h]), 1.0)
    return o


def _mlstm_inputs(rng, T, dtype, extreme=False, H=2, K=6, V=5):
    q, k = rng.normal(size=(2, 1, T, H, K))
    v = rng.normal(size=(1, T, H, V))
    if extreme:  # exp(i) overflows float64 unstabilised; forget gates of e^-100 and 1 − e^-100
        i, f = rng.uniform(-1000, 1000, (1, T, H)), rng.uniform(-100, 100, (1, T, H))
    else:
        i, f = rng.normal(size=(1, T, H)), rng.normal(2.0, 1.0, (1, T, H))
    return [x.astype(dtype) for x in (q, k, v, i, f)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T", [1, 97])
def test_mlstm_forms_match_the_unstabilised_cell(T, dtype):
    from workloads.kernels import mlstm

    args = _mlstm_inputs(np.random.default_rng(T), T, dtype)
    ref = _mlstm_python(*[x.astype(float) for x in args])
    for got in (mlstm(*args), mlstm(*args, algorithm="chunked", chunk=16)):
        assert got.dtype == dtype and rmse(got, ref) < 10 * RMSE[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlstm_stabiliser_keeps_extreme_gates_finite_and_forms_agree(dtype):
    from workloads.kernels import mlstm

    args = _mlstm_inputs(np.random.default_rng(5), 300, dtype, extreme=True)
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.exp(args[3].astype(float))).all()  # the unstabilised gate overflows
    seq, chunked = mlstm(*args), mlstm(*args, algorithm="chunked", chunk=64)
    assert np.isfinite(seq).all() and np.isfinite(chunked).all()
    assert rmse(chunked, seq) < 20 * RMSE[dtype]


def test_mlstm_bad_input_names_the_argument():
    from workloads.kernels import mlstm

    q, k, v, i, f = _mlstm_inputs(np.random.default_rng(0), 8, np.float64)
    with pytest.raises(ValueError, match="f: expected shape"):
        mlstm(q, k, v, i, f[..., None])
    bad = i.copy()
    bad[0, 3, 1] = np.nan
    with pytest.raises(ValueError, match="i: contains NaN"):
        mlstm(q, k, v, bad, f)
    with pytest.raises(ValueError, match="algorithm"):
        mlstm(q, k, v, i, f, algorithm="parallel")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T", [1, 97, 300])
def test_long_conv_transforms_match_the_direct_sum_and_numpy(T, dtype):
    from workloads.kernels import long_conv

    rng = np.random.default_rng(T)
    u = rng.normal(size=(2, 3, T)).astype(dtype)
    # filters from slowly to extremely decaying: the last channel's underflows after a few steps
    h = (rng.normal(size=(3, T)) * np.exp(-np.outer([1e-3, 0.1, 50.0], np.arange(T)))).astype(dtype)
    ref = np.array([[np.convolve(u[b, d].astype(float), h[d].astype(float))[:T] for d in range(3)]
                    for b in range(2)])
    for algorithm in ("direct", "fft", "monarch"):
        got = long_conv(u, h, algorithm)
        assert got.dtype == dtype and got.shape == u.shape
        assert rmse(got, ref) < (1e-6 if dtype == np.float32 else 1e-14), algorithm


def test_transform_circuits_are_flashfftconvs_and_bad_input_is_named():
    from workloads.kernels import long_conv
    from workloads.transforms import fft_size, radices

    assert radices("monarch", 4096) == (16, 16, 16) and radices("monarch", 8192) == (32, 16, 16)
    assert radices("monarch", 32768) == (32, 32, 32) and radices("fft", 16) == (2, 2, 2, 2)
    for bits in range(1, 23):
        levels = radices("monarch", 1 << bits)
        assert np.prod(levels) == 1 << bits and max(levels) <= 32 and len(levels) == -(-bits // 5)
    assert [fft_size(T) for T in (1, 2, 3, 1024, 1025)] == [2, 4, 8, 2048, 4096]
    u, h = np.ones((1, 2, 5)), np.ones((2, 5))
    with pytest.raises(ValueError, match=r"h: expected shape \(D, T\)"):
        long_conv(u, h[:1])
    with pytest.raises(ValueError, match="h: expected dtype float64"):
        long_conv(u, h.astype(np.float32))
    with pytest.raises(ValueError, match="algorithm"):
        long_conv(u, h, "winograd")
