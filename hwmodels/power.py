"""What a chip draws: its power figures and per-action energies, as functions of its spec.

The model follows AccelWattch (Kandiah et al., MICRO 2021) and GPUWattch (Leng et al., ISCA
2013): a chip's power is

* **static** — leakage, ``static_power_w``, whenever it is on;
* **baseline** — what a busy chip draws whatever its kernels do: clock tree, instruction fetch
  and control, the uncore (AccelWattch's *constant* power), ``baseline_w`` in all with the
  static part;
* **dynamic** — energy per action (Accelergy's view, Wu et al., ICCAD 2019) of every unit and
  level the data crosses: arithmetic per dtype, special functions, instruction issue, register
  file, SRAM, L2 and on-chip network, DRAM, links — charged by the simulator
  (:mod:`simulator.energy`) as a stage's actions happen.

A chip at rest draws ``idle_w``.  Above its TDP its clock throttles (:func:`at_clock`).

A spec's ``power`` block gives what was measured, with its source; what it leaves out is
derived here from the rest of the spec, the same way for every chip, each rule documented.
"""

from __future__ import annotations

from hwmodels.spec import Accelerator

__all__ = ["tdp_w", "idle_w", "baseline_w", "control_share", "movement_factor", "issue_width",
           "instruction_energy_j", "register_energy_per_byte_j", "peak_dynamic_power_w", "at_clock",
           "voltage_scale", "DEFAULT_BASELINE_FRACTION", "DEFAULT_IDLE_FRACTION", "DEFAULT_CONTROL_SHARE",
           "REGISTER_BYTES_PER_LANE_OP", "LOAD_BYTES_PER_LANE", "INSTRUCTION_OVER_FMA", "MIN_CLOCK_SCALE"]

#: Share of the TDP a busy chip draws whatever it runs, for a spec without a measurement: the
#: median of the measured GPUs' constant power over their TDP — V100 32.3 of 300 W (AccelWattch,
#: Kandiah et al., MICRO 2021: ``constant_power`` of its SM7_QV100 configuration), A100 80 GB 63 of
#: 400 W and H100 SXM5 75 of 700 W (Patel et al., Splitwise, ISCA 2024: its simulator's
#: ``idle_power`` from their profiling) = 0.108, 0.158, 0.107.  Fitted to no case.
DEFAULT_BASELINE_FRACTION = 0.108
#: Share of the TDP a chip at rest draws, for a spec without a measurement: as the baseline —
#: in a model whose control energy is charged per action (Antepara et al.) the constant power
#: is the idle power.  Fitted to no case.
DEFAULT_IDLE_FRACTION = 0.108
#: Share of a data movement's energy that is control — the memory controllers, request and
#: reply queues, tag checks, the instructions that issue it — for a spec whose energies per byte
#: are datapath figures: Antepara et al. (SC 2025, §V) measured control at 50–75 % of the
#: data-movement energy of L1, L2 and HBM on A100, GH200, MI250X and MI300A; the middle, 0.625.
DEFAULT_CONTROL_SHARE = 0.625
#: Register-file bytes one lane's arithmetic instruction moves: a fused multiply-add reads
#: three 32-bit operands and writes one (Horowitz, ISSCC 2014, "Computing's energy problem":
#: operand delivery from the register file costs more than the arithmetic it feeds).
REGISTER_BYTES_PER_LANE_OP = 16
#: Bytes one lane's load or store instruction moves: a 128-bit access (LDG.128 / STG.128,
#: the widest vector access, what a streaming kernel issues).
LOAD_BYTES_PER_LANE = 16
#: Instruction overhead of a 45 nm in-order core per instruction, against the arithmetic it
#: issues: Horowitz (ISSCC 2014, its instruction-energy breakdown of an add) — about 70 pJ of
#: instruction-cache, register-file and control energy around an add of under 1 pJ.  Used, divided among the lanes one
#: instruction drives, where a spec states no ``instruction_energy_j``: ``70 pJ / (0.9 + 3.7) pJ``
#: of the 45 nm fp32 multiply-add, times the spec's own fp32 energy per multiply-add (so the
#: ratio, not the node, is what is assumed).
INSTRUCTION_OVER_FMA = 70.0 / (0.9 + 3.7)
#: The lowest clock a throttled chip runs at, as a share of its boost clock — an assumption (no
#: published floor was found; a GPU's power controller may go below its base clock, an H100
#: SXM5's 1,590 of 1,980 MHz = 0.80).  A floor, not a fit: a call that needs more throttling
#: than this says it still exceeds the TDP.
MIN_CLOCK_SCALE = 0.3


def tdp_w(acc: Accelerator, dtype: str = "fp32") -> float:
    """The power limit: the spec's ``power.tdp_w``, or for a spec without one what it draws with
    every unit and the DRAM at peak at once (its static, its baseline share and
    :func:`peak_dynamic_power_w`), so an unstated limit never throttles."""
    if acc.power is not None:
        return acc.power.tdp_w
    return (acc.static_power_w + peak_dynamic_power_w(acc, dtype)) / (1 - DEFAULT_BASELINE_FRACTION)


def baseline_w(acc: Accelerator) -> float:
    """What the chip draws while its kernels run, whatever they do — static included: measured,
    or the spec's (or the default) share of its TDP; never below its static power."""
    p = acc.power
    if p is not None and p.baseline_w is not None:
        value = p.baseline_w.value
    else:
        stated = p.baseline_fraction if p is not None else None
        fraction = stated if stated is not None else DEFAULT_BASELINE_FRACTION
        value = fraction * tdp_w(acc)
    return max(value, acc.static_power_w)


def idle_w(acc: Accelerator) -> float:
    """What the chip draws at rest: measured, or the default share of its TDP, at least its
    static power and at most its baseline."""
    p = acc.power
    value = p.idle_w.value if p is not None and p.idle_w is not None else DEFAULT_IDLE_FRACTION * tdp_w(acc)
    return min(max(value, acc.static_power_w), baseline_w(acc))


def _whole_stack(acc: Accelerator) -> bool:
    return acc.power is not None and acc.power.whole_stack


def control_share(acc: Accelerator) -> float:
    """Share of a data movement's energy that is control rather than moving bits: 0 where the
    spec's energies were measured whole-stack; else the spec's, or :data:`DEFAULT_CONTROL_SHARE`."""
    if _whole_stack(acc):
        return 0.0
    if acc.power is not None and acc.power.control_share is not None:
        return acc.power.control_share
    return DEFAULT_CONTROL_SHARE


def movement_factor(acc: Accelerator) -> float:
    """What a byte's datapath energy is multiplied by to include its control: 1 / (1 − share)."""
    return 1 / (1 - control_share(acc))


def issue_width(acc: Accelerator) -> int:
    """Lanes one instruction drives: the spec's, a GPU's warp, or the whole vector unit (a SIMD
    or VLIW core issues one instruction for all its lanes)."""
    if acc.power is not None and acc.power.issue_width is not None:
        return acc.power.issue_width
    return acc.core.warp_threads if acc.core is not None else acc.vector.lanes


def instruction_energy_j(acc: Accelerator) -> float:
    """Fetch, decode and issue of one instruction (for :func:`issue_width` lanes)."""
    if acc.power is not None and acc.power.instruction_energy_j is not None:
        return acc.power.instruction_energy_j
    if _whole_stack(acc):
        return 0.0
    fma = 2 * acc.vector.energy_per_flop_j.get("fp32", max(acc.vector.energy_per_flop_j.values(), default=0.0))
    return INSTRUCTION_OVER_FMA * fma


def register_energy_per_byte_j(acc: Accelerator) -> float:
    """A byte read from or written to the register file: the spec's, or its innermost SRAM's
    (a register file is banked SRAM of the same kind)."""
    if acc.power is not None and acc.power.register_energy_per_byte_j is not None:
        return acc.power.register_energy_per_byte_j
    if _whole_stack(acc):
        return 0.0
    return acc.sram.energy_per_byte_j


def peak_dynamic_power_w(acc: Accelerator, dtype: str = "fp32") -> float:
    """Every unit and level at its peak at once — a generous ceiling no call reaches: the vector
    lanes' arithmetic, the special functions and the matrix unit with their instructions and
    register traffic, every on-chip level at its full bandwidth, and the DRAM streaming with
    the loads that carry its bytes."""
    instruction = instruction_energy_j(acc) / issue_width(acc)
    register = register_energy_per_byte_j(acc)
    per_lane_op = instruction + REGISTER_BYTES_PER_LANE_OP * register
    lane = acc.vector.energy_per_flop_j.get(dtype, 0.0) * acc.vector.flops_per_lane_per_cycle.get(dtype, 0.0)
    power = acc.cores * acc.vector.lanes * acc.clock_hz * (lane + per_lane_op)
    if acc.sfu is not None:
        fastest = max(acc.sfu.function(f).ops_per_cycle for f in ("exp", "tanh", "sigmoid"))
        power += acc.cores * fastest * acc.clock_hz * (acc.sfu.energy_per_op_j + per_lane_op)
    if acc.matrix is not None and dtype in acc.matrix.macs_per_cycle:
        m = acc.matrix
        operands = (m.rows + m.cols) / (m.rows * m.cols) * 4 * acc.sram.energy_per_byte_j
        per_mac = m.energy_per_mac_j[dtype] + operands + 8 / min(m.rows, m.cols) * register + instruction
        power += acc.cores * m.macs_per_cycle[dtype] * m.clock_hz * per_mac
    move = movement_factor(acc)
    for level in acc.memory[:-1]:
        power += acc.peak_bandwidth_bytes_per_s(level.name) * level.energy_per_byte_j * move
    per_dram_byte = (sum(level.energy_per_byte_j for level in acc.memory) * move + register
                     + instruction / LOAD_BYTES_PER_LANE)
    return power + acc.dram.bandwidth_bytes_per_s * per_dram_byte


def voltage_scale(clock_scale: float) -> float:
    """Supply voltage, as a share of the boost clock's, at ``clock_scale`` of the boost clock:
    across a GPU's DVFS range voltage falls about in proportion to frequency (the premise of the
    f·V² ≈ f³ dynamic-power rule of DVFS studies), to a floor at :data:`MIN_CLOCK_SCALE`."""
    return max(clock_scale, MIN_CLOCK_SCALE)


def at_clock(acc: Accelerator, clock_scale: float) -> Accelerator:
    """The chip with its core clocks at ``clock_scale`` of their boost (0 < scale ≤ 1): rates per
    second fall with the clock, every on-chip action's energy with the square of the voltage,
    the baseline's clock-driven part (above static) with f·V²; DRAM, links and leakage keep
    theirs (the memory has its own clock).  What a power cap does (see
    :func:`simulator.energy.throttle_scale`)."""
    if not 0 < clock_scale <= 1:
        raise ValueError(f"clock_scale: expected a share in (0, 1], got {clock_scale!r}")
    if clock_scale == 1:
        return acc
    v2 = voltage_scale(clock_scale) ** 2
    data = acc.model_dump()
    data["clock_hz"] = acc.clock_hz * clock_scale
    data["vector"]["energy_per_flop_j"] = {k: e * v2 for k, e in acc.vector.energy_per_flop_j.items()}
    if acc.matrix is not None:
        data["matrix"]["clock_hz"] = acc.matrix.clock_hz * clock_scale
        data["matrix"]["energy_per_mac_j"] = {k: e * v2 for k, e in acc.matrix.energy_per_mac_j.items()}
    if acc.sfu is not None:
        data["sfu"]["energy_per_op_j"] = acc.sfu.energy_per_op_j * v2
    for level, spec in zip(data["memory"][:-1], acc.memory[:-1]):  # on-chip levels run on the core clock
        level["energy_per_byte_j"] = spec.energy_per_byte_j * v2
        if spec.scope == "core":  # a core's SRAM ports move bytes per cycle
            level["bandwidth_bytes_per_s"] = spec.bandwidth_bytes_per_s * clock_scale
    power = acc.power.model_dump() if acc.power is not None else {}
    base = baseline_w(acc)
    scaled = acc.static_power_w + (base - acc.static_power_w) * clock_scale * v2
    power.update(tdp_w=tdp_w(acc), baseline_fraction=None,
                 baseline_w={"value": scaled, "source": f"{acc.name} at {clock_scale:.3g} of its boost clock"}
                 if scaled > 0 else None,
                 idle_w={"value": idle_w(acc), "source": "unchanged by the clock"} if idle_w(acc) > 0 else None,
                 instruction_energy_j=instruction_energy_j(acc) * v2,
                 register_energy_per_byte_j=register_energy_per_byte_j(acc) * v2, issue_width=issue_width(acc))
    data["power"] = power
    return type(acc).model_validate(data)
