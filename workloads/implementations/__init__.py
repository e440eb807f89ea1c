"""Kernel implementations: how a real kernel computes a family.

A family (:mod:`workloads.families`) is the maths — its oracle, its circuit, the cost of a
combine.  An implementation is the engineering of one shipped kernel: how many kernels it
launches, what each reads and writes, which unit runs which part, what stays on chip, its
tile and chunk sizes — taken from the kernel's source and paper, which each module cites.
``schedule(workload, impl=NAME)`` costs a workload as that kernel runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from workloads.implementations import cudnn_rnn, fla_chunk, selective_scan

__all__ = ["Implementation", "IMPLEMENTATIONS"]


@dataclass(frozen=True)
class Implementation:
    name: str
    families: tuple[str, ...]
    algorithm: str  # the parallel algorithm the kernel runs, as the results name it
    build: Callable  # (workload, dtype, direction) -> tuple[Stage, ...]
    description: str
    source: str


IMPLEMENTATIONS: dict[str, Implementation] = {i.name: i for i in (
    Implementation("selective-scan", ("diagonal",), "chunked", selective_scan.build,
                   selective_scan.__doc__.strip().splitlines()[0], selective_scan.SOURCE),
    Implementation("cudnn-rnn", tuple(cudnn_rnn.GATES), "sequential", cudnn_rnn.build,
                   cudnn_rnn.__doc__.strip().splitlines()[0], cudnn_rnn.SOURCE),
    Implementation("fla-chunk", ("ssd", "gla"), "chunked", fla_chunk.build,
                   fla_chunk.__doc__.strip().splitlines()[0], fla_chunk.SOURCE),
)}
