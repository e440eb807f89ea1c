"""Run every benchmark script in this folder, one after another."""

import runpy
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
for script in sorted(here.glob("bench_*.py")):
    print(f"\n=== {script.name}")
    sys.stdout.flush()
    runpy.run_path(str(script), run_name="__main__")
