"""Simulator benchmarks (issue: simulator).  Ratios and rates measured in this run.

* simulation cost follows the tiles, not T × d: wall time of one ``simulate`` at T = 2^20 over
  its wall time at T = 2^10, for every catalog workload (target ≤ 3), and a Mamba-2 layer at
  T = 2^20 in absolute time (target ≤ 2 s);
* DES events per second; analytic design points per second (target ≥ 10,000);
* peak memory of one simulate at T = 2^20 (target < 500 MB), measured in a fresh process.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from hwmodels.loader import load_accelerator  # noqa: E402
from simulator import simulate  # noqa: E402
from workloads.catalog import CATALOG, algorithms  # noqa: E402
from workloads.dispatch import schedule  # noqa: E402


def wall(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def scaling(h100) -> None:
    print(f"{'workload':22s} {'algorithm':12s} {'T=2^10 s':>9s} {'T=2^20 s':>9s} {'ratio':>6s}")
    for name, w in CATALOG.items():
        if w.seq_len <= 1:
            continue
        algo = algorithms(w)[0]
        times = []
        for t in (1 << 10, 1 << 20):
            sched = schedule(w.with_params(seq_len=t), algo, iterations=3) if algo in ("deer", "quasi-deer") \
                else schedule(w.with_params(seq_len=t), algo)
            simulate(sched, h100, "unfused")  # warm caches
            times.append(min(wall(lambda: simulate(sched, h100, "unfused")) for _ in range(3)))
        print(f"{name:22s} {algo:12s} {times[0]:9.3f} {times[1]:9.3f} {times[1] / times[0]:6.2f}")


def rates(h100) -> None:
    sched = schedule(CATALOG["mamba2-2.7b"].with_params(seq_len=1 << 20), "chunked")
    seconds = wall(lambda: simulate(sched, h100))
    print(f"Mamba-2 2.7B layer, T=2^20, chunked, auto policy: {seconds:.2f} s   (target ≤ 2 s)")
    ks = schedule(CATALOG["mamba-130m"].with_params(seq_len=1 << 16), "kogge-stone")
    start = time.perf_counter()
    result = simulate(ks, h100, "unfused", event_budget=16384)
    print(f"DES: {result.events / (time.perf_counter() - start):,.0f} events/s ({result.events} events)")
    points = [h100.replace(clock_hz=h100.clock_hz * (1 + i / 1000)) for i in range(2000)]
    start = time.perf_counter()
    for acc in points:
        simulate(ks, acc, "unfused", fidelity="analytic")
    print(f"analytic: {len(points) / (time.perf_counter() - start):,.0f} design points/s "
          f"({len(ks.stages)}-stage schedule)   (target ≥ 10,000)")


PEAK = """
import resource, sys
sys.path.insert(0, {root!r})
from hwmodels.loader import load_accelerator
from simulator import simulate
from workloads.catalog import CATALOG
from workloads.dispatch import schedule
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sched = schedule(CATALOG[{name!r}].with_params(seq_len=1 << 20), {algo!r})
simulate(sched, load_accelerator("h100-sxm5-80gb"))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, before / 1024)
"""


def peak_memory() -> None:
    root = str(Path(__file__).resolve().parent.parent)
    for name, algo in (("mamba2-2.7b", "chunked"), ("mamba-130m", "sequential"), ("mamba-130m", "kogge-stone")):
        out = subprocess.run([sys.executable, "-c", PEAK.format(root=root, name=name, algo=algo)],
                             capture_output=True, text=True, check=True).stdout.split()
        print(f"peak RSS, {name} {algo} at T=2^20: {float(out[0]):.0f} MB "
              f"(imports alone {float(out[1]):.0f} MB)   (target < 500 MB)")


if __name__ == "__main__":
    h100 = load_accelerator("h100-sxm5-80gb")
    scaling(h100)
    rates(h100)
    peak_memory()
