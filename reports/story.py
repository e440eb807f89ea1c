"""The demo's findings in words, computed from its results: on each chip, which mixer and which
algorithm win at long sequences and by how much, from which T a linear RNN beats attention,
how each mixer's latency grows with T, what binds it, and what a token costs.

A :class:`Story` has two lists of plain sentences: ``key``, the few a newcomer reads first
(across the chips), and ``more``, the same findings chip by chip.  Numbers are written as people
write them (:func:`reports.units.plain`), ratios as "X takes N times as long as Y".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports.plots import growth_exponent
from reports.units import human, plain, usd_per_tokens

__all__ = ["KINDS", "Story", "binding", "describe_workload", "story"]

#: what the paper contrasts: log-depth linear recurrences, depth-T nonlinear ones, attention
KINDS = {**{f: "linear RNN" for f in ("diagonal", "dense", "permutation-diagonal", "ssd", "gla", "deltanet",
                                      "gated-deltanet", "deltaproduct", "rwkv7")},
         **{f: "nonlinear RNN" for f in ("elman", "gru", "lstm")}, "attention": "attention"}


@dataclass(frozen=True)
class Story:
    """Findings in words: ``key`` opens a report as a short list, ``more`` follows in detail."""

    key: tuple[str, ...] = ()
    more: tuple[str, ...] = ()

    def __add__(self, other: Story) -> Story:
        return Story(self.key + other.key, self.more + other.more)


def binding(row: pd.Series) -> str:
    """Which closed-form bound is nearest the simulated latency: what limits the design."""
    bounds = {"compute": row["compute_bound_s"], "memory bandwidth": row["memory_bound_s"],
              "the dependent chain": row["depth_bound_s"]}
    return max(bounds, key=bounds.get)


def describe_workload(name: str) -> str:
    """What a catalog workload is, in a few words: its description up to the first colon or
    the first comma outside parentheses ("" for a name the catalog does not hold)."""
    from workloads.catalog import get_workload
    from workloads.errors import WorkloadError

    try:
        text = get_workload(name).description
    except WorkloadError:
        return ""
    depth = 0
    for i, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if char == ":" or (char == "," and depth == 0):
            return text[:i].strip()
    return text.strip()


def _named(workload: str) -> str:
    """``mamba-130m (Mamba-1 130M layer)``: the name, and what it is where the catalog says."""
    what = describe_workload(workload).replace(" (", ", ").replace(")", "")  # no parentheses in parentheses
    return f"{workload} ({what})" if what else workload


def _a(kind: str) -> str:
    return kind if kind == "attention" else f"a {kind}"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _span(values: list[float], fmt=plain) -> str:
    """``6.38`` or ``369 to 6,870``: one value, or the range of several (each written by ``fmt``)."""
    low, high = fmt(min(values)), fmt(max(values))
    return low if low == high else f"{low} to {high}"


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


@dataclass(frozen=True)
class _Chip:
    """One chip's findings at the longest T every mixer ran there."""

    name: str
    t: int
    at: pd.DataFrame  # each mixer's best algorithm at T, fastest first
    since: dict[str, int]  # linear RNN → the T from which it beats attention
    growth: dict[str, float]  # mixer → exponent of its best latency in T

    @property
    def first(self) -> pd.Series:
        return self.at.iloc[0]

    def rival(self, kind: str) -> pd.Series | None:
        """The fastest mixer of ``kind``, unless the winner is of that kind."""
        other = self.at[self.at["kind"] == kind]
        return other.iloc[0] if len(other) and self.first["kind"] != kind else None


def _chip(name: str, chip: pd.DataFrame) -> _Chip:
    complete = chip.groupby("seq_len")["workload"].nunique()
    t = int(complete[complete == complete.max()].index.max())  # the longest T every mixer ran
    at = chip[chip["seq_len"] == t].sort_values("latency_s")
    since = {linear: _crossover(chip, linear, incumbent)
             for linear in chip[chip["kind"] == "linear RNN"]["workload"].unique()
             for incumbent in chip[chip["kind"] == "attention"]["workload"].unique()[:1]}
    growth = {}
    for workload, line in chip.groupby("workload"):
        if line["seq_len"].nunique() > 2:
            k = growth_exponent(line["seq_len"].to_numpy(), line["latency_s"].to_numpy())
            if np.isfinite(k):
                growth[workload] = k
    return _Chip(name, t, at, {k: v for k, v in since.items() if v is not None}, growth)


def _key(chips: list[_Chip]) -> list[str]:
    """The findings across the chips, a sentence each."""
    out = []
    winners = {c.first["workload"] for c in chips}
    ts = {c.t for c in chips}
    if len(winners) == 1 and len(ts) == 1:
        first = chips[0].first
        where = _and([f"{human(c.first['latency_s'], 'latency_s')} on {c.name}" for c in chips])
        out.append(f"At T = {chips[0].t:,}, the longest sequence every mixer ran, the fastest mixer "
                   f"{'on every chip ' if len(chips) > 1 else ''}is {_named(first['workload'])}, "
                   f"{_a(first['kind'])}: {where}.")
    else:
        out.append("At the longest sequence every mixer ran, the fastest mixer is " + _and(
            [f"{_named(c.first['workload'])} on {c.name} ({human(c.first['latency_s'], 'latency_s')} at "
             f"T = {c.t:,})" for c in chips]) + ".")
    rivals = []
    for kind in ("attention", "nonlinear RNN"):
        pairs = [(c.rival(kind), c.first) for c in chips if c.rival(kind) is not None]
        if not pairs:
            continue
        names = {r["workload"] for r, _ in pairs}
        ratios = [r["latency_s"] / f["latency_s"] for r, f in pairs]
        who = _named(next(iter(names))) if len(names) == 1 else kind
        rivals.append((who, ratios))
    if rivals:
        than = next(iter(winners)) if len(winners) == 1 else "the fastest mixer"
        parts = [f"{who} {'takes ' if i == 0 else ''}{_span(ratios)} times as long{' as ' + than if i == 0 else ''}"
                 for i, (who, ratios) in enumerate(rivals)]
        out.append(f"At that length {', and '.join(parts)}{', depending on the chip' if len(chips) > 1 else ''}.")
    since = {}
    for c in chips:
        for workload, t in c.since.items():
            since.setdefault(workload, []).append(t)
    if since:
        earliest, latest = min(min(v) for v in since.values()), max(max(v) for v in since.values())
        at = {t: sorted(w for w, v in since.items() if t in v) for t in (earliest, latest)}
        if earliest == latest:
            out.append(f"Linear RNNs overtake attention, and stay ahead at every longer T, from T = {earliest:,} "
                       f"({_and(at[earliest])}).")
        else:
            out.append(f"Linear RNNs overtake attention, and stay ahead at every longer T, from T = {earliest:,} "
                       f"({', '.join(at[earliest])}) to T = {latest:,} ({', '.join(at[latest])}), depending on the "
                       f"mixer{' and the chip' if len(chips) > 1 else ''}.")
    kinds = {}
    for c in chips:
        kind_of = c.at.set_index("workload")["kind"]
        for workload, k in c.growth.items():
            kinds.setdefault(kind_of.get(workload, "other"), {}).setdefault(workload, []).append(k)
    if kinds:
        meaning = {"attention": "quadratic work", "linear RNN": "linear work or less", "nonlinear RNN": "linear work"}
        parts = []
        for kind, by in sorted(kinds.items(), key=lambda kv: -max(max(v) for v in kv[1].values())):
            ks = [k for v in by.values() for k in v]
            low, high = f"T^{min(ks):.2f}", f"T^{max(ks):.2f}"
            whose = kind if kind == "attention" else f"the {kind}{'s' if len(by) > 1 else ''}"
            parts.append(f"{low}{' to ' + high if high != low else ''} for {whose}"
                         + (f" ({meaning[kind]})" if kind in meaning else ""))
        out.append(f"Latency grows as {_and(parts)}; T^1 means twice the length takes twice as long.")
    return out


def _more(c: _Chip) -> list[str]:
    """One chip's findings in detail."""
    first = c.first
    line = (f"On {c.name} at T = {c.t:,}, {first['workload']} ({first['kind']}, {first['algorithm']}) is the "
            f"fastest mixer, {human(first['latency_s'], 'latency_s')}, limited by {binding(first)}")
    for kind in ("attention", "nonlinear RNN"):
        o = c.rival(kind)
        if o is not None:
            line += (f"; {o['workload']} ({kind}, {o['algorithm']}) takes {plain(o['latency_s'] / first['latency_s'])} "
                     f"times as long, limited by {binding(o)}")
    out = [line + "."]
    cost = f"On {c.name}, a token through {first['workload']} at T = {c.t:,} takes " \
           f"{human(first['energy_per_token_j'], 'energy_per_token_j')} of energy"
    if np.isfinite(first["usd_per_million_tokens"]):
        cost += f" and costs {usd_per_tokens(first['usd_per_million_tokens'])}"
    out.append(cost + ".")
    if c.since:
        by_t = {}
        for workload, t in c.since.items():
            by_t.setdefault(t, []).append(workload)
        out.append(f"On {c.name}, linear RNNs beat attention at every T from " + "; from ".join(
            [f"{t:,} on for {_and(sorted(ws))}" for t, ws in sorted(by_t.items())]) + ".")
    return out


def _picks(c: _Chip, ok: pd.DataFrame) -> str:
    """Which algorithm is fastest for each mixer that has several, at the chip's T."""
    picks = []
    for workload, group in ok[(ok["accelerator"] == c.name) & (ok["seq_len"] == c.t)].groupby("workload"):
        if group["algorithm"].nunique() > 1:
            ranked = group.sort_values("latency_s")
            a, b = ranked.iloc[0], ranked.iloc[1]
            picks.append(f"{a['algorithm']} for {workload} ({plain(b['latency_s'] / a['latency_s'])} times as fast "
                         f"as {b['algorithm']})")
    return f"On {c.name} at T = {c.t:,}, the fastest algorithms are {_and(picks)}." if picks else ""


def story(results: pd.DataFrame) -> Story:
    """The findings of a sweep of mixers (no whole models) across its chips and lengths."""
    ok = results[results["error"].fillna("") == ""]
    if ok.empty:
        return Story()
    ok = ok.assign(kind=ok["family"].map(KINDS).fillna("other"))
    best = _best(ok)
    chips = [_chip(acc, chip) for acc, chip in best.groupby("accelerator")]
    more = []
    for c in chips:
        more += _more(c) + [p for p in [_picks(c, ok)] if p]
    for c in chips:
        if c.growth:
            more.append(f"On {c.name}, the best latency grows as "
                        + ", ".join(f"{w} T^{k:.2f}" for w, k in sorted(c.growth.items()))
                        + ": 1 is work linear in T, 2 attention's quadratic work, and below 1 a log-depth "
                          "circuit the chip is wide enough to run at once.")
    return Story(tuple(_key(chips)), tuple(more))
