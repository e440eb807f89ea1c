"""Long convolutions as FlashFFTConv's repository runs them: its fused kernel, and the PyTorch
reference it is benchmarked against.

``flashfftconv`` (HazyResearch/flash-fft-conv ``flashfftconv/conv.py``, ``FlashFFTConvFunc``
and ``GatedFlashFFTConvFunc``), for transform lengths 256 … 32,768, per call:

* the filter's spectrum ``torch.fft.fft(k, n=N)`` — cuFFT, complex float32, one row per channel;
* its permutation into the kernel's Monarch order, ``view_as_real(…).to(dtype).contiguous()``:
  one copy, complex float32 in, the input dtype out;
* one fused kernel (``monarch_conv_forward_16_16_16`` … ``32_32_32``): u and the two gates read
  once, the transform as levels of 16- and 32-point DFT matrices (the family's ``monarch``
  algorithm, :func:`workloads.families` ``long-conv``), issued through the WMMA API
  (``nvcuda::wmma``: the synchronous warp MMA, at the chip's ``sync_mma_share``), y written once.

Longer transforms run extra butterfly kernels through DRAM around a 4,096-point core
(``butterfly_forward`` …) and are refused rather than costed as one kernel.

``torch-fft-conv`` is the benchmark's reference (``benchmarks/benchmark_flashfftconv.py``,
``ref_fftconv`` and ``ref_fftconv_gated``), kernel by kernel: the inputs cast to float32
(``.float()``) and gated, ``torch.fft.fft`` of u and of the filter (a complex N-point cuFFT
transform of real input: the real-to-complex transform, then the other half of the spectrum
filled in), their product, ``torch.fft.ifft``, the real part gated and cast back.
"""

from __future__ import annotations

import dataclasses

from workloads.backward import backward_stages
from workloads.errors import WorkloadError
from workloads.families import FAMILIES, fft_pass, transform_length
from workloads.schedule import DTYPE_BYTES, Stage, in_stream_order

SOURCE = ("HazyResearch/flash-fft-conv flashfftconv/conv.py (FlashFFTConvFunc, GatedFlashFFTConvFunc), "
          "csrc/flashfftconv/monarch_cuda (WMMA kernels), benchmarks/benchmark_flashfftconv.py (ref_fftconv); "
          "Fu et al., arXiv 2311.05908")

_F32, _C64 = 4, 8
MAX_FUSED = 32768  # the longest transform of one fused kernel (monarch_conv_forward_32_32_32)


def _elementwise(name: str, elements: int, read: float, written: float, flops: float = 1.0) -> Stage:
    """One PyTorch elementwise kernel over ``elements``: ``read`` and ``written`` bytes each."""
    return Stage(name, "vector", ops=elements, flops_per_op=flops, bytes_read_per_op=read,
                 bytes_written_per_op=written)


def _chain(stages, w, dtype, direction) -> tuple[Stage, ...]:
    """The kernels one after another (one stream), with the family's backward when training."""
    ordered = in_stream_order(stages)
    return backward_stages(w, "monarch", dtype, ordered) if direction != "fwd" else ordered


def _filter_spectrum(D: int, N: int, T: int) -> Stage:
    """``torch.fft.fft(k, n=N)`` of the float32 filters: real-to-complex, N/2 complex points."""
    return fft_pass("torch.fft.fft of the filters (cuFFT)", D, N // 2, D * T * _F32, D * N * _C64)


def build_flashfftconv(w, dtype: str, direction: str = "fwd", gated: int = 0, circular: int = 0):
    if dtype not in ("fp16", "bf16"):
        raise WorkloadError(f"dtype: flashfftconv runs fp16 or bf16, got {dtype!r}")
    options = {"gated": gated, "circular": circular}
    N = transform_length(w, options)
    if not 256 <= N <= MAX_FUSED:
        raise WorkloadError(f"flashfftconv: costed for transform lengths 256 … {MAX_FUSED:,} (one fused "
                            f"kernel), got {N:,}; longer ones add butterfly passes through DRAM")
    D, e = w.heads, DTYPE_BYTES[dtype]
    permute = _elementwise("filter spectrum to Monarch order and the input dtype", D * N, _C64, 2 * e)
    _, forward, inverse = FAMILIES["long-conv"].build(w, "monarch", dtype, options)
    fused = [dataclasses.replace(s, sync_mma=True) for s in (forward, inverse)]
    return _chain([_filter_spectrum(D, N, w.seq_len), permute, *fused], w, dtype, direction)


def build_torch_fft(w, dtype: str, direction: str = "fwd", gated: int = 0, circular: int = 0):
    N = transform_length(w, {"circular": circular})
    B, D, T, e = w.batch, w.heads, w.seq_len, DTYPE_BYTES[dtype]
    rows = B * D
    cast = [_elementwise("u.float()", rows * T, e, _F32, flops=0)]
    if gated:
        cast += [_elementwise("pregate.float()", rows * T, e, _F32, flops=0),
                 _elementwise("pregate · u", rows * T, 2 * _F32, _F32)]
    half = rows * N // 2  # the spectrum's second half, filled from the first's conjugates
    stages = cast + [
        fft_pass("torch.fft.fft of u (cuFFT, real to complex)", rows, N // 2, rows * T * _F32,
                 rows * (N // 2 + 1) * _C64),
        _elementwise("the spectrum's conjugate half", half, _C64, _C64, flops=1),
        _filter_spectrum(D, N, T),
        _elementwise("the filters' conjugate half", D * N // 2, _C64, _C64, flops=1),
        _elementwise("spectra product", rows * N, 2 * _C64, _C64, flops=6),
        fft_pass("torch.fft.ifft (cuFFT, complex)", rows, N, rows * N * _C64, rows * N * _C64)]
    if gated:  # .real[..., :L] · postgate.float(): the real part read at the complex stride
        stages += [_elementwise("postgate.float()", rows * T, e, _F32, flops=0),
                   _elementwise("real part · postgate", rows * T, _C64 + _F32, _F32),
                   _elementwise("to the input dtype", rows * T, _F32, e, flops=0)]
    else:
        stages.append(_elementwise("real part to the input dtype", rows * T, _C64, e, flops=0))
    return _chain(stages, w, dtype, direction)
