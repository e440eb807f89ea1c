"""The default study, end to end on embedded defaults: ``scansim demo``.

The paper's question on real and proposed chips: linear RNNs (Mamba's diagonal scan,
Mamba-2's SSD, DeltaNet) against a nonlinear RNN (LSTM) and attention (Llama-2-7B's), each
under the algorithms that can run it — sequential, chunked, a Kogge–Stone prefix circuit,
quasi-DEER's Newton iterations, blocked attention — for T = 2^8 … 2^18 in fp16 on a datacenter GPU,
a consumer GPU and a proposed SRAM-only dataflow chip; and whole models from their configs — a
transformer, a hybrid and a recurrent model of about the same size (7–8 B parameters, so the
comparison is of architectures, not sizes) decoding at 2k … 512k tokens of context and batch
1, 8, 64.  It runs as a sweep — results in ``DIR/results/`` (parquet) — and writes the report:
opening with what was simulated, its key findings as a short list (computed from the results),
how far to trust them (the validation sets: the kernels, and the recurrent and energy sets'
held-out halves), and the findings chip by chip; then tables, Pareto front, latency vs T with growth
exponents, crossover map, roofline, a Gantt chart of one trace, a sensitivity tornado, the
models' throughput, memory and crossover map, and the validation section.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from reports.report import write_sweep_report
from reports.story import story
from reports.tuned_story import tuned_story
from reports.sweep import SweepSpec, read_results, run_sweep
from reports.validate import ENERGY_FILE, RECURRENT_FILE, ValidationSet, load_cases, run_validation

__all__ = ["DEMO_WORKLOADS", "DEMO_SEQ_LENS", "DEMO_PRESETS", "DEMO_MODELS", "demo_sweep", "demo_validation",
           "run_demo"]

#: each mixer with the algorithms that can run it
DEMO_WORKLOADS = {
    "mamba-130m": ("sequential", "kogge-stone", "chunked"),  # diagonal: bandwidth-bound
    "diagonal-d64": ("sequential", "kogge-stone"),  # one narrow head: the step chain binds
    "mamba2-2.7b": ("sequential", "chunked"),  # SSD
    "deltanet-1.3b": ("chunked",),
    "lstm-2048": ("sequential", "quasi-deer"),  # nonlinear: depth T, or Newton iterations
    "llama2-7b-attention": ("blocked",),
}
DEMO_SEQ_LENS = tuple(4**k for k in range(4, 10))  # 256 … 262,144
DEMO_PRESETS = ("h100-sxm5-80gb", "rtx-4090", "groq-lpu-style")
DEMO_DTYPE = "fp16"  # the matrix units' dtype: chunked forms run their matmuls there
#: whole models of about one size (see examples/models/README.md), a transformer, a hybrid and a
#: recurrent one, decoding at these contexts and batches
DEMO_MODELS = ("llama-3-8b", "nemotron-h-8b", "mamba-codestral-7b")
DEMO_CONTEXTS = (2048, 8192, 32768, 131072, 524288)
DEMO_BATCHES = (1, 8, 64)
_MODELS = Path(__file__).resolve().parent.parent / "examples" / "models"


def demo_sweep(seq_lens=DEMO_SEQ_LENS, presets=DEMO_PRESETS, models=DEMO_MODELS, contexts=DEMO_CONTEXTS,
               batches=DEMO_BATCHES) -> SweepSpec:
    return SweepSpec.model_validate({
        "name": "demo",
        "workloads": [{"name": n, "algorithms": list(a)} for n, a in DEMO_WORKLOADS.items()],
        "models": [{"config": str(_MODELS / f"{m}.json")} for m in models],
        "phase": "decode",
        "accelerators": list(presets),
        "axes": {"workload.seq_len": list(seq_lens), "model.seq_len": list(contexts), "model.batch": list(batches)},
        "dtype": DEMO_DTYPE,
    })


def demo_validation(quick: bool = False) -> list[tuple[str, ValidationSet]]:
    """The shipped validation sets the demo reports: the kernels, the recurrent and the energy set; with
    ``quick``, the recurrent set's first case of every source and direction and the energy set's
    of every source and chip (both halves, a few seconds instead of a minute: for tests)."""
    recurrent, energy = load_cases(RECURRENT_FILE), load_cases(ENERGY_FILE)
    if quick:
        recurrent, energy = _first_of_each(recurrent, "direction"), _first_of_each(energy, "hardware")
    return [("kernels", load_cases()), ("recurrent", recurrent), ("energy", energy)]


def _first_of_each(cases: ValidationSet, field: str) -> ValidationSet:
    """The set's first case of every source and value of ``field`` (both halves), and the
    orderings between those."""
    first = {}
    for case in cases.cases:
        first.setdefault((case.source, getattr(case, field)), case)
    kept = {c.id for c in first.values()}
    return cases.model_copy(update={"cases": list(first.values()), "orderings": [
        o for o in cases.orderings if {o.faster, o.slower} <= kept]})


def run_demo(out: Path, *, seq_lens=DEMO_SEQ_LENS, presets=DEMO_PRESETS, workers: int = 2,
             validation: Sequence[tuple[str, ValidationSet]] | None = None) -> Path:
    """Run the default study into ``out/results`` and write ``out/index.html`` (with
    ``out/results.csv``).  ``validation``: the ``(name, set)`` pairs to check the model against
    (default :func:`demo_validation`; host cases left out).  Returns the path of ``index.html``;
    a rerun resumes."""
    out = Path(out)
    run_sweep(demo_sweep(seq_lens, presets), out / "results", workers=workers, resume=True, progress=True)
    results = read_results(out / "results")
    results.to_csv(out / "results.csv", index=False)
    say = lambda text: print(f"scansim demo: {text} …", file=sys.stderr, flush=True)  # noqa: E731
    tables, orderings = [], []
    for name, cases in demo_validation() if validation is None else validation:
        say(f"the {name} validation set ({len(cases.cases)} cases)")
        table, order = run_validation(cases, fast=True, name=name)
        tables.append(table)
        orderings.append(order)
    checked = (pd.concat(tables, ignore_index=True), pd.concat(orderings, ignore_index=True)) if tables else None
    layers = results[results["model"].isna()] if "model" in results else results

    def tuned(rows):
        say("each chip's mappings tuned")
        return tuned_story(rows, DEMO_DTYPE)

    return write_sweep_report(results, out, title="scansim demo: linear RNNs, an LSTM and attention "
                                                  "on real and proposed chips, and whole models",
                              validation=checked, story=story(layers) + tuned(layers), progress=say)
