"""Kernel implementations: how a real kernel computes a family.

A family (:mod:`workloads.families`) is the maths — its oracle, its circuit, the cost of a
combine.  An implementation is the engineering of one shipped kernel: how many kernels it
launches, what each reads and writes, which unit runs which part, what stays on chip, its
tile and chunk sizes — taken from the kernel's source and paper, which each module cites.
``schedule(workload, impl=NAME)`` costs a workload as that kernel runs it.

An implementation also says what its host side costs.  Called eagerly in a loop — as
benchmarks time kernels (``triton.testing.do_bench``, a host clock over many calls) — the host
issues call n + 1's kernels while the device runs call n's: the two form a pipeline and a call
takes the slower of the two stages.  ``host_s`` is that host stage per call, measured and
cited; under CUDA-graph replay (``launch="graph"``), or a harness that times kernels only, it
is hidden.  An implementation without a measured host time has none (its host is assumed to
keep up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping

from workloads.implementations import (cudnn_rnn, fft_conv, fla_chunk, fla_delta, fla_fused_chunk, flash_attention,
                                       lightning_attn, mamba2_ssd, persistent_rnn, selective_scan, tfla_mlstm)

__all__ = ["Implementation", "IMPLEMENTATIONS", "LAUNCHES"]

LAUNCHES = ("eager", "graph")  # how the host issues a call's kernels (see the module's doc)


@dataclass(frozen=True)
class Implementation:
    name: str
    families: tuple[str, ...]
    algorithm: str  # the parallel algorithm the kernel runs, as the results name it
    build: Callable  # (workload, dtype, direction, **options) -> tuple[Stage, ...]
    description: str
    source: str
    host_s: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))  # eager, per call
    host_source: str = ""
    options: tuple[str, ...] = ()  # the schedule options its build takes

    def host_time_s(self, direction: str, launch: str) -> float:
        """The host stage of one call: its eager host time, or none under a CUDA graph."""
        return self.host_s.get(direction, 0.0) if launch == "eager" else 0.0


IMPLEMENTATIONS: dict[str, Implementation] = {i.name: i for i in (
    Implementation("selective-scan", ("diagonal",), "chunked", selective_scan.build,
                   selective_scan.__doc__.strip().splitlines()[0], selective_scan.SOURCE),
    Implementation("cudnn-rnn", tuple(cudnn_rnn.GATES), "sequential", cudnn_rnn.build,
                   cudnn_rnn.__doc__.strip().splitlines()[0], cudnn_rnn.SOURCE),
    Implementation("persistent-rnn", tuple(cudnn_rnn.GATES), "sequential", persistent_rnn.build,
                   persistent_rnn.__doc__.strip().splitlines()[0], persistent_rnn.SOURCE),
    Implementation("fla-chunk", ("ssd", "gla"), "chunked", fla_chunk.build,
                   fla_chunk.__doc__.strip().splitlines()[0], fla_chunk.SOURCE,
                   MappingProxyType(fla_chunk.EAGER_HOST_S), fla_chunk.HOST_SOURCE,
                   options=("state_tile", "out_tile")),
    Implementation("fla-fused-chunk", ("gla",), "chunked", fla_fused_chunk.build,
                   fla_fused_chunk.__doc__.strip().splitlines()[0], fla_fused_chunk.SOURCE),
    Implementation("fla-delta-chunk", ("deltanet", "gated-deltanet"), "chunked", fla_delta.build,
                   fla_delta.__doc__.strip().splitlines()[0], fla_delta.SOURCE),
    Implementation("mamba2-ssd", ("ssd",), "chunked", mamba2_ssd.build,
                   "Mamba-2's mamba_chunk_scan_combined: five Triton kernels forward, B and C once per group",
                   mamba2_ssd.SOURCE, options=("chunk",)),
    Implementation("mamba2-split-conv1d", ("ssd",), "chunked", mamba2_ssd.build_split_conv1d,
                   "Mamba-2's mamba_split_conv1d_scan_combined: the causal conv1d and SiLU, then the gated chunk scan",
                   mamba2_ssd.SOURCE, options=("chunk", "width")),
    Implementation("lightning-attn2", ("ssd",), "chunked", lightning_attn.build,
                   "Lightning Attention-2: one sequential kernel over blocks of 64 (the state in registers), TF32 products",
                   lightning_attn.SOURCE),
    Implementation("tfla-xl-chunk", ("mlstm",), "chunked", tfla_mlstm.build,
                   "TFLA's mLSTM kernels (triton_xl_chunk): a recurrent state kernel, then the chunks in parallel",
                   tfla_mlstm.SOURCE, options=("chunk",)),
    Implementation("tfla-limit-chunk", ("mlstm",), "chunked", tfla_mlstm.build_limit,
                   "TFLA's first mLSTM kernels (triton_limit_chunk): a whole chunk of ≤ 128 rows per program",
                   tfla_mlstm.LIMIT_SOURCE, options=("chunk",)),
    Implementation("flash-attention-2", ("attention",), "blocked", flash_attention.build_fa2,
                   "FlashAttention-2: synchronous warp MMAs (mma.sync), 128-row query tiles",
                   flash_attention.SOURCE, options=("causal", "rows", "cols")),
    Implementation("flash-attention-3", ("attention",), "blocked", flash_attention.build_fa3,
                   "FlashAttention-3: Hopper's warpgroup MMAs (wgmma) at the full rate, larger tiles",
                   flash_attention.SOURCE, options=("causal", "rows", "cols")),
    Implementation("flashfftconv", ("long-conv",), "monarch", fft_conv.build_flashfftconv,
                   "FlashFFTConv: the filter's spectrum, then one fused Monarch kernel through WMMA",
                   fft_conv.SOURCE, options=("gated", "circular")),
    Implementation("torch-fft-conv", ("long-conv",), "fft", fft_conv.build_torch_fft,
                   "FlashFFTConv's PyTorch reference: float32 casts, torch.fft.fft, product, ifft",
                   fft_conv.SOURCE, options=("gated", "circular")),
)}
