"""The ``scansim`` command line: a thin shell over the library.

``main(argv)`` returns the exit code: 0 on success, 2 for a user error (one line on stderr
naming the file or field and what was expected, no traceback).  Anything else is a bug.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import sys
from pathlib import Path

from hwmodels.loader import (SpecError, dump_accelerator, load_accelerator, preset_names, spec_schema,
                             spec_template)
from simulator import DEFAULT_EVENT_BUDGET, SimulationError, simulate
from simulator.policy import POLICIES
from workloads.backward import DIRECTIONS, STATES
from workloads.catalog import CATALOG, PARAMS, WorkloadError, algorithms, get_workload
from workloads.dispatch import schedule
from workloads.implementations import IMPLEMENTATIONS, LAUNCHES
from workloads.models.fp8 import DEFAULT_FP8_RECIPE, FP8_RECIPES
from workloads.models.phases import ATTENTION_KERNELS
from workloads.circuits import CircuitError
from workloads.schedule import DTYPE_BYTES

USER_ERRORS = (SpecError, WorkloadError, SimulationError, CircuitError)
#: user errors of the modules the commands import when they run (sweeps, reports and the
#: validation set pull in pandas, SciPy and Dask: `scansim --help` must not wait for them)
LAZY_USER_ERRORS = (("reports.sweep", "SweepError"), ("reports.validate", "ValidationError_"))


def _is_user_error(exc: Exception) -> bool:
    lazy = tuple(getattr(sys.modules[m], name) for m, name in LAZY_USER_ERRORS if m in sys.modules)
    return isinstance(exc, USER_ERRORS + lazy)


class UsageError(Exception):
    """A command line that cannot be parsed, or an output that cannot be written."""


#: characters that would break a message over lines (``str.splitlines`` splits at each) or
#: steer a terminal: a user's text echoed in an error (a model, preset or file name) shows them
#: escaped, as Python would write them
_ESCAPES = str.maketrans({c: repr(c)[1:-1] for c in map(chr, (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028,
                                                                0x2029))})


def one_line(text: object) -> str:
    """``text`` on one line: line breaks and control characters escaped (``\\n``, ``\\x1b``)."""
    return str(text).translate(_ESCAPES)


def _json(record: dict) -> str:
    """One JSON object (SI floats), always valid JSON: a figure that is unknown (NaN: e.g. a
    price for a chip without a cost) is null; an infinity is a bug and raises."""
    return json.dumps({k: None if isinstance(v, float) and math.isnan(v) else v for k, v in record.items()},
                      allow_nan=False)


def _write_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all: to a temporary file beside it, renamed
    over it once written (a full disk leaves nothing behind); a device or pipe (``/dev/stdout``)
    is written as it is.  :class:`UsageError` in one line naming the file when it cannot be."""
    try:
        if path.exists() and not path.is_file():  # not a regular file: nothing to rename over
            path.write_text(text)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(text)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _folder(text: str) -> Path:
    """An output folder argument: it may exist (as a folder) or be created; never a file."""
    return _writable(text, folder=True)


def _file(text: str) -> Path:
    """An output file argument: its folder may exist or be created; it is not a folder."""
    return _writable(text, folder=False)


def _writable(text: str, folder: bool) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty one")
    path = Path(text)
    if path.exists() and path.is_dir() != folder:
        raise argparse.ArgumentTypeError(f"{text}: exists and is {'a file' if folder else 'a folder'}, "
                                         f"expected {'a folder' if folder else 'a file'}")
    for parent in path.parents:  # the nearest existing ancestor must be a folder
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"{text}: {parent} is a file, not a folder")
            break
    return path


def _positive(kind: type, what: str):
    """An argparse type: a finite number of ``kind`` above zero (at least 1 for whole numbers)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (value > 0 and value < float("inf")):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value
    return parse


_positive_float = _positive(float, "a finite number > 0")
_positive_int = _positive(int, "a whole number ≥ 1")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2: raised and reported by main()
        raise UsageError(f"{self.prog}: {message}")


def _cmd_hw_list(args) -> int:
    print(f"{'preset':24s} {'vector':>17s}  {'matrix (dense)':34s} {'memory':>11s}  description")
    for name in preset_names():
        acc = load_accelerator(name)
        vector = max(acc.vector.flops_per_lane_per_cycle, key=lambda d: acc.peak_flops_per_s(d) if d != "fp64" else 0)
        rates = [(d, acc.matrix_peak_flops_per_s(d)) for d in acc.matrix.macs_per_cycle] if acc.matrix else []
        matrix = ", ".join(f"{d} {r / 1e12:.4g}" for d, r in rates) + " TFLOP/s" if rates else "none"
        print(f"{name:24s} {acc.peak_flops_per_s(vector) / 1e12:7.4g} TFLOP/s {vector:4s}  {matrix:34s} "
              f"{acc.dram.bandwidth_bytes_per_s / 1e9:6.4g} GB/s  {acc.description}")
    return 0


def _cmd_hw_show(args) -> int:
    acc = load_accelerator(args.name)
    print(datasheet_and_measured(acc) + dump_accelerator(acc), end="")
    return 0


def datasheet_and_measured(acc) -> str:
    """YAML comment lines (the spec still loads) setting each memory level's datasheet peak beside
    the bandwidth a streaming kernel sustains — measured with its source, or the fraction the
    spec assumes — and the occupancy limits the core model uses."""
    from hwmodels.spec import DEFAULT_SUSTAINED_FRACTION
    from reports.units import human

    lines = ["# datasheet and measured figures (the core model uses the measured ones):"]
    for level in acc.memory:
        peak, sustained = level.bandwidth_bytes_per_s, level.sustained_bytes_per_s
        if level.sustained_bandwidth_bytes_per_s is not None:
            how = f"measured: {one_line(level.sustained_bandwidth_bytes_per_s.source)}"
        elif level.sustained_fraction is not None:
            how = f"assumed: {level.sustained_fraction:.0%} of the peak, as the spec states"
        else:
            how = f"assumed: {DEFAULT_SUSTAINED_FRACTION:.0%} of the peak, scansim's default (median of measured GPUs)"
        if level is acc.dram or level.sustained_bandwidth_bytes_per_s is not None:
            lines.append(f"#   {level.name}: datasheet {human(peak, 'bandwidth_bytes_per_s')}, sustained "
                         f"{human(sustained, 'bandwidth_bytes_per_s')} ({how}); latency {human(level.latency_s, 'latency_s')}")
    if acc.core is not None:
        c = acc.core
        lines.append(f"#   per core: {c.threads:,} threads, {c.blocks} blocks, {c.registers:,} registers, "
                     f"{c.shared_bytes / 1024:,.0f} KiB shared memory resident ({one_line(c.source)})")
    else:
        lines.append("#   no occupancy limits (core): ops spread over the cores, no latency-hiding limit")
    return "\n".join(lines + _power_lines(acc)) + "\n"


def _power_lines(acc) -> list[str]:
    """The power model's figures as the simulator uses them: stated (with sources) or derived
    (the rule that derives each, :mod:`hwmodels.power`)."""
    from hwmodels import power
    from reports.units import human

    p = acc.power
    tdp = (f"TDP {human(p.tdp_w, 'tdp_w')} (stated)" if p is not None else
           f"TDP {human(power.tdp_w(acc), 'tdp_w')} (none stated: every unit and the DRAM at peak at once)")

    def figure(name: str, value: float) -> str:
        measured = getattr(p, name, None) if p is not None else None
        how = (f"measured: {one_line(measured.source)}" if measured is not None
               else "derived: the default share of the TDP, at least the static power")
        return f"{name.removesuffix('_w')} {human(value, name)} ({how})"

    lines = [f"#   power: {tdp}; {figure('idle_w', power.idle_w(acc))}; {figure('baseline_w', power.baseline_w(acc))}"]
    if p is not None and p.whole_stack:
        lines.append("#   per-action energies: measured whole-stack (control with datapath): nothing added")
    else:
        instruction = human(power.instruction_energy_j(acc), "energy_j")
        lines.append(f"#   per-action energies: datapath figures, plus {instruction} "
                     f"per instruction of {power.issue_width(acc)} lanes, "
                     f"{human(power.register_energy_per_byte_j(acc), 'energy_j')} per register-file byte, and "
                     f"control {power.control_share(acc):.0%} of every data movement (hwmodels.power)")
    return lines


def _cmd_hw_validate(args) -> int:
    acc = load_accelerator(Path(args.file))
    for warning in acc.warnings():
        print(f"scansim: warning: {one_line(args.file)}: {one_line(warning)}", file=sys.stderr)
    print(f"{args.file}: ok ({acc.name})")
    return 0


def _cmd_hw_schema(args) -> int:
    print(json.dumps(spec_schema(), indent=2, allow_nan=False))
    return 0


def _cmd_hw_init(args) -> int:
    if args.output.exists() and not args.force:
        raise UsageError(f"{args.output}: exists; pass --force to overwrite it")
    import yaml

    text = spec_template(args.base, args.name or args.output.stem)
    load_accelerator(yaml.safe_load(text))  # what it writes loads as it is: checked before writing
    _write_file(args.output, text)
    print(f"wrote {args.output}: {args.base} with every field commented out, ready to edit")
    return 0


def _cmd_workloads_list(args) -> int:
    for w in CATALOG.values():
        print(f"{w.name:22s} {w.family:22s} {w.description}")
        print(f"{'':22s} algorithms: {', '.join(algorithms(w))}")
    print("\nimplementations (--impl): shipped kernels, costed as they are built")
    for kernel in IMPLEMENTATIONS.values():
        print(f"{kernel.name:22s} {', '.join(kernel.families):22s} {kernel.description}")
        print(f"{'':22s} source: {kernel.source}")
        if kernel.host_s:
            per_call = ", ".join(f"{d} {t * 1e6:.0f} µs" for d, t in kernel.host_s.items())
            print(f"{'':22s} eager host time per call: {per_call} ({kernel.host_source})")
    return 0


def _parse_params(pairs: list[str]) -> dict[str, int]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise WorkloadError(f"-p {pair!r}: expected KEY=VALUE, e.g. -p heads=16")
        try:
            params[key.strip()] = int(value)
        except ValueError:
            raise WorkloadError(f"-p {pair!r}: expected an integer value, got {value!r}") from None
    return params


def _cmd_simulate(args) -> int:
    acc = load_accelerator(args.hw)
    workload = get_workload(args.workload)
    params = _parse_params(args.param)
    for key in ("seq_len", "batch"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    workload = workload.with_params(**params)
    algorithm = args.algo or (IMPLEMENTATIONS[args.impl].algorithm if args.impl else algorithms(workload)[0])
    options = {"impl": args.impl, "launch": args.launch} if args.impl else {}
    if args.launch != "eager" and not args.impl:
        raise WorkloadError("--launch: applies to --impl (a shipped kernel's host side)")
    if args.non_causal:
        if workload.family != "attention":
            raise WorkloadError(f"--non-causal: applies to attention, not family {workload.family!r}")
        options["causal"] = 0
    if args.weight_scale is not None:
        if algorithm not in ("deer", "quasi-deer"):
            raise WorkloadError(f"--weight-scale: applies to --algo deer or quasi-deer, not {algorithm!r}")
        options["weight_scale"] = args.weight_scale
    if args.tune:
        return _tuned_simulate(args, acc, workload, options)
    if algorithm in ("deer", "quasi-deer"):
        # measuring the Newton iterations runs the kernel (seconds to minutes): first check
        # that one iteration's working set fits the chip at all
        from simulator.bounds import placements

        placements(schedule(workload, algorithm, args.dtype, direction=args.direction, states=args.states,
                            iterations=1), acc)
    sched = schedule(workload, algorithm, args.dtype, direction=args.direction, states=args.states,
                     tf32=args.tf32, **options)
    result = simulate(sched, acc, args.policy, event_budget=args.event_budget, fidelity=args.fidelity)
    from workloads.families import DIMENSIONS

    sizes = {d: getattr(workload, d) for d in DIMENSIONS.get(workload.family, ("seq_len",))}
    record = {"workload": workload.name, **sizes, "algorithm": algorithm, "direction": args.direction,
              **result.to_record()}
    _print_record(record, args.json)
    return 0


def _print_record(record: dict, as_json: bool) -> None:
    if as_json:
        print(_json(record))
    else:
        for key, value in record.items():
            print(f"{key:22s} {value:.6g}" if isinstance(value, float) else f"{key:22s} {value}")


def _tuned_simulate(args, acc, workload, options: dict) -> int:
    """``simulate --tune``: the fastest mapping of the workload on the chip (the algorithm
    given by ``--algo``, or every one of its family; the policy given by ``--policy``, or
    either; a shipped kernel's own knobs with ``--impl``), reported beside the untuned run's
    latency."""
    from simulator.tune import tune
    from workloads.families import DIMENSIONS
    from workloads.mapping import default_mapping, mapping_space

    space, default = mapping_space(workload, args.impl), default_mapping(workload, args.algo, args.impl)
    if args.algo and not args.impl:
        space = space.restricted(algorithms=(args.algo,))
    if args.policy != "auto" and not args.impl:  # a policy asked for is kept, not searched
        space, default = space.restricted(policies=(args.policy,)), {**default, "policy": args.policy}
    fixed = {k: v for k, v in options.items() if k not in ("impl",)}
    fixed.update({"states": args.states} if args.direction != "fwd" and not args.impl else {})
    fixed.update({"tf32": True} if args.tf32 else {})
    space = space.with_fixed(**fixed)
    found = tune(workload, acc, args.dtype, args.direction, impl=args.impl, space=space, default=default,
                 fidelity=args.fidelity, event_budget=args.event_budget)
    sizes = {d: getattr(workload, d) for d in DIMENSIONS.get(workload.family, ("seq_len",))}
    record = {"workload": workload.name, **sizes, "algorithm": found.best["algorithm"],
              "direction": args.direction, **found.result.to_record(),
              "tuned_mapping": found.best, "default_mapping": found.default,
              "default_latency_s": found.default_latency_s, "tuned_latency_s": found.latency_s,
              "tune_gain": found.gain, "tune_candidates": len(found.candidates), "tune_pruned": found.pruned,
              "tune_illegal": found.illegal}
    if args.json:
        _print_record(record, True)
        return 0
    _print_record({k: v for k, v in record.items() if not k.endswith("_mapping")}, False)
    from reports.units import human, plain

    mapping = lambda m: ", ".join(f"{k} {v}" for k, v in m.items())  # noqa: E731
    print(f"\ntuned mapping: {mapping(found.best)}\n"
          f"default ({mapping(found.default)}): {human(found.default_latency_s, 'latency_s')}"
          + ("" if found.default_legal else " (its schedule cannot run on this chip)") + "\n"
          f"tuned: {human(found.latency_s, 'latency_s')}, {plain(found.gain)} times the default's speed; "
          f"{len(found.candidates)} legal mappings, {found.pruned} pruned by their lower bound, "
          f"{found.illegal} illegal")
    return 0


def _cmd_model(args) -> int:
    from simulator.model import ENERGY_PARTS, largest_fit, simulate_generation, simulate_model, usd_per_million_tokens
    from workloads.models import load_model

    acc = load_accelerator(args.hw)
    model = load_model(args.config)
    split = {"chips": args.chips, "pipeline": args.pipeline, "microbatches": args.microbatches,
             "data_parallel": args.data_parallel, "expert_parallel": args.expert_parallel}
    layout = {"chips": args.chips, "pipeline": args.pipeline, "sequence": args.sequence,
              "data_parallel": args.data_parallel, "expert_parallel": args.expert_parallel}
    if args.zero and not args.train:
        raise UsageError("scansim model: --zero partitions training state: use it with --train")
    if args.fp8_scaling and not (args.train and args.dtype == "fp8"):
        raise UsageError("scansim model: --fp8-scaling is an fp8 training recipe: use it with --train --dtype fp8")
    args.fp8_scaling = args.fp8_scaling or DEFAULT_FP8_RECIPE
    if args.shard_group and not args.train:
        raise UsageError("scansim model: --shard-group shards training state (HSDP): use it with --train --zero 3")
    if (args.requests or args.max_output) and args.train:
        raise UsageError("scansim model: --requests serves an offline batch: not with --train")
    if args.max_output and not args.requests:
        raise UsageError("scansim model: --max-output caps an offline batch's replies: give --requests")
    if args.train:
        table, totals = simulate_model(model, acc, "train", args.prefill, args.batch, args.dtype,
                                       recompute=args.recompute, sequence=args.sequence, zero=args.zero,
                                       shard_group=args.shard_group, fp8_scaling=args.fp8_scaling,
                                       attention=args.attention, **split)
        limits = largest_fit(model, acc, "train", args.prefill, args.batch, args.dtype, args.recompute,
                             zero=args.zero, shard_group=args.shard_group, **layout)
        return _print_model({**totals, **_limits(limits)}, [("training step", table)], args.json)
    prefill, decode, run = simulate_generation(model, acc, args.prefill, args.decode, args.batch, args.dtype,
                                               sequence=args.sequence, kv_dtype=args.kv_dtype,
                                               attention=args.attention, **split)
    prefill_totals, decode_totals = run["prefill"], run["decode"]
    context, total_s, energy = run["decode_context"], run["total_s"], run["energy_j"]
    tokens = args.data_parallel * args.batch * (args.prefill + args.decode)
    record = {"model": model.name, "accelerator": acc.name, "chips": prefill_totals["chips"],
              "parameters": prefill_totals["parameters"],
              "batch": args.batch, "prefill_tokens": args.prefill, "decode_tokens": args.decode, "dtype": args.dtype,
              "activation_dtype": decode_totals["activation_dtype"],
              **({"kv_dtype": decode_totals["kv_dtype"]} if "kv_dtype" in decode_totals else {}),
              "time_to_first_token_s": run["time_to_first_token_s"],
              "time_per_output_token_s": run["time_per_output_token_s"],
              "decode_tokens_per_s": run["decode_tokens_per_s"],
              "prefill_mfu": prefill_totals["mfu"], "decode_mfu": decode_totals["mfu"],
              "total_s": total_s,
              "energy_per_token_j": run["energy_per_token_j"],
              **({"energy_per_output_token_j": run["energy_per_output_token_j"]} if args.decode else {}),
              "average_power_w": run["average_power_w"], "peak_power_w": run["peak_power_w"],
              **{k: run[k] for k in ENERGY_PARTS},
              "usd_per_million_tokens": _known(usd_per_million_tokens(acc, prefill_totals["chips"], total_s, energy,
                                                                      tokens)),
              **{k: v for k, v in decode_totals.items() if k.startswith("memory_")},
              **_limits(largest_fit(model, acc, "decode", args.prefill + args.decode, args.batch, args.dtype,
                                    kv_dtype=args.kv_dtype, **layout))}
    if args.requests:
        from simulator.serving import simulate_offline

        offline = simulate_offline(model, acc, args.prefill, args.decode, args.requests, args.batch, args.max_output,
                                   args.dtype, sequence=args.sequence, kv_dtype=args.kv_dtype, attention=args.attention,
                                   **{k: v for k, v in split.items() if k != "microbatches"})
        keep = ("requests", "reply_law", "max_output_tokens", "steps", "mean_running_batch", "total_s",
                "energy_per_output_token_j", "energy_per_token_j", "average_power_w")
        record.update({f"offline_{k}": offline[k] for k in keep})
    return _print_model(record, [("prefill", prefill), (f"decode step at context {context:,}", decode)], args.json)


def _known(value: float) -> float | None:
    """A figure, or None where it is unknown (NaN: a spec without area or cost has no price)."""
    return None if math.isnan(value) else value


def _limits(limits: dict) -> dict:
    """``largest_fit``'s answer as the record says it: the largest batch at this context and
    the longest context at this batch (``unlimited``: the state does not grow)."""
    return {"largest_batch_that_fits": limits["max_batch"] if limits["max_batch"] is not None else "unlimited",
            "longest_context_that_fits": limits["max_context"] if limits["max_context"] is not None else "unlimited"}


def _print_model(record: dict, tables: list, as_json: bool) -> int:
    """The figures (SI floats in JSON), then each phase's components with human units."""
    if as_json:
        print(_json(record))
        return 0
    from reports.units import human_table

    for key, value in record.items():
        shown = f"{value:.6g}" if isinstance(value, float) else "unknown" if value is None else value
        print(f"{key:26s} {shown}")
    for title, table in tables:
        print(f"\n{title}:")
        shown = human_table(table[["component", "count", "latency_s", "share", "dram_bytes", "bound"]])
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def _cmd_calibrate(args) -> int:
    from hwmodels.calibrate import CalibrationError, calibrate

    try:
        acc = calibrate(clock=args.clock_hz,
                        progress=lambda text: print(f"scansim calibrate: {text} …", file=sys.stderr, flush=True))
    except CalibrationError as exc:
        raise SpecError(f"calibrate: {exc}") from None
    header = ("# Written by `scansim calibrate`: this machine's measured clock, vector and special-\n"
              "# function throughput and latency, cache and DRAM bandwidth and latency, and parallel-\n"
              "# region launch time.  Energy, static power and area are not measurable from user space\n"
              "# and are zero here.\n")
    _write_file(args.output, header + dump_accelerator(acc))
    print(f"wrote {args.output}: {acc.cores} cores at {acc.clock_hz / 1e9:.2f} GHz, "
          f"{acc.peak_flops_per_s('fp32') / 1e9:.0f} GFLOP/s fp32, "
          f"{acc.dram.bandwidth_bytes_per_s / 1e9:.1f} GB/s DRAM")
    return 0


def _cmd_sweep(args) -> int:
    from reports.sweep import load_sweep, run_sweep

    spec = load_sweep(args.file)
    results = run_sweep(spec, args.output, workers=args.workers, scheduler=args.scheduler,
                        resume=args.resume, progress=True)
    failed = int((results["error"].fillna("") != "").sum())
    print(f"{args.output}: {len(results)} points ({failed} rejected by the model)")
    return 0


def _cmd_report(args) -> int:
    from reports.sweep import SweepError, read_results, sweep_objectives

    results = read_results(args.results)
    rejected = results["error"].fillna("") != "" if "error" in results else None
    if rejected is not None and rejected.all():  # before the report says anything, or makes its folder
        raise SweepError(f"{args.results}: every one of the {len(results)} points was rejected by the model, "
                         f"nothing to report (the first: {results['error'].iloc[0]})")
    from reports.report import write_sweep_report  # matplotlib: only once there is something to plot

    index = write_sweep_report(results, args.output, objectives=sweep_objectives(args.results),
                               progress=lambda text: print(f"scansim report: {text} …", file=sys.stderr, flush=True))
    print(f"wrote {index}")
    return 0


def _cmd_validate(args) -> int:
    import pandas as pd

    from reports.progress import Progress
    from reports.validate import (CASES_FILE, ENERGY_FILE, ENERGY_METRICS, MODELS_FILE, RECURRENT_FILE, breakdown,
                                  by_kind, describe, held_out_verdict, load_cases, run_validation, summary,
                                  write_validation_report)

    if args.cases:
        sets = [(Path(args.cases).stem, Path(args.cases))]
    else:
        sets = [(name, path) for name, path in (("kernels", CASES_FILE), ("recurrent", RECURRENT_FILE),
                                                ("models", MODELS_FILE), ("energy", ENERGY_FILE))
                if args.set in ("all", name)]
    tables, orderings = [], []
    for name, path in sets:
        cases = load_cases(path)
        bar = Progress(len(cases.cases), True, f"scansim validate {name}", "case")
        table, order = run_validation(cases, fast=args.fast, name=name, progress=lambda *_: bar.update())
        bar.close()
        tables.append(table)
        orderings.append(order)
        print(f"== {name} ({path}) ==")
        if (table["split"] == "held-out").any():  # a set with a held-out half: its accuracy by group
            fmt = {"float_format": lambda v: f"{v:.3f}", "index": False, "max_colwidth": 60}
            print(breakdown(table, ["split", "family"]).to_string(**fmt))
            print()
            print(breakdown(table, ["split", "source", "hardware"]).to_string(**fmt))
            energy = table[table["metric"].isin(ENERGY_METRICS)]
            if len(energy):  # each case's energy, with the average power beside it
                print()
                print(energy[["case", "metric", "published", "predicted", "ratio", "published_power_w",
                              "predicted_power_w"]].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
            print("\n" + describe(summary(table, order)))
            print(held_out_verdict(table))
            for kind, part in by_kind(table).items():  # inference and training held to the targets apart
                print(f"{kind}: {held_out_verdict(part)}")
            print()
            continue
        shown = table[["case", "hardware", "sizes", "metric", "published", "predicted", "ratio", "source"]]
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}", max_colwidth=48))
        if len(order):
            print()
            print(order[["claim", "published_holds", "predicted_holds"]].to_string(index=False))
        print("\n" + describe(summary(table, order)))
        published = table[table["hardware"] != "host"]
        if 0 < len(published) < len(table):  # host timings are noisy: the published cases alone
            print(describe(summary(published, order), " (published only, host timings left out)"))
        print()
    if args.output:
        report = write_validation_report(pd.concat(tables, ignore_index=True),
                                         pd.concat(orderings, ignore_index=True), Path(args.output))
        print(f"wrote {report}")
    return 0


def _cmd_demo(args) -> int:
    from reports.demo import run_demo  # matplotlib import only when needed

    index = run_demo(Path(args.output))
    print(f"wrote {index}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scansim", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"scansim {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    hw = sub.add_parser("hw", help="accelerator specs").add_subparsers(
        dest="hw_command", required=True, parser_class=_Parser)
    hw.add_parser("list", help="list the shipped presets").set_defaults(run=_cmd_hw_list)
    show = hw.add_parser("show", help="print a preset or spec file as YAML")
    show.add_argument("name")
    show.set_defaults(run=_cmd_hw_show)
    validate = hw.add_parser("validate", help="check a spec file")
    validate.add_argument("file")
    validate.set_defaults(run=_cmd_hw_validate)
    hw.add_parser("schema", help="print the spec's JSON Schema").set_defaults(run=_cmd_hw_schema)
    init = hw.add_parser("init", help="write a commented spec file to edit, built on a preset")
    init.add_argument("--base", required=True, choices=preset_names(), metavar="PRESET",
                      help="the preset to start from (scansim hw list)")
    init.add_argument("-o", "--output", required=True, type=_file, help="spec file to write")
    init.add_argument("--name", default=None, help="the spec's name (default: the file's name)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(run=_cmd_hw_init)

    wl = sub.add_parser("workloads", help="workload catalog").add_subparsers(
        dest="wl_command", required=True, parser_class=_Parser)
    wl.add_parser("list", help="list the catalog").set_defaults(run=_cmd_workloads_list)

    sim = sub.add_parser("simulate", help="simulate one workload on one accelerator")
    sim.add_argument("--hw", required=True, help="preset name or spec YAML file")
    sim.add_argument("--workload", required=True, help="catalog name (see: scansim workloads list)")
    sim.add_argument("--seq-len", dest="seq_len", type=int, help="sequence length T")
    sim.add_argument("--batch", type=int, help="batch size B")
    sim.add_argument("-p", dest="param", action="append", default=[], metavar="KEY=VALUE",
                     help=f"override a workload dimension ({', '.join(PARAMS)})")
    sim.add_argument("--algo", default=None,
                     help="algorithm (default: the family's first; see: scansim workloads list)")
    sim.add_argument("--dtype", default="fp32", choices=list(DTYPE_BYTES))
    sim.add_argument("--policy", default="auto", choices=list(POLICIES),
                     help="what stays on chip: every level through DRAM, fused blocks, or the faster")
    sim.add_argument("--fidelity", default="des", choices=["des", "analytic"],
                     help="discrete-event simulation or the closed form")
    sim.add_argument("--non-causal", action="store_true", help="attention over all keys (an encoder's)")
    sim.add_argument("--tf32", action="store_true",
                     help="fp32: let the matrix unit multiply in TF32 (PyTorch's allow_tf32)")
    sim.add_argument("--event-budget", dest="event_budget", type=int, default=DEFAULT_EVENT_BUDGET,
                     help="maximum number of simulated tiles")
    sim.add_argument("--impl", default=None, choices=list(IMPLEMENTATIONS),
                     help="cost a shipped kernel's implementation (see: scansim workloads list)")
    sim.add_argument("--launch", default="eager", choices=list(LAUNCHES),
                     help="--impl: eager calls pay the kernel's measured host time per call when it "
                          "exceeds the device's; graph (a CUDA-graph replay) hides it")
    sim.add_argument("--direction", default="fwd", choices=list(DIRECTIONS),
                     help="fwd: the layer's forward pass; fwd+bwd: a training step's forward and backward")
    sim.add_argument("--states", default="store", choices=list(STATES),
                     help="fwd+bwd: the backward reads the states the forward stored, or recomputes them")
    sim.add_argument("--weight-scale", dest="weight_scale", type=float, default=None,
                     help="DEER / quasi-DEER: recurrent weights uniform in ±scale/√d when measuring "
                          "the Newton iterations (default 1, PyTorch's initialisation)")
    sim.add_argument("--tune", action="store_true",
                     help="search the mapping (algorithm unless --algo, chunk, circuits, block, tile, fusion; "
                          "with --impl the kernel's own knobs) for the fastest on this chip")
    sim.add_argument("--json", action="store_true", help="print one JSON object (SI units)")
    sim.set_defaults(run=_cmd_simulate)

    sw = sub.add_parser("sweep", help="run a design-space sweep file")
    sw.add_argument("file", help="sweep YAML")
    sw.add_argument("-o", "--output", required=True, type=_folder, help="results folder (parquet files)")
    sw.add_argument("--workers", type=_positive_int, default=1, help="local worker processes")
    sw.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786")
    sw.add_argument("--resume", action="store_true", help="run only the points not yet in the folder")
    sw.set_defaults(run=_cmd_sweep)

    rep = sub.add_parser("report", help="write the HTML report of a results folder")
    rep.add_argument("results", help="results folder written by scansim sweep")
    rep.add_argument("-o", "--output", required=True, type=_folder, help="report folder")
    rep.set_defaults(run=_cmd_report)

    cal = sub.add_parser("calibrate", help="measure this machine and write its spec")
    cal.add_argument("-o", "--output", default="host.yaml", type=_file, help="spec file to write")
    cal.add_argument("--clock-hz", dest="clock_hz", type=_positive_float, default=None,
                     help="CPU clock, when the OS does not report it")
    cal.set_defaults(run=_cmd_calibrate)

    mod = sub.add_parser("model", help="a whole model's prefill and decode from its config.json")
    mod.add_argument("--hw", required=True, help="preset name or spec YAML file")
    mod.add_argument("--config", required=True, help="a Hugging Face config.json (see examples/models/)")
    mod.add_argument("--prefill", type=_positive_int, default=2048, help="prompt tokens per sequence")
    mod.add_argument("--decode", type=_positive_int, default=256, help="generated tokens per sequence")
    mod.add_argument("--batch", type=_positive_int, default=1, help="sequences served at once")
    mod.add_argument("--dtype", default="bf16", choices=("fp32", "bf16", "fp16", "fp8"),
                     help="the weights' and their GEMMs' format; an fp8 model runs norms, softmax, "
                          "elementwise pieces and the scans in bf16 (as Transformer Engine does)")
    mod.add_argument("--kv-dtype", dest="kv_dtype", default=None, choices=("fp32", "bf16", "fp16", "fp8"),
                     help="the KV cache's format (default: bf16 for an fp8 model, else --dtype)")
    mod.add_argument("--requests", type=_positive_int, default=None,
                     help="also serve an offline batch of this many prompts, --batch at a time (continuous "
                          "batching), replies averaging --decode tokens (an exponential law)")
    mod.add_argument("--max-output", dest="max_output", type=_positive_int, default=None,
                     help="with --requests: the replies' cap (max_tokens), at least --decode")
    mod.add_argument("--data-parallel", dest="data_parallel", type=_positive_int, default=1,
                     help="replicas, each running --batch sequences (training: gradients synchronised as "
                          "--zero lays them out)")
    mod.add_argument("--expert-parallel", dest="expert_parallel", type=_positive_int, default=1,
                     help="split each mixture-of-experts layer's experts over this many of the --data-parallel "
                          "replicas (a divisor of it): all-to-alls dispatch the tokens and combine the results")
    mod.add_argument("--zero", type=int, default=0, choices=(0, 1, 2, 3),
                     help="with --train and --data-parallel: ZeRO stage (0 DDP; 1 optimizer states, "
                          "2 and gradients, 3 (FSDP) and parameters partitioned over the replicas)")
    mod.add_argument("--shard-group", dest="shard_group", type=_positive_int, default=None,
                     help="with --zero 3: shard over groups of this many chips and replicate across them "
                          "(HSDP, FSDP's HYBRID_SHARD; e.g. 8, a node)")
    mod.add_argument("--chips", type=_positive_int, default=1,
                     help="tensor parallelism over this many chips (all-reduces on the spec's links)")
    mod.add_argument("--pipeline", type=_positive_int, default=1,
                     help="pipeline parallelism: the layers in this many stages, each on its own chips")
    mod.add_argument("--microbatches", type=_positive_int, default=None,
                     help="with --pipeline: micro-batches the batch runs as (default: one per stage, at "
                          "most one per sequence)")
    mod.add_argument("--sequence", type=_positive_int, default=1,
                     help="context parallelism of the prefill (and training) over this many chips: ring "
                          "attention, recurrent carries scanned across chips")
    mod.add_argument("--train", action="store_true",
                     help="cost a training step (forward, backward, Adam) on batch × prefill tokens instead")
    mod.add_argument("--recompute", nargs="?", const="full", default="none", choices=("none", "selective", "full"),
                     help="with --train: recompute activations — full (every layer's forward again; the default "
                          "when given alone) or selective (torchtitan's per-op policy: every second matmul "
                          "and the elementwise pieces)")
    mod.add_argument("--fp8-scaling", dest="fp8_scaling", default=None, choices=tuple(FP8_RECIPES),
                     help="with --train --dtype fp8: the recipe whose scaling and cast kernels the step pays — "
                          "Transformer Engine's delayed (the default: Megatron-LM's and NeMo's) or current "
                          "scaling, or torchao's tensorwise (torchtitan's Float8Linear)")
    mod.add_argument("--attention", default=None, choices=ATTENTION_KERNELS,
                     help="run the prompt's attention as this shipped kernel (flash-attention-2: what "
                          "PyTorch's scaled_dot_product_attention runs) instead of the blocked schedule")
    mod.add_argument("--json", action="store_true", help="one JSON record (SI units)")
    mod.set_defaults(run=_cmd_model)

    val = sub.add_parser("validate", help="compare predictions with published measurements")
    val.add_argument("-o", "--output", default=None, type=_folder,
                     help="folder for validation.csv and the HTML report")
    val.add_argument("--cases", default=None, help="a validation-set YAML of your own (default: the shipped sets)")
    val.add_argument("--set", choices=("all", "kernels", "recurrent", "models", "energy"), default="all",
                     help="which shipped set: kernels (GEMM, attention, systolic arrays), recurrent "
                          "(RNN and chunked linear-attention kernels, with a held-out half), models (whole "
                          "models' end-to-end throughput, with a held-out half), energy (GPU energy per "
                          "token serving real models, with a held-out half), or all")
    val.add_argument("--fast", action="store_true", help="leave out the cases measured on this machine")
    val.set_defaults(run=_cmd_validate)

    demo = sub.add_parser("demo", help="run the default study and write an HTML report")
    demo.add_argument("-o", "--output", default="out/demo", type=_folder, help="report folder")
    demo.set_defaults(run=_cmd_demo)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scansim")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def _check_leading_options(argv: list[str]) -> None:
    """Options before the command are only --help and --version: name any other one, rather
    than argparse's complaint that the command is missing."""
    for token in argv:
        if not token.startswith("-"):
            return
        if token not in ("-h", "--help", "--version"):
            raise UsageError(f"unrecognized option {token!r} before the command; "
                             "expected a command first (scansim --help lists them)")


def main(argv: list[str] | None = None) -> int:
    try:
        _check_leading_options(sys.argv[1:] if argv is None else list(argv))
        args = build_parser().parse_args(argv)
        code = args.run(args)
        sys.stdout.flush()  # a full disk under `> file` is found here, not at exit
        return code
    except KeyboardInterrupt:
        print("scansim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `scansim … | head`: the reader left; say nothing more
        _drop_stdout()
        return 0
    except OSError as exc:
        if exc.errno not in _NO_ROOM:
            raise  # a bug: exit 1 with its traceback
        # the output redirected to a full disk (`scansim hw schema > file`): files scansim
        # writes itself are named by their writers (_write_file, the sweep's store)
        where = f"{exc.filename}: " if exc.filename else "the output: "
        print(f"scansim: error: {one_line(where)}cannot write ({exc.strerror}); free some space and run again",
              file=sys.stderr)
        _drop_stdout()
        return 2
    except Exception as exc:
        if not (isinstance(exc, UsageError) or _is_user_error(exc)):
            raise  # a bug: exit 1 with its traceback
        print(f"scansim: error: {one_line(exc)}", file=sys.stderr)
        return 2


#: the errors of a write that found no room (a full disk, a quota, a file-size limit)
_NO_ROOM = tuple(getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, name))


def _drop_stdout() -> None:
    """Point standard output at /dev/null, so that what is still buffered for a reader that left
    (or a disk that is full) is not written again at exit, with a second message."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # a test's captured stdout has no descriptor
        pass


if __name__ == "__main__":
    sys.exit(main())
