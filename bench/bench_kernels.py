"""Kernel benchmarks (issue: workloads).  Prints ratios measured in this run.

* diagonal scan, T = 2^20, d = 64, float32: against a STREAM triad measured here, and against
  JAX's ``lax.scan`` / ``lax.associative_scan`` on the CPU when JAX is installed
  (``pip install -e '.[bench]'``; skipped with a note otherwise);
* circuit-executor throughput per circuit against the sequential kernel;
* DeltaNet chunked (WY/UT) and mLSTM chunked against their sequential forms at T = 8192;
* long convolutions at T = 8192: the radix-2 and Monarch transforms against the direct sum
  and against ``numpy.fft`` (``rfft``/``irfft``, what a user would write instead);
* DEER and quasi-DEER iteration counts for a GRU at T = 2^10 … 2^16.

Numba compile (or cache-load) time is reported separately, never inside a timing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import compile_seconds, median_seconds, triad_bandwidth_bytes_per_s  # noqa: E402
from workloads.circuits import CIRCUITS, prefix_circuit  # noqa: E402
from workloads.kernels import delta_rule, init_params, linear_scan, long_conv, mlstm, rnn  # noqa: E402


def diagonal_scan(rng) -> None:
    T, d = 1 << 20, 64
    a = rng.uniform(0.5, 1.0, (T, d)).astype(np.float32)
    b = rng.normal(size=(T, d)).astype(np.float32)
    out = np.empty_like(b)
    print(f"compile/cache-load of linear_scan: {compile_seconds(linear_scan, a[:8], b[:8]):.2f} s")
    triad = triad_bandwidth_bytes_per_s()
    moved = 3 * a.nbytes  # read a, b; write h
    reused = median_seconds(lambda: linear_scan(a, b, out=out))
    fresh = median_seconds(lambda: linear_scan(a, b))
    print(f"stream triad here: {triad / 1e9:.1f} GB/s")
    print(f"diagonal scan T=2^20 d=64 fp32, out= buffer: {moved / reused / 1e9:.1f} GB/s = "
          f"{moved / reused / triad:.2f} × triad   (target ≥ 0.8)")
    print(f"  with a fresh output each call (page faults): {moved / fresh / triad:.2f} × triad")
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        print("  JAX comparison skipped: jax is not installed (pip install -e '.[bench]')")
        return
    jax.config.update("jax_platforms", "cpu")
    ja, jb = jnp.asarray(a), jnp.asarray(b)

    @jax.jit
    def jax_scan(a, b):
        def step(h, ab):
            h = ab[0] * h + ab[1]
            return h, h
        return jax.lax.scan(step, jnp.zeros(a.shape[1], a.dtype), (a, b))[1]

    @jax.jit
    def jax_assoc(a, b):
        def combine(x, y):
            return y[0] * x[0], y[0] * x[1] + y[1]
        return jax.lax.associative_scan(combine, (a, b))[1]

    for name, fn in (("jax.lax.scan", jax_scan), ("jax.lax.associative_scan", jax_assoc)):
        print(f"  {name}: compile {compile_seconds(lambda: fn(ja, jb).block_until_ready()):.2f} s")
        seconds = median_seconds(lambda: fn(ja, jb).block_until_ready(), repeat=3)
        np.testing.assert_allclose(np.asarray(fn(ja, jb)), out, rtol=2e-3, atol=2e-3)
        target = 5 if name == "jax.lax.scan" else 15
        print(f"  scansim is {seconds / reused:.1f}× faster than {name}   (target ≥ {target})")


def circuits(rng) -> None:
    T, d = 1 << 16, 64
    a = rng.uniform(0.5, 1.0, (T, d))
    b = rng.normal(size=(T, d))
    out = np.empty_like(b)
    base = median_seconds(lambda: linear_scan(a, b, out=out), repeat=5)
    print(f"circuit executor, T=2^16 d=64 fp64 (sequential kernel: {T * d / base / 1e6:.0f} M elem/s):")
    for name in CIRCUITS:
        c = prefix_circuit(name, T)
        seconds = median_seconds(lambda: linear_scan(a, b, c, out=out), repeat=3)
        print(f"  {name:15s} depth {c.depth:6d} size {c.size:9d}: {c.size * d / seconds / 1e6:7.0f} M combines/s, "
              f"{seconds / base:6.1f}× the sequential kernel's time")


def deltanet(rng) -> None:
    B, T, H, K, V = 1, 8192, 4, 64, 64
    q, k = rng.normal(size=(2, B, T, H, K))
    k /= np.linalg.norm(k, axis=-1, keepdims=True)
    v = rng.normal(size=(B, T, H, V))
    beta = rng.uniform(0, 1, (B, T, H))
    for algo in ("sequential", "chunked"):
        print(f"compile/cache-load delta_rule {algo}: "
              f"{compile_seconds(delta_rule, q[:, :70], k[:, :70], v[:, :70], beta[:, :70], algo):.2f} s")
    seq = median_seconds(delta_rule, q, k, v, beta, "sequential", repeat=3)
    chk = median_seconds(delta_rule, q, k, v, beta, "chunked", 64, repeat=3)
    print(f"DeltaNet T=8192 H=4 K=V=64 fp64: chunked is {seq / chk:.2f}× the speed of sequential")


def mlstm_forms(rng) -> None:
    B, T, H, K, V = 1, 8192, 4, 64, 64
    q, k = rng.normal(size=(2, B, T, H, K)) / 8
    v = rng.normal(size=(B, T, H, V))
    i, f = rng.normal(size=(B, T, H)), rng.normal(3.0, 1.0, (B, T, H))
    for algo in ("sequential", "chunked"):
        print(f"compile/cache-load mlstm {algo}: "
              f"{compile_seconds(mlstm, q[:, :70], k[:, :70], v[:, :70], i[:, :70], f[:, :70], algo):.2f} s")
    seq = median_seconds(mlstm, q, k, v, i, f, "sequential", repeat=3)
    chk = median_seconds(mlstm, q, k, v, i, f, "chunked", 64, repeat=3)
    print(f"mLSTM T=8192 H=4 K=V=64 fp64: chunked is {seq / chk:.2f}× the speed of sequential")


def long_convolutions(rng) -> None:
    B, D, T = 1, 64, 8192
    u = rng.normal(size=(B, D, T))
    h = rng.normal(size=(D, T)) * np.exp(-np.arange(T) / 500)
    for algo in ("direct", "fft", "monarch"):
        print(f"compile/cache-load long_conv {algo}: {compile_seconds(long_conv, u[:, :, :64], h[:, :64], algo):.2f} s")
    N = 2 * T

    def numpy_fft():
        return np.fft.irfft(np.fft.rfft(u, N) * np.fft.rfft(h, N), N)[..., :T]

    base = median_seconds(numpy_fft, repeat=3)
    times = {algo: median_seconds(long_conv, u, h, algo, repeat=3) for algo in ("direct", "fft", "monarch")}
    print(f"long convolution B=1 D=64 T=8192 fp64 (numpy.fft rfft/irfft: {base * 1e3:.1f} ms):")
    for algo, seconds in times.items():
        print(f"  {algo:8s} {times['direct'] / seconds:7.1f}× the direct sum's speed, "
              f"{seconds / base:6.1f}× numpy.fft's time")


def deer(rng) -> None:
    p = init_params("gru", 16, 16, seed=0)
    print("GRU d=16 Newton iterations (DEER / quasi-DEER) by T:")
    for k in range(10, 17, 2):
        x = rng.normal(size=(1 << k, 16))
        counts = [rnn("gru", p, x, algo)[1] for algo in ("deer", "quasi-deer")]
        print(f"  T=2^{k}: DEER {counts[0]}, quasi-DEER {counts[1]}")


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    diagonal_scan(rng)
    circuits(rng)
    deltanet(rng)
    mlstm_forms(rng)
    long_convolutions(rng)
    deer(rng)
