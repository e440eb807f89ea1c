"""The whole-model part of a sweep's report: throughput against context per model, the
crossover map (which model serves fastest at each context and batch), memory, and findings
in words computed from the results."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reports.html import Figure, Table
from reports.plots import plot_model_crossover, plot_models_vs_context
from reports.units import human

__all__ = ["model_section", "fits"]


def fits(rows: pd.DataFrame) -> pd.Series:
    """Which rows are models that ran (an error that says "does not fit" is a model too big
    for the chip at that context and batch; other errors are bad inputs)."""
    return rows["error"].fillna("") == ""


#: what a model point's row holds once it ran (absent from a results table where none did)
_MEASURES = ["tokens_per_s", "latency_s", "energy_per_token_j", "memory_bytes", "usd_per_million_tokens"]


def _complete(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with every measure's column, and ``on``: the chips a point ran on, in words."""
    rows = rows.reindex(columns=list(dict.fromkeys([*rows.columns, *_MEASURES, "pipeline", "sequence"])))
    layout = rows[["chips", "pipeline", "sequence"]].fillna(1).astype(int)
    on = rows["accelerator"].astype(str) + [
        "".join(f" {label} {n}" for label, n in zip(("× tensor", "× pipeline", "× context"), split) if n > 1)
        for split in layout.itertuples(index=False)]
    return rows.assign(on=on)


def _throughput(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (chips, batch, context, model): tokens/s, nan where it does not fit."""
    rows = _complete(rows)
    keys = ["on", "batch", "seq_len", "model"]
    table = rows.assign(fits=fits(rows), tokens_per_s=rows["tokens_per_s"].where(fits(rows)))
    return table.groupby(keys, as_index=False).agg(tokens_per_s=("tokens_per_s", "max"), fits=("fits", "any"),
                                                   memory_bytes=("memory_bytes", "max"))


def _findings(table: pd.DataFrame, phase: str) -> str:
    """Per accelerator (and chip count), at its largest swept batch: each model's throughput at
    the shortest and longest context, where a model stops fitting, and from which context one
    model overtakes another (``table``: :func:`_throughput`'s)."""
    what = {"decode": "decodes", "prefill": "prefills", "train": "trains on"}[phase]
    out = []
    for on, part in table.groupby("on"):
        if not part["fits"].any():
            out.append(f"No model fits {on} at any swept context and batch.")
            continue
        batch = part[part["fits"]]["batch"].max()
        part = part[part["batch"] == batch]
        wide = part.pivot(index="seq_len", columns="model", values="tokens_per_s").sort_index()
        first, last = wide.index.min(), wide.index.max()
        said = []
        for model in wide.columns:
            line = wide[model]
            text = f"{model} {what} {human(line[first], 'tokens_per_s')} at context {int(first):,}" \
                if pd.notna(line[first]) else f"{model} does not fit at context {int(first):,}"
            if pd.notna(line[last]) and last != first:
                text += f" and {human(line[last], 'tokens_per_s')} at {int(last):,}"
            gone = line[line.isna()].index
            if len(gone) and pd.notna(line[first]):
                text += f" (it no longer fits from context {int(gone.min()):,})"
            said.append(text)
        out.append(f"Serving batch {int(batch)} on {on}: " + "; ".join(said) + ".")
        out += _overtakes(wide)
        growth = _growth(table[table["on"] == on])
        if growth:
            out.append("Memory held grows, per sequence and 1,000 tokens of context, by " + ", ".join(growth) + ".")
    return " ".join(out)


def _growth(part: pd.DataFrame) -> list[str]:
    """Each model's memory growth per sequence and 1,000 tokens of context (KV cache; a
    recurrent state does not grow), from its two shortest fitting contexts at one batch."""
    out = []
    for model, line in part[part["fits"]].groupby("model"):
        for batch, points in line.groupby("batch"):
            points = points.sort_values("seq_len")
            if len(points) >= 2:
                (c0, m0), (c1, m1) = points[["seq_len", "memory_bytes"]].iloc[:2].to_numpy()
                grows = (m1 - m0) / (c1 - c0) / batch * 1000
                out.append(f"{human(grows, 'memory_bytes') if grows > 0 else 'nothing'} for {model}")
                break
    return out


def _overtakes(wide: pd.DataFrame) -> list[str]:
    """"A overtakes B from context C" for every pair where B is ahead at the shortest context
    and A from C to the longest (a model that no longer fits counts as slower)."""
    filled = wide.fillna(0.0)
    out = []
    for a in wide.columns:
        for b in wide.columns:
            ahead = filled[a] > filled[b]
            if a != b and ahead.iloc[-1] and not ahead.iloc[0]:
                since = ahead[::-1].cummin()[::-1]  # ahead from here to the longest context
                out.append(f"{a} overtakes {b} from context {int(since[since].index.min()):,}.")
    return out


def model_section(rows: pd.DataFrame, out: Path) -> tuple[str, list[Figure], list[Table]]:
    """``(findings, figures, tables)`` of a sweep's model points, PNGs written into ``out``."""
    table = _throughput(rows)
    phase = rows["phase"].iloc[0]
    figures, tables = [], []
    for i, (on, part) in enumerate(table.groupby("on")):
        if part["seq_len"].nunique() > 1 and part["fits"].any():
            image = f"models-{i}.png"
            plot_models_vs_context(part, out / image, ylabel=f"{phase} throughput (tokens/s)")
            figures.append(Figure(f"Whole models on {on}: {phase} throughput and memory against context", image,
                                  "One colour per model, one line style per batch; a cross at the context from "
                                  "which the model's weights and cache no longer fit the chip."))
            image = f"model-crossover-{i}.png"
            plot_model_crossover(part, out / image)
            figures.append(Figure(f"Whole models on {on}: which serves fastest", image,
                                  "The model with the highest throughput at each context and batch, with its "
                                  "lead over the runner-up; blank where none fits."))
    shown = _complete(rows).assign(fits=fits(rows))[["model", "on", "batch", "seq_len", "fits", *_MEASURES]]
    tables.append(Table(f"Whole models: {phase}", shown.sort_values(["on", "model", "batch", "seq_len"]),
                        "Throughput, time per pass, energy per token, memory held (weights and KV cache or "
                        "state) and cost per million tokens; fits is false where the model does not fit."))
    bad = rows[~fits(rows) & ~rows["error"].fillna("").str.contains("does not fit")]
    if len(bad):
        tables.append(Table("Model points rejected", bad[["model", "accelerator", "error"]]))
    return _findings(table, phase), figures, tables
