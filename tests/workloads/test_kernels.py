import numpy as np
import pytest

from workloads.circuits import CIRCUITS, prefix_circuit
from workloads.kernels import diagonal_scan_chunked, linear_scan

TOL = {np.float32: 2e-5, np.float64: 1e-12, np.complex64: 2e-5, np.complex128: 1e-12}


def errors(x, ref):
    """(max-abs error, RMSE ratio ‖x − ref‖ / ‖ref‖)."""
    diff = np.asarray(x, np.complex128) - np.asarray(ref, np.complex128)
    return float(np.abs(diff).max()), float(np.linalg.norm(diff) / max(np.linalg.norm(ref), 1e-300))


def python_oracle(a, b):
    """The plain-Python twin of the sequential kernel."""
    h = np.zeros_like(b)
    prev = np.zeros_like(b[0])
    for t in range(len(b)):
        prev = (a[t] @ prev if a.ndim == 3 else a[t] * prev) + b[t]
        h[t] = prev
    return h


def diag_inputs(T, d, dtype, seed=0, low=0.5, high=1.0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(low, high, (T, d))
    b = rng.normal(size=(T, d))
    if np.issubdtype(dtype, np.complexfloating):
        phase = np.exp(1j * rng.uniform(-np.pi, np.pi, (T, d)))
        a, b = a * phase, b + 1j * rng.normal(size=(T, d))
    return a.astype(dtype), b.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_sequential_kernel_equals_python_oracle(dtype):
    a, b = diag_inputs(53, 3, dtype)
    _, rmse = errors(linear_scan(a, b), python_oracle(a, b))
    assert rmse < TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
@pytest.mark.parametrize("T", [1, 2, 97, 1000])
@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_circuit_executor_equals_sequential(name, T, dtype):
    a, b = diag_inputs(T, 5, dtype, seed=T)
    ref = linear_scan(a, b)
    got = linear_scan(a, b, prefix_circuit(name, T))
    max_abs, rmse = errors(got, ref)
    assert rmse < TOL[dtype], (max_abs, rmse)
    assert got.dtype == b.dtype and got.shape == b.shape


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["kogge-stone", "brent-kung", "chunked"])
def test_long_prime_length(name, dtype):
    T = 100_003  # prime, ≥ 10^5
    a, b = diag_inputs(T, 2, dtype, seed=1, low=0.9, high=1.0)
    ref = linear_scan(a, b)
    max_abs, rmse = errors(linear_scan(a, b, prefix_circuit(name, T)), ref)
    assert rmse < 50 * TOL[dtype], (max_abs, rmse)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T,chunk", [(1, 4), (97, 10), (100_003, 4096), (1000, 1)])
def test_chunked_reduce_then_scan(T, chunk, dtype):
    a, b = diag_inputs(T, 3, dtype, seed=2)
    _, rmse = errors(diagonal_scan_chunked(a, b, chunk=chunk), linear_scan(a, b))
    assert rmse < 10 * TOL[dtype]


@pytest.mark.parametrize("decay", [0.0, 1.0, 1e-30, 1 - 1e-7])
def test_extreme_decays(decay):
    T = 4097
    a = np.full((T, 2), decay)
    b = np.ones((T, 2))
    expected = np.array([sum(decay**k for k in range(min(t + 1, 60 if decay < 1 else t + 1)))
                         for t in range(T)]) if decay < 1 - 1e-3 else None
    for name in ("sequential", "kogge-stone", "sklansky"):
        h = linear_scan(a, b, None if name == "sequential" else prefix_circuit(name, T))
        assert np.all(np.isfinite(h))
        if expected is not None:
            np.testing.assert_allclose(h[:, 0], expected, rtol=1e-12)
        if decay == 1.0:
            np.testing.assert_array_equal(h[:, 0], np.arange(1, T + 1))


def test_no_overflow_at_two_to_the_twenty_float32():
    T = 1 << 20
    rng = np.random.default_rng(3)
    a = rng.uniform(0.0, 1.0, (T, 2)).astype(np.float32)
    a[::1000] = 1.0
    b = rng.normal(size=(T, 2)).astype(np.float32)
    h = diagonal_scan_chunked(a, b, chunk=8192)
    assert np.all(np.isfinite(h))
    _, rmse = errors(h, linear_scan(a.astype(np.float64), b.astype(np.float64)))
    assert rmse < 1e-5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_dense_circuits_equal_sequential(name, dtype):
    rng = np.random.default_rng(4)
    T, d = 61, 3
    A = (rng.normal(size=(T, d, d)) / np.sqrt(2 * d)).astype(dtype)
    b = rng.normal(size=(T, d)).astype(dtype)
    ref = linear_scan(A, b)
    _, rmse = errors(ref, python_oracle(A, b))
    assert rmse < TOL[dtype]
    _, rmse = errors(linear_scan(A, b, prefix_circuit(name, T)), ref)
    assert rmse < 10 * TOL[dtype]


def test_bad_inputs_name_the_argument():
    a, b = diag_inputs(8, 2, np.float64)
    with pytest.raises(ValueError, match=r"a: expected shape \(T, d\) = \(8, 2\), got \(7, 2\)"):
        linear_scan(a[:7], b)
    with pytest.raises(ValueError, match="b: contains NaN"):
        linear_scan(a, np.where(b > 0, np.nan, b))
    with pytest.raises(ValueError, match="a: contains NaN or Inf"):
        linear_scan(np.full_like(a, np.inf), b)
    with pytest.raises(ValueError, match="a: expected dtype float64"):
        linear_scan(a.astype(np.float32), b)
    with pytest.raises(ValueError, match="b: expected dtype float32, float64, complex64, complex128, got int64"):
        linear_scan(a.astype(np.int64), b.astype(np.int64))
    with pytest.raises(ValueError, match=r"circuit: built for n=9, but the inputs have T=8"):
        linear_scan(a, b, prefix_circuit("kogge-stone", 9))
    with pytest.raises(ValueError, match="chunk: expected an integer"):
        diagonal_scan_chunked(a, b, chunk=0)
    with pytest.raises(ValueError, match=r"b: expected shape \(T, d\)"):
        linear_scan(a, b[0])


def test_out_buffer_and_overflow():
    a, b = diag_inputs(50, 3, np.float32)
    out = np.empty_like(b)
    assert linear_scan(a, b, out=out) is out
    np.testing.assert_array_equal(out, linear_scan(a, b))
    assert linear_scan(a, b, prefix_circuit("sklansky", 50), out=out) is out
    with pytest.raises(ValueError, match="out: expected a writeable C-contiguous array"):
        linear_scan(a, b, out=np.empty((50, 3)))
    with pytest.raises(ValueError, match="out: must not overlap the inputs"):
        linear_scan(a, b, out=b)
    growth = np.full((200, 1), 10.0, np.float32)
    with pytest.raises(ValueError, match="h: the recurrence overflowed .* inputs were finite"):
        linear_scan(growth, np.ones((200, 1), np.float32))
    b_bad = b.copy()
    b_bad[17, 1] = np.inf
    with pytest.raises(ValueError, match="b: contains NaN or Inf"):
        linear_scan(a, b_bad)


def test_over_copies_partitions_the_copies_and_passes_errors_on():
    from workloads.kernels._threads import over_copies

    for n in (1, 2, 5, 8):
        seen = []
        got = over_copies(lambda tag, lo, hi: seen.append((lo, hi)) or (tag, lo, hi), n, "x")
        assert sorted(seen) == [(lo, hi) for _, lo, hi in got]  # results in slice order
        assert got[0][1] == 0 and got[-1][2] == n
        assert all(a[2] == b[1] and a[1] < a[2] for a, b in zip(got, got[1:]))

    def fails(lo, hi):
        if hi == 3:
            raise ValueError("slice ending at 3")
    with pytest.raises(ValueError, match="ending at 3"):
        over_copies(fails, 3)
