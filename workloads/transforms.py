"""The transform circuits of the long-convolution family: how many levels an N-point DFT
takes and of which radix.  Numba-free, so that schedules can be built without compiling the
kernels (:mod:`workloads.kernels.longconv` runs these very circuits).

* ``fft``: radix 2 at every level, the butterfly network of cuFFT's kind (``torch.fft``);
* ``monarch``: FlashFFTConv's order-p decomposition (Fu, Kumbong, Nguyen, Ré, arXiv
  2311.05908; HazyResearch/flash-fft-conv): the fewest levels of dense DFT matrices of at most
  32 points — the sizes of its ``monarch_cuda_16_16_16`` … ``32_32_32`` kernels, which its
  tensor cores multiply.
"""

from __future__ import annotations

import math

__all__ = ["fft_size", "radices", "MONARCH_MAX_RADIX"]

MONARCH_MAX_RADIX = 32  # FlashFFTConv's largest DFT matrix (its 32_32_32 kernel)


def fft_size(T: int) -> int:
    """The transform length of a causal convolution of T steps: at least 2T (so that the
    circular convolution does not wrap), a power of two."""
    return 1 << max(1, math.ceil(math.log2(2 * T)))


def radices(algorithm: str, N: int) -> tuple[int, ...]:
    """The radix of each level of an N-point transform (N a power of two): all 2 for ``fft``;
    for ``monarch`` the fewest levels whose radices, powers of two as equal as possible, are at
    most 32 (N = 4096: 16·16·16, 8192: 32·16·16, 32768: 32·32·32)."""
    bits = round(math.log2(N))
    if N < 2 or 1 << bits != N:
        raise ValueError(f"N: expected a power of two ≥ 2, got {N}")
    if algorithm == "fft":
        return (2,) * bits
    if algorithm != "monarch":
        raise ValueError(f"algorithm: expected 'fft' or 'monarch', got {algorithm!r}")
    levels = math.ceil(bits / round(math.log2(MONARCH_MAX_RADIX)))
    return tuple(1 << (bits // levels + (1 if i < bits % levels else 0)) for i in range(levels))
