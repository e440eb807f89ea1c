"""The result of one simulation: an immutable value with SI units in its field names."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from hwmodels.spec import Accelerator
from simulator.bounds import Bounds
from workloads.schedule import Schedule


@dataclass(frozen=True)
class SimResult:
    """Latency, energy, bytes, utilisation and bounds of a schedule on an accelerator.

    ``trace`` has one row per tile: stage, tile, unit, core, start_s, compute_start_s,
    compute_end_s, end_s, bytes_read, bytes_written.
    """

    schedule: str
    accelerator: str
    dtype: str
    latency_s: float
    lower_bound_s: float
    compute_bound_s: float
    memory_bound_s: float
    depth_bound_s: float
    brent_upper_bound_s: float
    flops: float
    dram_bytes: float
    energy_j: float
    dynamic_energy_j: float
    static_energy_j: float
    vector_utilisation: float
    dram_utilisation: float
    stages: int
    tiles: int
    events: int
    trace: pd.DataFrame = field(repr=False, compare=False)

    @classmethod
    def build(cls, schedule: Schedule, acc: Accelerator, *, latency_s: float, bounds: Bounds,
              trace: pd.DataFrame, events: int, vector_busy_s: float,
              dram_busy_s: float) -> SimResult:
        flops = schedule.work_flops
        dram_bytes = schedule.dram_bytes
        flop_j = acc.vector.energy_per_flop_j.get(schedule.dtype, 0.0) if flops else 0.0
        # every DRAM byte also passes through the core's SRAM once
        dynamic = flops * flop_j + dram_bytes * (acc.dram.energy_per_byte_j + acc.sram.energy_per_byte_j)
        static = acc.static_power_w * latency_s
        span = latency_s if latency_s > 0 else 1.0
        return cls(
            schedule=schedule.name, accelerator=acc.name, dtype=schedule.dtype,
            latency_s=latency_s, lower_bound_s=bounds.lower_s, compute_bound_s=bounds.compute_s,
            memory_bound_s=bounds.memory_s, depth_bound_s=bounds.depth_s,
            brent_upper_bound_s=bounds.brent_upper_s, flops=flops, dram_bytes=dram_bytes,
            energy_j=dynamic + static, dynamic_energy_j=dynamic, static_energy_j=static,
            vector_utilisation=vector_busy_s / (acc.cores * span),
            dram_utilisation=dram_busy_s / span, stages=len(schedule.stages),
            tiles=len(trace), events=events, trace=trace,
        )

    def to_record(self) -> dict:
        """One flat row (no trace): what a sweep stores and ``--json`` prints."""
        return {k: v for k, v in self.__dict__.items() if k != "trace"}
