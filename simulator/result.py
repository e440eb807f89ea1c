"""The result of one simulation: an immutable value with SI units in its field names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from hwmodels import power
from hwmodels.spec import Accelerator
from simulator.bounds import Bounds
from simulator.energy import call_energy, power_profile
from simulator.units import Placement
from workloads.schedule import Schedule

if TYPE_CHECKING:  # pandas is imported by the DES when it builds a trace
    import pandas as pd


def critical_path(schedule: Schedule, stage_end_s: np.ndarray) -> tuple[int, ...]:
    """Stage indices from the first to the last-finishing stage, following at every step the
    dependency that finished last (the one the stage actually waited for)."""
    if not len(schedule.stages):
        return ()
    i = int(np.argmax(stage_end_s))
    path = [i]
    while schedule.stages[i].deps:
        i = max(schedule.stages[i].deps, key=lambda d: stage_end_s[d])
        path.append(i)
    return tuple(reversed(path))


def _notes(schedule: Schedule, placed: list[Placement], device_s: float, host_s: float) -> tuple[str, ...]:
    notes = [p.note for p in placed if p.note]
    if host_s > device_s:
        notes.append(f"host-bound: the host takes {host_s * 1e6:.3g} µs to issue a call's kernels, the "
                     f"device {device_s * 1e6:.3g} µs to run them (launch=graph hides the host)")
    if "iterations" in schedule.meta:
        how = schedule.meta.get("iterations_how", "given by the caller")
        notes.append(f"{schedule.meta['iterations']} Newton iterations ({how})")
    return tuple(notes)


@dataclass(frozen=True)
class SimResult:
    """Latency, energy, bytes, utilisation and bounds of a schedule on an accelerator.

    ``latency_s`` is the time per call of back-to-back calls: the slower of the device's time
    (``device_s``) and the host's time to issue the call's kernels (``host_s``: an
    implementation's measured eager host time; 0 when none is known or a CUDA graph hides it).

    Energy is split by component — ``energy_compute_j`` (arithmetic, of which
    ``energy_vector_j`` and ``energy_matrix_j``, with its instructions and register file),
    ``energy_onchip_j``, ``energy_dram_j``, ``energy_baseline_j`` (the busy chip's clocks,
    control and uncore above its leakage) and ``static_energy_j`` — which add up to
    ``energy_j`` (see :mod:`simulator.energy`); ``average_power_w`` and ``peak_power_w`` are
    one chip's over the call.

    ``trace`` (DES only) has one row per tile: stage, stage_name, tile, unit, core, start_s,
    compute_start_s, compute_end_s, end_s, bytes_read, bytes_written.
    """

    schedule: str
    accelerator: str
    dtype: str
    policy: str
    fidelity: str
    latency_s: float
    device_s: float
    host_s: float
    lower_bound_s: float
    compute_bound_s: float
    memory_bound_s: float
    depth_bound_s: float
    upper_bound_s: float
    flops: float
    dram_bytes: float
    onchip_bytes: float
    energy_j: float
    dynamic_energy_j: float
    static_energy_j: float
    energy_vector_j: float
    energy_matrix_j: float
    energy_compute_j: float
    energy_onchip_j: float
    energy_dram_j: float
    energy_baseline_j: float
    average_power_w: float
    peak_power_w: float
    vector_utilisation: float
    matrix_utilisation: float
    dram_utilisation: float
    stages: int
    tiles: int
    events: int
    clock_scale: float = 1.0  # the core clock's share of its boost: below 1 when the power cap throttled it
    fused_stages: int = 0  # stages the fused policy kept on chip (0: the schedule as built)
    newton_iterations: int = 0  # DEER / quasi-DEER iterations costed (0: not a Newton form)
    critical_path: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    trace: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(cls, schedule: Schedule, acc: Accelerator, *, latency_s: float, bounds: Bounds,
              upper_bound_s: float, placed: list[Placement], stage_start_s: np.ndarray, stage_end_s: np.ndarray,
              trace: pd.DataFrame | None, events: int, busy_s: dict[str, float], dram_busy_s: float,
              fidelity: str) -> SimResult:
        # back-to-back calls pipeline the host's issue of call n + 1 with the device's run of call n
        device_s, host_s = latency_s, float(schedule.meta.get("host_s", 0.0))
        latency_s = max(device_s, host_s)
        upper_bound_s = max(upper_bound_s, host_s)
        total, per_stage = call_energy(schedule, placed, acc)
        floor_w = power.baseline_w(acc)
        static = acc.static_power_w * latency_s
        baseline = (floor_w - acc.static_power_w) * latency_s
        energy = total.dynamic + baseline + static
        _, watts = power_profile(stage_start_s, stage_end_s, [e.dynamic for e in per_stage], floor_w, latency_s)
        average_w = energy / latency_s if latency_s > 0 else floor_w
        peak_w = max(float(watts.max()) if len(watts) else floor_w, average_w)
        span = acc.cores * (latency_s if latency_s > 0 else 1.0)
        return cls(
            schedule=schedule.name, accelerator=acc.name, dtype=schedule.dtype,
            policy=schedule.meta.get("policy", "unfused"), fidelity=fidelity,
            latency_s=latency_s, device_s=device_s, host_s=host_s,
            lower_bound_s=bounds.lower_s, compute_bound_s=bounds.compute_s,
            memory_bound_s=bounds.memory_s, depth_bound_s=bounds.depth_s,
            upper_bound_s=upper_bound_s, flops=schedule.work_flops,
            dram_bytes=schedule.dram_bytes, onchip_bytes=schedule.onchip_bytes,
            energy_j=energy, dynamic_energy_j=total.dynamic, static_energy_j=static,
            energy_vector_j=total.vector, energy_matrix_j=total.matrix, energy_compute_j=total.compute,
            energy_onchip_j=total.onchip, energy_dram_j=total.dram, energy_baseline_j=baseline,
            average_power_w=average_w, peak_power_w=peak_w,
            vector_utilisation=busy_s["vector"] / span, matrix_utilisation=busy_s["matrix"] / span,
            dram_utilisation=dram_busy_s / (span / acc.cores), stages=len(schedule.stages),
            tiles=0 if trace is None else len(trace), events=events,
            fused_stages=int(schedule.meta.get("fused_stages", 0)),
            newton_iterations=int(schedule.meta.get("iterations", 0)),
            critical_path=critical_path(schedule, stage_end_s),
            notes=_notes(schedule, placed, device_s, host_s), trace=trace,
        )

    def to_record(self) -> dict:
        """One flat row (no trace): what a sweep stores and ``--json`` prints."""
        record = {k: v for k, v in self.__dict__.items() if k != "trace"}
        record["notes"] = "; ".join(self.notes)
        record["critical_path"] = " ".join(map(str, self.critical_path))
        return record
