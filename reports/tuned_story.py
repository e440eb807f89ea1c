"""What tuning each chip's mappings changes in a study's answer, in words: for every chip, the
mixers at the longest length every mixer ran up to :data:`MAX_TUNED_T`, each under the algorithms the study swept, once
as swept (the schedules' default chunk sizes, circuits, blocks and fusion) and once with the
mapping :func:`simulator.tune.tune` finds for that chip — which mixer and algorithm win, and by
how much tuning moved them."""

from __future__ import annotations

import pandas as pd

from reports.story import Story
from reports.units import human, plain
from simulator.bounds import SimulationError
from simulator.tune import tune
from workloads.catalog import WorkloadError, get_workload
from workloads.mapping import mapping_space

__all__ = ["tuned_story", "MAX_TUNED_T"]

#: the longest length tuned: a chunked circuit over T positions takes ~T/100 µs to build, and a
#: search builds a score of them, so a study's longer lengths stay untuned (a second a chip)
MAX_TUNED_T = 16384
#: the chunked circuit's inner and outer circuits a study's search tries (two keep a diagonal
#: scan's search to a second: see workloads.mapping.CHUNK_CIRCUITS)
_CIRCUITS = ("sequential", "kogge-stone")


def tuned_story(layers: pd.DataFrame, dtype: str) -> Story:
    """``layers``: the study's workload rows (``workload``, ``algorithm``, ``accelerator`` with
    its ``accelerator_preset``, ``seq_len``, ``latency_s``, ``error``)."""
    ok = layers[layers["error"].fillna("") == ""]
    if ok.empty:
        return Story()
    key, more = [], []
    changed = []
    for chip, rows in ok.groupby("accelerator", sort=False):
        complete = rows.groupby("seq_len")["workload"].nunique()
        lengths = complete[(complete == complete.max()) & (complete.index <= MAX_TUNED_T)]
        if lengths.empty:
            continue
        T = int(lengths.index.max())
        at = rows[rows["seq_len"] == T]
        swept = at.loc[at["latency_s"].idxmin()]
        preset = str(at["accelerator_preset"].iloc[0]) if "accelerator_preset" in at else chip
        tuned = []
        for name, group in at.groupby("workload"):
            w = get_workload(name).with_params(seq_len=T)
            space = mapping_space(w, chunk_circuits=_CIRCUITS).restricted(algorithms=tuple(group["algorithm"].unique()))
            try:
                found = tune(w, preset, dtype, space=space, fidelity="analytic")
            except (WorkloadError, SimulationError):
                continue
            tuned.append((found.latency_s, name, found))
        if not tuned:
            continue
        best_s, best_name, best = min(tuned, key=lambda t: t[0])
        knobs = ", ".join(f"{k} {v}" for k, v in best.best.items() if k not in ("algorithm", "impl"))
        swept_best = at.groupby("workload")["latency_s"].min()
        top_gain, top_name = max((swept_best[name] / s, name) for s, name, _ in tuned)
        line = (f"On {chip} at T = {T:,}, with each mixer's mapping tuned for the chip, {best_name} "
                f"({best.best['algorithm']}: {knobs}) is fastest at {human(best_s, 'latency_s')}")
        if best_name != swept["workload"] or best.best["algorithm"] != swept["algorithm"]:
            line += (f", where the swept defaults had {swept['workload']} ({swept['algorithm']}) at "
                     f"{human(swept['latency_s'], 'latency_s')}: tuning changes the winner")
            changed.append(chip)
        else:
            line += ", the same winner as with the swept defaults"
        line += (f"; tuning helps {top_name} most, {plain(top_gain)} times as fast as its best swept "
                 "algorithm." if top_gain > 1.01 else "; no mixer gains more than 1 % from tuning.")
        more.append(line)
    if more:
        key.append(f"Tuning each chip's chunk sizes, circuits, blocks and fusion changes which mixer or algorithm "
                   f"wins on {', '.join(changed)}." if changed else
                   "Tuning each chip's chunk sizes, circuits, blocks and fusion changes no winner: on every chip "
                   "the fastest mixer and algorithm stay those of the swept defaults (details below).")
    return Story(tuple(key), tuple(more))
