"""Mapping-search benchmarks (issue 23): tuning one layer on one chip with the closed form
(target: under 1 s on 2 cores; the median of several runs, each building its schedules afresh
and again with them cached), and a 1,000-point sweep with ``tune: true``."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import median_seconds  # noqa: E402
from hwmodels.loader import load_accelerator  # noqa: E402
from reports.sweep import SweepSpec, run_sweep  # noqa: E402
from simulator.tune import tune  # noqa: E402
from workloads import dispatch  # noqa: E402
from workloads.catalog import get_workload  # noqa: E402

LAYERS = (("mamba2-2.7b", 8192, "bf16"), ("gla-1.3b", 8192, "bf16"), ("llama2-7b-attention", 8192, "bf16"),
          ("mamba-130m", 8192, "bf16"))


def sweep(points: int) -> SweepSpec:
    return SweepSpec.model_validate({
        "workloads": [{"name": "mamba2-2.7b", "params": {"seq_len": 8192}}],
        "accelerators": ["h100-sxm5-80gb"],
        "axes": {"accelerator.cores": {"low": 16, "high": 264, "integer": True},
                 "accelerator.memory[hbm3].bandwidth_bytes_per_s": {"low": 5e11, "high": 8e12, "log": True},
                 "accelerator.clock_hz": {"low": 1e9, "high": 2.5e9}},
        "sampler": {"kind": "random", "points": points, "seed": 0},
        "fidelity": "analytic", "dtype": "bf16", "tune": True,
    })


if __name__ == "__main__":
    acc = load_accelerator("h100-sxm5-80gb")
    for name, T, dtype in LAYERS:
        w = get_workload(name).with_params(seq_len=T)

        def cold():  # every schedule built afresh, as the first search of a workload builds them
            dispatch._schedule.cache_clear()
            return tune(w, acc, dtype, fidelity="analytic")

        found = tune(w, acc, dtype, fidelity="analytic")
        warm = median_seconds(lambda: tune(w, acc, dtype, fidelity="analytic"), repeat=5)
        fresh = median_seconds(cold, repeat=5)
        print(f"tune {name} T={T} {dtype} on {acc.name}: {len(found.candidates)} legal mappings, "
              f"{found.pruned} pruned; median {fresh:.3f} s building schedules, {warm:.3f} s with them cached "
              f"(target < 1 s) → {found.best}")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        rows = run_sweep(sweep(1000), Path(tmp) / "tuned", workers=2)
        seconds = time.perf_counter() - start
        print(f"tuned sweep (closed form, 2 workers): {len(rows)} points in {seconds:.1f} s = "
              f"{len(rows) / seconds:,.1f} points/s; chunks chosen: "
              f"{rows['tuned_chunk'].value_counts(dropna=False).to_dict()}")
