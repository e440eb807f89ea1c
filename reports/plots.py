"""Matplotlib figures for reports, written as PNG files (Agg backend, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["growth_exponent", "plot_latency_vs_t"]


def growth_exponent(seq_len: np.ndarray, latency_s: np.ndarray) -> float:
    """Least-squares slope of log latency against log T: 1 is linear growth, 0 is flat."""
    x, y = np.log(np.asarray(seq_len, float)), np.log(np.asarray(latency_s, float))
    if len(x) < 2:
        return float("nan")
    return float(np.polyfit(x, y, 1)[0])


def plot_latency_vs_t(results: pd.DataFrame, path: Path) -> Path:
    """Latency against T, log-log, one panel per accelerator, one line per workload/algorithm.

    The legend gives each line's fitted growth exponent.
    """
    accelerators = list(dict.fromkeys(results["accelerator"]))
    fig, axes = plt.subplots(1, len(accelerators), figsize=(6.2 * len(accelerators), 4.6),
                             squeeze=False)
    for ax, acc in zip(axes[0], accelerators):
        sub = results[results["accelerator"] == acc]
        for (workload, algo), line in sub.groupby(["workload", "algorithm"], sort=False):
            line = line.sort_values("seq_len")
            k = growth_exponent(line["seq_len"], line["latency_s"])
            ax.loglog(line["seq_len"], line["latency_s"], marker="o", ms=3,
                      label=f"{workload} · {algo} (∝ T^{k:.2f})")
        ax.set_title(acc)
        ax.set_xlabel("sequence length T")
        ax.set_ylabel("simulated latency (s)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
