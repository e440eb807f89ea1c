"""Design-space sweeps: a YAML file of workloads (or whole models) × accelerators × axes, run
locally or on Dask.

Every finished point is written at once to a parquet file in the results folder (a DES point
in its own ``part-<point id>.parquet``; closed-form and whole-model points in batches of 256,
which finish together), written to a temporary name and renamed so that a file is whole or absent: killing
the driver loses no finished point, and ``resume`` runs only the points whose id is in no file
yet.  A point id is a hash of the point's inputs, so it is stable across runs.

A sweep file::

    name: quick
    workloads:                      # catalog names, with optional dimension overrides
      - {name: diagonal-d64}
      - {name: mamba-130m, params: {batch: 2}}
    accelerators: [h100-sxm5-80gb, jetson-orin-nano-8gb]   # presets or spec files
    axes:                           # paths: workload.<dim>, accelerator.<spec path>, algorithm,
      workload.seq_len: [256, 4096] #   dtype, policy, chunk
      algorithm: [sequential, kogge-stone]
      accelerator.memory[dram].bandwidth_bytes_per_s: {low: 1.0e+11, high: 4.0e+12, log: true}
    sampler: {kind: sobol, points: 64, seed: 0}   # grid (lists only), random or sobol
    fidelity: des                   # or analytic
    policy: auto
    dtype: fp32

Whole models (:mod:`workloads.models`) sweep beside or instead of workloads: each model config
on each accelerator, in one phase, over the ``model.*`` axes (a point that does not fit the chip
is a row that says so)::

    models:
      - {config: models/llama-3-8b.json}     # a Hugging Face config.json, beside the sweep file
      - {config: models/nemotron-h-8b.json, name: Nemotron-H 8B}
    phase: decode                   # prefill, decode (one token at context seq_len) or train
    axes:
      model.seq_len: [2048, 32768, 131072]
      model.batch: [1, 8, 64]
      model.chips: [1, 2]           # tensor parallel; model.pipeline (stages) and
                                    # model.sequence (context parallel) as `scansim model`
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import sys
import time
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from scipy.stats import qmc

from hwmodels.cost import area_mm2, chip_cost_usd, usd_per_million_tokens
from hwmodels.loader import SpecError, key_path, load_accelerator, parse_document, read_yaml, set_path
from hwmodels.spec import Accelerator
from reports.progress import Progress
from simulator import SimulationError, simulate
from simulator.engine import DEFAULT_EVENT_BUDGET
from workloads.backward import DIRECTIONS
from workloads.catalog import PARAMS, Workload, WorkloadError, algorithms, get_workload, schedule
from workloads.circuits import CIRCUITS, prefix_circuit
from workloads.kernels import linear_scan
from workloads.schedule import DTYPE_BYTES, Schedule

__all__ = ["SweepSpec", "SweepError", "load_sweep", "points", "evaluate", "run_sweep", "read_results"]


class SweepError(ValueError):
    """A sweep file or results folder that cannot be used; names the file and key path."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WorkloadEntry(_Strict):
    name: str
    params: dict[str, int] = Field(default_factory=dict)
    #: the algorithms this workload runs (an ``algorithm`` axis, if any, takes precedence);
    #: unset: its family's first
    algorithms: tuple[str, ...] | None = Field(default=None, min_length=1)


class ModelEntry(_Strict):
    config: str  # a Hugging Face config.json (relative to the sweep file)
    name: str | None = None  # what the results call it (default: the config's model name)


class Range(_Strict):
    low: float
    high: float
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low < self.high:
            raise ValueError(f"low must be below high, got {self.low} and {self.high}")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


class AcceleratorEntry(_Strict):
    preset: str  # a preset name or a spec file
    name: str | None = None  # what the results call it (default: preset + overrides)
    overrides: dict[str, float | int | str] = Field(default_factory=dict)  # spec path → value


#: the most points one sweep may hold (at ~1 ms a closed-form point, a quarter of an hour)
MAX_POINTS = 1_000_000


class Sampler(_Strict):
    kind: Literal["grid", "random", "sobol"] = "grid"
    points: int = Field(default=64, ge=1, le=MAX_POINTS)
    seed: int = Field(default=0, ge=0)


class SweepSpec(_Strict):
    name: str = "sweep"
    workloads: tuple[WorkloadEntry, ...] = ()
    models: tuple[ModelEntry, ...] = ()
    phase: Literal["prefill", "decode", "train"] = "decode"  # of the models' points
    accelerators: tuple[str | AcceleratorEntry, ...] = Field(min_length=1)
    axes: dict[str, list[float | int | str] | Range] = Field(default_factory=dict)
    sampler: Sampler = Sampler()
    objectives: tuple[str, ...] = ("latency_s", "energy_j", "chip_cost_usd")
    fidelity: Literal["des", "analytic"] = "des"
    policy: Literal["unfused", "fused", "auto"] = "auto"
    dtype: str = "fp32"
    event_budget: int = Field(default=DEFAULT_EVENT_BUDGET, ge=1)  # as `scansim simulate`: one answer

    @field_validator("axes", mode="before")
    @classmethod
    def _ranges(cls, axes):
        """A mapping is a range, a list a set of values: decide before validating."""
        if not isinstance(axes, dict):
            return axes
        out = {}
        for path, values in axes.items():
            if isinstance(values, dict):
                try:
                    values = Range.model_validate(values)
                except ValidationError as exc:
                    err = exc.errors()[0]
                    raise ValueError(f"{path!r}: {key_path(err['loc'])}: "
                                     f"{err['msg'].replace('Value error, ', '')}") from None
            out[path] = values
        return out

    @model_validator(mode="after")
    def _axes(self):
        if not self.workloads and not self.models:
            raise ValueError("expected workloads or models (or both) to sweep")
        entries = [(w.name, sorted(w.params.items())) for w in self.workloads]
        repeated = [e[0] for i, e in enumerate(entries) if e in entries[:i]]
        if repeated:
            raise ValueError(f"workloads: {repeated[0]!r} is listed twice with the same params: "
                             "expected each workload once")
        for path, values in self.axes.items():
            if not _AXIS.fullmatch(path):
                raise ValueError(f"axes: unknown axis {path!r}: expected workload.<dimension>, "
                                 "accelerator.<spec path>, model.seq_len, model.batch, model.chips, model.pipeline, "
                                 "model.sequence, algorithm, dtype, policy, chunk or direction")
            if path == "direction" and (not isinstance(values, list) or set(values) - set(DIRECTIONS)):
                raise ValueError(f"axes: 'direction': expected a list of {', '.join(DIRECTIONS)}")
            if path.startswith("workload.") and path.split(".", 1)[1] not in PARAMS:
                raise ValueError(f"axes: {path!r}: expected a workload dimension ({', '.join(PARAMS)})")
            if isinstance(values, list) and not values:
                raise ValueError(f"axes: {path!r}: expected at least one value")
            if self.sampler.kind == "grid" and isinstance(values, Range):
                raise ValueError(f"axes: {path!r}: a grid needs a list of values, not a range")
        lists = [len(v) for v in self.axes.values() if isinstance(v, list)]
        settings = math.prod(lists) if self.sampler.kind == "grid" else self.sampler.points
        per_workload = sum(len(w.algorithms or (None,)) if "algorithm" not in self.axes else 1 for w in self.workloads)
        total = (per_workload + len(self.models)) * len(self.accelerators) * settings
        if total > MAX_POINTS:
            raise ValueError(f"the sweep holds {total:,} points, more than the {MAX_POINTS:,} scansim runs "
                             "in one sweep: expected fewer axis values or sampler points")
        return self


_AXIS = re.compile(r"(workload\.\w+|accelerator\.[\w\[\]\.\-]+|model\.(seq_len|batch|chips|pipeline|sequence)|algorithm|dtype|policy|chunk"
                   r"|direction)")
#: the axes of a model point (the others belong to workloads' points)
_MODEL_AXES = ("model.", "accelerator.", "dtype")


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep file: :class:`SweepError` naming the file, key and value."""
    try:
        spec = parse_document(SweepSpec, read_yaml(path), str(path), "sweep fields")
    except SpecError as exc:
        raise SweepError(str(exc)) from None
    folder = Path(path).parent  # spec files named in a sweep file sit beside it
    entries = tuple(_beside(a, folder) if isinstance(a, str) else a.model_copy(update={"preset": _beside(a.preset, folder)})
                    for a in spec.accelerators)
    models = tuple(m.model_copy(update={"config": _beside(m.config, folder)}) for m in spec.models)
    return _checked(spec.model_copy(update={"accelerators": entries, "models": models}), path)


def _beside(name: str, folder: Path) -> str:
    """A spec or config file named relative to the sweep file, as a path from here; presets as
    they are."""
    if name.endswith((".yaml", ".yml", ".json")) and not Path(name).is_absolute() and (folder / name).is_file():
        return str(folder / name)
    return name


def _checked(spec: SweepSpec, path) -> SweepSpec:
    """What the file's schema cannot say: workloads, accelerators, objectives and every axis
    value exist, checked before the sweep runs."""
    for w in spec.workloads:
        try:
            workload = get_workload(w.name).with_params(**w.params)
        except WorkloadError as exc:
            raise SweepError(f"{path}: workloads: {exc}") from None
        unknown = [a for a in (w.algorithms or ()) if a not in algorithms(workload)]
        if unknown:
            raise SweepError(f"{path}: workloads: {w.name}: algorithms: {unknown[0]!r} is not one of "
                             f"{', '.join(algorithms(workload))}")
    for a in spec.accelerators:
        try:
            _accelerator(_entry_point(a))
        except (SpecError, SweepError) as exc:
            raise SweepError(f"{path}: accelerators: {exc}") from None
    for m in spec.models:
        try:
            _model(m.config)
        except WorkloadError as exc:
            raise SweepError(f"{path}: models: {exc}") from None
    unknown = set(spec.objectives) - OBJECTIVES
    if unknown:
        raise SweepError(f"{path}: objectives: unknown {sorted(unknown)}, expected some of {sorted(OBJECTIVES)}")
    for axis, values in spec.axes.items():
        for value in (values if isinstance(values, list) else [_scale(values, 0.0), _scale(values, 1.0)]):
            problem = _axis_value_problem(spec, axis, values, value)
            if problem:
                raise SweepError(f"{path}: axes: {axis!r}: value {value!r}: {problem}")
    return spec


def _axis_value_problem(spec: SweepSpec, axis: str, values, value) -> str | None:
    """Why no point of the sweep could take ``value`` on ``axis`` (None: some point can):
    checked before the sweep runs, so a typo does not become a folder of rejected points."""
    if axis.startswith("workload."):
        if isinstance(values, Range) and not values.integer:
            return "a workload dimension is a whole number: give the range integer: true"
        tries = [lambda w=w: get_workload(w.name).with_params(**{**w.params, axis.split(".", 1)[1]: value})
                 for w in spec.workloads]
    elif axis.startswith("accelerator."):
        tries = [lambda a=a: _accelerator({**_entry_point(a), axis: value}) for a in spec.accelerators]
    elif axis.startswith("model."):
        if not spec.models:
            return "the sweep has no models"
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        return None if ok else "expected a whole number ≥ 1 (give a range integer: true)"
    elif axis == "dtype":
        return None if value in DTYPE_BYTES else f"expected one of {', '.join(DTYPE_BYTES)}"
    elif axis == "policy":
        return None if value in ("unfused", "fused", "auto") else "expected unfused, fused or auto"
    elif axis == "algorithm":
        known = {a for w in spec.workloads for a in algorithms(get_workload(w.name))}
        return None if value in known else f"no workload of the sweep runs it (they run {', '.join(sorted(known))})"
    elif axis == "chunk":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        return None if ok or isinstance(values, Range) else "expected a whole number ≥ 1"
    else:
        return None
    problems = []
    for attempt in tries:
        try:
            attempt()
            return None
        except (WorkloadError, SpecError, SweepError) as exc:
            problems.append(str(exc))
    return problems[0]


#: result columns a sweep may name as objectives (all minimised)
OBJECTIVES = {"latency_s", "energy_j", "area_mm2", "chip_cost_usd", "energy_per_token_j",
              "usd_per_million_tokens", "dram_bytes"}


def _entry_point(entry: str | AcceleratorEntry) -> dict:
    """The accelerator part of a point: its preset and overrides as ``accelerator.<path>``."""
    if isinstance(entry, str):
        if entry.endswith((".yaml", ".yml")):  # a spec file: shown by its name, not its path
            return {"accelerator": entry, "accelerator_name": _base_accelerator(entry).name}
        return {"accelerator": entry}
    label = entry.name or entry.preset + "".join(f" {k}={v}" for k, v in sorted(entry.overrides.items()))
    return {"accelerator": entry.preset, "accelerator_name": label,
            **{f"accelerator.{k}": v for k, v in entry.overrides.items()}}


# --------------------------------------------------------------------------- points


def _scale(values, u: float):
    if isinstance(values, list):
        return values[min(len(values) - 1, int(u * len(values)))]
    x = math.exp(math.log(values.low) + u * (math.log(values.high) - math.log(values.low))) \
        if values.log else values.low + u * (values.high - values.low)
    return int(round(x)) if values.integer else float(x)


def points(spec: SweepSpec) -> list[dict]:
    """Every design point of the sweep: its inputs, as plain values (stable order)."""
    base = list(itertools.product(range(len(spec.workloads)), spec.accelerators))
    names = sorted(spec.axes)
    if spec.sampler.kind == "grid":
        settings = [dict(zip(names, combo)) for combo in itertools.product(*(spec.axes[n] for n in names))]
    else:
        d = max(1, len(names))
        if spec.sampler.kind == "sobol":
            u = qmc.Sobol(d, scramble=True, seed=spec.sampler.seed).random(spec.sampler.points)
        else:
            u = np.random.default_rng(spec.sampler.seed).random((spec.sampler.points, d))
        settings = [{n: _scale(spec.axes[n], float(row[i])) for i, n in enumerate(names)} for row in u]
    out = []
    seen = set()
    for model, acc, setting in itertools.product(spec.models, spec.accelerators, settings or [{}]):
        point = {"model": model.config, "model_name": model.name or Path(model.config).stem, "phase": spec.phase,
                 **_entry_point(acc), "dtype": spec.dtype,
                 **{k: v for k, v in setting.items() if k.startswith(_MODEL_AXES)}}
        point["point_id"] = point_id(point)
        if point["point_id"] not in seen:  # the workloads' axes do not make model points differ
            seen.add(point["point_id"])
            out.append(point)
    for (wi, acc), setting in itertools.product(base, settings or [{}]):
        entry = spec.workloads[wi]
        own = entry.algorithms if entry.algorithms and "algorithm" not in setting else (None,)
        for algorithm in own:
            point = {"workload": entry.name, "workload_params": dict(entry.params), **_entry_point(acc),
                     "algorithm": algorithm, "dtype": spec.dtype, "policy": spec.policy,
                     "fidelity": spec.fidelity, "event_budget": spec.event_budget,
                     **{k: v for k, v in setting.items() if not k.startswith("model.")}}
            point["point_id"] = point_id(point)
            if point["point_id"] not in seen:  # the models' axes do not make workload points differ
                seen.add(point["point_id"])
                out.append(point)
    return out


def point_id(point: dict) -> str:
    canonical = json.dumps({k: v for k, v in point.items() if k != "point_id"}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@lru_cache(maxsize=64)
def _model(config: str):
    from workloads.models import load_model

    return load_model(config)  # immutable: safe to share between points


@lru_cache(maxsize=64)
def _base_accelerator(name: str) -> Accelerator:
    return load_accelerator(name)  # immutable: safe to share between points


def _accelerator(point: dict) -> Accelerator:
    acc = _base_accelerator(point["accelerator"])
    changes = {k.split(".", 1)[1]: v for k, v in point.items() if k.startswith("accelerator.")}
    if not changes:
        return acc
    document = acc.model_dump(mode="json")  # lists, not tuples: set_path assigns into them
    for path, value in changes.items():
        try:
            set_path(document, path, value, "accelerator.")
        except SpecError as exc:
            raise SweepError(str(exc)) from None
    try:
        return Accelerator.model_validate(document)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise SpecError(f"sweep point: accelerator.{key_path(err['loc'])}: {err['msg']}") from None


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


def point_schedule(point: dict) -> tuple[Workload, str, dict, Schedule]:
    """The workload (catalog entry, its ``workload_params`` and swept ``workload.*`` axes),
    algorithm, schedule options (the swept ``chunk``) and schedule of a point — the one place
    that builds them, for the sweep, the report's Gantt chart and its sensitivity tornado."""
    dims = dict(point.get("workload_params") or {})
    dims.update({k.split(".", 1)[1]: int(v) for k, v in point.items() if k.startswith("workload.")})
    w = get_workload(point["workload"]).with_params(**dims)
    algorithm = point.get("algorithm") or algorithms(w)[0]
    options = {"chunk": int(point["chunk"])} if point.get("chunk") is not None and algorithm == "chunked" else {}
    direction = point.get("direction") or "fwd"
    return w, algorithm, options, schedule(w, algorithm, point["dtype"], direction=direction, **options)


def evaluate(point: dict) -> dict:
    """Run one design point; a point the model rejects becomes a row with ``error`` set."""
    row = {k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in point.items()}
    row["scansim_version"] = _version()
    if "model" in point:
        return _evaluate_model(point, row)
    try:
        acc = _accelerator(point)
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


def _evaluate_model(point: dict, row: dict) -> dict:
    """A whole model's point: one pass of its phase (see :func:`simulator.model.simulate_model`),
    its throughput, energy, memory and cost; a model that does not fit is a row saying so."""
    from simulator.model import simulate_model

    sizes = {k: int(point.get(f"model.{k}", d))
             for k, d in (("seq_len", 2048), ("batch", 1), ("chips", 1), ("pipeline", 1), ("sequence", 1))}
    row.update({"model": point["model_name"], "model_config": point["model"], **sizes,
                "accelerator_preset": point["accelerator"],
                "accelerator": point.get("accelerator_name", point["accelerator"])})
    try:
        acc = _accelerator(point)
        _, totals = simulate_model(_model(point["model"]), acc, point["phase"], sizes["seq_len"], sizes["batch"],
                                   point["dtype"], chips=sizes["chips"], pipeline=sizes["pipeline"],
                                   sequence=sizes["sequence"])
        memory = {k: v for k, v in totals.items() if k.startswith("memory_")}
        row.update({k: totals[k] for k in ("latency_s", "tokens_per_s", "energy_j", "energy_per_token_j",
                                           "usd_per_million_tokens", "parameters")})
        row.update({"memory_bytes": sum(memory.values()), **memory, "error": ""})
        row["chip_cost_usd"] = totals["chips"] * chip_cost_usd(acc) if acc.area and acc.cost else np.nan
    except (SpecError, WorkloadError, SimulationError, SweepError) as exc:
        row["error"] = str(exc)
    return row


# --------------------------------------------------------------------------- running


def evaluate_many(batch: list[dict]) -> list[dict]:
    """Evaluate a batch of points in one task (closed-form points are cheap: batching them
    keeps task and file overheads from dominating)."""
    return [evaluate(p) for p in batch]


def _write_rows(folder: Path, rows: list[dict]) -> None:
    """One parquet file per finished batch, named after its first point; written to a
    temporary name and renamed, so a file is whole or absent."""
    name = rows[0]["point_id"] if len(rows) == 1 else point_id({"batch": [r["point_id"] for r in rows]})
    tmp = folder / f".part-{name}.parquet.tmp"
    pd.DataFrame(rows).to_parquet(tmp, index=False)
    os.replace(tmp, folder / f"part-{name}.parquet")


def result_parts(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """``(good, damaged)``: the folder's parquet parts that hold results, and those that do
    not (truncated, not parquet, or without a ``point_id`` column) with why."""
    import pyarrow.parquet as pq

    good, damaged = [], []
    for part in sorted(folder.glob("part-*.parquet")):
        try:
            names = pq.read_schema(part).names
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, … for damaged files
            damaged.append((part, " ".join(str(exc).split())[:120]))
            continue
        if "point_id" in names:
            good.append(part)
        else:
            damaged.append((part, "no point_id column: not a scansim result"))
    return good, damaged


def done_ids(parts: list[Path]) -> set[str]:
    """The point ids the (readable) result ``parts`` hold."""
    ids: set[str] = set()
    for part in parts:
        ids.update(pd.read_parquet(part, columns=["point_id"])["point_id"])
    return ids


#: the sweep's description beside its parquet parts; the leading "_" makes pyarrow skip it, so
#: ``pd.read_parquet(folder)`` reads the results folder as one dataset
SWEEP_FILE = "_sweep.json"
#: where ``--resume`` moves damaged parts (kept, never deleted) before running their points again
DAMAGED = "damaged"


def sweep_objectives(folder: str | Path) -> tuple[str, ...]:
    """The objectives the sweep in ``folder`` named (its description), or the defaults."""
    description = Path(folder) / SWEEP_FILE
    if not description.is_file():
        return SweepSpec.model_fields["objectives"].default
    try:
        return tuple(json.loads(description.read_text())["objectives"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise SweepError(f"{description}: damaged sweep description (expected the JSON scansim sweep "
                         "writes); run the sweep again with --resume to rewrite it") from None


def read_results(folder: str | Path) -> pd.DataFrame:
    """Every finished point of a results folder, one row each."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SweepError(f"{folder}: no such results folder")
    good, damaged = result_parts(folder)
    if damaged:
        part, why = damaged[0]
        raise SweepError(f"{folder}: {len(damaged)} damaged result file(s) ({part.name}: {why}); "
                         f"`scansim sweep SWEEP.yaml -o {folder} --resume` sets them aside and runs their points again")
    if not good:
        raise SweepError(f"{folder}: no results (expected part-*.parquet files written by scansim sweep)")
    return pd.concat([pd.read_parquet(f) for f in good], ignore_index=True)


def _set_aside(out: Path, damaged: list[tuple[Path, str]]) -> None:
    if not damaged:
        return
    aside = out / DAMAGED
    aside.mkdir(exist_ok=True)
    for part, _ in damaged:
        os.replace(part, aside / part.name)
    print(f"scansim sweep: set aside {len(damaged)} damaged result file(s) in {aside} "
          f"({damaged[0][0].name}: {damaged[0][1]}); their points run again", file=sys.stderr)


class _Lock:
    """``out/.lock`` holds the pid of the one sweep writing to the folder; a second is refused,
    a lock whose process is gone is taken over."""

    def __init__(self, out: Path):
        self.path = out / ".lock"

    def __enter__(self):
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and _alive(pid):
                    raise SweepError(f"{self.path.parent}: another scansim sweep (pid {pid}) is writing "
                                     "to this folder; wait for it, or choose another folder") from None
                self.path.unlink(missing_ok=True)  # stale: its sweep was killed
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return self
        raise SweepError(f"{self.path}: cannot take the folder's lock")

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exit_with_parent(parent: int) -> None:
    """Pool worker initializer: leave when the driver is gone (killed drivers left their
    workers running, holding hundreds of MB each)."""
    import threading

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


#: how long a sweep waits for a Dask scheduler to answer
DASK_CONNECT_TIMEOUT_S = 10


def _dask_client(address: str):
    """A client of the Dask scheduler at ``address``, or one line saying why not (bounded time)."""
    from distributed import Client

    if not re.fullmatch(r"(tcp|tls|inproc|ucx|ws|wss)://[^\s/:]+:\d+/?|[^\s/:]+:\d+", address):
        raise SweepError(f"--scheduler: expected a Dask scheduler address such as tcp://host:8786, got {address!r}")
    try:
        return Client(address, timeout=f"{DASK_CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as exc:
        raise SweepError(f"--scheduler: no Dask scheduler answered at {address} within {DASK_CONNECT_TIMEOUT_S} s "
                         f"({' '.join(str(exc).split())[:80]}); start one with `dask scheduler` and "
                         "workers with `dask worker ADDRESS`") from None


def run_sweep(spec: SweepSpec | str | Path | dict, out: str | Path, *, workers: int = 1,
              scheduler: str | None = None, resume: bool = False, progress: bool = False) -> pd.DataFrame:
    """Run every point not yet in ``out`` (all of them unless ``resume``), writing each as it
    finishes; return the whole results table.  ``spec``: a sweep file's path, its document as
    a dict, or a parsed :class:`SweepSpec`; ``scheduler`` is a Dask scheduler address."""
    if isinstance(spec, (str, Path)):
        spec = load_sweep(spec)
    elif isinstance(spec, dict):
        try:
            spec = _checked(parse_document(SweepSpec, spec, "sweep mapping", "sweep fields"), "sweep mapping")
        except SpecError as exc:
            raise SweepError(str(exc)) from None
    elif not isinstance(spec, SweepSpec):
        raise TypeError(f"run_sweep: expected a sweep file path, a dict or a SweepSpec, got {type(spec).__name__}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with _Lock(out):
        _run(spec, out, workers, scheduler, resume, progress)
    return read_results(out)


def _run(spec: SweepSpec, out: Path, workers: int, scheduler: str | None, resume: bool, progress: bool) -> None:
    description = out / SWEEP_FILE
    todo = points(spec)
    good, damaged = result_parts(out)
    existing = done_ids(good)
    if (existing or damaged) and not resume:
        raise SweepError(f"{out}: already holds {len(existing) + len(damaged)} result files; pass --resume "
                         "to continue it, or choose another folder")
    if existing and description.is_file() and description.read_text(errors="replace") != spec.model_dump_json(indent=2):
        try:
            json.loads(description.read_text())
            ours = False  # a readable description of another sweep
        except (ValueError, UnicodeDecodeError):  # damaged: the points themselves say whose they are
            ours = existing <= {p["point_id"] for p in todo}
        if not ours:
            raise SweepError(f"{out}: holds the results of another sweep ({description} differs from this "
                             "sweep file); resume it with its own file, or choose another folder")
        print(f"scansim sweep: {description} was damaged; every saved point belongs to this sweep, "
              "so it is rewritten", file=sys.stderr)
    _set_aside(out, damaged)
    description.write_text(spec.model_dump_json(indent=2))  # the report reads the objectives
    todo = [p for p in todo if p["point_id"] not in existing]
    # a DES point is worth its own file; closed-form and whole-model points go 256 to a file
    own = [p for p in todo if spec.fidelity == "des" and "model" not in p]
    rest = [p for p in todo if not (spec.fidelity == "des" and "model" not in p)]
    batches = [[p] for p in own] + [rest[i : i + 256] for i in range(0, len(rest), 256)]
    bar = Progress(len(todo), progress)

    def save(rows):
        try:
            _write_rows(out, rows)
        except OSError as exc:  # a full disk, a folder made read-only: what is written stays
            raise SweepError(f"{out}: cannot write results ({exc.strerror or exc}); {bar.count} points of "
                             f"{len(todo)} are saved: free the space and run again with --resume") from None
        bar.update(len(rows))

    try:
        if scheduler:
            from distributed import as_completed

            with _dask_client(scheduler) as client:
                for future in as_completed(client.map(evaluate_many, batches, pure=False)):
                    save(future.result())
        elif workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed as done
            from concurrent.futures.process import BrokenProcessPool

            # spawn, not fork: a parent that already ran Numba's OpenMP pool must not fork
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_exit_with_parent,
                                     initargs=(os.getpid(),)) as pool:
                try:
                    for future in done([pool.submit(evaluate_many, b) for b in batches]):
                        save(future.result())
                except BrokenProcessPool:
                    raise SweepError(f"{out}: a worker process died (killed, or out of memory); {bar.count} "
                                     f"points of {len(todo)} are saved: run again with --resume") from None
        else:
            for batch in batches:
                save(evaluate_many(batch))
    finally:
        bar.close()
