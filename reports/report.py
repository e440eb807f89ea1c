"""The HTML report of a sweep: tables, Pareto fronts, latency vs T, crossover map, roofline,
a Gantt chart of one simulated trace, and a sensitivity tornado — PNGs beside index.html."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from reports.html import Figure, Table, write_report
from reports.model_report import fits, model_section
from reports.pareto import pareto_front
from reports.plots import (growth_exponent, plot_crossover, plot_energy_breakdown, plot_gantt,
                           plot_latency_vs_hardware, plot_latency_vs_t, plot_pareto, plot_roofline, plot_tornado)
from reports.story import Story
from reports.units import human, plain, scaled
from reports.sweep import SweepError, accelerator_of, evaluate, point_schedule
from reports.validate import validation_section
from simulator import simulate

__all__ = ["write_sweep_report", "sensitivity", "swept_hardware", "findings", "overview", "page_summary",
           "tuned_section"]

#: hardware parameters the tornado varies, as spec paths
SENSITIVITY = ("clock_hz", "cores", "vector.lanes", "memory[-1].bandwidth_bytes_per_s", "kernel_launch_s")


def sensitivity(point: dict) -> pd.DataFrame:
    """Relative latency of ``point`` with each hardware parameter halved and doubled."""
    base = evaluate(point)["latency_s"]
    rows = []
    acc = accelerator_of(point)
    sched = point_schedule(point)[3]
    for name in SENSITIVITY:
        row = {"parameter": name}
        for label, factor in (("half", 0.5), ("double", 2.0)):
            doc = acc.model_dump()
            if name == "memory[-1].bandwidth_bytes_per_s":
                doc["memory"][-1]["bandwidth_bytes_per_s"] *= factor
            elif name == "vector.lanes":
                doc["vector"]["lanes"] = max(1, int(doc["vector"]["lanes"] * factor))
            elif name == "cores":
                doc["cores"] = max(1, int(doc["cores"] * factor))
            else:
                doc[name] *= factor
            varied = type(acc).model_validate(doc)
            row[label] = simulate(sched, varied, point["policy"], event_budget=int(point["event_budget"])).latency_s / base
        rows.append(row)
    return pd.DataFrame(rows)


def swept_hardware(results: pd.DataFrame) -> list[str]:
    """The accelerator fields the sweep varied (``accelerator.cores``, …)."""
    return [c for c in results.columns if c.startswith("accelerator.") and results[c].nunique() > 1]


def _name(column: str) -> str:
    """A column as a person says it: ``latency_s`` → ``latency``."""
    label = scaled(pd.Series([1.0]), column)[1]
    return label[:label.rfind(" (")] if label.endswith(")") else label


def findings(ok: pd.DataFrame, hardware: list[str]) -> list[str]:
    """What the sweep found, in words computed from its results: the best design per workload
    at its longest T, and what each swept hardware field bought."""
    if ok.empty:
        return []
    out = []
    for workload, sub in ok.groupby("workload"):
        longest = sub[sub["seq_len"] == sub["seq_len"].max()]
        best = longest.loc[longest["latency_s"].idxmin()]
        setting = ", ".join(f"{c.split('.', 1)[1]} = {human(best[c], c)}" for c in hardware if pd.notna(best.get(c)))
        runner = longest[longest["algorithm"] != best["algorithm"]]
        margin = (f", {plain(runner['latency_s'].min() / best['latency_s'])} times as fast as "
                  f"{runner.loc[runner['latency_s'].idxmin(), 'algorithm']}" if len(runner) else "")
        out.append(f"For {workload} at T = {int(best['seq_len']):,} the fastest design is {best['algorithm']} on "
                   f"{best['accelerator']}{' (' + setting + ')' if setting else ''}: "
                   f"{human(best['latency_s'], 'latency_s')}{margin}.")
    # like with like: each hardware field's effect on the algorithm that wins at that workload and T
    # (a point of a Sobol sweep samples one algorithm, so mixing them hides the trend)
    winners = ok.loc[ok.groupby(["workload", "seq_len"])["latency_s"].idxmin(), ["workload", "seq_len", "algorithm"]]
    same = ok.merge(winners, on=["workload", "seq_len", "algorithm"])
    for column in hardware:
        if not pd.api.types.is_numeric_dtype(ok[column]):
            continue
        best = same.groupby(["workload", "seq_len", column])["latency_s"].min().reset_index()
        low, high = best[column].min(), best[column].max()
        at_low = best[best[column] == low]["latency_s"].median()
        at_high = best[best[column] == high]["latency_s"].median()
        rank = best.groupby(["workload", "seq_len"])[[column, "latency_s"]].corr(method="spearman")
        rho = rank.xs(column, level=-1)["latency_s"].median() if len(rank) else float("nan")
        trend = "lowers" if rho < -0.3 else "raises" if rho > 0.3 else "barely changes"
        algos = ", ".join(sorted(winners["algorithm"].unique()))
        out.append(f"Raising {column} from {human(low, column)} to {human(high, column)} {trend} the best "
                   f"latency ({algos}, the fastest algorithm: median {human(at_low, 'latency_s')} → "
                   f"{human(at_high, 'latency_s')}, rank correlation {rho:+.2f}).")
    if hardware and "chip_cost_usd" in ok and ok.groupby("accelerator")["chip_cost_usd"].nunique().max() == 1:
        out.append("Chip area and cost stay at each spec's own across the swept hardware: a spec states one "
                   "die area, not an area per core or per memory interface, so cost is no objective here.")
    return out


def _growth(group: pd.DataFrame) -> float:
    best = group.groupby("seq_len")["latency_s"].min()
    return growth_exponent(best.index.to_numpy(), best.to_numpy())


def _point(row: pd.Series) -> dict:
    """A results row back into an evaluable point."""
    keys = ("workload", "accelerator", "algorithm", "dtype", "policy", "fidelity", "event_budget")
    point = {k: row[k] for k in keys}
    for key in row.index:  # parquet widens integer columns with gaps to float: narrow back
        if key.startswith("accelerator.") and pd.notna(row[key]):
            value = row[key].item() if hasattr(row[key], "item") else row[key]  # numpy → Python
            point[key] = int(value) if isinstance(value, float) and value.is_integer() else value
    point["accelerator"] = row.get("accelerator_preset", row["accelerator"])
    point["workload_params"] = json.loads(row["workload_params"]) if isinstance(row["workload_params"], str) else {}
    for key in row.index:  # swept workload dimensions and chunk sizes
        if (key.startswith("workload.") or key == "chunk") and pd.notna(row[key]):
            point[key] = int(row[key])
    if "direction" in row.index and isinstance(row["direction"], str):
        point["direction"] = row["direction"]
    for knob in ("chunk", "inner", "outer", "block", "tile", "circuit", "policy"):  # a tuned row's mapping
        value = row.get(f"tuned_{knob}")
        if value is not None and pd.notna(value):
            point[knob] = int(value) if isinstance(value, float) and value.is_integer() else value
    point["workload.seq_len"] = int(row["seq_len"])
    point["seq_len"] = int(row["seq_len"])
    point["fidelity"] = "des"
    return point


def _range(values: pd.Series) -> str:
    low, high = int(values.min()), int(values.max())
    return f"{low:,}" if low == high else f"{low:,} to {high:,}"


def overview(results: pd.DataFrame, models: pd.DataFrame) -> str:
    """What the sweep simulated, in one sentence: its mixers, algorithms, lengths and chips, and
    its whole models, contexts and batches (counts computed from the results)."""
    parts = []
    if len(results):
        chips = sorted(results["accelerator"].unique())
        rejected = int((results["error"].fillna("") != "").sum())
        parts.append(f"{results['workload'].nunique()} mixers (one layer each) under "
                     f"{results['algorithm'].nunique()} algorithms at T = {_range(results['seq_len'])} tokens on "
                     f"{len(chips)} chip{'s' if len(chips) > 1 else ''} ({', '.join(chips)}): {len(results)} design "
                     f"points, {rejected} rejected by the model")
    if len(models):
        phase = models["phase"].iloc[0]
        ing = {"decode": "decoding", "prefill": "prefilling", "train": "training"}.get(phase, phase)
        chips = set(models["accelerator"])
        on = "the same" if len(results) and chips <= set(results["accelerator"]) else f"{len(chips)}"
        parts.append(f"{models['model'].nunique()} whole models {ing} at {_range(models['seq_len'])} tokens of "
                     f"context and batch {_range(models['batch'])} on {on} chip{'s' if len(chips) > 1 else ''}: "
                     f"{len(models)} model points")
    return "Simulated: " + "; and ".join(parts) + ". Every sentence below is computed from these results."


def page_summary(opening: str, story: Story, trust: str = "", more_title: str = "More findings") -> str:
    """The text that opens a report, in the markup its template reads: ``opening``, the key
    findings as a list, ``trust`` (list lines "- …" on the validation) under its own heading,
    and the detailed findings as a closed list below."""
    blocks = [opening] if opening else []
    if story.key:
        blocks.append("## Findings\n" + "\n".join(f"- {s}" for s in story.key))
    if trust:
        blocks.append("## How far to trust these numbers\n" + trust)
    if story.more:
        blocks.append(f"+ {more_title} ({len(story.more)})\n" + "\n".join(f"- {s}" for s in story.more))
    return "\n\n".join(blocks)


#: the knobs a tuned row reports, in the order a mapping is written
_TUNED_KNOBS = ("chunk", "inner", "outer", "block", "tile", "circuit", "impl", "policy")


def _mapping_text(row: pd.Series) -> str:
    """A tuned row's mapping in a few words: ``chunked, chunk 128, fused``."""
    knobs = [f"{k} {int(row[f'tuned_{k}']) if isinstance(row[f'tuned_{k}'], float) else row[f'tuned_{k}']}"
             for k in _TUNED_KNOBS[:-1] if f"tuned_{k}" in row and pd.notna(row[f"tuned_{k}"])]
    return ", ".join([str(row["tuned_algorithm"]), *knobs, str(row.get("tuned_policy", ""))])


def tuned_section(ok: pd.DataFrame) -> tuple[list[str], list[Table]]:
    """The paper's question with tuned mappings: for each chip of a ``tune: true`` sweep, the
    best algorithm and mapping per (family, workload, T), and in words where the winner
    changes between chips.  Returns ``(sentences, tables)``; empty without tuned rows."""
    if "tuned_algorithm" not in ok:
        return [], []
    tuned = ok[ok["tuned_algorithm"].notna()].copy()
    if tuned.empty:
        return [], []
    tuned["mapping"] = tuned.apply(_mapping_text, axis=1)
    keys = ["family", "workload", "seq_len"]
    best = tuned.loc[tuned.groupby([*keys, "accelerator"])["latency_s"].idxmin()]
    table = best.pivot(index=keys, columns="accelerator", values="mapping").reset_index()
    gains = best.assign(gain=best["default_latency_s"] / best["latency_s"]).pivot(
        index=keys, columns="accelerator", values="gain").reset_index()
    sentences = []
    chips = sorted(best["accelerator"].unique())
    for (family, workload), group in table.groupby(["family", "workload"]):
        changes = group[group[chips].nunique(axis=1, dropna=True) > 1]
        lengths = ", ".join(f"{int(t):,}" for t in group["seq_len"])
        if len(chips) < 2:
            continue
        if changes.empty:
            sentences.append(f"Tuned, {workload} ({family}) runs the same mapping on every chip at T = {lengths}: "
                             f"{group[chips[0]].iloc[-1]}.")
            continue
        at = changes.iloc[-1]  # the longest T at which the chips disagree
        per_chip = "; ".join(f"{at[c]} on {c}" for c in chips if pd.notna(at[c]))
        where = ", ".join(f"{int(t):,}" for t in changes["seq_len"])
        sentences.append(f"Tuned, the winner for {workload} ({family}) changes between chips at T = {where}: at "
                         f"T = {int(at['seq_len']):,}, {per_chip}.")
    tables = [Table("Tuned mappings per chip", table,
                    "The best mapping (algorithm, its knobs and the fusion policy) each chip's search found "
                    "for each family, workload and sequence length T (sweep with tune: true)."),
              Table("Gain of tuning", gains, "The default mapping's latency over the tuned one, per chip.")]
    return sentences, tables


def write_sweep_report(results: pd.DataFrame, out: str | Path, title: str = "scansim report",
                       objectives: tuple[str, ...] = ("latency_s", "energy_j", "chip_cost_usd"),
                       validation: tuple[pd.DataFrame, pd.DataFrame] | None = None, story: Story | None = None,
                       progress=None, extra_tables: list[Table] = (), extra_figures: list[Figure] = ()) -> Path:
    """Write ``out/index.html`` and its PNGs for a results table (from :func:`read_results`);
    the Pareto fronts use the first two and all of ``objectives``.  The page opens with what
    was simulated, the findings in words (``story``'s, else :func:`findings`', and the whole
    models'), and, given ``validation`` — the ``(table, orderings)`` of
    :func:`reports.validate.run_validation` — how far to trust them, with its section below."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda text: None)
    say(f"tables and plots of {len(results)} points")
    is_model = results["model"].notna() if "model" in results else pd.Series(False, index=results.index)
    models, results = results[is_model], results[~is_model]
    ok = results[results["error"].fillna("") == ""].copy()
    failed = results[results["error"].fillna("") != ""]
    if ok.empty and not fits(models).any():
        every = pd.concat([failed, models])
        raise SweepError(f"{out}: every one of the {len(every)} points was rejected by the model, nothing "
                         f"to report (the first: {every['error'].iloc[0] if len(every) else 'no rows'})")
    told, figures, tables = model_section(models, out) if len(models) else (Story(), [], [])
    opening = overview(results, models)
    if ok.empty:  # a sweep of whole models only
        return write_report(out, title=title, summary=page_summary(opening, (story or Story()) + told),
                            figures=figures + list(extra_figures), tables=tables + list(extra_tables))
    hardware = swept_hardware(ok)
    cols = ["workload", "accelerator", *hardware, "algorithm", "seq_len", "latency_s", "energy_j", "average_power_w"]
    scenario = ["workload", "seq_len"]  # designs compete only at the same workload and length

    summary = (ok.groupby(["workload", "seq_len", "accelerator", "algorithm"])
               .agg(points=("latency_s", "size"), best_latency_s=("latency_s", "min"),
                    best_energy_j=("energy_j", "min"), average_power_w=("average_power_w", "median"))
               .reset_index())
    tables.append(Table("Summary", summary, "Best latency and energy per workload, sequence length T, "
                                            "accelerator and algorithm (over the other swept axes), and the "
                                            "median of its points' average power."))
    tuned_words, tuned_tables = tuned_section(ok)
    tables += tuned_tables
    told = told + Story((), tuple(tuned_words))

    objectives = [o for o in objectives if o in ok and ok[o].notna().any()] or ["latency_s", "energy_j"]
    x, y = (objectives + ["energy_j"])[:2] if len(objectives) > 1 else ("latency_s", "energy_j")
    (workload, t), largest = max(ok.groupby(scenario), key=lambda kv: (len(kv[1]), kv[0][1]))
    front2 = pareto_front(largest, [x, y])
    plot_pareto(largest, front2, x, y, out / "pareto.png")
    figures.append(Figure(f"Pareto front: {_name(x)} vs {_name(y)}", "pareto.png",
                          f"{workload} at T = {int(t):,}, its {len(largest)} design points; circled: those no "
                          "other point beats on both."))
    fronts = pd.concat([pareto_front(group, objectives) for _, group in ok.groupby(scenario)])
    tables.append(Table(f"Pareto fronts: {', '.join(map(_name, objectives))}",
                        fronts[list(dict.fromkeys(cols + objectives))],
                        "Per workload and T, the designs no other beats on all the sweep's objectives."))

    for column in hardware[:3]:
        if pd.api.types.is_numeric_dtype(ok[column]) and ok[column].nunique() > 2:
            best = ok.loc[ok.groupby([*scenario, "algorithm", column])["latency_s"].idxmin()]
            image = f"hardware-{len(figures)}.png"
            alone = len(hardware) == 1
            plot_latency_vs_hardware(best, column, out / image, alone=alone)
            figures.append(Figure(f"Latency vs {_name(column)}", image,
                                  f"Best latency for each value of the swept {column}, one colour per algorithm"
                                  + ("." if alone else f"; the spread at one value is the other swept "
                                     f"fields ({', '.join(c for c in hardware if c != column)}).")))

    if ok["seq_len"].nunique() > 1:
        kept = {"latency_s": ("latency_s", "min"), **({"family": ("family", "first")} if "family" in ok else {})}
        plot_latency_vs_t(ok.groupby(["accelerator", "workload", "algorithm", "seq_len"], as_index=False).agg(**kept),
                          out / "latency_vs_t.png")
        figures.append(Figure("Latency vs sequence length", "latency_vs_t.png",
                              "Log-log, the best over the other axes; one colour per mixer and one line style and "
                              "marker per algorithm, the same in every panel (legend below); each line's growth "
                              "exponent is in the table Growth exponents."))
        growth = (ok.groupby(["accelerator", "workload", "algorithm"])
                  .apply(_growth, include_groups=False).rename("growth_exponent").reset_index())
        tables.append(Table("Growth exponents", growth, "Slope of log latency against log T."))
        if ok["algorithm"].nunique() > 1:
            axis = next((c for c in hardware if c.endswith(".cores")), hardware[0] if hardware else "accelerator")
            plot_crossover(ok, axis, out / "crossover.png")
            figures.append(Figure("Crossover map", "crossover.png",
                                  f"Fastest algorithm for each sequence length and {axis}."))

    peaks = {}
    for name in ok["accelerator"].unique():
        first = ok[ok["accelerator"] == name].iloc[0]
        acc = accelerator_of(_point(first))
        dtype = first["dtype"]  # the roof of the points' own dtype: vector or, if faster, matrix
        vector = acc.peak_flops_per_s(dtype) if dtype in acc.vector.flops_per_lane_per_cycle else 0.0
        peaks[name] = (max(vector, acc.matrix_peak_flops_per_s(dtype) or 0.0), acc.dram.bandwidth_bytes_per_s)
    plot_roofline(ok, peaks, out / "roofline.png")
    figures.append(Figure("Roofline", "roofline.png", "Each design point against its accelerator's roof."))

    if "energy_compute_j" in ok:
        longest = ok[ok["seq_len"] == ok.groupby("workload")["seq_len"].transform("max")]
        best = longest.loc[longest.groupby(["workload", "accelerator"])["latency_s"].idxmin()].head(24)
        best = best.assign(label=[f"{r.workload} on {r.accelerator}, {r.algorithm}, T = {int(r.seq_len):,}"
                                  for r in best.itertuples()])
        plot_energy_breakdown(best, "label", out / "energy.png")
        figures.append(Figure("Where the energy goes", "energy.png",
                              "Per workload and chip, its fastest design at the longest T swept: the share of the "
                              "call's energy in arithmetic and the instructions that issue it (compute), on-chip and "
                              "DRAM traffic, and the busy chip's baseline and leakage (static); at the right, the "
                              "call's energy and average power (see hwmodels.power for the model and its sources)."))

    if len(ok):
        # the trace of a point worth looking at: the longest sequence's best design
        longest = ok[ok["seq_len"] == ok["seq_len"].max()]
        staged = longest[longest["stages"] > 2] if (longest["stages"] > 2).any() else longest
        fastest = staged.sort_values("latency_s").iloc[0]
        point = _point(fastest)
        acc = accelerator_of(point)
        say("one traced simulation (Gantt chart) and the sensitivity tornado")
        traced = simulate(point_schedule(point)[3], acc, point["policy"],
                          event_budget=int(point["event_budget"]))
        plot_gantt(traced.trace, out / "gantt.png")
        figures.append(Figure("Gantt chart of one simulated trace", "gantt.png",
                              f"{point['workload']} T={point['seq_len']} {point['algorithm']} on "
                              f"{point['accelerator']} (the best design at the sweep's longest T)."))
        changes = sensitivity(point)
        plot_tornado(changes, out / "sensitivity.png")
        figures.append(Figure("Sensitivity", "sensitivity.png",
                              "Latency of that point with each hardware parameter halved and doubled."))
        tables.append(Table("Sensitivity", changes, "Latency relative to the unchanged design."))

    if len(failed):
        tables.append(Table("Points the model rejected", failed[["workload", "accelerator", "error"]]))
    extra = ["lower_bound_s", "upper_bound_s", "dram_bytes", "peak_power_w", "clock_scale", "policy",
             "usd_per_million_tokens"]
    if "newton_iterations" in ok and (ok["newton_iterations"] > 0).any():  # DEER: say what was costed
        extra += ["newton_iterations", "notes"]
    shown = ok[[c for c in cols + extra if c in ok]]
    tables += list(extra_tables)
    figures += list(extra_figures)
    tables.append(Table("All points", shown.sort_values(["workload", "accelerator", "seq_len"])))
    trust = ""
    if validation is not None:
        trust, more_figures, more_tables = validation_section(*validation, out)
        figures, tables = figures + more_figures, tables + more_tables
    found = (story or Story(tuple(findings(ok, hardware)))) + told
    return write_report(out, title=title, summary=page_summary(opening, found, trust, "More findings, chip by chip"),
                        figures=figures, tables=tables)
