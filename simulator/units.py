"""How long a slice of a stage computes on one core, and on which unit.

One place for the arithmetic the simulator and the closed-form bounds share:

* a ``vector`` op issues ``flops / flops_per_lane_per_cycle`` cycles on one of ``lanes``
  lanes — its flops as fused multiply-adds, the fewest instructions they can take — or, where
  the kernel's source says how many lane instructions it issues (``instructions_per_op``:
  its loads through shared memory, shuffles, conversions, lone multiplies and adds), each
  instruction as long as an FMA at the format the arithmetic runs in (``compute_dtype``: a
  kernel that loads bf16 and computes in fp32 issues fp32 instructions); a ``matrix`` op
  streams its flops through the core's matrix unit at
  ``2 · macs_per_cycle`` flops per matrix cycle, and its lane instructions beside the
  products (``lane_instructions_per_op``: a softmax's max, scale, sum, rescale and
  conversions, counted from the kernel's source) one lane cycle each on the vector lanes;
  special-function ops issue at the SFU's rate, after the arithmetic (no overlap is assumed:
  the warps that issue the products issue the lane work and the special functions in turn);
* a core holding fewer warps than it has schedulers issues at their share of its rate
  (:func:`simulator.core.issue_share`);
* a step of dependent ops cannot finish faster than its critical path: ``latency_ops`` op
  latencies, plus one SFU latency when the step uses the SFU;
* a ``matrix`` stage on a chip without a matrix unit (or without a rate for the dtype) runs
  on the vector unit, and the result says so; an fp32 stage that allows TF32 (``Stage.tf32``:
  cuBLAS and cuDNN with ``allow_tf32``) runs at the unit's ``tf32`` rate where it has one;
* a skinny product (a side under the matrix instruction's narrowest) pads only to that
  instruction's narrow side, and runs as a GEMV on the vector lanes where those are faster
  (:func:`systolic_efficiency`, :func:`place`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwmodels.spec import Accelerator
from hwmodels.systolic import gemm_cycles
from simulator.core import block_of, issue_share, load_rate
from workloads.schedule import DTYPE_BYTES, Stage


@dataclass(frozen=True)
class Placement:
    """Where a stage runs: ``unit`` is ``vector``, ``matrix`` or ``transfer``."""

    unit: str
    note: str = ""


def matrix_dtype(stage: Stage, dtype: str) -> str:
    """The format the matrix unit multiplies the stage's operands in: the format its arithmetic
    runs in (``compute_dtype``, else the schedule's dtype), as TF32 where that is fp32 and the
    stage allows it (cuBLAS's ``allow_tf32``; Triton's ``tl.dot`` of fp32 operands)."""
    dtype = stage.compute_dtype or dtype
    return "tf32" if stage.tf32 and dtype == "fp32" else dtype


def place(stage: Stage, acc: Accelerator, dtype: str) -> Placement:
    if stage.unit == "matrix":
        if acc.matrix is None:
            return Placement("vector", f"{stage.name}: no matrix unit, ran on the vector unit")
        operands = matrix_dtype(stage, dtype)
        if operands not in acc.matrix.macs_per_cycle:
            return Placement("vector", f"{stage.name}: matrix unit has no {operands} rate, ran on the vector unit")
        if _gemv_on_vector(stage, acc, dtype):
            return Placement("vector", f"{stage.name}: a skinny product ({_shape(stage)}) runs faster as a "
                                       "GEMV on the vector lanes than padded to the matrix instruction")
        return Placement("matrix")
    if stage.unit == "sfu":
        return Placement("vector")  # SFUs sit beside the vector lanes and share their issue
    return Placement(stage.unit)


def systolic_efficiency(stage: Stage, acc: Accelerator) -> float:
    """Useful share of the matrix unit's MAC slots for the stage's GEMM shape: fill, drain and
    partly filled folds of ``hwmodels.systolic.gemm_cycles``; for products a kernel issues as
    synchronous warp MMAs (``Stage.sync_mma``) on a unit that gives their shape, the share of
    the padded instruction tiles that is useful.  1 when the stage gives no shape."""
    if stage.gemm_shape is None or acc.matrix is None:
        return 1.0
    m, n, k = (max(1, int(x)) for x in stage.gemm_shape)
    shape = acc.matrix.sync_mma_shape
    if stage.sync_mma and shape:
        return _instruction_share(m, n, k, shape)
    rows, cols = acc.matrix.rows, acc.matrix.cols
    array = m * n * k / (gemm_cycles(rows, cols, acc.matrix.dataflow, m, n, k, acc.matrix.pipelined) * rows * cols)
    if shape and min(m, n) < min(rows, cols):
        # A skinny product on a chip of warp-level MMA instructions: the library issues the
        # warp instruction (m16n8k16: the sm_80 kernels cuBLAS and CUTLASS keep for small
        # problems), at its share of the peak, with the small dimension on its narrow side —
        # cuBLAS computes Cᵀ = Bᵀ·Aᵀ, CUTLASS's and TensorRT-LLM's small-M kernels swap A and
        # B — so a decode GEMM of one token pads to 8 columns, not to the array's 64 rows.
        warp = max(_instruction_share(m, n, k, shape), _instruction_share(n, m, k, shape))
        return max(array, acc.matrix.sync_mma_share * warp)
    return array


def _instruction_share(m: int, n: int, k: int, shape: tuple[int, int, int]) -> float:
    """Useful share of an m × n × k product issued as ``shape`` instructions, each padded."""
    return m * n * k / math.prod(math.ceil(x / t) * t for x, t in zip((m, n, k), shape))


def _shape(stage: Stage) -> str:
    return " × ".join(str(int(x)) for x in stage.gemm_shape)


def _gemv_on_vector(stage: Stage, acc: Accelerator, dtype: str) -> bool:
    """Whether a product with a dimension under the matrix instruction's narrowest side runs
    faster on the vector lanes (cuBLAS's GEMV kernels, and the CUDA-core GEMV that serving
    engines use at batch 1) than on the matrix unit at its padded share."""
    if stage.gemm_shape is None or stage.sync_mma or min(stage.gemm_shape[:2]) >= min(
            acc.matrix.sync_mma_shape or (acc.matrix.rows, acc.matrix.cols)):
        return False
    per_lane = acc.vector.flops_per_lane_per_cycle.get(dtype)  # none for fp8: no GEMV then
    return per_lane is not None and acc.vector.lanes * per_lane * acc.clock_hz > matrix_rate(stage, acc, dtype)


def matrix_rate(stage: Stage, acc: Accelerator, dtype: str) -> float:
    """Flops per second one core's matrix unit achieves on the stage's GEMMs: its rate at the
    operands' format, the share its instructions reach (``Stage.sync_mma``) and the useful share
    of its MAC slots for the GEMMs' shape."""
    share = acc.matrix.sync_mma_share if stage.sync_mma else 1.0
    return (2 * acc.matrix.macs_per_cycle[matrix_dtype(stage, dtype)] * acc.matrix.clock_hz * share
            * systolic_efficiency(stage, acc))


def step_sync_s(stage: Stage, acc: Accelerator) -> float:
    """What a step of a chain waits for besides its arithmetic when every step is its own
    kernels (``step_kernels``, as cuDNN's RNN launches a GEMM and an elementwise kernel per
    time step): each kernel's launch after the previous one drains, then its first load; or,
    inside one persistent kernel, each grid-wide barrier (``step_barriers``) and the load of
    what the other cores published before it; and each load a step waits for that the chip's
    shared cache serves (``step_loads``: Mamba-1's selective scan loads B and C of the next
    state at the top of every state iteration), one cache latency; and each load of data no
    earlier step touched that a kernel without software pipelining waits for
    (``step_dram_loads``: a Triton loop of ``num_stages=1`` issues its loads at the top of
    every iteration and uses them in it), one DRAM latency — a miss in the shared cache."""
    return (stage.step_kernels * (acc.kernel_launch_s + acc.dram.latency_s)
            + stage.step_barriers * (acc.barrier_s + acc.dram.latency_s)
            + stage.step_loads * cache_latency_s(acc) + stage.step_dram_loads * acc.dram.latency_s)


def cache_latency_s(acc: Accelerator) -> float:
    """Latency of a load the chip's shared cache (a GPU's L2) serves; the DRAM's where it has none."""
    return (acc.shared_cache or acc.dram).latency_s


def step_load_s(stage: Stage, acc: Accelerator, dtype: str) -> float:
    """Seconds one step's loads take when every step of a chain is its own kernels
    (``step_kernels``): the step's reads at the stage's load rate (:func:`load_rate`: bytes in
    flight over their latency, or the bandwidth), which no other step's work can hide — the
    next step's kernel starts only after this one ends.  0 for any other stage, whose loads
    stream under its work."""
    if not stage.step_kernels or not stage.bytes_read_per_op:
        return 0.0
    return stage.ops * stage.bytes_read_per_op / load_rate(stage, acc, dtype)


def lane_seconds(stage: Stage, acc: Accelerator, ops: float) -> float:
    """Seconds ``ops`` ops' lane instructions beside their products
    (``Stage.lane_instructions_per_op``) take on one core's vector lanes, one cycle each."""
    return ops * stage.lane_instructions_per_op / (acc.vector.lanes * acc.clock_hz)


def vector_cycles_per_op(stage: Stage, acc: Accelerator, dtype: str) -> float:
    """Lane cycles one op of ``stage`` takes on the vector unit (see the module's doc): its
    counted instructions, each an FMA's issue slot at its compute format, or its flops as FMAs."""
    rate = acc.flops_per_lane_per_cycle(stage.compute_dtype or dtype)
    if stage.instructions_per_op:
        return stage.instructions_per_op * 2 / rate
    return stage.flops_per_op / rate if stage.flops_per_op else 0.0


def step_parts(stage: Stage, placement: Placement, acc: Accelerator, dtype: str,
               ops: int, share: float | None = None) -> tuple[float, float, float]:
    """``(issue_s, chain_s, sync_s)`` of one step of ``ops`` ops of ``stage`` on one core: the
    time the unit is busy issuing them; the latency of its dependent op chain; and what the step
    waits for besides (:func:`step_sync_s`).  A step takes ``max(issue, chain, step load) +
    sync`` (:func:`step_seconds`).  ``share``: the stage's :func:`~simulator.core.issue_share`
    on the chip it models, where the caller has it (None: computed on ``acc``)."""
    if placement.unit == "transfer":
        return 0.0, 0.0, 0.0
    if placement.unit == "matrix":
        issue_s = ops * stage.flops_per_op / matrix_rate(stage, acc, dtype)
    else:
        issue_s = math.ceil(ops / acc.vector.lanes) * vector_cycles_per_op(stage, acc, dtype) / acc.clock_hz
    issue_s += lane_seconds(stage, acc, ops)
    chain_cycles = stage.latency_ops * acc.vector.op_latency_cycles
    if stage.sfu_ops_per_op:
        fn = acc.sfu.function(stage.sfu_function)
        issue_s += ops * stage.sfu_ops_per_op / (fn.ops_per_cycle * acc.clock_hz)
        chain_cycles += fn.latency_cycles if stage.sfu_on_chain else 0.0
    issue_s /= issue_share(stage, acc, dtype) if share is None else share  # fewer warps than schedulers
    return issue_s, chain_cycles / acc.clock_hz, step_sync_s(stage, acc)


def step_seconds(stage: Stage, placement: Placement, acc: Accelerator, dtype: str, ops: int) -> float:
    """Time of one step of ``ops`` ops of ``stage`` on one core, alone: its issue, its chain or
    its step kernel's loads, whichever is longest, then its sync."""
    issue_s, chain_s, sync_s = step_parts(stage, placement, acc, dtype, ops)
    return max(issue_s, chain_s, step_load_s(stage, acc, dtype)) + sync_s


def stage_work_seconds(stage: Stage, placement: Placement, acc: Accelerator, dtype: str) -> float:
    """The stage's total issue time summed over all its ops, at one core's peak (no ceilings,
    no latency): divided by the core count, a lower bound on the stage's compute time."""
    if placement.unit == "transfer":
        return 0.0
    total = stage.total_ops
    if placement.unit == "matrix":
        seconds = total * stage.flops_per_op / matrix_rate(stage, acc, dtype)
    else:
        seconds = total * vector_cycles_per_op(stage, acc, dtype) / (acc.vector.lanes * acc.clock_hz)
    seconds += lane_seconds(stage, acc, total)
    if stage.sfu_ops_per_op:
        fn = acc.sfu.function(stage.sfu_function)
        seconds += total * stage.sfu_ops_per_op / (fn.ops_per_cycle * acc.clock_hz)
    return seconds


def chain_seconds(stage: Stage, placement: Placement, acc: Accelerator) -> float:
    """The stage's critical path: ``steps`` dependent steps of one op latency chain each (and
    their kernels' launches and first loads, when every step is its own kernels)."""
    if placement.unit == "transfer":
        return 0.0
    cycles = stage.latency_ops * acc.vector.op_latency_cycles
    if stage.sfu_ops_per_op and stage.sfu_on_chain:
        cycles += acc.sfu.function(stage.sfu_function).latency_cycles
    return stage.steps * (cycles / acc.clock_hz + step_sync_s(stage, acc))


def waves(stage: Stage, acc: Accelerator) -> tuple[int, float]:
    """``(waves, stretch)`` of a stage made of indivisible work units (``granule_ops`` ops
    each, a thread block's tile): the cores take the units in ⌈units / cores⌉ waves, so the
    busiest core computes ``stretch`` = waves · cores / units times its even share; and each
    wave after the first exposes its unit's first load and last store (two DRAM latencies),
    as a core running one block at a time cannot overlap them with another block.
    ``(1, 1.0)`` for a stage without granules."""
    if not stage.granule_ops:
        return 1, 1.0
    units = max(1, math.ceil(stage.ops / stage.granule_ops))
    n = math.ceil(units / acc.cores)
    return n, n * acc.cores / units


def wave_exposure_s(stage: Stage, acc: Accelerator) -> float:
    """The DRAM latencies the waves after the first expose (see :func:`waves`)."""
    return (waves(stage, acc)[0] - 1) * 2 * acc.dram.latency_s


def operand_stream_bytes(stage: Stage, placement: Placement, acc: Accelerator, dtype: str) -> float:
    """SRAM bytes a matrix stage's operands stream through to the matrix unit, whatever DRAM
    moved (0 for other units): on a chip of thread blocks (``core``), each block's k-step reads
    its tile's ``rows + columns`` operand rows from shared memory for ``rows · columns`` MACs
    (the block's ``tile``: a GEMM's, a Triton program's, the obvious kernel's 64 × 64); else each
    cycle a ``rows`` × ``cols`` array takes ``rows + cols`` operands for its ``rows · cols`` MACs."""
    if placement.unit != "matrix":
        return 0.0
    tile = block_of(stage, dtype).tile if acc.core is not None else None
    rows, cols = tile if tile is not None else (acc.matrix.rows, acc.matrix.cols)
    macs = stage.total_ops * stage.flops_per_op / 2
    return macs * (rows + cols) / (rows * cols) * DTYPE_BYTES[dtype]
