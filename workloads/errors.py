"""The error type of the workloads package."""


class WorkloadError(ValueError):
    """A workload name, dimension, algorithm or dtype that scansim cannot use."""
