"""The two mixers that are not recurrences against their oracles: softmax attention (naive and
blocked online softmax) and long convolutions (direct, radix-2 FFT, FlashFFTConv's Monarch
transform)."""

import numpy as np
import pytest

from tests.oracles import RMSE, rmse
from workloads.kernels import attention, long_conv
from workloads.transforms import fft_size, radices


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T", [1, 97, 300])
def test_long_conv_transforms_match_the_direct_sum_and_numpy(T, dtype):
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
