"""Design-space sweeps, one module per stage of the pipeline:

- :mod:`~reports.sweep.spec`: the sweep file — schema, axis sampling, checks before anything runs;
- :mod:`~reports.sweep.points`: every point of the sweep, with a stable id, and its schedule;
- :mod:`~reports.sweep.evaluation`: one point simulated (or one whole model costed) into a row;
- :mod:`~reports.sweep.store`: the results folder — parquet parts, description, damaged parts, lock;
- :mod:`~reports.sweep.run`: the points not yet done, on this process, a process pool or Dask.
"""

from reports.sweep.evaluation import circuit_error, evaluate
from reports.sweep.points import point_id, point_schedule, points
from reports.sweep.run import run_sweep
from reports.sweep.spec import MAX_POINTS, OBJECTIVES, SweepError, SweepSpec, accelerator_of, load_sweep
from reports.sweep.store import read_results, sweep_objectives

__all__ = ["SweepSpec", "SweepError", "load_sweep", "points", "point_id", "point_schedule", "evaluate",
           "circuit_error", "run_sweep", "read_results", "sweep_objectives", "accelerator_of", "MAX_POINTS",
           "OBJECTIVES"]
