"""Named workloads with published model dimensions, and the schedule of each algorithm.

A :class:`Workload` is a recurrence family plus its dimensions.  :func:`schedule` turns a
workload, an algorithm (a prefix-circuit name) and a dtype into the :class:`Schedule` the
simulator costs, building the very :class:`Circuit` that the kernels execute.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

from workloads.circuits import CIRCUITS, CircuitError, prefix_circuit
from workloads.schedule import DTYPE_BYTES, AffineCost, Schedule, affine_schedule

__all__ = ["Workload", "WorkloadError", "CATALOG", "FAMILIES", "get_workload", "schedule"]


class WorkloadError(ValueError):
    """A workload name, dimension, algorithm or dtype that scansim cannot use."""


@dataclass(frozen=True)
class Workload:
    """One recurrence layer: ``batch`` sequences of ``seq_len`` steps.

    ``state`` is the per-copy state size: a diagonal recurrence runs ``heads × state``
    independent scalar channels per sequence; a dense one runs ``heads`` recurrences on
    ``state``-vectors with ``state × state`` transition matrices.
    """

    name: str
    family: str
    seq_len: int
    state: int
    heads: int = 1
    batch: int = 1
    description: str = ""
    source: str = ""

    def with_params(self, **params: int) -> Workload:
        """A copy with integer dimensions overridden (``seq_len``, ``state``, ``heads``, ``batch``)."""
        allowed = ("seq_len", "state", "heads", "batch")
        for key, value in params.items():
            if key not in allowed:
                raise WorkloadError(
                    f"workload {self.name!r}: unknown parameter {key!r}, expected one of {', '.join(allowed)}"
                )
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise WorkloadError(
                    f"workload {self.name!r}: {key} must be an integer ≥ 1, got {value!r}"
                )
        return dataclasses.replace(self, **params)


def _diagonal_cost(w: Workload, elem: int) -> AffineCost:
    # per channel: b_d ← a_d·b_s + b_d is one multiply-add (2 flops); a_d·a_s one multiply
    return AffineCost(copies=w.batch * w.heads * w.state, a_bytes=elem, b_bytes=elem,
                      full_flops=3, b_only_flops=2, latency_ops=1)


def _dense_cost(w: Workload, elem: int) -> AffineCost:
    d = w.state
    # A_d b_s + b_d: 2d² flops; A_d A_s: 2d³ flops; a dot product of length d is a chain of d
    return AffineCost(copies=w.batch * w.heads, a_bytes=d * d * elem, b_bytes=d * elem,
                      full_flops=2 * d**3 + 2 * d**2, b_only_flops=2 * d**2, latency_ops=d)


#: family name -> cost of one affine combine for a workload and element size in bytes
FAMILIES = {"diagonal": _diagonal_cost, "dense": _dense_cost}

CATALOG: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            name="mamba-130m",
            family="diagonal",
            seq_len=2048,
            state=16,
            heads=1536,
            description="Mamba-1 130M layer: d_inner = 2·768 channels × N = 16 states, "
            "a and b read from DRAM",
            source="Gu & Dao, arXiv 2312.00752: d_model 768, expand 2, d_state 16 (Table 12, §3.4)",
        ),
        Workload(
            name="mamba-2.8b",
            family="diagonal",
            seq_len=2048,
            state=16,
            heads=5120,
            description="Mamba-1 2.8B layer: d_inner = 2·2560 channels × N = 16 states",
            source="Gu & Dao, arXiv 2312.00752: d_model 2560, expand 2, d_state 16 (Table 12)",
        ),
        Workload(
            name="diagonal-d64",
            family="diagonal",
            seq_len=4096,
            state=64,
            heads=1,
            description="one narrow diagonal LRNN head (64 channels, batch 1): the regime "
            "where the step chain, not bandwidth, binds a sequential scan",
            source="synthetic shape",
        ),
        Workload(
            name="iterated-3x3",
            family="dense",
            seq_len=4096,
            state=3,
            heads=1,
            batch=1,
            description="iterated product of 3×3 matrices: the PNC¹-complete core of DPLR LRNNs",
            source="Merrill et al., arXiv 2603.03612 (DPLR LRNNs are PNC¹-complete)",
        ),
    )
}


def get_workload(name: str) -> Workload:
    try:
        return CATALOG[name]
    except KeyError:
        raise WorkloadError(
            f"unknown workload {name!r}: expected one of {', '.join(CATALOG)}"
        ) from None


def schedule(workload: Workload, algorithm: str = "sequential", dtype: str = "fp32",
             **options) -> Schedule:
    """The schedule of ``workload`` under ``algorithm`` (a name in ``CIRCUITS``) at ``dtype``.

    ``options`` go to the circuit generator (``chunk``, ``inner``, ``outer`` for chunked).
    """
    return _schedule(workload, algorithm, dtype, tuple(sorted(options.items())))


@lru_cache(maxsize=256)
def _schedule(workload: Workload, algorithm: str, dtype: str, options: tuple) -> Schedule:
    # Cached: schedules are immutable and small, while the circuit behind one can be large.
    if dtype not in DTYPE_BYTES:
        raise WorkloadError(f"dtype: expected one of {', '.join(DTYPE_BYTES)}, got {dtype!r}")
    if algorithm not in CIRCUITS:
        raise WorkloadError(
            f"algorithm: expected one of {', '.join(CIRCUITS)}, got {algorithm!r}"
        )
    try:
        cost = FAMILIES[workload.family](workload, DTYPE_BYTES[dtype])
    except KeyError:
        raise WorkloadError(
            f"workload {workload.name!r}: unknown family {workload.family!r}, "
            f"expected one of {', '.join(FAMILIES)}"
        ) from None
    try:
        circuit = prefix_circuit(algorithm, workload.seq_len, **dict(options))
    except CircuitError as exc:
        raise WorkloadError(str(exc)) from None
    label = f"{workload.name} T={workload.seq_len} {circuit.name} {dtype}"
    return affine_schedule(label, dtype, circuit, cost)
