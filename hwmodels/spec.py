"""The accelerator spec: an immutable value with SI units in its field names.

Composition follows the hardware: a vector unit per core, cores per chip, chips per system,
and a memory hierarchy listed innermost first (per-core SRAM ... DRAM/HBM).  Every model is
frozen and rejects unknown keys; vary a spec with :meth:`Accelerator.replace`, which
re-validates.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Accelerator", "VectorUnit", "MatrixUnit", "SpecialFunction", "SpecialFunctionUnit", "MemoryLevel",
           "Link", "InterNodeLink", "Area", "Cost", "CoreLimits", "Measured", "Power", "DTYPES",
           "DEFAULT_SUSTAINED_FRACTION"]

DTYPES = ("fp64", "fp32", "bf16", "fp16", "fp8", "int8")
Dtype = Literal["fp64", "fp32", "bf16", "fp16", "fp8", "int8"]
# a matrix unit may also multiply fp32 operands as TF32 (10-bit mantissas, fp32 accumulate)
MatrixDtype = Literal["fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8"]

# strict: a number is a number — `true` is not 1 Hz and "2e9" (a string) is not 2 GHz
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
Count = Annotated[int, Field(ge=1, strict=True)]
Fraction = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False, strict=True)]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _energy_for_every_rate(unit, rates: str, energies: str):
    """A unit must give an energy for every dtype it gives a rate for."""
    missing = set(getattr(unit, rates)) - set(getattr(unit, energies))
    if missing:
        raise ValueError(f"{energies} lacks {', '.join(sorted(missing))}, which {rates} lists")
    return unit


class VectorUnit(_Spec):
    """A SIMD/SIMT unit of one core: ``lanes`` each doing ``flops_per_lane_per_cycle[dtype]``.

    A fused multiply-add counts as 2 flops.  ``op_latency_cycles`` is the latency of one
    dependent arithmetic op (what a serial recurrence pays per step).
    """

    lanes: Count
    flops_per_lane_per_cycle: dict[Dtype, Positive]
    op_latency_cycles: Positive
    energy_per_flop_j: dict[Dtype, NonNegative]

    @model_validator(mode="after")
    def _energy_for_every_rate(self):
        return _energy_for_every_rate(self, "flops_per_lane_per_cycle", "energy_per_flop_j")


class MatrixUnit(_Spec):
    """A matrix (systolic / tensor-core) unit of one core.

    ``macs_per_cycle[dtype]`` multiply-accumulates per cycle at the unit's own ``clock_hz``
    (vendors often quote tensor peaks at a clock below the vector boost clock); ``tf32`` is the
    rate at which it multiplies fp32 operands rounded to TF32, when a schedule allows it.  ``rows`` ×
    ``cols`` and ``dataflow`` describe the array for cycle-level GEMM models; ``pipelined``
    says the unit starts a fold while the previous one drains (a GPU tensor core issuing MMA
    instructions back to back), so a GEMM pays one fill and drain instead of one per fold.
    ``sync_mma_share`` is the share of that rate a kernel reaches with the previous
    generation's synchronous warp-level instructions (``mma.sync``) where the unit's native
    ones differ (Hopper's asynchronous ``wgmma``): 1 where they do not.  ``sync_mma_shape`` is
    that instruction's (m, n, k) — one warp's product on one of the SM's tensor cores — which
    sets how well small products fill the unit when a kernel issues them (in place of the
    ``rows`` × ``cols`` array, which stands for the unit's widest instruction).
    """

    rows: Count
    cols: Count
    dataflow: Literal["os", "ws", "is"]
    pipelined: bool = False
    sync_mma_share: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False, strict=True)] = 1.0
    sync_mma_shape: tuple[Count, Count, Count] | None = None
    clock_hz: Positive
    macs_per_cycle: dict[MatrixDtype, Positive]
    energy_per_mac_j: dict[MatrixDtype, NonNegative]

    @model_validator(mode="after")
    def _energy_for_every_rate(self):
        return _energy_for_every_rate(self, "macs_per_cycle", "energy_per_mac_j")


class SpecialFunction(_Spec):
    ops_per_cycle: Positive
    latency_cycles: Positive


class SpecialFunctionUnit(_Spec):
    """Transcendentals of one core: throughput and latency per function."""

    exp: SpecialFunction
    tanh: SpecialFunction
    sigmoid: SpecialFunction
    energy_per_op_j: NonNegative

    def function(self, name: str) -> SpecialFunction:
        return getattr(self, name)


class Measured(_Spec):
    """A figure measured on the part (a published microbenchmark), kept beside the datasheet
    figure it qualifies, with its ``source``."""

    value: Positive
    source: str = Field(min_length=1)


#: The share of a memory's datasheet bandwidth a streaming kernel sustains, for a spec that
#: gives no measurement of its own: the median of the measured shares of the GPUs whose
#: sustained bandwidth is published (RRZE-HPC/gpu-benches, gpu-stream triad and gpu-l2-cache
#: beyond the L2: V100 788 of 900 GB/s = 0.876, A100 80 GB 1,794 of 2,039 = 0.880, H100 PCIe
#: 1,832 of 2,000 = 0.916, GH200 3,783 of 4,000 = 0.946, H200 3.89 of 4.8 TB/s = 0.810).
#: Fitted to no validation case.
DEFAULT_SUSTAINED_FRACTION = 0.88


class CoreLimits(_Spec):
    """What one core can hold resident at once — a GPU SM's occupancy limits — and how many
    instruction schedulers issue for it: ``threads`` and ``blocks`` (thread blocks) resident,
    32-bit ``registers``, and ``warp_threads`` threads issued together.  With them the
    simulator knows how many of a kernel's blocks share a core, hence how many bytes the core
    keeps in flight to hide memory latency (see :mod:`simulator.core`); ``shared_bytes`` is the
    shared memory its blocks may hold together."""

    threads: Count
    blocks: Count
    registers: Count
    shared_bytes: Positive
    schedulers: Count
    warp_threads: Count = 32
    source: str = Field(min_length=1)


class InterNodeLink(_Spec):
    """The scale-out network between nodes, per chip: its own NIC's ``bandwidth_bytes_per_s``
    each way, the ``latency_s`` of one message between nodes, and its energy."""

    bandwidth_bytes_per_s: Positive
    latency_s: NonNegative
    energy_per_byte_j: NonNegative


class Link(_Spec):
    """Chip-to-chip interconnect: ``links_per_chip`` links of ``bandwidth_bytes_per_s`` each
    way, in a ``topology``.  Optionally two levels: ``node_size`` chips per node joined by
    these links, nodes joined by the slower ``inter_node`` network (give both or neither).
    ``collective_cores``: the cores a collective occupies while it runs (see the field)."""

    topology: Literal["ring", "fully-connected", "torus-2d", "torus-3d"]
    links_per_chip: Count
    bandwidth_bytes_per_s: Positive
    latency_s: NonNegative
    energy_per_byte_j: NonNegative
    node_size: Count | None = None
    inter_node: InterNodeLink | None = None
    #: cores a collective's kernels hold while it runs, taken from the compute it overlaps (NCCL
    #: launches one thread block per channel, and its blocks never share an SM with a compute
    #: kernel); 0: the chip's collectives run on engines of their own (DMA), or it is not known
    collective_cores: Annotated[int, Field(ge=0, strict=True)] = 0

    @model_validator(mode="after")
    def _both_levels(self):
        if (self.node_size is None) != (self.inter_node is None):
            raise ValueError("node_size and inter_node: give both (chips per node and the network between "
                             "nodes) or neither")
        return self


class Power(_Spec):
    """How the chip draws power (see :mod:`hwmodels.power`, which derives what a spec leaves out).

    ``tdp_w``: the power limit its clocks are throttled to hold.  ``idle_w``: drawn at rest,
    nothing running (a measurement with its source).  ``baseline_w``: drawn while kernels run
    whatever they do — clock tree, instruction fetch and control, the uncore, leakage at the
    operating voltage (AccelWattch's constant and static power; a measurement with its source),
    or ``baseline_fraction`` of the TDP a proposed chip assumes.  ``instruction_energy_j``: one
    instruction's fetch, decode and issue for ``issue_width`` lanes (a GPU warp: 32);
    ``register_energy_per_byte_j``: a byte read from or written to the register file.
    ``whole_stack``: the spec's per-action energies were measured whole-stack — each action's
    control (instruction fetch, decode, issue, register file, the controllers of a memory
    level) with its datapath, from board power (Antepara et al., SC 2025) — so nothing is added
    to them; otherwise they are datapath figures (Horowitz's), and :mod:`hwmodels.power` adds
    the instructions, register file and ``control_share`` of each data movement.  Datapath
    figures can only come with the parts they leave out, whole-stack ones cannot."""

    tdp_w: Positive
    whole_stack: bool = False
    control_share: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False, strict=True)] | None = None
    idle_w: Measured | None = None
    baseline_w: Measured | None = None
    baseline_fraction: Fraction | None = None
    instruction_energy_j: NonNegative | None = None
    register_energy_per_byte_j: NonNegative | None = None
    issue_width: Count | None = None

    @model_validator(mode="after")
    def _consistent(self):
        if self.baseline_w is not None and self.baseline_fraction is not None:
            raise ValueError("baseline_fraction: give either a measured baseline_w or an assumed fraction, not both")
        if self.whole_stack and (self.instruction_energy_j or self.register_energy_per_byte_j or self.control_share):
            raise ValueError("whole_stack: measured whole-stack energies already hold instruction, register-file "
                             "and control energy; give no instruction_energy_j, register_energy_per_byte_j or "
                             "control_share")
        for name in ("idle_w", "baseline_w"):
            measured = getattr(self, name)
            if measured is not None and measured.value > self.tdp_w:
                raise ValueError(f"{name}: {measured.value:g} W is above tdp_w {self.tdp_w:g} W")
        return self


class Area(_Spec):
    """Silicon: ``dies`` dies of ``die_area_mm2`` each in ``process_nm``, and a breakdown of
    one die by component (mm², need not cover the die: I/O, uncore … are the rest)."""

    process_nm: Positive
    die_area_mm2: Positive
    dies: Count = 1
    components_mm2: dict[str, NonNegative] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _parts_fit(self):
        if sum(self.components_mm2.values()) > self.die_area_mm2 * (1 + 1e-9):
            raise ValueError(f"components_mm2 add up to {sum(self.components_mm2.values()):g} mm², "
                             f"more than the die's {self.die_area_mm2:g} mm²")
        return self


class Cost(_Spec):
    """Dollar cost model: wafer → dies per wafer → yield → cost per good die, plus memory."""

    wafer_cost_usd: Positive
    wafer_diameter_mm: Positive = 300.0
    defect_density_per_cm2: NonNegative
    yield_model: Literal["murphy", "poisson"] = "murphy"
    memory_cost_usd_per_gb: NonNegative
    packaging_cost_usd: NonNegative = 0.0


class MemoryLevel(_Spec):
    """One level of the hierarchy.  ``scope: core`` levels are per core (capacity and
    bandwidth of one core's copy); ``scope: chip`` levels are shared by the chip.

    ``bandwidth_bytes_per_s`` is the datasheet peak; ``sustained_bandwidth_bytes_per_s`` what a
    streaming kernel was measured to sustain (with its source), or ``sustained_fraction`` the
    share of the peak a proposed part assumes; neither given: :data:`DEFAULT_SUSTAINED_FRACTION`.
    """

    name: str
    scope: Literal["core", "chip"]
    capacity_bytes: Positive
    bandwidth_bytes_per_s: Positive
    latency_s: NonNegative
    energy_per_byte_j: NonNegative
    sustained_bandwidth_bytes_per_s: Measured | None = None
    sustained_fraction: Fraction | None = None

    @model_validator(mode="after")
    def _sustained_below_peak(self):
        measured = self.sustained_bandwidth_bytes_per_s
        if measured is not None and measured.value > self.bandwidth_bytes_per_s * (1 + 1e-9):
            raise ValueError(f"sustained_bandwidth_bytes_per_s: {measured.value:g} is above the peak "
                             f"bandwidth_bytes_per_s {self.bandwidth_bytes_per_s:g}")
        if measured is not None and self.sustained_fraction is not None:
            raise ValueError("sustained_fraction: give either a measured sustained bandwidth or an assumed "
                             "fraction, not both")
        return self

    @property
    def sustained_bytes_per_s(self) -> float:
        """What a streaming kernel moves per second: measured, assumed, or the default share."""
        if self.sustained_bandwidth_bytes_per_s is not None:
            return self.sustained_bandwidth_bytes_per_s.value
        return self.bandwidth_bytes_per_s * (self.sustained_fraction or DEFAULT_SUSTAINED_FRACTION)


class Accelerator(_Spec):
    """One accelerator design.  ``memory[-1]`` is the off-chip DRAM/HBM."""

    name: str
    description: str = ""
    chips: Count = 1
    cores: Count
    clock_hz: Positive
    vector: VectorUnit
    matrix: MatrixUnit | None = None
    sfu: SpecialFunctionUnit | None = None
    core: CoreLimits | None = None
    memory: tuple[MemoryLevel, ...] = Field(min_length=1)
    link: Link | None = None
    kernel_launch_s: NonNegative
    barrier_s: NonNegative = 0.0
    #: bytes per second each way between the host and the chip (a GPU's PCIe); None: not given
    host_bytes_per_s: Positive | None = None
    static_power_w: NonNegative
    power: Power | None = None
    area: Area | None = None
    cost: Cost | None = None

    @model_validator(mode="after")
    def _dram_last(self):
        if self.memory[-1].scope != "chip":
            raise ValueError("memory: the last (outermost) level must be the chip's main memory, scope: chip")
        names = [m.name for m in self.memory]
        if len(set(names)) != len(names):
            raise ValueError(f"memory: level names must be unique, got {names}")
        return self

    def warnings(self) -> list[str]:
        """Legal but suspicious choices, one line each."""
        out = []
        for i, m in enumerate(self.memory[:-1]):
            if m.capacity_bytes > self.dram.capacity_bytes and m.bandwidth_bytes_per_s < self.dram.bandwidth_bytes_per_s:
                out.append(f"memory[{i}] ({m.name}) is larger than the outermost level and slower: "
                           "an inner level is expected to be smaller and faster")
        return out

    @property
    def dram(self) -> MemoryLevel:
        return self.memory[-1]

    @property
    def shared_cache(self) -> MemoryLevel | None:
        """The chip's shared cache: its innermost chip-wide level inside the DRAM (a GPU's L2)."""
        return next((m for m in self.memory[:-1] if m.scope == "chip"), None)

    @property
    def sram(self) -> MemoryLevel:
        """The innermost level: where a core keeps a tile's working set."""
        return self.memory[0]

    def peak_flops_per_s(self, dtype: str) -> float:
        """Vector-unit peak of all cores of one chip at ``dtype``, flop/s."""
        return self.cores * self.vector.lanes * self.flops_per_lane_per_cycle(dtype) * self.clock_hz

    def matrix_peak_flops_per_s(self, dtype: str) -> float | None:
        """Matrix-unit peak of all cores at ``dtype`` (2 flops per MAC); None if it has none."""
        if self.matrix is None or dtype not in self.matrix.macs_per_cycle:
            return None
        return self.cores * 2 * self.matrix.macs_per_cycle[dtype] * self.matrix.clock_hz

    def flops_per_lane_per_cycle(self, dtype: str) -> float:
        try:
            return self.vector.flops_per_lane_per_cycle[dtype]
        except KeyError:
            raise KeyError(
                f"accelerator {self.name!r} has no vector rate for dtype {dtype!r} "
                f"(it lists {', '.join(self.vector.flops_per_lane_per_cycle)})"
            ) from None

    def peak_bandwidth_bytes_per_s(self, level: int | str) -> float:
        """Aggregate bandwidth of a memory level (per-core levels times the cores)."""
        m = self.memory_level(level)
        return m.bandwidth_bytes_per_s * (self.cores if m.scope == "core" else 1)

    def memory_level(self, level: int | str) -> MemoryLevel:
        if isinstance(level, int):
            return self.memory[level]
        for m in self.memory:
            if m.name == level:
                return m
        raise KeyError(f"accelerator {self.name!r} has no memory level {level!r}")

    @property
    def machine_balance_flops_per_byte(self) -> float:
        """fp32 peak over DRAM bandwidth: above it a kernel is compute bound."""
        return self.peak_flops_per_s("fp32") / self.dram.bandwidth_bytes_per_s

    def replace(self, **changes) -> Accelerator:
        """A validated copy with top-level fields changed."""
        return type(self).model_validate({**self.model_dump(), **changes})
