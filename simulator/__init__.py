"""How a schedule runs on an accelerator: SimPy discrete-event simulation and closed-form bounds."""

from simulator.bounds import Bounds, SimulationError, bounds
from simulator.engine import DEFAULT_EVENT_BUDGET, simulate
from simulator.result import SimResult

__all__ = ["simulate", "SimResult", "SimulationError", "Bounds", "bounds", "DEFAULT_EVENT_BUDGET"]
