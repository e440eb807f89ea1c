"""scansim's predictions for this machine against its measured Numba kernels (issue: hwmodels).

Calibrates the host (``scansim calibrate``, in process), then for each kernel at three sizes
prints the simulated latency of the matching schedule on the host spec, the measured median
kernel time, and their ratio.  Target: every ratio within [0.8, 1.25].
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import median_seconds  # noqa: E402
from hwmodels.calibrate import calibrate  # noqa: E402
from simulator import simulate  # noqa: E402
from workloads.catalog import Workload  # noqa: E402
from workloads.dispatch import schedule  # noqa: E402
from workloads.circuits import prefix_circuit  # noqa: E402
from workloads.kernels import delta_rule, init_params, linear_scan, rnn  # noqa: E402


def diagonal(T, algorithm):
    d = 64
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 1, (T, d)).astype(np.float32)
    b = rng.normal(size=(T, d)).astype(np.float32)
    out = np.empty_like(b)
    circuit = None if algorithm == "sequential" else prefix_circuit("chunked", T, chunk=1024)
    seconds = median_seconds(lambda: linear_scan(a, b, circuit, out=out), repeat=5)
    w = Workload("diag", "diagonal", seq_len=T, state=d)
    options = {} if algorithm == "sequential" else {"chunk": 1024}
    return seconds, schedule(w, algorithm, "fp32", **options)


def deltanet(T, algorithm):
    H, K = 4, 64
    rng = np.random.default_rng(1)
    q, k = rng.normal(size=(2, 1, T, H, K))
    k /= np.linalg.norm(k, axis=-1, keepdims=True)
    v = rng.normal(size=(1, T, H, K))
    beta = rng.uniform(0, 1, (1, T, H))
    seconds = median_seconds(delta_rule, q, k, v, beta, algorithm, 64, repeat=3)
    w = Workload("dn", "deltanet", seq_len=T, heads=H, state=K, value=K)
    return seconds, schedule(w, algorithm, "fp64", **({"chunk": 64} if algorithm == "chunked" else {}))


def gru(T, algorithm):
    d = 64
    p = init_params("gru", d, d)
    x = np.random.default_rng(2).normal(size=(T, d))
    seconds = median_seconds(rnn, "gru", p, x, repeat=3)
    w = Workload("gru", "gru", seq_len=T, state=d, inputs=d)
    return seconds, schedule(w, "sequential", "fp64")


CASES = [
    ("diagonal scan, sequential", diagonal, "sequential", (1 << 16, 1 << 18, 1 << 20)),
    ("diagonal scan, chunked circuit", diagonal, "chunked", (1 << 14, 1 << 16, 1 << 18)),
    ("DeltaNet, recurrent", deltanet, "sequential", (1024, 4096, 16384)),
    ("DeltaNet, chunked WY", deltanet, "chunked", (1024, 4096, 16384)),
    ("GRU d=64, sequential", gru, "sequential", (1024, 4096, 16384)),
]

if __name__ == "__main__":
    host = calibrate()
    print(f"host: {host.cores} cores, {host.peak_flops_per_s('fp32') / 1e9:.0f} GFLOP/s fp32, "
          f"{host.dram.bandwidth_bytes_per_s / 1e9:.1f} GB/s DRAM, launch {host.kernel_launch_s * 1e6:.1f} µs")
    print(f"{'case':32s} {'T':>7s} {'measured s':>11s} {'predicted s':>12s} {'pred/meas':>10s}")
    ratios = []
    for label, run, algorithm, sizes in CASES:
        for T in sizes:
            measured, sched = run(T, algorithm)
            predicted = simulate(sched, host).latency_s
            ratios.append(predicted / measured)
            print(f"{label:32s} {T:7d} {measured:11.4g} {predicted:12.4g} {predicted / measured:10.2f}")
    inside = sum(0.8 <= r <= 1.25 for r in ratios)
    print(f"{inside} of {len(ratios)} ratios within [0.8, 1.25]; median {np.median(ratios):.2f}")
