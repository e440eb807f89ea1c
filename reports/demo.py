"""The default study, end to end on embedded defaults: ``scansim demo``.

Sequential scan vs Kogge–Stone prefix circuit, T = 2^8 … 2^20, on a datacenter GPU, an edge GPU
and an SRAM-only dataflow chip, for a wide diagonal LRNN layer (Mamba-130M's state size;
bandwidth binds) and a narrow one (64 channels; the step chain binds a sequential scan, so the
log-depth circuit can win).  It runs as a sweep — results in ``DIR/results/`` (parquet) — and
writes the full report: tables, Pareto front, latency vs T with growth exponents, crossover
map, roofline, a Gantt chart of one trace and a sensitivity tornado — and the validation
section: the shipped published measurements against scansim's predictions.
"""

from __future__ import annotations

from pathlib import Path

from reports.report import write_sweep_report
from reports.sweep import SweepSpec, read_results, run_sweep
from reports.validate import load_cases, run_validation

__all__ = ["DEMO_WORKLOADS", "DEMO_ALGORITHMS", "DEMO_SEQ_LENS", "DEMO_PRESETS", "demo_sweep", "run_demo"]

DEMO_WORKLOADS = ("mamba-130m", "diagonal-d64")
DEMO_ALGORITHMS = ("sequential", "kogge-stone")
DEMO_SEQ_LENS = tuple(2**k for k in range(8, 21))
DEMO_PRESETS = ("h100-sxm5-80gb", "jetson-orin-nano-8gb", "groq-lpu-style")


def demo_sweep(seq_lens=DEMO_SEQ_LENS, presets=DEMO_PRESETS) -> SweepSpec:
    return SweepSpec.model_validate({
        "name": "demo",
        "workloads": [{"name": n} for n in DEMO_WORKLOADS],
        "accelerators": list(presets),
        "axes": {"workload.seq_len": list(seq_lens), "algorithm": list(DEMO_ALGORITHMS)},
        "event_budget": 2048,
    })


def run_demo(out: Path, *, seq_lens=DEMO_SEQ_LENS, presets=DEMO_PRESETS, workers: int = 2) -> Path:
    """Run the default study into ``out/results`` and write ``out/index.html`` (with
    ``out/results.csv``).  Returns the path of ``index.html``; a rerun resumes."""
    out = Path(out)
    run_sweep(demo_sweep(seq_lens, presets), out / "results", workers=workers, resume=True, progress=True)
    results = read_results(out / "results")
    results.to_csv(out / "results.csv", index=False)
    validation = run_validation(load_cases(), fast=True)
    return write_sweep_report(results, out, title="scansim demo: sequential scan vs Kogge–Stone",
                              validation=validation)
