"""Whole-model cost: median CPU seconds of one model run (prefill and one decode step) of each
shipped config on the H100 preset (Llama-2-70B on 8 chips), against GenZ's ~0.13 s per model
run, the target it must not exceed."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from hwmodels.loader import load_accelerator
from simulator.model import simulate_model
from workloads.models import load_model

GENZ_S = 0.13  # GenZ's per-model-run cost, the target this must not exceed

if __name__ == "__main__":
    h100 = load_accelerator("h100-sxm5-80gb")
    configs = sorted((Path(__file__).resolve().parent.parent / "examples" / "models").glob("*.json"))
    for path in configs:
        model = load_model(path)
        chips = 8 if "70b" in path.name else 1
        simulate_model(model, h100, "prefill", 4096, 8, chips=chips)  # warm the caches once
        times = []
        for _ in range(5):
            start = time.process_time()
            simulate_model(model, h100, "prefill", 4096, 8, chips=chips)
            simulate_model(model, h100, "decode", 4096, 8, chips=chips)
            times.append(time.process_time() - start)
        median = statistics.median(times)
        print(f"{path.stem:14s} {median * 1e3:7.1f} ms CPU per model run   ({median / GENZ_S:5.2f}× GenZ's 0.13 s)")
