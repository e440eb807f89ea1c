"""What runs: recurrence families, prefix circuits, Numba kernels and schedules."""

from workloads.catalog import CATALOG, PARAMS, Workload, WorkloadError, algorithms, get_workload
from workloads.dispatch import schedule
from workloads.families import FAMILIES
from workloads.circuits import CIRCUITS, Circuit, CircuitError, prefix_circuit
from workloads.schedule import DTYPE_BYTES, Schedule, Stage

__all__ = [
    "CATALOG", "PARAMS", "FAMILIES", "algorithms", "Workload", "WorkloadError", "get_workload", "schedule",
    "CIRCUITS", "Circuit", "CircuitError", "prefix_circuit",
    "DTYPE_BYTES", "Schedule", "Stage",
]
