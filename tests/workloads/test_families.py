"""The delta-rule and DPLR kernels against their oracles (the gated scans are in
test_gated_scans.py, the nonlinear RNNs in test_nonlinear_rnns.py, attention and long
convolutions in test_attention_and_convolution.py: their Numba compilation spreads over the
test workers).

Errors are RMSE ratios against the oracle (tests/oracles.py)."""

import numpy as np
import pytest

from workloads.circuits import prefix_circuit
from workloads.kernels import (attention, delta_product, delta_rule, dplr_scan,
                               matrix_state_scan, ssd)

from tests.oracles import RMSE, rmse


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


def _dplr_inputs(rng, B, T, H, K, V, dtype, w_range=(0.5, 1.0)):
    """q, w, a, b, k, v of an RWKV-7-style step: a = −½κ, b = κ (diag(w) − ½ κ κᵀ, its removal term)."""
    w = rng.uniform(*w_range, (B, T, H, K)).astype(dtype)
    kappa = rng.normal(size=(B, T, H, K))
    kappa /= np.linalg.norm(kappa, axis=-1, keepdims=True)
    q, k = rng.normal(size=(2, B, T, H, K)).astype(dtype)
    v = rng.normal(size=(B, T, H, V)).astype(dtype)
    return q, w, (-kappa * 0.5).astype(dtype), kappa.astype(dtype), k, v


def test_dplr_rwkv7_style_circuits_match_sequential():
    rng = np.random.default_rng(2)
    for dtype in (np.float32, np.float64):
        args = _dplr_inputs(rng, 1, 61, 2, 4, 3, dtype)
        ref = dplr_scan(*args)
        for name in ("kogge-stone", "sklansky", "chunked"):
            assert rmse(dplr_scan(*args, name), ref) < 5 * RMSE[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T,chunk", [(1, 64), (61, 16), (97, 1), (200, 64), (130, 7)])
def test_dplr_chunked_matmul_form_matches_the_sequential_recurrence(T, chunk, dtype):
    """RWKV-7's chunked form (the reads y = Sᵀb solved per chunk, then matmuls) against the
    recurrence, at T = 1, odd T, a chunk of one step, a chunk longer than T."""
    args = _dplr_inputs(np.random.default_rng(T + chunk), 2, T, 3, 5, 4, dtype)
    ref = dplr_scan(*args)
    out = dplr_scan(*args, "chunked", chunk=chunk)
    assert out.dtype == dtype and rmse(out, ref) < 5 * RMSE[dtype]


def test_dplr_chunked_is_exact_at_extreme_gates():
    """w = 0 forgets everything every step (a decay ratio of zero is a product, never a
    quotient), w = 1 forgets nothing."""
    rng = np.random.default_rng(5)
    for gate in (0.0, 1.0):
        args = _dplr_inputs(rng, 1, 97, 2, 4, 3, np.float64, (gate, gate))
        ref = dplr_scan(*args)
        assert np.all(np.isfinite(ref))
        assert rmse(dplr_scan(*args, "chunked", chunk=8), ref) < 1e-13
    with pytest.raises(ValueError, match="chunk"):
        dplr_scan(*args, "chunked", chunk=0)


def test_rwkv7_chunked_costs_the_matmul_form_not_dense_elements():
    """At B = 8, T = 4,096, 32 heads of 64 the chunked training step was the dense-element
    circuit (3.8 TFLOP, 222 GB); as FLA's chunk_dplr form it is per chunk C²K/2 decay ratios,
    four masked C²/2 × K products, the solves (C²K, 2C²V), 6CKV in the state passing and
    2CKV + 2C²V in the output — a few hundred GFLOP."""
    from workloads.catalog import get_workload
    from workloads.dispatch import schedule

    w = get_workload("rwkv7-1.5b").with_params(batch=8, seq_len=4096, heads=32, state=64, value=64)
    C, K, V, N, n = 64, 64, 64, 8 * 32, 4096 // 64
    fwd = schedule(w, "chunked", "bf16")
    per_chunk = C * C * K / 2 + 4 * (C * C / 2) * K * 3 + C * C * K + 2 * C * C * V
    passing = K * V * (6 * C + 1)
    output = C * V * (2 * K + 2 * C)
    assert fwd.work_flops == pytest.approx(N * n * (per_chunk + passing + output))
    both = schedule(w, "chunked", "bf16", direction="fwd+bwd")
    assert both.work_flops < 0.3e12 and both.dram_bytes < 10e9
    assert any(s.name.startswith("bwd: chunk-state gradients") for s in both.stages)


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
