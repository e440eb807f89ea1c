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
    matrix_utilisation: float
    dram_utilisation: float
    stages: int
    tiles: int
    events: int
    notes: tuple[str, ...] = ()
    trace: pd.DataFrame = field(default=None, repr=False, compare=False)

    @classmethod
    def build(cls, schedule: Schedule, acc: Accelerator, *, latency_s: float, bounds: Bounds,
              trace: pd.DataFrame, events: int, busy_s: dict[str, float], dram_busy_s: float,
              arithmetic_energy_j: float, notes: tuple[str, ...] = ()) -> SimResult:
        dram_bytes = schedule.dram_bytes
        # every DRAM byte also passes through the core's SRAM once
        dynamic = arithmetic_energy_j + dram_bytes * (acc.dram.energy_per_byte_j + acc.sram.energy_per_byte_j)
        static = acc.static_power_w * latency_s
        span = acc.cores * (latency_s if latency_s > 0 else 1.0)
        return cls(
            schedule=schedule.name, accelerator=acc.name, dtype=schedule.dtype,
            latency_s=latency_s, lower_bound_s=bounds.lower_s, compute_bound_s=bounds.compute_s,
            memory_bound_s=bounds.memory_s, depth_bound_s=bounds.depth_s,
            brent_upper_bound_s=bounds.brent_upper_s, flops=schedule.work_flops,
            dram_bytes=dram_bytes, energy_j=dynamic + static, dynamic_energy_j=dynamic,
            static_energy_j=static, vector_utilisation=busy_s["vector"] / span,
            matrix_utilisation=busy_s["matrix"] / span,
            dram_utilisation=dram_busy_s / (span / acc.cores), stages=len(schedule.stages),
            tiles=len(trace), events=events, notes=notes, trace=trace,
        )

    def to_record(self) -> dict:
        """One flat row (no trace): what a sweep stores and ``--json`` prints."""
        record = {k: v for k, v in self.__dict__.items() if k != "trace"}
        record["notes"] = "; ".join(self.notes)
        return record
