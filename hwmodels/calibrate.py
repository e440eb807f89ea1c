"""Measure the machine this runs on and describe it as an :class:`Accelerator` spec.

Microbenchmarks in Numba, each the median of several runs after a warm-up (compilation is
never timed):

* clock: the OS's reported maximum frequency (sysfs ``cpuinfo_max_freq``, else the
  ``cpu MHz`` of ``/proc/cpuinfo``);
* vector unit: one core's fused multiply-add throughput with 16 independent accumulators
  (flops per cycle, per dtype) and the latency of a dependent multiply-add chain;
* special functions: exp, tanh and a sigmoid over a vector (throughput) and as a dependent
  chain (latency);
* memory: cache sizes from sysfs; each level's read bandwidth with a buffer that fits it, its
  latency by chasing a random cyclic permutation; DRAM bandwidth by a STREAM triad on all
  cores and its capacity from ``/proc/meminfo``;
* kernel launch: the round trip of an empty parallel region.

Energy, static power and area cannot be measured from user space: they are left at zero and
the written file says so.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

from hwmodels.spec import Accelerator

__all__ = ["calibrate", "CalibrationError", "median_seconds", "triad_bandwidth_bytes_per_s"]


class CalibrationError(RuntimeError):
    """Something about this machine could not be measured or read."""


def median_seconds(fn, *args, repeat: int = 5) -> float:
    """Median wall time of ``fn(*args)`` over ``repeat`` runs after one warm-up run (which
    compiles or loads from cache: compilation is never timed)."""
    fn(*args)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@njit(cache=True)
def _fma_throughput(x, n):
    """Eight dependent multiply-adds per element, independent across a vector that fits L1:
    the loop vectorises and keeps several FMA chains in flight (2·8·len(x)·n flops)."""
    a = x.dtype.type(0.999999)
    b = x.dtype.type(1e-7)
    y = x.copy()
    for _ in range(n):
        for i in range(y.shape[0]):
            v = y[i]
            v = v * a + b
            v = v * a + b
            v = v * a + b
            v = v * a + b
            v = v * a + b
            v = v * a + b
            v = v * a + b
            v = v * a + b
            y[i] = v
    return y.sum()


@njit(cache=True)
def _fma_chain(x0, n):
    x = x0
    for _ in range(n):
        x = x * 0.999999 + 1e-7
    return x


@njit(cache=True)
def _special_throughput(x, kind):
    total = 0.0
    for i in range(x.shape[0]):
        v = x[i]
        if kind == 0:
            total += np.exp(v)
        elif kind == 1:
            total += np.tanh(v)
        else:
            total += 1.0 / (1.0 + np.exp(-v))
    return total


@njit(cache=True)
def _special_chain(x0, n, kind):
    x = x0
    for _ in range(n):
        if kind == 0:
            x = np.exp(x * 1e-3)
        elif kind == 1:
            x = np.tanh(x + 0.5)
        else:
            x = 1.0 / (1.0 + np.exp(-x))
    return x


@njit(cache=True, fastmath=True)  # fastmath lets the sum vectorise: a read, not an add chain
def _read(x, n):
    total = 0.0
    for _ in range(n):
        for i in range(x.shape[0]):
            total += x[i]
    return total


@njit(cache=True)
def _chase(perm, n):
    j = 0
    for _ in range(n):
        j = perm[j]
    return j


@njit(cache=True, parallel=True)
def _triad(a, b, c, s):
    for i in prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


@njit(cache=True, parallel=True)
def _empty_region(x):
    for i in prange(x.shape[0]):
        x[i] = i


def triad_bandwidth_bytes_per_s(n: int = 1 << 25) -> float:
    """STREAM triad ``a = b + s·c`` (float32) on all cores: 3 arrays' bytes over the median time."""
    b, c = np.ones(n, np.float32), np.ones(n, np.float32)
    a = np.empty_like(b)
    return 3 * a.nbytes / median_seconds(_triad, a, b, c, np.float32(3.0))


def _read_text(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def clock_hz() -> float:
    text = _read_text("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if text and text.strip().isdigit():
        return int(text) * 1e3
    text = _read_text("/proc/cpuinfo") or ""
    match = re.search(r"cpu MHz\s*:\s*([0-9.]+)", text)
    if match:
        return float(match.group(1)) * 1e6
    raise CalibrationError("cannot read the CPU clock from sysfs or /proc/cpuinfo; pass --clock-hz")


def _size(text: str) -> int:
    text = text.strip().upper()
    unit = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1], 1)
    return int(text.rstrip("KMG")) * unit


def cache_levels() -> list[tuple[str, int, bool]]:
    """(name, bytes, shared by all cores?) for each data/unified cache level, innermost first."""
    levels = []
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in sorted(base.glob("index*")):
        kind = _read_text(str(index / "type")) or ""
        if kind.strip() not in ("Data", "Unified"):
            continue
        level = (_read_text(str(index / "level")) or "0").strip()
        size = _read_text(str(index / "size"))
        shared = (_read_text(str(index / "shared_cpu_list")) or "0").strip()
        if size:
            levels.append((f"l{level}", _size(size), "," in shared or "-" in shared))
    if not levels:
        raise CalibrationError("cannot read cache sizes from /sys/devices/system/cpu/cpu0/cache")
    return levels


def dram_capacity_bytes() -> float:
    text = _read_text("/proc/meminfo") or ""
    match = re.search(r"MemTotal:\s*(\d+) kB", text)
    if not match:
        raise CalibrationError("cannot read MemTotal from /proc/meminfo")
    return int(match.group(1)) * 1024.0


def _flops_per_cycle(dtype, clock: float) -> float:
    x = np.random.default_rng(0).random(256).astype(dtype)
    n = 50000
    seconds = median_seconds(_fma_throughput, x, n)
    return 2 * 8 * 256 * n / seconds / clock


def _cycles(seconds_per_op: float, clock: float) -> float:
    return max(1.0, seconds_per_op * clock)


def _level_bandwidth_and_latency(size: int, clock: float) -> tuple[float, float]:
    words = max(1024, size // 2 // 8)  # half the level, float64 words
    x = np.random.default_rng(1).random(words)
    n = max(1, int(2e8 // words))
    bandwidth = words * 8 * n / median_seconds(_read, x, n)
    perm = np.random.default_rng(2).permutation(words).astype(np.int64)
    cycle = np.empty_like(perm)  # one random cycle through every slot: no short loops
    cycle[perm] = np.roll(perm, -1)
    hops = 2_000_000
    latency = median_seconds(_chase, cycle, hops, repeat=3) / hops
    return bandwidth, latency


def calibrate(clock: float | None = None, progress=None) -> Accelerator:
    """Measure this machine and return its spec (takes about half a minute); ``progress(text)``
    hears of each phase as it starts."""
    say = progress or (lambda text: None)
    if clock is not None and not (isinstance(clock, (int, float)) and 0 < clock < float("inf")):
        raise ValueError(f"calibrate: clock must be a finite number of Hz > 0, got {clock!r}")
    clock = clock or clock_hz()
    cores = numba.get_num_threads()
    say("arithmetic peaks (compiles its kernels first)")
    fpc32 = _flops_per_cycle(np.float32, clock)
    fpc64 = _flops_per_cycle(np.float64, clock)
    lanes = 2 ** max(0, round(np.log2(max(1.0, fpc32 / 2))))  # SIMD width: FMA = 2 flops/lane
    chain = 100_000
    fma_latency = _cycles(median_seconds(_fma_chain, 1.0, chain) / chain, clock)
    x = np.random.default_rng(3).normal(size=1 << 16)
    special = {}
    say("special functions")
    for kind, name in enumerate(("exp", "tanh", "sigmoid")):
        throughput = x.shape[0] / median_seconds(_special_throughput, x, kind) / clock
        latency = _cycles(median_seconds(_special_chain, 0.5, chain, kind) / chain, clock)
        special[name] = {"ops_per_cycle": throughput, "latency_cycles": latency}
    memory = []
    say("caches and DRAM")
    for name, size, shared in cache_levels():
        bandwidth, latency = _level_bandwidth_and_latency(size, clock)
        memory.append({"name": name, "scope": "chip" if shared else "core", "capacity_bytes": float(size),
                       "bandwidth_bytes_per_s": bandwidth, "latency_s": latency, "energy_per_byte_j": 0.0})
    dram_bw = triad_bandwidth_bytes_per_s()
    _, dram_latency = _level_bandwidth_and_latency(256 << 20, clock)
    memory.append({"name": "dram", "scope": "chip", "capacity_bytes": dram_capacity_bytes(),
                   "bandwidth_bytes_per_s": dram_bw, "latency_s": dram_latency, "energy_per_byte_j": 0.0})
    launch = median_seconds(_empty_region, np.empty(cores * 2), repeat=50)
    spec = {
        "name": "host",
        "description": f"this machine, measured by scansim calibrate ({os.uname().machine}, "
                       f"{cores} cores); energy, power and area are not measured and are zero",
        "cores": cores,
        "clock_hz": clock,
        "vector": {"lanes": lanes,
                   "flops_per_lane_per_cycle": {"fp32": fpc32 / lanes, "fp64": fpc64 / lanes},
                   "op_latency_cycles": fma_latency,
                   "energy_per_flop_j": {"fp32": 0.0, "fp64": 0.0}},
        "sfu": {**special, "energy_per_op_j": 0.0},
        "memory": memory,
        "kernel_launch_s": launch,
        "static_power_w": 0.0,
    }
    return Accelerator.model_validate(spec)
