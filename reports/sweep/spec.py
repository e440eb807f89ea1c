"""The sweep file: its schema, how an axis is sampled, what its named accelerators and
models resolve to, and the checks made before a single point runs.

Design-space sweeps: a YAML file of workloads (or whole models) × accelerators × axes, run
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
    tune: false                     # true: every workload point runs its own best mapping

With ``tune: true`` each workload point is costed with the mapping :func:`simulator.tune.tune`
finds for it on its accelerator — the algorithm (unless the workload lists its algorithms or
an ``algorithm`` axis fixes one), chunk, circuits, block, tile and fusion policy (unless the
sweep fixes ``policy`` or a ``chunk`` axis) — its row's latency is the tuned one and the
chosen knobs are its columns ``tuned_algorithm``, ``tuned_chunk``, … beside
``default_latency_s``.  It is a ``tune`` axis of one value, ``[true]``; an axis
``tune: [true, false]`` instead runs both, tuned and untuned.  Whole-model points are not
tuned.

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
      model.chips: [1, 2]           # tensor parallel; model.pipeline (stages), model.sequence
                                    # (context parallel), model.data_parallel (replicas),
                                    # model.expert_parallel (experts over the replicas) and,
                                    # training, model.zero (ZeRO stage 0-3) as `scansim model`
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hwmodels.loader import COMPLETE, SpecError, key_path, load_accelerator, parse_document, read_yaml, set_path
from hwmodels.spec import Accelerator
from simulator.engine import DEFAULT_EVENT_BUDGET
from simulator.model import ZERO_STAGES
from workloads.backward import DIRECTIONS
from workloads.catalog import PARAMS, WorkloadError, algorithms, get_workload
from workloads.models import Model, load_model
from workloads.schedule import DTYPE_BYTES

__all__ = ["SweepSpec", "SweepError", "load_sweep", "checked", "axis_value", "entry_point", "accelerator_of",
           "model_of", "MAX_POINTS", "OBJECTIVES", "MODEL_AXES"]


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

    @field_validator("params")
    @classmethod
    def _sizes(cls, params):
        return _within_reason(params)


class ModelEntry(_Strict):
    config: str  # a Hugging Face config.json (relative to the sweep file)
    name: str | None = None  # what the results call it (default: the config's model name)


#: the largest magnitude of a whole number in a sweep file (2^53: every whole number up to it is
#: exact as a float, and it fits the results' int64 columns); far beyond any size or setting
MAX_WHOLE = 2**53


def _too_large(value) -> bool:
    """A whole number past ±2^53, which no point could take (the results' columns are int64;
    a sampled integer is exact only up to 2^53).  Other values are checked axis by axis."""
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_WHOLE


def _within_reason(values: dict) -> dict:
    """``values`` (a workload's params, an accelerator's overrides), every whole number within ±2^53."""
    big = next((k for k, v in values.items() if _too_large(v)), None)
    if big is not None:
        raise PydanticCustomError(COMPLETE, "{text}", {
            "text": f"{big}: expected a whole number within ±{MAX_WHOLE:,} (2^53), got {values[big]!r}"})
    return values


class Range(_Strict):
    low: float
    high: float
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _ordered(self):
        for bound in ("low", "high"):
            value = getattr(self, bound)
            if not math.isfinite(value):
                raise ValueError(f"{bound}: expected a finite number, got {value}")
            if self.integer and abs(value) > MAX_WHOLE:
                raise ValueError(f"{bound}: expected an integer range's bound within ±{MAX_WHOLE:,} (2^53), "
                                 f"got {value:g}")
        if not self.low < self.high:
            raise ValueError(f"low must be below high, got {self.low} and {self.high}")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


class AcceleratorEntry(_Strict):
    preset: str  # a preset name or a spec file
    name: str | None = None  # what the results call it (default: preset + overrides)
    overrides: dict[str, float | int | str] = Field(default_factory=dict)  # spec path → value

    @field_validator("overrides")
    @classmethod
    def _numbers(cls, overrides):
        return _within_reason(overrides)


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
    axes: dict[str, list[bool | float | int | str] | Range] = Field(default_factory=dict)
    sampler: Sampler = Sampler()
    objectives: tuple[str, ...] = ("latency_s", "energy_j", "chip_cost_usd")
    fidelity: Literal["des", "analytic"] = "des"
    policy: Literal["unfused", "fused", "auto"] = "auto"
    dtype: str = "fp32"
    event_budget: int = Field(default=DEFAULT_EVENT_BUDGET, ge=1, le=MAX_WHOLE)  # as `scansim simulate`: one answer
    tune: bool = Field(default=False, strict=True)  # every workload point with its own best mapping

    @model_validator(mode="before")
    @classmethod
    def _tune_axis(cls, data):
        """``tune: true`` is the axis ``tune: [true]``: the points carry it like any axis value."""
        if not isinstance(data, dict) or data.get("tune") is not True:
            return data
        axes = data.get("axes") or {}
        if isinstance(axes, dict) and "tune" in axes:
            raise ValueError("tune: give tune: true or a tune axis, not both")
        return {**data, "axes": {**axes, "tune": [True]} if isinstance(axes, dict) else axes}

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, dtype):
        """Checked here, as the same value on a dtype axis is, not point by point at run time."""
        if dtype not in DTYPE_BYTES:
            raise ValueError(f"one of {', '.join(DTYPE_BYTES)}")
        return dtype

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
                    where = f"{key_path(err['loc'])}: " if err["loc"] else ""
                    raise PydanticCustomError(COMPLETE, "{text}", {
                        "text": f"{path!r}: {where}{err['msg'].replace('Value error, ', '')}"}) from None
            elif isinstance(values, list):
                big = next((v for v in values if _too_large(v)), None)
                if big is not None:
                    raise PydanticCustomError(COMPLETE, "{text}", {
                        "text": f"{path!r}: value {big!r}: expected a whole number within ±{MAX_WHOLE:,} (2^53)"})
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
                                 "model.sequence, model.data_parallel, model.expert_parallel, model.zero, algorithm, "
                                 "dtype, policy, chunk, "
                                 "direction or tune")
            if path == "direction" and (not isinstance(values, list) or set(values) - set(DIRECTIONS)):
                raise ValueError(f"axes: 'direction': expected a list of {', '.join(DIRECTIONS)}")
            if path == "tune" and (not isinstance(values, list) or not all(isinstance(v, bool) for v in values)):
                raise ValueError("axes: 'tune': expected a list of true and false")
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


_AXIS = re.compile(r"(workload\.\w+|accelerator\.[\w\[\]\.\-]+"
                   r"|model\.(seq_len|batch|chips|pipeline|sequence|data_parallel|expert_parallel|zero)"
                   r"|algorithm|dtype|policy|chunk"
                   r"|direction|tune)")
#: the axes of a model point (the others belong to workloads' points)
MODEL_AXES = ("model.", "accelerator.", "dtype")


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
    return checked(spec.model_copy(update={"accelerators": entries, "models": models}), path)


def _beside(name: str, folder: Path) -> str:
    """A spec or config file named relative to the sweep file, as a path from here; presets as
    they are."""
    if name.endswith((".yaml", ".yml", ".json")) and not Path(name).is_absolute() and (folder / name).is_file():
        return str(folder / name)
    return name


def checked(spec: SweepSpec, path) -> SweepSpec:
    """What the file's schema cannot say: workloads, accelerators, objectives and every axis
    value exist, checked before the sweep runs."""
    for w in spec.workloads:
        try:
            workload = get_workload(w.name).with_params(**w.params)
        except WorkloadError as exc:
            raise SweepError(f"{path}: workloads: {exc}") from None
        unknown = [a for a in (w.algorithms or ()) if a not in algorithms(workload)]
        if unknown:
            raise SweepError(f"{path}: workloads: {w.name!r}: algorithms: {unknown[0]!r} is not one of "
                             f"{', '.join(algorithms(workload))}")
    for a in spec.accelerators:
        try:
            accelerator_of(entry_point(a))
        except (SpecError, SweepError) as exc:
            raise SweepError(f"{path}: accelerators: {exc}") from None
    for m in spec.models:
        try:
            model_of(m.config)
        except WorkloadError as exc:
            raise SweepError(f"{path}: models: {exc}") from None
    unknown = set(spec.objectives) - OBJECTIVES
    if unknown:
        raise SweepError(f"{path}: objectives: unknown {sorted(unknown)}, expected some of {sorted(OBJECTIVES)}")
    for axis, values in spec.axes.items():
        for value in (values if isinstance(values, list) else [axis_value(values, 0.0), axis_value(values, 1.0)]):
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
        tries = [lambda a=a: accelerator_of({**entry_point(a), axis: value}) for a in spec.accelerators]
    elif axis.startswith("model."):
        if not spec.models:
            return "the sweep has no models"
        whole = isinstance(value, int) and not isinstance(value, bool)
        if axis == "model.zero":  # ZeRO partitions training state: a training sweep's
            if spec.phase != "train":
                return "ZeRO partitions training state: give phase: train"
            return None if whole and value in ZERO_STAGES else f"expected a ZeRO stage, one of {ZERO_STAGES}"
        return None if whole and value >= 1 else "expected a whole number ≥ 1 (give a range integer: true)"
    elif axis == "dtype":
        return None if value in DTYPE_BYTES else f"expected one of {', '.join(DTYPE_BYTES)}"
    elif axis == "policy":
        return None if value in ("unfused", "fused", "auto") else "expected unfused, fused or auto"
    elif axis == "algorithm":
        known = {a for w in spec.workloads for a in algorithms(get_workload(w.name))}
        return None if value in known else f"no workload of the sweep runs it (they run {', '.join(sorted(known))})"
    elif axis == "tune":
        return None if isinstance(value, bool) else "expected true or false"
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



def entry_point(entry: str | AcceleratorEntry) -> dict:
    """The accelerator part of a point: its preset and overrides as ``accelerator.<path>``."""
    if isinstance(entry, str):
        if entry.endswith((".yaml", ".yml")):  # a spec file: shown by its name, not its path
            return {"accelerator": entry, "accelerator_name": _base_accelerator(entry).name}
        return {"accelerator": entry}
    label = entry.name or entry.preset + "".join(f" {k}={v}" for k, v in sorted(entry.overrides.items()))
    return {"accelerator": entry.preset, "accelerator_name": label,
            **{f"accelerator.{k}": v for k, v in entry.overrides.items()}}



def axis_value(values, u: float):
    if isinstance(values, list):
        return values[min(len(values) - 1, int(u * len(values)))]
    x = math.exp(math.log(values.low) + u * (math.log(values.high) - math.log(values.low))) \
        if values.log else values.low + u * (values.high - values.low)
    return int(round(x)) if values.integer else float(x)


@lru_cache(maxsize=64)
def model_of(config: str) -> Model:
    """The model a sweep names by its config file."""
    return load_model(config)  # immutable: safe to share between points


@lru_cache(maxsize=64)
def _base_accelerator(name: str) -> Accelerator:
    return load_accelerator(name)  # immutable: safe to share between points


def accelerator_of(point: dict) -> Accelerator:
    """A point's accelerator: its preset or spec file with the point's ``accelerator.*`` values set."""
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

