"""scansim's predictions against published measurements: ``scansim validate``.

A validation set is a YAML file (the shipped one is ``reports/validation/cases.yaml``):
``cases``, one published measurement each — hardware preset, catalog workload and its exact
sizes, algorithm, dtype, the published value in its metric, and its source — and
``orderings``, claims that one case runs faster than another.  Every case is simulated
(DES, ``auto`` policy) and compared as ``ratio = predicted time / published time``: above 1
scansim is pessimistic.  Host cases (``hardware: host``) are measured on this machine at run
time — the Numba kernel against the prediction for the spec ``scansim calibrate`` measures —
and are slow, so ``fast`` runs leave them out.
"""

from __future__ import annotations

import math
from functools import lru_cache, partial
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, field_validator, model_validator

from hwmodels.loader import SpecError, load_accelerator, parse_document, read_yaml
from simulator import simulate
from workloads.catalog import WorkloadError, get_workload
from workloads.dispatch import schedule
from workloads.circuits import CircuitError

__all__ = ["CASES_FILE", "RECURRENT_FILE", "MODELS_FILE", "ENERGY_FILE", "ENERGY_METRICS", "BAND", "LIMIT", "HELD_OUT_BAND", "HELD_OUT_SHARE",
           "Case", "Ordering", "ValidationSet", "ValidationError_", "breakdown", "describe", "held_out_verdict", "by_kind",
           "load_cases", "run_validation", "summary", "validation_section", "verdict", "write_validation_report"]

CASES_FILE = Path(__file__).parent / "validation" / "cases.yaml"
RECURRENT_FILE = Path(__file__).parent / "validation" / "recurrent.yaml"
MODELS_FILE = Path(__file__).parent / "validation" / "models.yaml"
ENERGY_FILE = Path(__file__).parent / "validation" / "energy.yaml"
#: metrics of energy: joules per output token of a generation, or (prompt and output) tokens per joule
ENERGY_METRICS = ("joules_per_token", "tokens_per_joule")
#: metrics of a model's throughput: its phase's tokens per second, in all or per chip
THROUGHPUT_METRICS = ("tokens_per_s", "tokens_per_s_per_chip")
BAND = 1.25  # the accuracy band: predicted within ×/÷ 1.25 of published
LIMIT = 2.0  # every case within ×/÷ 2
#: targets of the recurrent set's held-out half (per family and overall): median |log ratio|
#: within log 1.5, and this share of its cases within ×/÷ 2
HELD_OUT_BAND, HELD_OUT_SHARE = 1.5, 0.8


class ValidationError_(ValueError):  # noqa: N801 — pydantic owns the plain name
    """A validation-set file that cannot be used; names the file and key path."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Case(_Strict):
    id: str = Field(min_length=1)
    hardware: str = Field(min_length=1)  # a preset name, a spec file, or "host"
    workload: str | None = Field(default=None, min_length=1)
    params: dict[str, int] = {}
    algorithm: str | None = None
    #: a whole model instead of a workload: a config in examples/models, by name
    model: str | None = Field(default=None, min_length=1)
    #: a model's: one decode step at context, a prefill, a generation (a prefill of ``context``
    #: prompt tokens, then ``output`` decode steps), or a training step (forward, backward and
    #: optimizer over ``batch`` sequences of ``context`` tokens per data-parallel replica)
    phase: Literal["prefill", "decode", "generate", "train"] = "decode"
    context: int = Field(default=1, ge=1)
    output: int = Field(default=0, ge=0)  # a generation's new tokens per sequence (their mean, with requests)
    #: an offline batch: this many requests, ``batch`` of them at a time, replies of mean ``output``
    #: and at most ``max_output`` tokens (simulator.serving); None: one static batch
    requests: int | None = Field(default=None, ge=1)
    max_output: int | None = Field(default=None, ge=1)
    batch: int = Field(default=1, ge=1)
    chips: int = Field(default=1, ge=1)  # tensor parallel
    #: a model's parallel layout beyond tensor parallelism, and a training step's recipe, as
    #: :func:`simulator.model.simulate_model` takes them
    data_parallel: int = Field(default=1, ge=1)
    zero: Literal[0, 1, 2, 3] = 0
    shard_group: int | None = Field(default=None, ge=1)  # HSDP: ZeRO-3 over groups of this many chips
    pipeline: int = Field(default=1, ge=1)
    microbatches: int | None = Field(default=None, ge=1)
    sequence: int = Field(default=1, ge=1)  # context parallel
    expert_parallel: int = Field(default=1, ge=1)
    # activation checkpointing: true (full), selective (torchtitan's per-op policy) or the fraction
    # of the layers under full checkpointing (fms-fsdp's selective_checkpointing)
    recompute: bool | str | float = False
    #: the shipped kernel a prompt's attention runs as (workloads.models.phases.ATTENTION_KERNELS;
    #: None: the attention family's blocked schedule)
    attention: Literal["flash-attention-2", "flash-attention-3"] | None = None
    #: an fp8 training step's scaling recipe (workloads.models.fp8; None: the default, delayed)
    fp8_scaling: Literal["delayed", "current", "tensorwise"] | None = None
    published_mfu: PositiveFloat | None = None  # a training case's MFU as its source states it, shown beside
    impl: str | None = None  # the shipped kernel the case times (workloads.implementations)
    direction: Literal["fwd", "fwd+bwd"] = "fwd"
    launch: Literal["eager", "graph"] = "eager"  # graph: the harness hides the host (kernels only)
    options: dict[str, int] = {}
    policy: Literal["unfused", "fused", "auto"] = "auto"  # how the measured implementation maps
    dtype: Literal["fp64", "fp32", "fp16", "bf16", "fp8", "int8"] = "fp32"
    #: cycles: of the matrix unit's (else the chip's) clock; tokens_per_s: a model's phase's tokens
    #: per second (tokens_per_s_per_chip: over all its chips, per chip); joules_per_token: a
    #: generation's energy per output token; tokens_per_joule: its prompt and output tokens per joule
    metric: Literal["seconds", "tflops", "cycles", "tokens_per_s", "tokens_per_s_per_chip", "joules_per_token",
                    "tokens_per_joule"]
    flops: PositiveFloat | None = None  # the source's FLOP count, for a tflops metric
    published: PositiveFloat | None = None  # None only for host cases (measured at run time)
    published_power_w: PositiveFloat | None = None  # an energy case's average power per chip, shown beside
    conditions: str = ""
    source: str = Field(min_length=1)
    note: str = ""  # why a case sits outside the band, when it does
    split: Literal["dev", "held-out"] = "dev"  # held-out: never modelled from (see recurrent.yaml)
    #: a held-out case no longer blind: what was modelled after it had been compared (reports say so)
    unblinded: str = ""

    @field_validator("recompute", mode="before")
    @classmethod
    def _recompute(cls, value):
        if isinstance(value, bool) or value in ("none", "selective", "full"):
            return value
        if isinstance(value, (int, float)) and 0 < value <= 1:
            return float(value)
        raise ValueError("true, false, none, selective, full or a fraction of the layers in (0, 1]")

    @model_validator(mode="after")
    def _complete(self):
        if (self.workload is None) == (self.model is None):
            raise ValueError("a case times a workload or a model: give one of them")
        if self.workload is not None and self.algorithm is None:
            raise ValueError("a workload case needs its algorithm")
        energy = self.metric in ENERGY_METRICS
        if (self.metric in THROUGHPUT_METRICS or energy) != (self.model is not None):
            raise ValueError("a model case's metric is tokens_per_s, tokens_per_s_per_chip, joules_per_token or "
                             "tokens_per_joule, and those metrics are a model case's")
        training_only = (self.zero or self.shard_group or self.recompute not in (False, "none")
                         or self.published_mfu is not None)
        if training_only and self.phase != "train":
            raise ValueError("zero, recompute and published_mfu describe a training step (phase: train)")
        if self.fp8_scaling is not None and (self.phase != "train" or self.dtype != "fp8"):
            raise ValueError("fp8_scaling is the recipe of an fp8 training step (phase: train, dtype: fp8)")
        if energy != (self.phase == "generate"):
            raise ValueError("an energy metric is a generation's (phase: generate), and a generation's metric is one")
        if self.phase == "generate" and self.output < 1:
            raise ValueError("a generation needs output ≥ 1 (the new tokens per sequence)")
        if (self.requests is not None or self.max_output is not None) and self.phase != "generate":
            raise ValueError("requests and max_output describe an offline generation (phase: generate)")
        if self.max_output is not None and (self.requests is None or self.max_output < self.output):
            raise ValueError("max_output caps an offline batch's replies: give requests, and output (their mean) "
                             "at most max_output")
        if self.metric == "tflops" and self.flops is None:
            raise ValueError("a tflops case needs flops (the source's FLOP count)")
        if (self.published is None) != (self.hardware == "host"):
            raise ValueError("published is required, except for host cases (measured at run time)")
        return self

    @property
    def tokens(self) -> int:
        """A model case's tokens per pass, over all its replicas: one per sequence in a decode step."""
        return self.batch * self.data_parallel * (1 if self.phase == "decode" else self.context)

    @property
    def total_chips(self) -> int:
        """The chips a model case runs on: tensor × pipeline × context × data parallel."""
        return self.chips * self.pipeline * self.sequence * self.data_parallel

    @property
    def _tokens_per_metric(self) -> float:
        return self.tokens / (self.total_chips if self.metric == "tokens_per_s_per_chip" else 1)

    def published_seconds(self, clock_hz: float) -> float:
        if self.metric == "tflops":
            return self.flops / (self.published * 1e12)
        if self.metric in THROUGHPUT_METRICS:
            return self._tokens_per_metric / self.published
        return self.published / clock_hz if self.metric == "cycles" else self.published

    def in_metric(self, seconds: float, clock_hz: float) -> float:
        if self.metric == "tflops":
            return self.flops / seconds / 1e12
        if self.metric in THROUGHPUT_METRICS:
            return self._tokens_per_metric / seconds
        return seconds * clock_hz if self.metric == "cycles" else seconds


class Ordering(_Strict):
    faster: str
    slower: str
    claim: str = Field(min_length=1)
    source: str = Field(min_length=1)


class ValidationSet(_Strict):
    cases: list[Case] = Field(min_length=1)
    orderings: list[Ordering] = []

    @model_validator(mode="after")
    def _ids(self):
        ids = [c.id for c in self.cases]
        if len(set(ids)) != len(ids):
            raise ValueError(f"case ids must be unique; repeated: {sorted({i for i in ids if ids.count(i) > 1})}")
        for o in self.orderings:
            for name in (o.faster, o.slower):
                if name not in ids:
                    raise ValueError(f"ordering names unknown case {name!r}")
        return self


def load_cases(path: str | Path = CASES_FILE) -> ValidationSet:
    """Read and check a validation-set file: every workload, parameter and preset must exist."""
    try:
        cases = parse_document(ValidationSet, read_yaml(path), str(path), "cases (and orderings)")
    except SpecError as exc:
        raise ValidationError_(str(exc)) from None
    resolved = []
    for i, case in enumerate(cases.cases):
        if case.hardware.endswith((".yaml", ".yml")):  # spec files sit beside the cases file
            case = case.model_copy(update={"hardware": str(Path(path).parent / case.hardware)})
        try:
            _check(case)
        except (WorkloadError, SpecError, CircuitError, ValueError) as exc:
            raise ValidationError_(f"{path}: cases[{i}] ({case.id}): {exc}") from None
        resolved.append(case)
    return cases.model_copy(update={"cases": resolved})


def _check(case: Case) -> None:
    """Everything about a case that can be wrong before it runs: workload, sizes, algorithm
    and options (by building its schedule) or the model's config, hardware, and what a host
    case can measure."""
    if case.model is not None:
        _model(case.model)
        _accelerator(case.hardware)
        return
    family = _schedule(case).meta["family"]
    if case.hardware != "host":
        _accelerator(case.hardware)
    elif family != "diagonal" or case.dtype not in _HOST_DTYPES:
        raise WorkloadError(f"host cases time diagonal scans in fp32 or fp64, got {family!r} in {case.dtype}")


_HOST_DTYPES = {"fp32": np.float32, "fp64": np.float64}
MODELS_DIR = Path(__file__).resolve().parent.parent / "examples" / "models"


@lru_cache(maxsize=32)
def _model(name: str):
    from workloads.models import load_model

    return load_model(MODELS_DIR / f"{name}.json")


def _model_totals(case: Case, acc) -> dict:
    """A model case's predicted pass, in the case's parallel layout (see
    :func:`simulator.model.simulate_model`): its ``latency_s``, ``mfu`` and the rest."""
    from simulator.model import simulate_model

    _, totals = simulate_model(_model(case.model), acc, case.phase, case.context, case.batch, case.dtype,
                               recompute=case.recompute, chips=case.chips, pipeline=case.pipeline,
                               microbatches=case.microbatches, sequence=case.sequence,
                               data_parallel=case.data_parallel, zero=case.zero,
                               expert_parallel=case.expert_parallel, shard_group=case.shard_group,
                               attention=case.attention,
                               **({"fp8_scaling": case.fp8_scaling} if case.fp8_scaling else {}))
    return totals


def _schedule(case: Case):
    w = get_workload(case.workload).with_params(**case.params)
    return schedule(w, case.algorithm, case.dtype, direction=case.direction, impl=case.impl,
                    launch=case.launch, **case.options)


@lru_cache(maxsize=1)
def _host():
    from hwmodels.calibrate import calibrate

    return calibrate()


def _measure_host(case: Case) -> float:
    """Median seconds of the case's Numba kernel on this machine (diagonal scans only):
    ``linear_scan`` under the case's circuit, or ``diagonal_scan_chunked`` for ``chunked``."""
    from hwmodels.calibrate import median_seconds
    from workloads.circuits import prefix_circuit
    from workloads.kernels import diagonal_scan_chunked, linear_scan

    w = get_workload(case.workload).with_params(**case.params)
    dtype = _HOST_DTYPES[case.dtype]
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 1.0, size=(w.seq_len, w.batch * w.heads * w.state)).astype(dtype)
    b = rng.normal(size=a.shape).astype(dtype)
    if case.algorithm == "chunked":  # the reduce-then-scan kernel a user would run
        return median_seconds(diagonal_scan_chunked, a, b, case.options.get("chunk", 4096))
    circuit = None if case.algorithm == "sequential" else prefix_circuit(case.algorithm, w.seq_len, **case.options)
    return median_seconds(partial(linear_scan, out=np.empty_like(a)), a, b, circuit)


_COLUMNS = ("case", "hardware", "workload", "family", "algorithm", "impl", "direction", "launch", "sizes",
            "dtype", "metric", "published", "predicted", "published_s", "predicted_s", "host_s", "ratio",
            "within_band", "split", "source", "conditions", "note", "published_mfu", "predicted_mfu",
            "published_energy_j", "predicted_energy_j", "published_power_w", "predicted_power_w", "unblinded")


@lru_cache(maxsize=64)
def _accelerator(hardware: str):
    return _host() if hardware == "host" else load_accelerator(hardware)


def _energy_row(case: Case, acc) -> dict:
    """An energy case's prediction: the generation's energy per output token (or tokens per
    joule), ``ratio`` = predicted / published energy per token, and its average power per chip."""
    from simulator.model import simulate_generation
    from simulator.serving import simulate_offline

    model = _model(case.model)
    if case.requests is not None:
        run = simulate_offline(model, acc, case.context, case.output, case.requests, case.batch, case.max_output,
                               case.dtype, chips=case.chips, attention=case.attention)
    else:
        _, _, run = simulate_generation(model, acc, case.context, case.output, case.batch, case.dtype,
                                        chips=case.chips, attention=case.attention)
    per_token = case.metric == "joules_per_token"
    predicted = run["energy_per_output_token_j"] if per_token else 1 / run["energy_per_token_j"]
    ratio = predicted / case.published if per_token else case.published / predicted
    published_j = case.published if per_token else 1 / case.published  # energy per token, J
    return {"workload": case.model, "family": model.architecture, "algorithm": case.phase, "impl": "",
            "direction": "fwd", "launch": "",
            "sizes": f"prompt={case.context}, output={case.output}, batch={case.batch}, chips={case.chips}"
                     + (f", requests={case.requests}" if case.requests else "")
                     + (f", max_output={case.max_output}" if case.max_output else ""),
            "published": case.published, "predicted": predicted, "published_s": math.nan, "predicted_s": run["total_s"],
            "ratio": ratio, "published_energy_j": published_j, "predicted_energy_j": published_j * ratio,
            "published_power_w": case.published_power_w or math.nan,
            "predicted_power_w": run["average_power_w"]}


def _evaluate(case: Case) -> dict:
    """One row of the table: the case, its prediction and the ratio predicted / published."""
    acc = _accelerator(case.hardware)
    clock, host_s = 1.0, 0.0
    hardware = Path(case.hardware).stem if case.hardware.endswith((".yaml", ".yml")) else case.hardware
    if case.metric in ENERGY_METRICS:
        row = _energy_row(case, acc)
        return {"case": case.id, "hardware": hardware, **row, "host_s": 0.0, "dtype": case.dtype, "metric": case.metric,
                "within_band": 1 / BAND <= row["ratio"] <= BAND, "split": case.split, "source": case.source,
                "conditions": case.conditions, "note": case.note}
    mfu = {"published_mfu": math.nan, "predicted_mfu": math.nan}
    if case.model is not None:  # a whole model: one pass of its phase
        totals = _model_totals(case, acc)
        predicted = totals["latency_s"]
        if case.phase == "train":
            mfu = {"published_mfu": case.published_mfu or math.nan, "predicted_mfu": totals["mfu"]}
        what = {"workload": case.model, "family": _model(case.model).architecture, "algorithm": case.phase,
                "impl": "", "direction": "fwd+bwd" if case.phase == "train" else "fwd", "launch": "",
                "sizes": _layout(case)}
    else:
        planned = _schedule(case)
        result = simulate(planned, acc, case.policy)
        predicted, host_s = result.latency_s, result.host_s
        clock = acc.matrix.clock_hz if acc.matrix is not None else acc.clock_hz
        what = {"workload": case.workload, "family": planned.meta["family"], "algorithm": case.algorithm,
                "impl": case.impl or "", "direction": case.direction, "launch": case.launch if case.impl else "",
                "sizes": ", ".join(f"{k}={v}" for k, v in case.params.items())}
    published = _measure_host(case) if case.hardware == "host" else case.published_seconds(clock)
    ratio = predicted / published
    return {
        "case": case.id, "hardware": hardware, **what, "dtype": case.dtype, "metric": case.metric,
        "published": case.in_metric(published, clock), "predicted": case.in_metric(predicted, clock),
        "published_s": published, "predicted_s": predicted, "host_s": host_s, "ratio": ratio,
        "within_band": 1 / BAND <= ratio <= BAND, "split": case.split, "source": case.source,
        "conditions": case.conditions, "note": case.note, **mfu, **dict.fromkeys(_COLUMNS[-5:-1], math.nan),
    }


def _layout(case: Case) -> str:
    """A model case's sizes and parallel layout, the parts that differ from one plain chip."""
    parts = [f"context={case.context}", f"batch={case.batch}", f"chips={case.chips}"]
    for name in ("data_parallel", "pipeline", "sequence", "expert_parallel"):
        if getattr(case, name) > 1:
            parts.append(f"{name}={getattr(case, name)}")
    if case.microbatches:
        parts.append(f"microbatches={case.microbatches}")
    if case.zero:
        parts.append(f"zero={case.zero}")
    if case.shard_group:
        parts.append(f"shard_group={case.shard_group}")
    if case.recompute not in (False, "none"):
        parts.append("recompute" if case.recompute is True or case.recompute == "full"
                     else f"recompute={case.recompute}")
    if case.fp8_scaling:
        parts.append(f"fp8_scaling={case.fp8_scaling}")
    if case.attention:
        parts.append(f"attention={case.attention}")
    return ", ".join(parts)


def run_validation(cases: ValidationSet, *, fast: bool = False, name: str = "kernels",
                   progress=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(table, orderings)``: one row per case (host cases left out when ``fast``) and one
    per ordering whose two cases both ran, with whether the published and the predicted
    times put them in the claimed order; both carry the set's ``name`` in a ``set`` column.
    ``progress(done, total)`` is called as cases finish."""
    chosen = [c for c in cases.cases if not (fast and c.hardware == "host")]
    rows = []
    for i, case in enumerate(chosen):
        rows.append({**_evaluate(case), "unblinded": case.unblinded})
        if progress is not None:
            progress(i + 1, len(chosen))
    table = pd.DataFrame(rows, columns=list(_COLUMNS)).assign(set=name)
    by_id = table.set_index("case")
    rows = []
    for o in cases.orderings:
        if o.faster in by_id.index and o.slower in by_id.index:
            f, s = by_id.loc[o.faster], by_id.loc[o.slower]
            rows.append({"claim": o.claim, "faster": o.faster, "slower": o.slower,
                         "published_holds": bool(f.published_s < s.published_s),
                         "predicted_holds": bool(f.predicted_s < s.predicted_s),
                         "predicted_speedup": float(s.predicted_s / f.predicted_s),
                         "published_speedup": float(s.published_s / f.published_s),
                         "source": o.source, "set": name})
    return table, pd.DataFrame(rows, columns=["claim", "faster", "slower", "published_holds",
                                              "predicted_holds", "predicted_speedup",
                                              "published_speedup", "source", "set"])


def summary(table: pd.DataFrame, orderings: pd.DataFrame) -> dict:
    """The accuracy figures the targets are stated in."""
    log_ratio = np.abs(np.log(table["ratio"].to_numpy()))
    return {
        "cases": len(table),
        "median_abs_log_ratio": float(np.median(log_ratio)),
        "median_ratio": float(np.median(table["ratio"])),
        "worst_ratio": float(table["ratio"].iloc[int(np.argmax(log_ratio))]),
        "within_band": int(table["within_band"].sum()),
        "within_limit": int(((table["ratio"] >= 1 / LIMIT) & (table["ratio"] <= LIMIT)).sum()),
        "orderings": len(orderings),
        "orderings_held": int(orderings["predicted_holds"].sum()) if len(orderings) else 0,
        "meets_targets": bool(np.median(log_ratio) <= math.log(BAND)
                              and np.all(log_ratio <= math.log(LIMIT))
                              and (orderings["predicted_holds"].all() if len(orderings) else True)),
    }


def breakdown(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Accuracy per group of cases: count, median ratio, median |log ratio|, share within ×/÷ 2,
    and whether the group meets the held-out targets (see :data:`HELD_OUT_BAND`)."""
    log_ratio = np.log(table["ratio"].to_numpy(dtype=float))
    frame = table.assign(_abs=np.abs(log_ratio), _in=np.abs(log_ratio) <= math.log(LIMIT))
    out = frame.groupby(by, sort=True).agg(cases=("ratio", "size"), median_ratio=("ratio", "median"),
                                           median_abs_log_ratio=("_abs", "median"),
                                           within_2x=("_in", "mean")).reset_index()
    out["meets_targets"] = ((out["median_abs_log_ratio"] <= math.log(HELD_OUT_BAND))
                            & (out["within_2x"] >= HELD_OUT_SHARE))
    return out


def by_kind(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """A model set's cases as inference (prefill, decode, generation) and training steps, each
    held to the held-out targets on its own; empty for a set without training steps."""
    training = table["algorithm"].eq("train")
    if not training.any():
        return {}
    return {"inference": table[~training], "training": table[training]}


def held_out_verdict(table: pd.DataFrame) -> str:
    """One line: the held-out half against its targets, overall and per family."""
    held = table[table["split"] == "held-out"]
    if held.empty:
        return "no held-out cases"
    overall = breakdown(held.assign(_all="all"), ["_all"]).iloc[0]
    families = breakdown(held, ["family"])
    failing = families.loc[~families["meets_targets"], "family"].tolist()
    return (f"held-out half, {int(overall.cases)} cases: median |log ratio| {overall.median_abs_log_ratio:.3f} "
            f"(target ≤ log {HELD_OUT_BAND:g} = {math.log(HELD_OUT_BAND):.3f}), "
            f"{overall.within_2x * 100:.0f} % within ×/÷ 2 (target ≥ {HELD_OUT_SHARE * 100:.0f} %); "
            f"families meeting both: {len(families) - len(failing)}/{len(families)}"
            + (f" (not: {', '.join(failing)})" if failing else "")
            + f"; targets {'met' if overall.meets_targets and not failing else 'NOT met'}")


def describe(s: dict, what: str = "") -> str:
    """One line of :func:`summary`'s figures, as the CLI prints them and the report shows them."""
    return (f"{s['cases']} cases{what}: median predicted/published time {s['median_ratio']:.3f}, "
            f"median |log ratio| {s['median_abs_log_ratio']:.3f} (target ≤ log {BAND} = "
            f"{math.log(BAND):.3f}), worst ratio {s['worst_ratio']:.3f}, {s['within_band']} within "
            f"±{(BAND - 1) * 100:.0f} %, {s['within_limit']} within ×/÷ {LIMIT:g}; orderings "
            f"{s['orderings_held']}/{s['orderings']}; targets {'met' if s['meets_targets'] else 'NOT met'}")


def _factor(median_abs_log_ratio: float) -> str:
    """A median |log ratio| as the factor predictions are off by: 0.087 → ``1.09``."""
    return f"{math.exp(median_abs_log_ratio):.2f}"


def verdict(table: pd.DataFrame, orderings: pd.DataFrame) -> str:
    """One validation set in a sentence a newcomer reads, its verdict first ("✓ Targets met" or
    "✗ Targets NOT met", as prominent either way): for a set with a held-out half, that half
    against its targets (median error factor, share within ×/÷ 2, families meeting both) with
    the development half beside it; else the whole set against :func:`summary`'s targets."""
    name = table["set"].iloc[0] if "set" in table and len(table) else "validation"
    things = "energy measurements" if _energy(table) else "timings"
    held = table[table["split"] == "held-out"]
    if held.empty:
        s = summary(table, orderings)
        mark = "✓ Targets met" if s["meets_targets"] else "✗ Targets NOT met"
        return (f"{mark}: {name} set, {s['cases']} published {things} "
                f"({', '.join(sorted(table['family'].dropna().unique()))}): predictions off by a median factor of "
                f"{_factor(s['median_abs_log_ratio'])} (target ≤ {BAND:g}), {s['within_limit']} of {s['cases']} "
                f"within a factor of {LIMIT:g} (target: all), {s['orderings_held']} of {s['orderings']} published "
                "orderings kept (target: all).")
    overall = breakdown(held.assign(_all="all"), ["_all"]).iloc[0]
    by_family = breakdown(held, ["family"])
    failing = by_family.loc[~by_family["meets_targets"], "family"].tolist()
    mark = "✓ Targets met" if overall.meets_targets and not failing else "✗ Targets NOT met"
    met = len(by_family) - len(failing)
    seen = held["unblinded"].fillna("").astype(str) if "unblinded" in held else pd.Series([], dtype=str)
    seen = seen[seen != ""]
    reasons = seen.value_counts()  # each reason once, with how many cases it unblinded
    blind = ("never used to build the model" if seen.empty else
             f"{len(seen)} of them no longer blind — "
             + "; ".join(f"{n}: {reason}" if len(reasons) > 1 else reason for reason, n in reasons.items()))
    line = (f"{mark}: {name} set, held-out half ({int(overall.cases)} published {things}, {blind}; "
            f"{', '.join(sorted(held['family'].unique()))}): predictions off by a median factor of "
            f"{_factor(overall.median_abs_log_ratio)} (target ≤ {HELD_OUT_BAND:g}), "
            f"{overall.within_2x * 100:.0f} % within a factor of {LIMIT:g} (target ≥ {HELD_OUT_SHARE * 100:.0f} %), "
            + ("every family" if not failing else "no family" if not met else f"{met} of {len(by_family)} families")
            + " meeting both")
    dev = table[table["split"] != "held-out"]
    if len(dev):
        d = breakdown(dev.assign(_all="all"), ["_all"]).iloc[0]
        line += (f"; on the development half ({int(d.cases)} {things.split()[-1]}) {_factor(d.median_abs_log_ratio)} and "
                 f"{d.within_2x * 100:.0f} %")
    return line + _power_clause(table) + "."


def _power_clause(table: pd.DataFrame) -> str:
    """For an energy set: how close the predicted average power per chip is to the published."""
    if not _energy(table) or "published_power_w" not in table:
        return ""
    both = table[table["published_power_w"].notna()]
    if both.empty:
        return ""
    ratio = both["predicted_power_w"] / both["published_power_w"]
    within = int(((ratio >= 1 / BAND) & (ratio <= BAND)).sum())
    return (f"; average power per chip, where the source gives it: median predicted/published {ratio.median():.2f}, "
            f"{within} of {len(both)} within ±{(BAND - 1) * 100:.0f} %")


def _energy(table: pd.DataFrame) -> bool:
    """Whether a set's cases are all of energy (its ratio is of energy per token, not of time)."""
    return "metric" in table and bool(len(table)) and bool(table["metric"].isin(ENERGY_METRICS).all())


def validation_section(table: pd.DataFrame, orderings: pd.DataFrame, folder: Path):
    """``(text, figures, tables)`` of the validation section of a report in ``folder``: per
    validation set (the ``set`` column), its summary sentence, its predicted-vs-published
    scatter (written there) and its tables; a set with a held-out half also gets its targets'
    verdict and its accuracy by split, family and source."""
    from reports.html import Figure, Table
    from reports.plots import plot_validation

    texts, figures, tables = [], [], []
    for i, (name, part) in enumerate(table.groupby("set", sort=False)):
        split = bool((part["split"] == "held-out").any())
        colour = "family" if split and not _energy(part) else "hardware"
        image = "validation.png" if i == 0 else f"validation-{name}.png"
        plot_validation(part, BAND, folder / image, colour=colour, energy=_energy(part))
        mine = orderings[orderings["set"] == name] if len(orderings) else orderings
        texts.append("- " + verdict(part, mine))
        line = f"Validation ({name}): {describe(summary(part, mine))}"
        line += f"; {held_out_verdict(part)}" if split else ""
        line += "".join(f"; {kind}: {held_out_verdict(cases)}" for kind, cases in by_kind(part).items())
        figures.append(Figure(f"Validation ({name}): predicted vs published", image,
                              f"{line}. Log-log, one marker per case, one colour per {colour}"
                              + ("; circles: development half, triangles: held-out half" if split else "")
                              + f"; the band is ±{(BAND - 1) * 100:.0f} %, the dashed lines ×/÷ {LIMIT:g}."))
        if split:
            tables += [Table(f"Validation ({name}) by split and family", breakdown(part, ["split", "family"]),
                             f"held-out targets: median |log ratio| ≤ log {HELD_OUT_BAND:g} and "
                             f"≥ {HELD_OUT_SHARE * 100:.0f} % within ×/÷ 2, per family and overall"),
                       Table(f"Validation ({name}) by source", breakdown(part, ["split", "source", "hardware"]),
                             "a source is one table of one document on one GPU, wholly in one half")]
            kinds = by_kind(part)
            if kinds:  # a model set: inference and training steps held to the targets apart
                tables.append(Table(f"Validation ({name}) by split, inference and training",
                                    breakdown(pd.concat([p.assign(kind=k) for k, p in kinds.items()]), ["split", "kind"]),
                                    "each kind against the held-out targets on its own"))
        energy = _energy(part)
        columns = ["case", "hardware", "workload", "algorithm", "impl", "direction", "sizes", "dtype", "metric",
                   "published", "predicted", "ratio", "split", "source", "note"]
        if part["published_mfu"].notna().any() or part["predicted_mfu"].notna().any():  # training: MFU beside
            columns[columns.index("ratio") + 1:columns.index("ratio") + 1] = ["published_mfu", "predicted_mfu"]
        if energy:  # the average power beside the energy, published and predicted
            columns[columns.index("ratio") + 1:columns.index("ratio") + 1] = ["published_power_w", "predicted_power_w"]
            columns = [c for c in columns if c not in ("impl", "direction")]
        tables.append(Table(f"Validation ({name}) cases", part[columns],
                            "ratio = predicted / published energy per token (below 1: scansim predicts less "
                            "energy); average power per chip beside it" if energy
                            else "ratio = predicted time / published time"))
        if len(mine):
            tables.append(Table(f"Validation ({name}) orderings", mine.drop(columns="set"),
                                "Does scansim rank the two cases as the source does?"))
    return "\n".join(texts), figures, tables


def write_validation_report(table: pd.DataFrame, orderings: pd.DataFrame, folder: Path) -> Path:
    """``validation.csv``, ``orderings.csv``, the scatter plots and ``index.html`` in ``folder``."""
    from reports.html import write_report

    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "validation.csv", index=False)
    orderings.to_csv(folder / "orderings.csv", index=False)
    text, figures, tables = validation_section(table, orderings, folder)
    return write_report(folder, "scansim validation", text, figures, tables)
