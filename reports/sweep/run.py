"""Running a sweep: the points not yet in the results folder, on this process, a local pool
of worker processes, or a Dask cluster, each batch saved as it finishes."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pandas as pd

from hwmodels.loader import SpecError, parse_document
from reports.progress import Progress
from reports.sweep.evaluation import evaluate_many
from reports.sweep.points import points
from reports.sweep.spec import SweepError, SweepSpec, checked, load_sweep
from reports.sweep.store import SWEEP_FILE, Lock, done_ids, read_results, result_parts, set_aside, write_rows

__all__ = ["run_sweep"]


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
            spec = checked(parse_document(SweepSpec, spec, "sweep mapping", "sweep fields"), "sweep mapping")
        except SpecError as exc:
            raise SweepError(str(exc)) from None
    elif not isinstance(spec, SweepSpec):
        raise TypeError(f"run_sweep: expected a sweep file path, a dict or a SweepSpec, got {type(spec).__name__}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with Lock(out):
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
    set_aside(out, damaged)
    description.write_text(spec.model_dump_json(indent=2))  # the report reads the objectives
    todo = [p for p in todo if p["point_id"] not in existing]
    # a DES point is worth its own file; closed-form and whole-model points go 256 to a file
    own = [p for p in todo if spec.fidelity == "des" and "model" not in p]
    rest = [p for p in todo if not (spec.fidelity == "des" and "model" not in p)]
    batches = [[p] for p in own] + [rest[i : i + 256] for i in range(0, len(rest), 256)]
    bar = Progress(len(todo), progress)

    def save(rows):
        try:
            write_rows(out, rows)
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
