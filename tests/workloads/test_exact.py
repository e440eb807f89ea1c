"""The paper's circuits, computed exactly (arXiv 2603.03612, §§ on PD, DPLR and parity)."""

import itertools

import numpy as np
import pytest

from workloads.circuits import CIRCUITS, prefix_circuit
from workloads.kernels import linear_scan, matrix_product_scan, permutation_diagonal_scan

S5 = np.array(list(itertools.permutations(range(5))), dtype=np.int64)  # all 120 elements


@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_permutation_diagonal_lrnn_solves_the_s5_word_problem(name):
    T = 100_000
    rng = np.random.default_rng(5)
    word = S5[rng.integers(0, len(S5), T)]
    diag = np.ones((T, 5))
    b = np.zeros((T, 5))
    b[0] = np.arange(5)  # h_0 encodes the identity; h_t = (g_t ∘ … ∘ g_1) applied to it
    h = permutation_diagonal_scan(word, diag, b, prefix_circuit(name, T))
    # direct composition, left to right
    state = np.arange(5)
    expected = np.empty((T, 5))
    expected[0] = state
    for t in range(1, T):
        state = state[word[t]]
        expected[t] = state
    np.testing.assert_array_equal(h, expected)


def test_permutation_diagonal_with_weights_matches_sequential():
    rng = np.random.default_rng(6)
    T, d = 997, 7
    perm = np.array([rng.permutation(d) for _ in range(T)])
    for dtype in (np.float32, np.float64):
        diag = rng.uniform(-1, 1, (T, d)).astype(dtype)
        b = rng.normal(size=(T, d)).astype(dtype)
        ref = permutation_diagonal_scan(perm, diag, b)
        for name in CIRCUITS:
            got = permutation_diagonal_scan(perm, diag, b, prefix_circuit(name, T))
            tol = 1e-4 if dtype == np.float32 else 1e-12
            assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < tol


@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_iterated_3x3_products_mod_p_are_exact(name):
    p, T = 1_000_003, 1000
    rng = np.random.default_rng(7)
    M = rng.integers(0, p, (T, 3, 3), dtype=np.int64)
    got = matrix_product_scan(M, p, prefix_circuit(name, T))
    product = np.eye(3, dtype=np.int64)
    for t in range(T):
        product = (M[t] @ product) % p
        np.testing.assert_array_equal(got[t], product)


def test_parity_with_eigenvalue_minus_one():
    rng = np.random.default_rng(8)
    T = 4099
    bits = rng.integers(0, 2, T)
    a = np.where(bits == 1, -1.0, 1.0)[:, None]
    b = np.zeros((T, 1))
    b[0, 0] = a[0, 0]  # h_0 = (−1)^{x_0}
    for name in ("sequential", "kogge-stone", "brent-kung"):
        h = linear_scan(a, b, None if name == "sequential" else prefix_circuit(name, T))
        np.testing.assert_array_equal((1 - h[:, 0]) / 2, np.cumsum(bits) % 2)


def test_eigenvalues_in_zero_one_cannot_alternate():
    """On inputs 1^n a diagonal LRNN with a ∈ [0, 1] has a monotone state, so any threshold
    readout flips at most once — parity of 1^n flips every step.  Checked for many (a, b)
    across the family's range, against the a = −1 recurrence that does alternate."""
    n = 64
    for a_val, b_val in itertools.product(np.linspace(0, 1, 21), np.linspace(-2, 2, 9)):
        h = linear_scan(np.full((n, 1), a_val), np.full((n, 1), b_val))[:, 0]
        steps = np.diff(h)
        assert np.all(steps >= -1e-15) or np.all(steps <= 1e-15), (a_val, b_val)
    h = linear_scan(np.full((n, 1), -1.0), np.r_[[[1.0]], np.zeros((n - 1, 1))])[:, 0]
    assert np.all(np.diff(np.sign(h)) != 0)


def test_bad_exact_inputs():
    with pytest.raises(ValueError, match="perm: expected every row to be a permutation"):
        permutation_diagonal_scan(np.zeros((3, 2), np.int64), np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"M: expected entries in 0..6"):
        matrix_product_scan(np.full((2, 3, 3), 7, np.int64), 7)
    with pytest.raises(ValueError, match="p: p² · d must stay below 2"):
        matrix_product_scan(np.zeros((2, 3, 3), np.int64), 2**31)
