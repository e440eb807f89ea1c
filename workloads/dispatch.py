"""The schedule of a workload: the one place that chooses how it is built — a family's
algorithm, a shipped implementation, the backward pass, TF32 operands.

:func:`schedule` turns a :class:`~workloads.catalog.Workload`, an algorithm and a dtype into
the :class:`~workloads.schedule.Schedule` the simulator costs.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

from workloads.backward import DIRECTIONS, STATES, backward_stages
from workloads.catalog import Workload
from workloads.errors import WorkloadError
from workloads.families import FAMILIES, measured_iterations
from workloads.implementations import IMPLEMENTATIONS, LAUNCHES
from workloads.schedule import DTYPE_BYTES, Schedule

__all__ = ["schedule"]


def schedule(workload: Workload, algorithm: str | None = None, dtype: str = "fp32", *,
             direction: str = "fwd", states: str = "store", impl: str | None = None,
             launch: str = "eager", tf32: bool = False, **options) -> Schedule:
    """The schedule of ``workload`` under ``algorithm`` at ``dtype``: its forward pass, or
    with ``direction="fwd+bwd"`` a training step's forward and backward (see
    :mod:`workloads.backward`; ``states`` says whether the backward reads the states the
    forward stored or recomputes them).  ``algorithm`` None: the family's first (its
    sequential form where it has one), or a shipped kernel's own.

    ``options``: ``chunk``, ``inner``, ``outer`` for the chunked circuit; ``chunk`` for the
    chunked matmul forms; ``block`` and ``causal`` for attention; ``gated`` and ``circular`` for
    long convolutions; ``tile`` for GEMM; ``circuit`` and
    ``iterations`` for DEER / quasi-DEER (iterations default to the count measured by running
    the kernel with recurrent weights of ``weight_scale``, see
    :func:`workloads.families.measured_iterations`; the schedule's meta says how it was found).

    ``impl`` costs the workload as a shipped kernel runs it, with the algorithm the kernel
    runs (an ``algorithm`` other than that one is refused); ``launch`` (``eager`` or
    ``graph``) says whether each call's host side is paid, as an eager loop pays it, or hidden
    by a CUDA graph (see :mod:`workloads.implementations`).

    ``tf32`` lets an fp32 schedule's matrix stages multiply on the matrix unit in TF32 (as
    cuBLAS does under PyTorch's ``torch.backends.cuda.matmul.allow_tf32`` and cuDNN under
    ``torch.backends.cudnn.allow_tf32``, the latter on by default); without it they run at the
    unit's fp32 rate, or on the vector unit where it has none.
    """
    if workload.family not in FAMILIES:
        raise WorkloadError(f"workload {workload.name!r}: unknown family {workload.family!r}, "
                            f"expected one of {', '.join(FAMILIES)}")
    if dtype not in DTYPE_BYTES:
        raise WorkloadError(f"dtype: expected one of {', '.join(DTYPE_BYTES)}, got {dtype!r}")
    if direction not in DIRECTIONS:
        raise WorkloadError(f"direction: expected one of {', '.join(DIRECTIONS)}, got {direction!r}")
    if states not in STATES:
        raise WorkloadError(f"states: expected one of {', '.join(STATES)}, got {states!r}")
    if launch not in LAUNCHES:
        raise WorkloadError(f"launch: expected one of {', '.join(LAUNCHES)}, got {launch!r}")
    if tf32 and dtype != "fp32":
        raise WorkloadError(f"tf32: applies to fp32 operands, not dtype {dtype!r}")
    if tf32:
        return _in_tf32(schedule(workload, algorithm, dtype, direction=direction, states=states, impl=impl,
                                 launch=launch, **options))
    if impl is not None:
        return _implementation(workload, impl, algorithm, dtype, direction, launch, options)
    family = FAMILIES[workload.family]
    algorithm = family.algorithms[0] if algorithm is None else algorithm
    if algorithm not in family.algorithms:
        raise WorkloadError(f"algorithm: family {family.name!r} runs {', '.join(family.algorithms)}; "
                            f"got {algorithm!r}")
    if algorithm in ("deer", "quasi-deer") and "iterations" not in options:
        scale = options.pop("weight_scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale < 1e3:
            raise WorkloadError(f"weight_scale: expected a number in (0, 1000), got {scale!r}")
        options["iterations"], options["iterations_how"] = measured_iterations(workload, algorithm, float(scale))
    return _schedule(workload, algorithm, dtype, direction, states, tuple(sorted(options.items())))


def _in_tf32(sched: Schedule) -> Schedule:
    """``sched`` with its matrix stages allowed to multiply fp32 operands in TF32."""
    stages = tuple(dataclasses.replace(s, tf32=True) if s.unit == "matrix" else s for s in sched.stages)
    return dataclasses.replace(sched, name=sched.name + " tf32", stages=stages, meta={**sched.meta, "tf32": True})


def _implementation(workload: Workload, impl: str, algorithm: str | None, dtype: str,
                    direction: str, launch: str, options: dict) -> Schedule:
    """The schedule of one shipped kernel (see :mod:`workloads.implementations`)."""
    if impl not in IMPLEMENTATIONS:
        raise WorkloadError(f"impl: unknown implementation {impl!r}, expected one of {', '.join(IMPLEMENTATIONS)}")
    kernel = IMPLEMENTATIONS[impl]
    if workload.family not in kernel.families:
        raise WorkloadError(f"impl: {impl!r} implements {', '.join(kernel.families)}, "
                            f"not workload {workload.name!r} of family {workload.family!r}")
    if algorithm not in (None, kernel.algorithm):  # a kernel runs its own algorithm, and is labelled so
        raise WorkloadError(f"algorithm: {impl!r} runs {kernel.algorithm!r}, got {algorithm!r} (an implementation "
                            "runs its own algorithm: leave the algorithm unset)")
    unknown = sorted(set(options) - set(kernel.options))
    if unknown:
        raise WorkloadError(f"{unknown[0]}: not an option of implementation {impl!r} "
                            f"(it takes {', '.join(kernel.options) or 'none'})")
    label = f"{workload.name} T={workload.seq_len} {impl} {dtype}" + (" fwd+bwd" if direction != "fwd" else "")
    meta = {"family": workload.family, "algorithm": kernel.algorithm, "impl": impl, "direction": direction,
            "launch": launch, "host_s": kernel.host_time_s(direction, launch)}
    return Schedule(name=label, dtype=dtype, stages=kernel.build(workload, dtype, direction, **options),
                    meta={**meta, **options})


@lru_cache(maxsize=256)
def _schedule(workload: Workload, algorithm: str, dtype: str, direction: str, states: str,
              options: tuple) -> Schedule:
    # Cached: schedules are immutable and small, while the circuit behind one can be large.
    stages = FAMILIES[workload.family].build(workload, algorithm, dtype, dict(options))
    label = f"{workload.name} T={workload.seq_len} {algorithm} {dtype}"
    meta = {"family": workload.family, "algorithm": algorithm, "direction": direction, **dict(options)}
    if direction == "fwd+bwd":
        stages = backward_stages(workload, algorithm, dtype, stages, states)
        label += f" fwd+bwd ({states} states)"
        meta["states"] = states
    return Schedule(name=label, dtype=dtype, stages=stages, meta=meta)
