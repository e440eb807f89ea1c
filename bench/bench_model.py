"""Whole-model cost: CPU seconds of one model run (a prefill and one decode step) of each
shipped config on the H100 preset — on the fewest chips (a power of two, tensor parallel)
that hold it — against GenZ's ~0.13 s per model run, the target it must not exceed.  The
first run of a config pays for building its schedules; the median of five more reuses them
(as a sweep's points over context or batch do)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from hwmodels.loader import load_accelerator
from simulator.model import simulate_model
from workloads.models import ModelError, load_model

GENZ_S = 0.13  # GenZ's per-model-run cost, the target this must not exceed


def run(model, acc, chips: int) -> float:
    start = time.process_time()
    simulate_model(model, acc, "prefill", 4096, 8, chips=chips)
    simulate_model(model, acc, "decode", 4096, 8, chips=chips)
    return time.process_time() - start


if __name__ == "__main__":
    h100 = load_accelerator("h100-sxm5-80gb")
    folder = Path(__file__).resolve().parent.parent / "examples" / "models"
    for path in sorted([*folder.glob("*.json"), *folder.glob("*.yaml")]):
        model = load_model(path)
        for chips in (1, 2, 4, 8):
            try:
                first = run(model, h100, chips)
                break
            except ModelError:
                continue
        median = statistics.median(run(model, h100, chips) for _ in range(5))
        print(f"{path.stem:20s} ×{chips}  first {first * 1e3:6.1f} ms, then {median * 1e3:6.1f} ms CPU per model run "
              f"({max(first, median) / GENZ_S:5.2f}× GenZ's 0.13 s)")
