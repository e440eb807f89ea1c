"""The results folder: one parquet part per finished batch of points (written whole or not
at all), the sweep's description beside them, damaged parts set aside, and the lock that keeps
two sweeps from writing one folder."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd

from reports.sweep.points import point_id
from reports.sweep.spec import SweepError, SweepSpec

__all__ = ["write_rows", "result_parts", "done_ids", "read_results", "sweep_objectives", "set_aside", "Lock",
           "SWEEP_FILE", "DAMAGED"]


def write_rows(folder: Path, rows: list[dict]) -> None:
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


def set_aside(out: Path, damaged: list[tuple[Path, str]]) -> None:
    if not damaged:
        return
    aside = out / DAMAGED
    aside.mkdir(exist_ok=True)
    for part, _ in damaged:
        os.replace(part, aside / part.name)
    print(f"scansim sweep: set aside {len(damaged)} damaged result file(s) in {aside} "
          f"({damaged[0][0].name}: {damaged[0][1]}); their points run again", file=sys.stderr)


class Lock:
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

