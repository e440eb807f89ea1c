"""The demo's findings in words, computed from its results: on each chip, which mixer and which
algorithm win at long sequences and by how much, from which T a linear RNN beats attention,
how each mixer's latency grows with T, what binds it, and what a token costs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.plots import growth_exponent
from reports.units import human

__all__ = ["KINDS", "binding", "story"]

#: what the paper contrasts: log-depth linear recurrences, depth-T nonlinear ones, attention
KINDS = {**{f: "linear RNN" for f in ("diagonal", "dense", "permutation-diagonal", "ssd", "gla", "deltanet",
                                      "gated-deltanet", "deltaproduct", "rwkv7")},
         **{f: "nonlinear RNN" for f in ("elman", "gru", "lstm")}, "attention": "attention"}


def binding(row: pd.Series) -> str:
    """Which closed-form bound is nearest the simulated latency: what limits the design."""
    bounds = {"compute": row["compute_bound_s"], "memory bandwidth": row["memory_bound_s"],
              "the dependent chain": row["depth_bound_s"]}
    return max(bounds, key=bounds.get)


def _best(ok: pd.DataFrame) -> pd.DataFrame:
    """The fastest algorithm of every (accelerator, workload, T)."""
    return ok.loc[ok.groupby(["accelerator", "workload", "seq_len"])["latency_s"].idxmin()]


def _crossover(best: pd.DataFrame, challenger: str, incumbent: str) -> int | None:
    """The smallest T from which ``challenger`` is faster than ``incumbent`` at every longer T."""
    a = best[best["workload"] == challenger].set_index("seq_len")["latency_s"]
    b = best[best["workload"] == incumbent].set_index("seq_len")["latency_s"]
    common = sorted(set(a.index) & set(b.index))
    since = None
    for t in common:
        since = (since or t) if a[t] < b[t] else None
    return since


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}×" if ratio >= 100 else f"{ratio:.3g}×"


def story(results: pd.DataFrame) -> str:
    ok = results[results["error"].fillna("") == ""]
    if ok.empty:
        return ""
    ok = ok.assign(kind=ok["family"].map(KINDS).fillna("other"))
    best = _best(ok)
    sentences = []
    for acc, chip in best.groupby("accelerator", sort=False):
        complete = chip.groupby("seq_len")["workload"].nunique()
        t = int(complete[complete == complete.max()].index.max())  # the longest T every mixer ran
        at = chip[chip["seq_len"] == t].sort_values("latency_s")
        first = at.iloc[0]
        line = (f"On {acc} at T = {t:,}, {first['workload']} ({first['kind']}, {first['algorithm']}) is the "
                f"fastest mixer, {human(first['latency_s'], 'latency_s')}, bound by {binding(first)}")
        for kind in ("attention", "nonlinear RNN"):
            other = at[at["kind"] == kind]
            if len(other) and first["kind"] != kind:
                o = other.iloc[0]
                line += (f"; {kind} ({o['workload']}, {o['algorithm']}) takes {_times(o['latency_s'] / first['latency_s'])} "
                         f"as long, bound by {binding(o)}")
        line += f"; a token costs {human(first['energy_per_token_j'], 'energy_per_token_j')}"
        if np.isfinite(first["usd_per_million_tokens"]):
            line += f" and ${first['usd_per_million_tokens']:.3g} per million tokens there"
        line += "."
        since = {linear: _crossover(chip, linear, incumbent)
                 for linear in chip[chip["kind"] == "linear RNN"]["workload"].unique()
                 for incumbent in chip[chip["kind"] == "attention"]["workload"].unique()[:1]}
        since = {k: v for k, v in since.items() if v is not None}
        if since:
            line += (f" Linear RNNs overtake attention from T = {min(since.values()):,} to {max(since.values()):,} "
                     f"({', '.join(f'{k} {v:,}' for k, v in sorted(since.items(), key=lambda kv: kv[1]))}).")
        picks = []
        for workload, group in ok[(ok["accelerator"] == acc) & (ok["seq_len"] == t)].groupby("workload"):
            if group["algorithm"].nunique() > 1:
                ranked = group.sort_values("latency_s")
                a, b = ranked.iloc[0], ranked.iloc[1]
                picks.append(f"{workload} {a['algorithm']} ({_times(b['latency_s'] / a['latency_s'])} ahead of "
                             f"{b['algorithm']})")
        if picks:
            line += " Best algorithm: " + "; ".join(picks) + "."
        sentences.append(line)
    growth = []
    first_chip = best[best["accelerator"] == best["accelerator"].iloc[0]]
    for workload, line in first_chip.groupby("workload"):
        if line["seq_len"].nunique() > 2:
            k = growth_exponent(line["seq_len"].to_numpy(), line["latency_s"].to_numpy())
            if np.isfinite(k):
                growth.append(f"{workload} T^{k:.2f}")
    if growth:
        sentences.append(f"On {first_chip['accelerator'].iloc[0]}, the best latency grows as "
                         f"{', '.join(growth)}: 1 is work linear in T, 2 attention's quadratic work, and "
                         "below 1 a log-depth circuit the chip is wide enough to run at once.")
    return "\n\n".join(sentences)  # a paragraph per chip, then growth
