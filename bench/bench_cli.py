"""Command-line start-up: median wall time of ``scansim --help``, ``hw list`` and
``workloads list`` in fresh interpreters (target: well under a second), against a bare
``python -c pass`` measured in the same run."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def median_s(args: list[str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


if __name__ == "__main__":
    bare = median_s(["-c", "pass"])
    print(f"python -c pass: {bare:.2f} s (the interpreter alone)")
    for command in (["--help"], ["hw", "list"], ["workloads", "list"]):
        seconds = median_s(["-c", f"import sys; from reports.cli import main; sys.exit(main({command!r}))"])
        print(f"scansim {' '.join(command):15s} {seconds:5.2f} s  ({seconds / bare:4.1f}× the bare interpreter)"
              "   (target < 1 s)")
