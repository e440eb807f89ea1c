"""Evaluating one point: simulate its schedule (or cost its whole model) on its accelerator,
check the circuit it costs by running it, and turn the result into a row."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from hwmodels.cost import area_mm2, chip_cost_usd, usd_per_million_tokens
from hwmodels.loader import SpecError
from reports.sweep.points import point_schedule
from reports.sweep.spec import SweepError, accelerator_of, model_of
from simulator import SimulationError, simulate
from workloads.catalog import WorkloadError, get_workload
from workloads.circuits import CIRCUITS, prefix_circuit
from workloads.kernels import linear_scan

__all__ = ["evaluate", "evaluate_many", "circuit_error", "CHECK_MAX_T"]


@lru_cache(maxsize=1)
def _version() -> str:
    try:
        return version("scansim")
    except PackageNotFoundError:
        return "unknown"


#: longest T at which a point also executes its circuit with the Numba kernel to check it
CHECK_MAX_T = 1 << 16


@lru_cache(maxsize=256)
def circuit_error(algorithm: str, seq_len: int, options: tuple = (), channels: int = 4,
                  seed: int = 0) -> float:
    """Max relative error of the circuit-executed diagonal scan against the sequential oracle
    (float64, decays in (0.5, 1)): the very circuit the point costs (``options`` as given to
    its schedule, e.g. ``(("chunk", 256),)``), run for real."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 1.0, size=(seq_len, channels))
    b = rng.normal(size=(seq_len, channels))
    reference = linear_scan(a, b)
    scanned = linear_scan(a, b, prefix_circuit(algorithm, seq_len, **dict(options)))
    return float(np.max(np.abs(scanned - reference)) / max(1.0, np.max(np.abs(reference))))


def evaluate(point: dict) -> dict:
    """Run one design point; a point the model rejects becomes a row with ``error`` set."""
    row = {k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in point.items()}
    row["scansim_version"] = _version()
    if "model" in point:
        return _evaluate_model(point, row)
    try:
        acc = accelerator_of(point)
        if point.get("tune"):
            w, algorithm, options, result, tuned = _tuned(point, acc)
            row.update(tuned)
        else:
            w, algorithm, options, sched = point_schedule(point)
            result = simulate(sched, acc, point["policy"], event_budget=int(point["event_budget"]),
                              fidelity=point["fidelity"])
        tokens = w.batch * w.seq_len
        checkable = w.family == "diagonal" and algorithm in CIRCUITS and w.seq_len <= CHECK_MAX_T
        row["circuit_max_rel_error"] = (circuit_error(algorithm, w.seq_len, tuple(sorted(options.items())))
                                        if checkable else np.nan)
        row.update(result.to_record())
        row["accelerator_preset"] = point["accelerator"]  # what to load to re-run the point
        row["accelerator"] = point.get("accelerator_name", point["accelerator"])  # what to show
        row.update({"algorithm": algorithm, "seq_len": w.seq_len, "family": w.family, "tokens": tokens,
                    "energy_per_token_j": result.energy_j / tokens, "error": ""})
        row["area_mm2"] = area_mm2(acc) if acc.area else np.nan
        row["chip_cost_usd"] = chip_cost_usd(acc) if acc.area and acc.cost else np.nan
        row["usd_per_million_tokens"] = (usd_per_million_tokens(acc, result.latency_s, result.energy_j, tokens)
                                         if acc.area and acc.cost else np.nan)
    except (SpecError, WorkloadError, SimulationError, SweepError) as exc:
        row["error"] = str(exc)
    return row


def _tuned(point: dict, acc) -> tuple:
    """A ``tune: true`` point: its workload's best mapping on its accelerator
    (:func:`simulator.tune.tune`) — over every algorithm of its family unless the point names
    one, every chunk unless a ``chunk`` axis sets it, both fusion policies unless the sweep
    fixes one — as ``(workload, algorithm, options, result, tuned columns)``."""
    from simulator.tune import tune
    from workloads.mapping import default_mapping, mapping_space

    dims = dict(point.get("workload_params") or {})
    dims.update({k.split(".", 1)[1]: int(v) for k, v in point.items() if k.startswith("workload.")})
    w = get_workload(point["workload"]).with_params(**dims)
    space, default = mapping_space(w), default_mapping(w, point.get("algorithm"))
    if point.get("algorithm"):
        space = space.restricted(algorithms=(point["algorithm"],))
    if point.get("chunk") is not None:
        space = space.restricted(chunk=int(point["chunk"]))
        default = {**default, "chunk": int(point["chunk"])} if "chunk" in default else default
    if point["policy"] != "auto":
        space = space.restricted(policies=(point["policy"],))
        default = {**default, "policy": point["policy"]}
    found = tune(w, acc, point["dtype"], point.get("direction") or "fwd", space=space, default=default,
                 fidelity=point["fidelity"], event_budget=int(point["event_budget"]))
    options = {k: v for k, v in found.best.items() if k not in ("algorithm", "impl", "policy")}
    return w, found.best["algorithm"], options, found.result, found.to_record()


def _evaluate_model(point: dict, row: dict) -> dict:
    """A whole model's point: one pass of its phase (see :func:`simulator.model.simulate_model`),
    its throughput, energy, memory and cost; a model that does not fit is a row saying so."""
    from simulator.model import ENERGY_PARTS, simulate_model

    sizes = {k: int(point.get(f"model.{k}", d))
             for k, d in (("seq_len", 2048), ("batch", 1), ("chips", 1), ("pipeline", 1), ("sequence", 1),
                          ("data_parallel", 1), ("expert_parallel", 1), ("zero", 0))}
    row.update({"model": point["model_name"], "model_config": point["model"], **sizes,
                "accelerator_preset": point["accelerator"],
                "accelerator": point.get("accelerator_name", point["accelerator"])})
    try:
        acc = accelerator_of(point)
        _, totals = simulate_model(model_of(point["model"]), acc, point["phase"], sizes["seq_len"], sizes["batch"],
                                   point["dtype"], chips=sizes["chips"], pipeline=sizes["pipeline"],
                                   sequence=sizes["sequence"], data_parallel=sizes["data_parallel"],
                                   expert_parallel=sizes["expert_parallel"], zero=sizes["zero"])
        memory = {k: v for k, v in totals.items() if k.startswith("memory_")}
        row.update({k: totals[k] for k in ("latency_s", "tokens_per_s", "energy_j", "energy_per_token_j",
                                           "average_power_w", "peak_power_w", *ENERGY_PARTS,
                                           "usd_per_million_tokens", "parameters")})
        row.update({"memory_bytes": sum(memory.values()), **memory, "error": ""})
        row["chip_cost_usd"] = totals["chips"] * chip_cost_usd(acc) if acc.area and acc.cost else np.nan
    except (SpecError, WorkloadError, SimulationError, SweepError) as exc:
        row["error"] = str(exc)
    return row


def evaluate_many(batch: list[dict]) -> list[dict]:
    """Evaluate a batch of points in one task (closed-form points are cheap: batching them
    keeps task and file overheads from dominating)."""
    return [evaluate(p) for p in batch]

