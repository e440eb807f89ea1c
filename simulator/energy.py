"""Energy by component and power over time of a simulated schedule, and the power cap.

Each stage's actions are charged as they happen (:func:`stage_energy`), with the energies of
:mod:`hwmodels.power`:

* **compute** — arithmetic (vector flops per dtype, matrix MACs, special functions), the
  instructions that issue it (one per :func:`~hwmodels.power.issue_width` lanes; loads and
  stores of 16 bytes a lane) and the register-file traffic they cause (three operands read and
  one written per lane's arithmetic instruction, every loaded or stored byte once, a matrix
  unit's accumulators once per instruction's k-step);
* **on-chip movement** — bytes through the on-chip memories: a matrix unit's operands streamed
  from its core's SRAM, a fused kernel's bytes kept on chip, every DRAM byte through every
  level inside the DRAM (L2 and on-chip network, the core's SRAM), and the re-reads the shared
  cache serves through it and the levels inside it;
* **DRAM** — the bytes at the DRAM's energy per byte;

and over the whole call, the **baseline** (above static) and **static** power times its
latency.  A stage's energy is spread evenly over the time from its start to its end, which
gives the call's power over time and its peak.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from hwmodels import power
from hwmodels.spec import Accelerator
from simulator.policy import onchip_level
from simulator.units import Placement, matrix_dtype, operand_stream_bytes, vector_cycles_per_op
from workloads.schedule import Schedule, Stage

__all__ = ["Energy", "COMPONENTS", "stage_energy", "call_energy", "power_profile", "throttle_scale", "at_power_cap"]

#: the components energy is split into, as reports name them, and their columns (links: a whole
#: model's collectives and hand-offs — one call moves nothing over them, so a result has no such
#: field)
COMPONENTS = {"compute": "energy_compute_j", "on-chip movement": "energy_onchip_j", "DRAM": "energy_dram_j",
              "links": "energy_link_j", "baseline": "energy_baseline_j", "static": "static_energy_j"}


@dataclass(frozen=True)
class Energy:
    """Joules of one stage or one call by where they go; ``vector`` and ``matrix`` are the
    arithmetic alone, ``issue`` the instructions and register file (all three are compute)."""

    vector: float = 0.0
    matrix: float = 0.0
    issue: float = 0.0
    onchip: float = 0.0
    dram: float = 0.0

    @property
    def compute(self) -> float:
        return self.vector + self.matrix + self.issue

    @property
    def dynamic(self) -> float:
        return self.compute + self.onchip + self.dram

    def __add__(self, other: Energy) -> Energy:
        return Energy(self.vector + other.vector, self.matrix + other.matrix, self.issue + other.issue,
                      self.onchip + other.onchip, self.dram + other.dram)


def _lane_ops(stage: Stage, placement: Placement, acc: Accelerator, dtype: str) -> float:
    """Lane instructions of a stage's vector arithmetic and special functions."""
    total = stage.total_ops
    lane_ops = total * (stage.sfu_ops_per_op + stage.lane_instructions_per_op)
    if placement.unit == "vector":
        lane_ops += total * vector_cycles_per_op(stage, acc, dtype)
    return lane_ops


@dataclass(frozen=True)
class _PerAction:
    """A chip's per-action figures that do not depend on the stage (worked out once per call)."""

    instruction_j: float  # per lane instruction (an instruction's energy over its issue width)
    register_j: float  # per register-file byte
    move: float  # a data movement's energy over its datapath's (control included)
    through_dram_j: float  # a DRAM byte through every level inside the DRAM
    through_cache_j: float  # a byte the shared cache serves, through it and the levels inside it
    kept_j: float  # a byte a fused kernel keeps on chip

    @classmethod
    def of(cls, acc: Accelerator) -> _PerAction:
        inner = acc.memory[:-1]
        cache = acc.shared_cache
        inside = inner[:inner.index(cache) + 1] if cache is not None else ()
        level = onchip_level(acc)
        return cls(instruction_j=power.instruction_energy_j(acc) / power.issue_width(acc),
                   register_j=power.register_energy_per_byte_j(acc), move=power.movement_factor(acc),
                   through_dram_j=sum(m.energy_per_byte_j for m in inner),
                   through_cache_j=sum(m.energy_per_byte_j for m in inside),
                   kept_j=level[0].energy_per_byte_j if level else 0.0)


def stage_energy(stage: Stage, placement: Placement, acc: Accelerator, dtype: str,
                 per: _PerAction | None = None) -> Energy:
    """The dynamic energy of all of ``stage``'s actions on ``acc``."""
    per = per or _PerAction.of(acc)
    total = stage.total_ops
    vector = matrix = 0.0
    register_bytes = 0.0
    lane_ops = 0.0  # lane instructions (a matrix instruction counts as issue-width lanes)
    if placement.unit == "matrix":
        macs = total * stage.flops_per_op / 2
        matrix = macs * acc.matrix.energy_per_mac_j[matrix_dtype(stage, dtype)]
        shape = acc.matrix.sync_mma_shape if stage.sync_mma and acc.matrix.sync_mma_shape else None
        m, n, k = shape or (acc.matrix.rows, acc.matrix.cols, acc.matrix.rows)
        lane_ops += macs / (m * n * k) * power.issue_width(acc)
        register_bytes += macs / k * 2 * 4  # the fp32 accumulator read and written per k-step
    elif placement.unit == "vector":
        vector = total * stage.flops_per_op * acc.vector.energy_per_flop_j.get(dtype, 0.0)
    if stage.sfu_ops_per_op and acc.sfu is not None:
        vector += total * stage.sfu_ops_per_op * acc.sfu.energy_per_op_j
    # lane instructions beside a matrix stage's products: an fp32 operation each
    vector += total * stage.lane_instructions_per_op * acc.vector.energy_per_flop_j.get("fp32", 0.0)
    dram_bytes = stage.bytes_read + stage.bytes_written
    if placement.unit != "transfer":  # a copy engine moves a transfer's bytes without instructions
        arithmetic = _lane_ops(stage, placement, acc, dtype)
        moved = dram_bytes + stage.onchip_bytes
        register_bytes += arithmetic * power.REGISTER_BYTES_PER_LANE_OP + moved
        lane_ops += arithmetic + moved / power.LOAD_BYTES_PER_LANE
    issue = lane_ops * per.instruction_j + register_bytes * per.register_j
    onchip = (dram_bytes * per.through_dram_j + stage.cache_bytes * per.through_cache_j
              + stage.onchip_bytes * per.kept_j
              + operand_stream_bytes(stage, placement, acc, dtype) * acc.sram.energy_per_byte_j)
    return Energy(vector=vector, matrix=matrix, issue=issue, onchip=onchip * per.move,
                  dram=dram_bytes * acc.dram.energy_per_byte_j * per.move)


def call_energy(schedule: Schedule, placed: list[Placement], acc: Accelerator) -> tuple[Energy, list[Energy]]:
    """The call's dynamic energy in all and per stage."""
    per = _PerAction.of(acc)
    per_stage = [stage_energy(s, p, acc, schedule.dtype, per) for s, p in zip(schedule.stages, placed)]
    return sum(per_stage, Energy()), per_stage


def power_profile(start_s, end_s, joules, floor_w: float, latency_s: float) -> tuple[np.ndarray, np.ndarray]:
    """``(times, watts)``: a step function, ``watts[i]`` from ``times[i]`` to ``times[i + 1]`` —
    ``floor_w`` (baseline and static) plus each stage's energy spread evenly over its span (a
    stage of no duration adds its energy to the call's average instead of to a spike)."""
    level = floor_w
    changes: dict[float, float] = {0.0: 0.0, max(latency_s, 0.0): 0.0}
    for s, e, j in zip(map(float, start_s), map(float, end_s), map(float, joules)):
        if e > s:  # a sweep over the edges: the stage's power on at its start, off at its end
            changes[s] = changes.get(s, 0.0) + j / (e - s)
            changes[e] = changes.get(e, 0.0) - j / (e - s)
        elif latency_s > 0:
            level += j / latency_s
    times = sorted(changes)
    watts = []
    for t in times[:-1]:
        level += changes[t]
        watts.append(level)
    return np.array(times), np.array(watts)


def throttle_scale(run, acc: Accelerator, cap_w: float, boost_w: float, *, iterations: int = 5) -> float:
    """The clock share in [MIN_CLOCK_SCALE, 1] at which ``run(at_clock(acc, s))`` — a result —
    averages ``cap_w`` (``boost_w``: what it averages at the boost clock, above the cap): a
    root of power minus cap, which falls with the clock (energy per action with V², the time
    of compute with 1/f, DRAM unchanged), by false position (Illinois) to within 1 % of the
    cap, from the side below it.  The floor when even it exceeds the cap (the result then
    says so)."""
    hi, f_hi = 1.0, boost_w - cap_w
    # a first lower end: the clock in proportion to the excess — power falls at least as fast
    # as the clock where the arithmetic binds, so this is usually below the cap; else the floor
    lo = max(power.MIN_CLOCK_SCALE, cap_w / boost_w)
    f_lo = run(power.at_clock(acc, lo)).average_power_w - cap_w
    if f_lo > 0 and lo > power.MIN_CLOCK_SCALE:
        hi, f_hi, lo = lo, f_lo, power.MIN_CLOCK_SCALE
        f_lo = run(power.at_clock(acc, lo)).average_power_w - cap_w
    if f_lo >= 0:
        return lo
    if f_lo > -0.01 * cap_w:
        return lo
    below, side = lo, 0
    for _ in range(iterations):
        s = hi - f_hi * (hi - lo) / (f_hi - f_lo)
        f = run(power.at_clock(acc, s)).average_power_w - cap_w
        if f <= 0:
            below = max(below, s)
            if f > -0.01 * cap_w:
                break
            lo, f_lo = s, f
            if side == -1:
                f_hi /= 2
            side = -1
        else:
            hi, f_hi = s, f
            if side == 1:
                f_lo /= 2
            side = 1
    return below


def at_power_cap(run, estimate, acc: Accelerator, analytic: bool, dtype: str):
    """The call's result (a :class:`simulator.result.SimResult`, which ``run`` and ``estimate``
    return for a chip) at the clock the chip's power cap allows: as a GPU's power controller lowers
    its clocks to hold the board's limit, averaged over the call — a layer's kernels, longer
    than the few milliseconds its control loop reacts in or as long.  Whether the call at the
    boost clock would average more than the TDP, and at which clock it would not, is found on
    the closed form (``estimate``, :func:`throttle_scale`); the asked fidelity
    (``run``) then runs once at that clock, and lower, in proportion to any excess, while it
    still draws more (a few steps; the floor at worst).  A chip that states no TDP (all its
    units at peak) is run first and estimated only if it draws more than that."""
    cap = power.tdp_w(acc, dtype)
    probe = estimate if analytic or acc.power is not None else run
    first = probe(acc)
    if not math.isfinite(first.average_power_w + cap):  # the finiteness check's to report
        return first if probe is run or analytic else run(acc)
    scale = 1.0
    if first.average_power_w > cap * (1 + 1e-9):
        boost = first if probe is estimate else estimate(acc)
        if boost.average_power_w > cap * (1 + 1e-9):
            scale = throttle_scale(estimate, acc, cap, boost.average_power_w)
    result = first if scale == 1.0 and (probe is run or analytic) else run(power.at_clock(acc, scale))
    for _ in range(6):
        if result.average_power_w <= cap * (1 + 1e-6) or scale <= power.MIN_CLOCK_SCALE:
            break
        scale = max(power.MIN_CLOCK_SCALE, scale * cap / result.average_power_w)
        result = run(power.at_clock(acc, scale))
    if scale == 1.0:
        return result
    note = (f"power-capped: at its boost clock the call would average {first.average_power_w:.0f} W, above "
            f"the {cap:.0f} W TDP; the clock held at {scale:.0%} of boost")
    if result.average_power_w > cap * (1 + 1e-6):
        note += (f" (its floor), where it still averages {result.average_power_w:.0f} W: what does not scale "
                 "with the clock (DRAM, leakage) alone exceeds the TDP")
    return dataclasses.replace(result, clock_scale=scale, notes=result.notes + (note,))
