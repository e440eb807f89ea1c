"""Simulator self-consistency studies (too long for the test suite; the tests sample them).

* event budget: every catalog layer × every preset × T ∈ {256, 4096, 65536}, simulated with
  budgets 1024 and 16384 — the largest relative change (target ≤ 2 %);
* bounds: lower ≤ latency ≤ upper on the same points, DES and analytic;
* monotonicity: random schedules on random small chips, with 2× or 4× the DRAM bandwidth,
  lanes or cores — the worst slowdown of each (target ≤ 2 %).
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from hwmodels.loader import load_accelerator, preset_names  # noqa: E402
from hwmodels.spec import Accelerator  # noqa: E402
from simulator import SimulationError, simulate  # noqa: E402
from tests.conftest import toy_spec  # noqa: E402
from workloads.catalog import CATALOG, algorithms  # noqa: E402
from workloads.dispatch import schedule  # noqa: E402
from workloads.schedule import Schedule, Stage  # noqa: E402

LENGTHS = (256, 4096, 65536)
LOW, HIGH = 1024, 16384


def _algorithm(w) -> str:
    algo = algorithms(w)[0]
    return "kogge-stone" if algo == "sequential" and "kogge-stone" in algorithms(w) else algo


def budget_and_bounds() -> None:
    start = time.perf_counter()
    moved, broken, points = [], 0, 0
    for preset in preset_names():
        acc = load_accelerator(preset)
        dtype = "fp32" if "fp32" in acc.vector.flops_per_lane_per_cycle else "bf16"
        for name, w in CATALOG.items():
            if w.family in ("gemm", "elementwise", "reduction"):
                continue
            for T in LENGTHS:
                algo = _algorithm(w)
                options = {"iterations": 3} if algo in ("deer", "quasi-deer") else {}
                sched = schedule(w.with_params(seq_len=T), algo, dtype, **options)
                try:
                    low, high = (simulate(sched, acc, "auto", event_budget=b) for b in (LOW, HIGH))
                    fast = simulate(sched, acc, "auto", fidelity="analytic")
                except SimulationError:
                    continue
                points += 1
                moved.append((abs(low.latency_s / high.latency_s - 1), preset, name, T, algo))
                for r in (low, high, fast):
                    broken += not (r.lower_bound_s * (1 - 1e-9) <= r.latency_s <= r.upper_bound_s * (1 + 1e-9))
    moved.sort(reverse=True)
    print(f"event budget {LOW} vs {HIGH}: {points} points in {time.perf_counter() - start:.0f} s; "
          f"largest change {moved[0][0]:.2%} ({', '.join(map(str, moved[0][1:]))}); "
          f"{sum(m[0] > 0.02 for m in moved)} beyond 2 %   (target: none)")
    print(f"bounds: {broken} of {3 * points} results outside lower ≤ latency ≤ upper   (target: 0)")


def _random_case(rng: random.Random) -> tuple[Schedule, Accelerator, int]:
    stages = []
    for i in range(rng.randint(1, 5)):
        unit = rng.choice(["vector", "transfer"])
        deps = tuple(sorted({rng.randint(0, i - 1) for _ in range(rng.randint(0, 2))})) if i else ()
        stages.append(Stage("s", unit, ops=rng.randint(1, 5000), steps=rng.randint(1, 300),
                            flops_per_op=0.0 if unit == "transfer" else rng.uniform(0, 50),
                            bytes_read_per_op=rng.uniform(0, 64), bytes_written_per_op=rng.uniform(0, 64),
                            latency_ops=rng.uniform(1, 8), deps=deps))
    spec = toy_spec(cores=rng.randint(1, 16), clock_hz=10 ** rng.uniform(6, 9.5),
                    kernel_launch_s=rng.uniform(0, 1e-5))
    spec["vector"].update(lanes=rng.randint(1, 256), op_latency_cycles=rng.uniform(1, 8))
    spec["memory"][0]["capacity_bytes"] = 10 ** rng.uniform(3, 6)
    spec["memory"][1].update(bandwidth_bytes_per_s=10 ** rng.uniform(8, 12), latency_s=rng.uniform(0, 1e-6))
    return Schedule("random", "fp32", tuple(stages)), Accelerator.model_validate(spec), rng.choice([2, 4])


def monotonicity(cases: int = 2000, seed: int = 0) -> None:
    rng = random.Random(seed)
    worst = {"bandwidth": 0.0, "lanes": 0.0, "cores": 0.0}
    beyond = 0
    for _ in range(cases):
        sched, acc, f = _random_case(rng)
        base = simulate(sched, acc, event_budget=256).latency_s
        better = {
            "bandwidth": acc.replace(memory=[m.model_dump() for m in acc.memory[:-1]] + [
                dict(acc.dram.model_dump(), bandwidth_bytes_per_s=acc.dram.bandwidth_bytes_per_s * f)]),
            "lanes": acc.replace(vector=dict(acc.vector.model_dump(), lanes=acc.vector.lanes * f)),
            "cores": acc.replace(cores=acc.cores * f),
        }
        for key, chip in better.items():
            slower = simulate(sched, chip, event_budget=256).latency_s / base - 1
            worst[key] = max(worst[key], slower)
            beyond += slower > 0.02
    print(f"monotonicity over {cases} random cases (×2 or ×4): worst slowdown "
          + ", ".join(f"{k} {v:.2%}" for k, v in worst.items())
          + f"; {beyond} of {3 * cases} comparisons beyond 2 %")


if __name__ == "__main__":
    budget_and_bounds()
    monotonicity()
