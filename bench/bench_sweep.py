"""Sweep benchmarks (issue: reports): an analytic-fidelity sweep of 10,000 points (target
≤ 30 s), and DES-fidelity throughput with 1 and 2 worker processes, and the speedup."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reports.sweep import SweepSpec, run_sweep  # noqa: E402


def spec(fidelity: str, points: int, **fields) -> SweepSpec:
    """The benchmark's sweep: a Mamba-2 layer over random H100 variants (``fields``: more sweep
    fields, e.g. ``tune=True``)."""
    return SweepSpec.model_validate({
        "workloads": [{"name": "mamba2-2.7b", "params": {"seq_len": 8192}}],
        "accelerators": ["h100-sxm5-80gb"],
        "axes": {"accelerator.cores": {"low": 16, "high": 264, "integer": True},
                 "accelerator.memory[hbm3].bandwidth_bytes_per_s": {"low": 5e11, "high": 8e12, "log": True},
                 "accelerator.clock_hz": {"low": 1e9, "high": 2.5e9}},
        "sampler": {"kind": "random", "points": points, "seed": 0},
        "fidelity": fidelity, "dtype": "bf16", "event_budget": 1024, **fields,
    })


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        rows = run_sweep(spec("analytic", 10_000), Path(tmp) / "analytic", workers=2)
        seconds = time.perf_counter() - start
        print(f"analytic sweep: {len(rows)} points in {seconds:.1f} s = {len(rows) / seconds:,.0f} points/s   "
              "(target: 10,000 in ≤ 30 s)")
        rates = {}
        for workers in (1, 2):
            start = time.perf_counter()
            rows = run_sweep(spec("des", 48), Path(tmp) / f"des{workers}", workers=workers)
            rates[workers] = len(rows) / (time.perf_counter() - start)
            print(f"DES sweep, {workers} worker(s): {rates[workers]:.1f} points/s")
        print(f"speedup with 2 workers: {rates[2] / rates[1]:.2f}×")
