"""Mapping-search benchmarks (issue 23): tuning one layer on one chip with the closed form
(target: under 1 s on 2 cores; the median of several runs, each building its schedules afresh
and again with them cached), and a 1,000-point sweep with ``tune: true``."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import bench_sweep  # noqa: E402
from bench.common import median_seconds  # noqa: E402
from hwmodels.loader import load_accelerator  # noqa: E402
from reports.sweep import SweepSpec, run_sweep  # noqa: E402
from simulator.tune import tune  # noqa: E402
from workloads import dispatch  # noqa: E402
from workloads.catalog import get_workload  # noqa: E402

LAYERS = (("mamba2-2.7b", 8192, "bf16"), ("gla-1.3b", 8192, "bf16"), ("llama2-7b-attention", 8192, "bf16"),
          ("mamba-130m", 8192, "bf16"))


def sweep(points: int) -> SweepSpec:
    """bench_sweep's sweep of a Mamba-2 layer over random H100 variants, every point tuned."""
    return bench_sweep.spec("analytic", points, tune=True)


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
