"""Long convolutions: a filter as long as the sequence, per channel (S4's convolution mode,
H3, Hyena, Monarch Mixer) — the sub-quadratic baseline that is not a recurrence.

``y[b, d, t] = Σ_{s ≤ t} h[d, s] · u[b, d, t − s]`` over inputs ``u`` of (B, D, T) and one
filter of length T per channel, ``h`` of (D, T) — the layouts of Hyena and FlashFFTConv.

* ``direct``: the sum as written, O(T²) per channel (the oracle);
* ``fft``: zero-pad to N = 2^⌈log₂ 2T⌉, transform, multiply, transform back — with a radix-2
  transform, the butterfly network of cuFFT's kind (``torch.fft``);
* ``monarch``: the same transform computed as FlashFFTConv does it (Fu, Kumbong, Nguyen, Ré,
  arXiv 2311.05908; HazyResearch/flash-fft-conv): an order-p decomposition of the N-point DFT
  into p levels of small dense DFT matrices (16 or 32 points, the sizes of its
  ``monarch_cuda_16_16_16`` … ``32_32_32`` kernels) with twiddles between them — matrix
  products that run on tensor cores.

Both transforms are one kernel, :func:`_dft`: level by level, each group of ``block`` points
is split as (r, block / r), a dense r-point DFT is applied along the first axis and the result
twiddled (decimation in frequency), and the digits come out reversed.
:func:`workloads.transforms.radices` is the circuit the kernel runs: the radix of each level.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from workloads.kernels._checks import REAL, check_array
from workloads.transforms import fft_size, radices

__all__ = ["long_conv", "ALGORITHMS"]

ALGORITHMS = ("direct", "fft", "monarch")


@njit(cache=True)
def _dft(x, levels):
    """The DFT of every row of ``x`` (rows, N), complex, computed level by level in place;
    returns the rows in natural order.  Per group the r-point DFT runs as r × r multiply-adds
    of contiguous length-M runs (the innermost loop vectorises)."""
    rows, N = x.shape
    block = N
    acc = np.empty(N, dtype=x.dtype)
    for r in levels:
        M = block // r
        F = np.empty((r, r), dtype=x.dtype)
        for a in range(r):
            for c in range(r):
                F[a, c] = np.exp(-2j * np.pi * ((a * c) % r) / r)
        twiddle = np.empty((r, M), dtype=x.dtype)
        for a in range(r):
            for c in range(M):
                twiddle[a, c] = np.exp(-2j * np.pi * ((a * c) % block) / block)
        for row in range(rows):
            for base in range(0, N, block):
                for k1 in range(r):
                    out = k1 * M
                    acc[out:out + M] = 0
                    for n1 in range(r):
                        f = F[k1, n1]
                        src = base + n1 * M
                        for n2 in range(M):
                            acc[out + n2] += f * x[row, src + n2]
                for k1 in range(r):
                    for n2 in range(M):
                        x[row, base + k1 * M + n2] = acc[k1 * M + n2] * twiddle[k1, n2]
        block = M
    pos = np.empty(N, dtype=np.int64)
    for k in range(N):  # output k = k1 + r1·(k2 + r2·(…)) sits at k1·N/r1 + k2·N/(r1 r2) + …
        p, stride, rest = 0, N, k
        for r in levels:
            stride //= r
            p += (rest % r) * stride
            rest //= r
        pos[k] = p
    out = np.empty_like(x)
    for row in range(rows):
        for k in range(N):
            out[row, k] = x[row, pos[k]]
    return out


@njit(cache=True)
def _direct(u, h, y):
    Bn, D, T = u.shape
    for b in range(Bn):
        for d in range(D):
            for t in range(T):
                acc = 0.0
                for s in range(t + 1):
                    acc += h[d, s] * u[b, d, t - s]
                y[b, d, t] = acc


def _transform(x: np.ndarray, levels: np.ndarray, inverse: bool = False) -> np.ndarray:
    if inverse:  # x̌ = conj(DFT(conj x)) / N
        return np.conj(_dft(np.conj(x), levels)) / x.shape[1]
    return _dft(x, levels)


def long_conv(u: np.ndarray, h: np.ndarray, algorithm: str = "direct") -> np.ndarray:
    """Causal long convolution of every channel of ``u`` with its filter.

    Parameters
    ----------
    u : (B, D, T) inputs;  h : (D, T) one filter per channel; float32 or float64, one dtype
    algorithm : ``"direct"`` (the oracle), ``"fft"`` (radix-2) or ``"monarch"`` (FlashFFTConv's
        order-p decomposition)

    Returns
    -------
    y : (B, D, T), of u's dtype
    """
    u = check_array("u", u, 3, "(B, D, T)", dtypes=REAL)
    Bn, D, T = u.shape
    if T < 1:
        raise ValueError("u: expected T ≥ 1")
    h = check_array("h", h, 2, "(D, T)", dtypes=REAL)
    if h.shape != (D, T):
        raise ValueError(f"h: expected shape (D, T) = {(D, T)}, got {h.shape}")
    if h.dtype != u.dtype:
        raise ValueError(f"h: expected dtype {u.dtype} (the dtype of u), got {h.dtype}")
    if algorithm == "direct":
        y = np.empty_like(u)
        _direct(u, h, y)
        return y
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm: expected one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    N = fft_size(T)
    levels = np.array(radices(algorithm, N), dtype=np.int64)
    cdtype = np.complex64 if u.dtype == np.float32 else np.complex128
    padded_u = np.zeros((Bn * D, N), dtype=cdtype)
    padded_u[:, :T] = u.reshape(Bn * D, T)
    padded_h = np.zeros((D, N), dtype=cdtype)
    padded_h[:, :T] = h
    spectrum = _transform(padded_u, levels).reshape(Bn, D, N) * _transform(padded_h, levels)
    y = _transform(spectrum.reshape(Bn * D, N), levels, inverse=True)
    return np.ascontiguousarray(y[:, :T].real.reshape(Bn, D, T), dtype=u.dtype)
