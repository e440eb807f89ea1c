"""What runs: recurrence families, prefix circuits, Numba kernels and schedules."""

from workloads.catalog import CATALOG, FAMILIES, Workload, WorkloadError, get_workload, schedule
from workloads.circuits import CIRCUITS, Circuit, CircuitError, prefix_circuit
from workloads.schedule import DTYPE_BYTES, Schedule, Stage

__all__ = [
    "CATALOG", "FAMILIES", "Workload", "WorkloadError", "get_workload", "schedule",
    "CIRCUITS", "Circuit", "CircuitError", "prefix_circuit",
    "DTYPE_BYTES", "Schedule", "Stage",
]
