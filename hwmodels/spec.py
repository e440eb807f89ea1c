"""The accelerator spec: an immutable value with SI units in its field names.

Composition follows the hardware: a vector unit per core, cores per chip, chips per system,
and a memory hierarchy listed innermost first (per-core SRAM ... DRAM/HBM).  Every model is
frozen and rejects unknown keys; vary a spec with :meth:`Accelerator.replace`, which
re-validates.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Accelerator", "VectorUnit", "MatrixUnit", "SpecialFunctionUnit", "MemoryLevel", "DTYPES"]

DTYPES = ("fp64", "fp32", "bf16", "fp16", "fp8", "int8")
Dtype = Literal["fp64", "fp32", "bf16", "fp16", "fp8", "int8"]

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=1, strict=True)]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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
        missing = set(self.flops_per_lane_per_cycle) - set(self.energy_per_flop_j)
        if missing:
            raise ValueError(f"energy_per_flop_j lacks {', '.join(sorted(missing))}, "
                             "which flops_per_lane_per_cycle lists")
        return self


class MatrixUnit(_Spec):
    """A matrix (systolic / tensor-core) unit of one core.

    ``macs_per_cycle[dtype]`` multiply-accumulates per cycle at the unit's own ``clock_hz``
    (vendors often quote tensor peaks at a clock below the vector boost clock).  ``rows`` ×
    ``cols`` and ``dataflow`` describe the array for cycle-level GEMM models.
    """

    rows: Count
    cols: Count
    dataflow: Literal["os", "ws", "is"]
    clock_hz: Positive
    macs_per_cycle: dict[Dtype, Positive]
    energy_per_mac_j: dict[Dtype, NonNegative]

    @model_validator(mode="after")
    def _energy_for_every_rate(self):
        missing = set(self.macs_per_cycle) - set(self.energy_per_mac_j)
        if missing:
            raise ValueError(f"energy_per_mac_j lacks {', '.join(sorted(missing))}, "
                             "which macs_per_cycle lists")
        return self


class SpecialFunctionUnit(_Spec):
    """Transcendentals (exp, tanh, sigmoid, reciprocal) of one core."""

    ops_per_cycle: Positive
    latency_cycles: Positive
    energy_per_op_j: NonNegative


class MemoryLevel(_Spec):
    """One level of the hierarchy.  ``scope: core`` levels are per core (capacity and
    bandwidth of one core's copy); ``scope: chip`` levels are shared by the chip."""

    name: str
    scope: Literal["core", "chip"]
    capacity_bytes: Positive
    bandwidth_bytes_per_s: Positive
    latency_s: NonNegative
    energy_per_byte_j: NonNegative


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
    memory: tuple[MemoryLevel, ...] = Field(min_length=1)
    kernel_launch_s: NonNegative
    static_power_w: NonNegative

    @model_validator(mode="after")
    def _dram_last(self):
        if self.memory[-1].scope != "chip":
            raise ValueError("memory: the last (outermost) level must be the chip's DRAM, scope: chip")
        return self

    @property
    def dram(self) -> MemoryLevel:
        return self.memory[-1]

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

    @property
    def machine_balance_flops_per_byte(self) -> float:
        """fp32 peak over DRAM bandwidth: above it a kernel is compute bound."""
        return self.peak_flops_per_s("fp32") / self.dram.bandwidth_bytes_per_s

    def replace(self, **changes) -> Accelerator:
        """A validated copy with top-level fields changed."""
        return type(self).model_validate({**self.model_dump(), **changes})
