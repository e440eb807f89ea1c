"""The gated matrix-state scans against their oracles: SSD (a scalar decay), GLA (a decay per
key channel) and xLSTM's mLSTM (a normaliser and a stabilised exponential input gate)."""

import numpy as np
import pytest

from tests.oracles import RMSE, rmse
from workloads.kernels import gla, matrix_state_scan, mlstm, ssd


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


def _gla_inputs(rng, T, H, K, V, dtype):
    q, k = rng.normal(size=(2, 1, T, H, K))
    v = rng.normal(size=(1, T, H, V))
    g = np.log(rng.uniform(0.3, 1.0, (1, T, H, K)))
    g[0, ::7, :, ::2] = -80.0  # some channels forget almost everything: exp(b_t − b_s) underflows
    return [x.astype(dtype) for x in (q, k, v, g)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T", [1, 97, 20_011])
def test_gla_chunked_matches_sequential(T, dtype):
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
    args = _mlstm_inputs(np.random.default_rng(T), T, dtype)
    ref = _mlstm_python(*[x.astype(float) for x in args])
    for got in (mlstm(*args), mlstm(*args, algorithm="chunked", chunk=16)):
        assert got.dtype == dtype and rmse(got, ref) < 10 * RMSE[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlstm_stabiliser_keeps_extreme_gates_finite_and_forms_agree(dtype):
    args = _mlstm_inputs(np.random.default_rng(5), 300, dtype, extreme=True)
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.exp(args[3].astype(float))).all()  # the unstabilised gate overflows
    seq, chunked = mlstm(*args), mlstm(*args, algorithm="chunked", chunk=64)
    assert np.isfinite(seq).all() and np.isfinite(chunked).all()
    assert rmse(chunked, seq) < 20 * RMSE[dtype]


def test_mlstm_bad_input_names_the_argument():
    q, k, v, i, f = _mlstm_inputs(np.random.default_rng(0), 8, np.float64)
    with pytest.raises(ValueError, match="f: expected shape"):
        mlstm(q, k, v, i, f[..., None])
    bad = i.copy()
    bad[0, 3, 1] = np.nan
    with pytest.raises(ValueError, match="i: contains NaN"):
        mlstm(q, k, v, bad, f)
    with pytest.raises(ValueError, match="algorithm"):
        mlstm(q, k, v, i, f, algorithm="parallel")

