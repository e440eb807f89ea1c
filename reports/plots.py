"""Matplotlib figures for reports, written as PNG files (Agg backend, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from reports.units import human, plain, scaled, unit  # noqa: E402
from simulator.energy import COMPONENTS  # noqa: E402

__all__ = ["growth_exponent", "colours", "mixer_colours", "algorithm_styles", "human_log_axis", "plot_latency_vs_t",
           "plot_latency_vs_hardware", "plot_validation", "plot_energy_breakdown", "ENERGY_SEGMENTS"]

#: the segments of an energy breakdown: (label, result column), in stacking order
ENERGY_SEGMENTS = tuple(COMPONENTS.items())


def colours(values) -> dict:
    """One colour per chip (or per algorithm) in every plot of a report: the sorted names
    take the tab10 colours in order, so the same set of names always gets the same colours."""
    return {v: plt.cm.tab10(i % 10) for i, v in enumerate(sorted(set(values), key=str))}


def growth_exponent(seq_len: np.ndarray, latency_s: np.ndarray) -> float:
    """Least-squares slope of log latency against log T: 1 is linear growth, 0 is flat."""
    x, y = np.log(np.asarray(seq_len, float)), np.log(np.asarray(latency_s, float))
    if len(x) < 2:
        return float("nan")
    return float(np.polyfit(x, y, 1)[0])


#: line styles and markers that tell algorithms apart in black and white too
_STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1, 1, 1, 1, 1)), "v"), ((0, (1, 1)), "P"),
           ((0, (8, 2)), "X"), ((0, (3, 1, 1, 1)), "*")]


def mixer_colours(values) -> dict:
    """One colour per mixer (workload), from a palette other than :func:`colours`' so that a
    mixer's colour is never mistaken for an algorithm's or a chip's in a neighbouring plot."""
    palette = plt.get_cmap("Dark2").colors + plt.get_cmap("Set1").colors
    return {v: palette[i % len(palette)] for i, v in enumerate(sorted(set(values), key=str))}


def algorithm_styles(values) -> dict:
    """One ``(line style, marker)`` per algorithm, the sorted names taking :data:`_STYLES` in order."""
    return {v: _STYLES[i % len(_STYLES)] for i, v in enumerate(sorted(set(values), key=str))}


def _log_subs(values) -> tuple[float, ...]:
    """Where to put labelled ticks in each decade of a log axis over ``values``: enough that an
    axis spanning less than three decades still has several labels."""
    finite = np.asarray([] if values is None else values, float)
    finite = finite[np.isfinite(finite) & (finite > 0)]
    span = finite.max() / finite.min() if len(finite) else np.inf
    return (1.0, 1.5, 2.0, 3.0, 5.0, 7.0) if span < 10 else (1.0, 2.0, 5.0) if span < 1000 else (1.0,)


def human_log_axis(axis, column: str, values=None) -> None:
    """Label a log axis of SI values in the column's human units, each tick with its own unit
    ("100 µs", "1 ms"; "20 GB", "50 GB"), at powers of ten, or more often where ``values`` span
    under three decades (so a narrow axis still has several labels)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=_log_subs(values)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: human(v, column) if v > 0 else ""))
    axis.set_minor_formatter(NullFormatter())


def plot_latency_vs_t(results: pd.DataFrame, path: Path) -> Path:
    """Latency against T, log-log, one panel per accelerator (one latency axis for all), one
    colour per mixer and one line style and marker per algorithm, the same in every panel, with
    one legend for all below the panels (growth exponents: the report's table)."""
    from matplotlib.lines import Line2D

    accelerators = list(dict.fromkeys(results["accelerator"]))
    fig, axes = plt.subplots(1, len(accelerators), figsize=(4.6 * len(accelerators), 4.8), squeeze=False,
                             sharey=True)
    colour = mixer_colours(results["workload"])
    style = algorithm_styles(results["algorithm"])
    ts = sorted(results["seq_len"].unique())
    for ax, acc in zip(axes[0], accelerators):
        sub = results[results["accelerator"] == acc]
        for (workload, algo), line in sub.groupby(["workload", "algorithm"], sort=True):
            line = line.sort_values("seq_len")
            ls, marker = style[algo]
            ax.loglog(line["seq_len"], line["latency_s"], color=colour[workload], ls=ls, marker=marker, ms=4,
                      lw=1.4)
        ax.set_title(acc)
        ax.set_xlabel("sequence length T (tokens)")
        ax.set_xticks(ts, [_tokens(int(t)) for t in ts])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel("simulated latency")
    human_log_axis(axes[0][0].yaxis, "latency_s", results["latency_s"])
    family = results.groupby("workload")["family"].first() if "family" in results else {}
    mixers = [Line2D([], [], color=c, lw=3) for c in colour.values()]
    names = [f"{w} ({family[w]})" if w in family else str(w) for w in colour]
    algos = [Line2D([], [], color="0.3", ls=ls, marker=m, ms=5, lw=1.4) for ls, m in style.values()]
    per_row = max(2, min(len(names), 2 * len(accelerators)))
    rows = -(-len(names) // per_row)
    fig.legend(algos, list(style), loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(style), 8),
               fontsize=9, frameon=False, title="algorithm (line and marker)", title_fontsize=9)
    fig.legend(mixers, names, loc="lower center", bbox_to_anchor=(0.5, 0.09), ncol=per_row,
               fontsize=9, frameon=False, title="mixer (colour)", title_fontsize=9)
    return _save(fig, path, rect=(0, 0.16 + 0.045 * rows, 1, 1))


def _save(fig, path: Path, rect=(0, 0, 1, 1)) -> Path:
    fig.tight_layout(rect=rect)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_pareto(frame: pd.DataFrame, front: pd.DataFrame, x: str, y: str, path: Path) -> Path:
    """All designs as dots, the non-dominated ones highlighted and joined."""
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    chip = colours(frame["accelerator"])
    x_factor, x_label = unit(frame[x], x)
    y_factor, y_label = unit(frame[y], y)
    for acc, sub in frame.groupby("accelerator"):
        ax.scatter(sub[x] * x_factor, sub[y] * y_factor, s=12, alpha=0.5, color=chip[acc], label=acc)
    f = front.sort_values(x)
    ax.plot(f[x] * x_factor, f[y] * y_factor, "k-", lw=1)
    ax.scatter(f[x] * x_factor, f[y] * y_factor, s=40, facecolors="none", edgecolors="k", label="Pareto front")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, path)


def plot_crossover(frame: pd.DataFrame, column: str, path: Path) -> Path:
    """Which algorithm is fastest in each (T, ``column``) cell, per workload."""
    workloads = list(dict.fromkeys(frame["workload"]))
    fig, axes = plt.subplots(1, len(workloads), figsize=(5.2 * len(workloads), 3.8), squeeze=False)
    algos = sorted(frame["algorithm"].unique(), key=str)
    index = {a: i for i, a in enumerate(algos)}  # the colours of colours(): tab10 in sorted order
    for ax, workload in zip(axes[0], workloads):
        sub = frame[frame["workload"] == workload]
        best = sub.loc[sub.groupby(["seq_len", column])["latency_s"].idxmin()]
        # numbers sort as numbers (32, 64, 128 — not "128", "32", "64"), anything else as text
        numeric = pd.api.types.is_numeric_dtype(best[column])
        ts, cs = sorted(best["seq_len"].unique()), sorted(best[column].unique(), key=None if numeric else str)
        grid = np.full((len(cs), len(ts)), np.nan)
        for _, r in best.iterrows():
            grid[cs.index(r[column]), ts.index(r["seq_len"])] = index[r["algorithm"]]
        ax.imshow(grid, aspect="auto", origin="lower", cmap="tab10", vmin=0, vmax=9)
        ax.set_xticks(range(len(ts)), [f"{int(t):,}" for t in ts], rotation=45, fontsize=7)
        ax.set_yticks(range(len(cs)), [(f"{c:,.4g}" if numeric else str(c))[:22] for c in cs], fontsize=7)
        ax.set_xlabel("sequence length T")
        ax.set_ylabel(column.replace("_", " "))
        ax.set_title(workload, fontsize=9)
    handles = [plt.Rectangle((0, 0), 1, 1, color=plt.cm.tab10(index[a] / 9)) for a in algos]
    fig.tight_layout(rect=(0, 0.12, 1, 1))  # the legend goes below the panels, not over one
    fig.legend(handles, algos, loc="lower center", ncol=min(len(algos), 6), fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_roofline(frame: pd.DataFrame, peaks: dict[str, tuple[float, float]], path: Path) -> Path:
    """Attained flop/s against arithmetic intensity, with each accelerator's roof."""
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    xs = np.logspace(-3, 4, 100)
    chip = colours(peaks)
    for acc, (peak, bw) in peaks.items():
        ax.loglog(xs, np.minimum(peak, bw * xs) / 1e12, color=chip[acc], lw=1, label=f"{acc} roof")
        sub = frame[(frame["accelerator"] == acc) & (frame["dram_bytes"] > 0) & (frame["flops"] > 0)]
        ax.scatter(sub["flops"] / sub["dram_bytes"], sub["flops"] / sub["latency_s"] / 1e12, s=10, color=chip[acc])
    ax.set_xlabel("arithmetic intensity (flop per byte of DRAM)")
    ax.set_ylabel("attained TFLOP/s")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, path)


def plot_gantt(trace: pd.DataFrame, path: Path, max_cores: int = 16) -> Path:
    """Compute spans of every tile on the first ``max_cores`` cores, coloured by stage."""
    fig, ax = plt.subplots(figsize=(8, 3.8))
    sub = trace[trace["core"] < max_cores]
    factor, label = unit(sub["compute_end_s"], "time_s")
    for _, r in sub.iterrows():
        ax.barh(r["core"], (r["compute_end_s"] - r["compute_start_s"]) * factor, left=r["compute_start_s"] * factor,
                color=plt.cm.tab20(int(r["stage"]) % 20), height=0.8)
    ax.set_xlabel(label)
    ax.set_ylabel("core")
    ax.set_title("simulated trace: compute per tile (colour = stage)", fontsize=9)
    return _save(fig, path)


def plot_latency_vs_hardware(frame: pd.DataFrame, column: str, path: Path, alone: bool = True) -> Path:
    """Latency against one swept hardware field, one panel per workload and T, one colour per
    algorithm: lines when it is the only swept field (each point the best design at that
    value), dots when others vary too (their spread is the other fields' effect)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    groups = list(frame.groupby(["workload", "seq_len"], sort=True))
    fig, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), 4.0), squeeze=False)
    algo_colour = colours(frame["algorithm"])
    xs, x_label = scaled(frame[column], column)
    ys, y_label = scaled(frame["latency_s"], "latency_s")
    for ax, ((workload, t), sub) in zip(axes[0], groups):
        for algo, part in sub.groupby("algorithm"):
            part = part.sort_values(column)
            style = dict(marker="o", ms=3, lw=0.8) if alone else dict(marker="o", ms=4, lw=0, alpha=0.7)
            ax.plot(xs.loc[part.index], ys.loc[part.index], color=algo_colour[algo], label=algo, **style)
        span = frame[column].max() / max(frame[column].min(), 1e-300)
        ax.set(xscale="log" if span > 10 else "linear", yscale="log",
               xlabel=x_label, ylabel=f"simulated {y_label}", title=f"{workload}, T = {int(t):,}")
        for axis in (ax.xaxis, ax.yaxis):  # plain numbers, not 3×10¹
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_models_vs_context(table: pd.DataFrame, path: Path, ylabel: str = "decode throughput (tokens/s)") -> Path:
    """Two panels against the context, log-log, one colour per model and one line style per
    batch: tokens/s, with a cross where the model's weights and cache no longer fit; and the
    memory it holds (ticks in GB).  One legend for both, below them, clear of the lines."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, (ax, mem) = plt.subplots(1, 2, figsize=(11, 5.0))
    colour = colours(table["model"])
    batches = sorted(table["batch"].unique(), reverse=True)
    style = dict(zip(batches, ["-", "--", ":", "-."] * 8))
    top = table["tokens_per_s"].max()
    for (model, batch), line in table.groupby(["model", "batch"]):
        fits = line[line["fits"]].sort_values("seq_len")
        kw = dict(marker="o", ms=3, color=colour[model], ls=style[batch])
        ax.loglog(fits["seq_len"], fits["tokens_per_s"], **kw)
        mem.loglog(fits["seq_len"], fits["memory_bytes"], **kw)
        gone = line[~line["fits"]]
        if len(gone) and len(fits):  # where it stopped fitting
            ax.scatter(gone["seq_len"].min(), top * 1.3, marker="x", color=colour[model])
    ax.set(xlabel="context (tokens)", ylabel=ylabel)
    mem.set(xlabel="context (tokens)", ylabel="memory held: weights + KV cache or state")
    contexts = sorted(table["seq_len"].unique())
    for a in (ax, mem):
        a.set_xticks(contexts, [_tokens(int(c)) for c in contexts])
        a.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=_log_subs(table.loc[table["fits"], "tokens_per_s"])))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: plain(v)))  # plain numbers, not 3×10¹
    ax.yaxis.set_minor_formatter(NullFormatter())
    human_log_axis(mem.yaxis, "memory_bytes", table.loc[table["fits"], "memory_bytes"])
    for a in (ax, mem):
        a.grid(True, which="both", alpha=0.3)
        a.tick_params(labelsize=8)
    handles = ([Line2D([], [], color=colour[m], marker="o", ms=4, lw=2) for m in colour]
               + [Line2D([], [], color="grey", ls=style[b]) for b in batches]
               + [Line2D([], [], color="grey", marker="x", ls="")])
    labels = [*colour, *(f"batch {int(b):,}" for b in batches), "no longer fits from here"]
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 7), fontsize=9, frameon=False)
    return _save(fig, path, rect=(0, 0.08, 1, 1))


def _tokens(n: int) -> str:
    """A context length as people write it: 2k, 128k, 1M (powers of two), else with commas."""
    for suffix, size in (("M", 1 << 20), ("k", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size}{suffix}"
    return f"{n:,}"


def plot_model_crossover(table: pd.DataFrame, path: Path) -> Path:
    """The model with the highest throughput in each (context, batch) cell, in its colour
    (the colours of :func:`colours` over the models), labelled with its lead over the
    runner-up ("only": no other model fits); blank where no model fits."""
    models = sorted(table["model"].unique(), key=str)
    colour = colours(models)
    contexts, batches = sorted(table["seq_len"].unique()), sorted(table["batch"].unique())
    grid = np.ones((len(batches), len(contexts), 4))  # white: none fits
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(batches) + 2.6))
    for (batch, context), cell in table[table["fits"]].groupby(["batch", "seq_len"]):
        ranked = cell.sort_values("tokens_per_s", ascending=False)
        y, x = batches.index(batch), contexts.index(context)
        grid[y, x] = colour[ranked["model"].iloc[0]]
        lead = "only" if len(ranked) == 1 else f"{ranked['tokens_per_s'].iloc[0] / ranked['tokens_per_s'].iloc[1]:.2g}×"
        ax.text(x, y, lead, ha="center", va="center", fontsize=7, color="white")
    ax.imshow(grid, aspect="auto", origin="lower")
    ax.set_xticks(range(len(contexts)), [_tokens(int(c)) for c in contexts], fontsize=7)
    ax.set_yticks(range(len(batches)), [f"{int(b):,}" for b in batches], fontsize=7)
    ax.set(xlabel="context (tokens)", ylabel="batch (sequences)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[m]) for m in models]
    fig.legend(handles, models, loc="upper center", ncol=min(len(models), 4), fontsize=7, frameon=False)
    return _save(fig, path, rect=(0, 0, 1, 0.9))  # the legend above the map, clear of its labels


def plot_tornado(changes: pd.DataFrame, path: Path) -> Path:
    """Latency change for each parameter halved and doubled."""
    order = changes.assign(span=(changes["double"] - changes["half"]).abs()).sort_values("span")
    fig, ax = plt.subplots(figsize=(6.4, 0.5 * len(order) + 1.5))
    y = np.arange(len(order))
    ax.barh(y, order["half"] - 1, color="tab:blue", label="×0.5")
    ax.barh(y, order["double"] - 1, color="tab:orange", label="×2")
    ax.set_yticks(y, order["parameter"])
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("relative change in latency")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_validation(table: pd.DataFrame, band: float, path: Path, colour: str = "hardware",
                    energy: bool = False) -> Path:
    """Predicted vs published time (or, ``energy``, energy per token), log-log, one colour per
    value of ``colour`` (hardware or family), circles for the development half and triangles
    for the held-out half, with the ±band and ×/÷ 2 lines around the diagonal."""
    published, predicted = ("published_energy_j", "predicted_energy_j") if energy else ("published_s", "predicted_s")
    fig, ax = plt.subplots(figsize=(6.8, 5.8))
    lo = min(table[published].min(), table[predicted].min()) / 2
    hi = max(table[published].max(), table[predicted].max()) * 2
    x = np.geomspace(lo, hi, 50)
    ax.fill_between(x, x / band, x * band, color="0.8", alpha=0.5, label=f"±{(band - 1) * 100:.0f} %")
    ax.plot(x, x, color="0.4", lw=1)
    for factor in (0.5, 2.0):
        ax.plot(x, x * factor, color="grey", lw=0.8, ls="--")
    split = table["split"] if "split" in table else pd.Series("dev", index=table.index)
    colours = dict(zip(sorted(table[colour].unique()), plt.get_cmap("tab10").colors * 3))
    for value, group in table.groupby(colour):
        for half, marker in (("dev", "o"), ("held-out", "^")):
            part = group[split.loc[group.index] == half]
            if len(part):
                ax.scatter(part[published], part[predicted], s=20, marker=marker, alpha=0.8,
                           color=colours[value], label=value if half == "dev" or len(part) == len(group) else None)
    what = "energy per token (J)" if energy else "time (s)"
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi),
           xlabel=f"published {what}", ylabel=f"scansim predicted {what}")
    ax.legend(fontsize=8, title=colour)
    return _save(fig, path)


def plot_energy_breakdown(frame: pd.DataFrame, label: str, path: Path) -> Path:
    """One horizontal bar per row of ``frame`` (its ``label`` column names it): the share of its
    energy in each of :data:`ENERGY_SEGMENTS` it has, stacked to 100 %, and beside the bar its
    energy and average power in human units."""
    segments = [(name, column) for name, column in ENERGY_SEGMENTS
                if column in frame and frame[column].fillna(0.0).gt(0).any()]
    total = frame["energy_j"].to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(11.0, 0.38 * len(frame) + 1.5))
    y = np.arange(len(frame))
    left = np.zeros(len(frame))
    palette = plt.get_cmap("tab10")
    for i, (name, column) in enumerate(segments):
        share = frame[column].fillna(0.0).to_numpy(dtype=float) / np.where(total > 0, total, 1.0) * 100
        ax.barh(y, share, left=left, color=palette(i), label=name)
        left += share
    for yi, (energy, watts) in enumerate(zip(total, frame["average_power_w"])):
        ax.text(102, yi, f"{human(energy, 'energy_j')} at {human(watts, 'average_power_w')}", va="center", fontsize=8)
    ax.text(102, -0.75, "energy, average power", fontsize=8, style="italic")
    ax.set_yticks(y, frame[label], fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("share of the energy (%)")
    ax.invert_yaxis()
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0 + 0.35 / (len(frame) + 2)), ncol=len(segments),
              fontsize=8, frameon=False)
    return _save(fig, path, rect=(0, 0, 0.86, 1))
