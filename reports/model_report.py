"""The whole-model part of a sweep's report: throughput against context per model, the
crossover map (which model serves fastest at each context and batch), memory, and findings
in words computed from the results."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reports.html import Figure, Table
from reports.plots import plot_energy_breakdown, plot_model_crossover, plot_models_vs_context
from reports.story import Story
from reports.units import count, human

__all__ = ["MATCHED", "architecture", "model_section", "fits"]

#: models whose parameter counts are within this factor of each other are compared as of one size
MATCHED = 1.25


def fits(rows: pd.DataFrame) -> pd.Series:
    """Which rows are models that ran (an error that says "does not fit" is a model too big
    for the chip at that context and batch; other errors are bad inputs)."""
    return rows["error"].fillna("") == ""


#: what a model point's row holds once it ran (absent from a results table where none did)
_MEASURES = ["tokens_per_s", "latency_s", "energy_per_token_j", "average_power_w", "memory_bytes",
             "usd_per_million_tokens"]


def _complete(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with every measure's column, and ``on``: the chips a point ran on, in words."""
    rows = rows.reindex(columns=list(dict.fromkeys([*rows.columns, *_MEASURES, "pipeline", "sequence",
                                                    "data_parallel", "expert_parallel", "zero"])))
    layout = rows[["chips", "pipeline", "sequence", "data_parallel", "expert_parallel"]].fillna(1).astype(int)
    zero = rows["zero"].fillna(0).astype(int)
    labels = ("× tensor", "× pipeline", "× context", "× data", "experts over")
    on = rows["accelerator"].astype(str) + [
        "".join(f" {label} {n}" for label, n in zip(labels, split) if n > 1)
        + (f" ZeRO-{z}" if z else "") for split, z in zip(layout.itertuples(index=False), zero)]
    return rows.assign(on=on)


def _throughput(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (chips, batch, context, model): tokens/s, nan where it does not fit."""
    rows = _complete(rows)
    keys = ["on", "batch", "seq_len", "model"]
    table = rows.assign(fits=fits(rows), tokens_per_s=rows["tokens_per_s"].where(fits(rows)))
    return table.groupby(keys, as_index=False).agg(tokens_per_s=("tokens_per_s", "max"), fits=("fits", "any"),
                                                   memory_bytes=("memory_bytes", "max"))


def architecture(config: str) -> str:
    """``transformer``, ``recurrent`` or ``hybrid``: which mixers a model's layers have (from its
    config file; "" where it cannot be read)."""
    from workloads.models import MIXERS, ModelError, load_model

    try:
        model = load_model(config)
    except (ModelError, OSError):
        return ""
    attention = model.count("attention")
    recurrent = sum(model.count(m) for m in MIXERS if m != "attention")
    return "hybrid" if attention and recurrent else "transformer" if attention else "recurrent" if recurrent else ""


def _sizes(rows: pd.DataFrame) -> pd.DataFrame:
    """Per model: its parameter count and architecture (index: the model's name)."""
    rows = rows.reindex(columns=list(dict.fromkeys([*rows.columns, "parameters", "model_config"])))
    out = rows.groupby("model").agg(parameters=("parameters", "max"), config=("model_config", "first"))
    out["architecture"] = [architecture(c) if isinstance(c, str) else "" for c in out["config"]]
    return out


def _size_finding(sizes: pd.DataFrame) -> str:
    """Whether the models are of matched size, with each one's architecture and parameters."""
    known = sizes[sizes["parameters"].notna() & (sizes["parameters"] > 0)].sort_values("parameters", ascending=False)
    if len(known) < 2:
        return ""
    each = _and([f"{m} ({row.architecture + ', ' if row.architecture else ''}{count(row.parameters)}"
                 f"{' parameters' if i == 0 else ''})" for i, (m, row) in enumerate(known.iterrows())])
    if known["parameters"].max() / known["parameters"].min() <= MATCHED:
        return f"The whole models are of about one size, so what differs is how they are built: {each}."
    return (f"The whole models differ in size: {each}; a larger model is slower for its size alone, so the model "
            "table also gives tokens/s per billion parameters.")


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _key(table: pd.DataFrame, what: str) -> list[str]:
    """The chip where most model points fit, at its largest batch that fits: who is fastest at
    the shortest context, who stops fitting as it grows, and how fast the rest are at the longest."""
    counts = table.groupby("on")["fits"].sum()
    if counts.max() == 0:
        return []
    on = counts.idxmax()
    part = table[table["on"] == on]
    batch = part[part["fits"]]["batch"].max()
    wide = part[part["batch"] == batch].pivot(index="seq_len", columns="model", values="tokens_per_s").sort_index()
    first, last = wide.index.min(), wide.index.max()
    ranked = wide.loc[first].dropna().sort_values(ascending=False)
    if ranked.empty:
        return []
    head = (f"Decoding {int(batch):,} sequences at once on {on} with {int(first):,} tokens of context"
            if what == "decodes" else f"On {on} at batch {int(batch):,} and context {int(first):,}")
    line = f"{head}, {ranked.index[0]} is fastest at {human(ranked.iloc[0], 'tokens_per_s')}"
    if len(ranked) > 1:
        line += ", then " + _and([f"{m} at {human(v, 'tokens_per_s')}" for m, v in ranked.iloc[1:].items()])
    missing = [m for m in wide.columns if m not in ranked.index]
    out = [line + (f"; {_and(missing)} {'does' if len(missing) == 1 else 'do'} not fit" if missing else "") + "."]
    if last != first:
        stops = {m: int(wide.index[(wide.index > first) & wide[m].isna()].min()) for m in ranked.index
                 if wide.loc[wide.index > first, m].isna().any()}
        still = wide.loc[last].dropna().sort_values(ascending=False)
        gone = [f"{m} {'no longer fits ' if i == 0 else ''}from {t:,}{' tokens' if i == 0 else ''}"
                for i, (m, t) in enumerate(sorted(stops.items(), key=lambda kv: kv[1]))]
        overtakes = [f"{a} overtakes {b} from {t:,} tokens" for a, b, t in _overtaking(wide.loc[:, ranked.index])]
        parts = [_and(overtakes + gone)] if overtakes or gone else []
        if len(still):
            parts.append(_and([f"{m} {'still ' if stops else ''}{what} {human(v, 'tokens_per_s')}"
                               for m, v in still.items()]) + f" at {int(last):,}")
        if parts:
            out.append(f"As the context grows on {on}, " + "; ".join(parts) + ".")
    grows = _grows_per_1k(part)
    if grows:
        each = [f"{human(g, 'memory_bytes') if g > 0 else 'nothing'} to {'the memory ' if i == 0 else ''}{m}"
                f"{' holds' if i == 0 else chr(39) + 's'}"
                for i, (m, g) in enumerate(sorted(grows.items(), key=lambda kv: -kv[1]))]
        out.append(f"Per sequence, every 1,000 tokens of context add {_and(each)} (a KV cache grows, a "
                   "recurrent state does not).")
    return out


def _findings(table: pd.DataFrame, phase: str, sizes: pd.DataFrame | None = None) -> Story:
    """Per accelerator (and chip count), at its largest swept batch: each model's throughput at
    the shortest and longest context, where a model stops fitting, and from which context one
    model overtakes another (``table``: :func:`_throughput`'s).  The key findings: whether the
    models are of matched size, and the chip where most fit, in a few sentences."""
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
    key = [s for s in [_size_finding(sizes)] if s] if sizes is not None else []
    return Story(tuple(key + _key(table, what)), tuple(out))


def _grows_per_1k(part: pd.DataFrame) -> dict[str, float]:
    """Each model's memory growth in bytes per sequence and 1,000 tokens of context (KV cache; a
    recurrent state does not grow), from its two shortest fitting contexts at one batch
    (``part``: one chip's rows of :func:`_throughput`)."""
    out = {}
    for model, line in part[part["fits"]].groupby("model"):
        for batch, points in line.groupby("batch"):
            points = points.sort_values("seq_len")
            if len(points) >= 2:
                (c0, m0), (c1, m1) = points[["seq_len", "memory_bytes"]].iloc[:2].to_numpy()
                out[model] = (m1 - m0) / (c1 - c0) / batch * 1000
                break
    return out


def _growth(part: pd.DataFrame) -> list[str]:
    """:func:`_grows_per_1k` in words, ``131 MB for llama-3-8b``."""
    return [f"{human(grows, 'memory_bytes') if grows > 0 else 'nothing'} for {model}"
            for model, grows in _grows_per_1k(part).items()]


def _overtaking(wide: pd.DataFrame) -> list[tuple[str, str, int]]:
    """``(A, B, C)``: A overtakes B from context C, for every pair where B is ahead at the
    shortest context and A from C to the longest (a model that no longer fits counts as slower)."""
    filled = wide.fillna(0.0)
    out = []
    for a in wide.columns:
        for b in wide.columns:
            ahead = filled[a] > filled[b]
            if a != b and ahead.iloc[-1] and not ahead.iloc[0]:
                since = ahead[::-1].cummin()[::-1]  # ahead from here to the longest context
                out.append((a, b, int(since[since].index.min())))
    return out


def _overtakes(wide: pd.DataFrame) -> list[str]:
    """:func:`_overtaking` in words: "A overtakes B from context C."."""
    return [f"{a} overtakes {b} from context {t:,}." for a, b, t in _overtaking(wide)]


def model_section(rows: pd.DataFrame, out: Path) -> tuple[Story, list[Figure], list[Table]]:
    """``(findings, figures, tables)`` of a sweep's model points, PNGs written into ``out``."""
    table = _throughput(rows)
    sizes = _sizes(rows)
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
    ran, told = _complete(rows)[fits(rows)], Story()
    if len(ran) and "energy_compute_j" in ran:
        last = pd.concat([_alike(part) for _, part in ran.groupby("on", sort=True)]).sort_values(["on", "model"])
        last = last.assign(label=[f"{r.model} on {r.on}, batch {int(r.batch)}, context {int(r.seq_len):,}"
                                  for r in last.itertuples()])
        plot_energy_breakdown(last, "label", out / "model-energy.png")
        told = _energy_findings(last, phase)
        figures.append(Figure(f"Whole models: where a {phase} pass's energy goes", "model-energy.png",
                              "Per model and chip, all at the shortest context and largest batch every model ran: "
                              "the share of "
                              "the energy its kernels' arithmetic and instructions (compute), on-chip and DRAM "
                              "traffic, links, and the busy chip's baseline and leakage (static) take; at the "
                              "right, the pass's energy and average power per chip."))
    shown = _complete(rows).assign(fits=fits(rows))[["model", "on", "batch", "seq_len", "fits", *_MEASURES]]
    billions = shown["model"].map(sizes["parameters"]) / 1e9
    shown.insert(1, "architecture", shown["model"].map(sizes["architecture"]))
    shown.insert(2, "parameters (billions)", billions)
    per = ""
    if billions.max() / billions.min() > MATCHED:  # models of different sizes: throughput for their size too
        shown.insert(list(shown.columns).index("tokens_per_s") + 1, "tokens/s per billion parameters",
                     shown["tokens_per_s"] / billions)
        per = ", throughput per billion parameters (the models differ in size)"
    tables.append(Table(f"Whole models: {phase}", shown.sort_values(["on", "model", "batch", "seq_len"]),
                        f"Throughput{per}, time per pass, energy per token, average power per chip, memory held (weights and KV cache or "
                        "state) and cost per million tokens; fits is false where the model does not fit."))
    bad = rows[~fits(rows) & ~rows["error"].fillna("").str.contains("does not fit")]
    if len(bad):
        tables.append(Table("Model points rejected", bad[["model", "accelerator", "error"]]))
    return _findings(table, phase, sizes) + told, figures, tables


def _alike(part: pd.DataFrame) -> pd.DataFrame:
    """One chip's rows to compare the models' energy on like with like: at the shortest context
    and the largest batch at which every model ran; where no point has them all, each model's
    largest batch at its shortest context."""
    models = part["model"].nunique()
    common = part.groupby(["seq_len", "batch"]).filter(lambda g: g["model"].nunique() == models)
    if len(common):
        shortest = common[common["seq_len"] == common["seq_len"].min()]
        return shortest[shortest["batch"] == shortest["batch"].max()].drop_duplicates("model")
    return part.sort_values(["seq_len", "batch"], ascending=[True, False]).drop_duplicates("model")


def _energy_findings(last: pd.DataFrame, phase: str) -> Story:
    """Per chip, at the point :func:`_alike` picks: the power each model draws per chip, its
    energy per token and the largest share of that energy (``last``: one row per chip and
    model).  The first chip's sentence is a key finding."""
    said = []
    for on, part in last.groupby("on", sort=False):
        each, same = [], part["batch"].nunique() == 1 and part["seq_len"].nunique() == 1
        for r in part.itertuples():
            shares = {name: getattr(r, column, 0.0) / r.energy_j for name, column in
                      (("DRAM traffic", "energy_dram_j"), ("arithmetic and instructions", "energy_compute_j"),
                       ("on-chip traffic", "energy_onchip_j"), ("the busy chip's baseline and leakage", None))
                      if column is not None}
            shares["the busy chip's baseline and leakage"] = (r.energy_baseline_j + r.static_energy_j) / r.energy_j
            top = max(shares, key=shares.get)
            where = "" if same else f" at batch {int(r.batch)}, context {int(r.seq_len):,}"
            each.append(f"{r.model}{where} draws {human(r.average_power_w, 'average_power_w')} and "
                        f"{human(r.energy_per_token_j, 'energy_per_token_j')} per token, "
                        f"{shares[top] * 100:.0f} % of it {top}")
        at = f", batch {int(part['batch'].iloc[0])}, context {int(part['seq_len'].iloc[0]):,}" if same else ""
        said.append(f"Power on {on} ({phase}{at}): " + "; ".join(each) + ".")
    return Story(tuple(said[:1]), tuple(said[1:]))
