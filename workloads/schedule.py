"""Schedules: what a workload asks of a machine, as a DAG of stages.

A :class:`Stage` is a batch of identical ops on one unit kind.  ``ops`` independent ops run
per step; ``steps`` > 1 makes the stage a chain in which step r + 1 needs the results of step
r (a sequential scan is one stage of ``steps = T − 1``), so a schedule's size stays
independent of T for sequential algorithms and grows with the circuit depth for parallel
ones.  Bytes are DRAM bytes under the schedule's own mapping (each stage reads its operands
from DRAM and writes its results back); the simulator's policies may keep some on chip.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from workloads._jit import njit_on_first_call
from workloads.circuits import Circuit

__all__ = ["Block", "Stage", "Schedule", "UNITS", "DTYPE_BYTES", "AffineCost", "affine_stages", "in_sequence", "in_stream_order",
           "gemm_read_bytes"]

UNITS = ("vector", "matrix", "sfu", "transfer")

#: bytes per element for each dtype name scansim accepts
DTYPE_BYTES = {"fp64": 8, "fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1}


@dataclass(frozen=True)
class Block:
    """One thread block of the kernel a stage runs: what it asks of the core it lands on.

    ``threads`` issue together; ``shared_bytes`` of the core's shared memory and ``registers``
    32-bit registers per thread (0: not a limit) it holds while resident; ``in_flight_bytes``
    the DRAM bytes it keeps requested at once — its pipelined loads (a kernel that stages
    ``s`` tiles through shared memory has ``s − 1`` of them in flight while it computes on one);
    ``ops`` how many of the stage's ops (per step) one block does; ``split_to_fill``: where the
    grid has fewer blocks than the chip has cores, the kernel splits each block's reduction
    over more of them so that every core loads its share (cuBLAS's split-K); ``tile``: a
    matrix block's output tile, which sets the shared-memory bytes its products stream;
    ``alternatives``: the other tiles the kernel's library can launch for the same product —
    a library picks its kernel by the problem's shape and the chip's core count (cuBLAS's
    heuristics), and the simulator takes the largest tile whose grid gives every core a block,
    else the one with the most blocks (:func:`simulator.policy.fit_tiles`).  Implementations
    declare the blocks of the kernel they model; a stage that declares none gets the kernel
    written the obvious way (:func:`simulator.core.block_of`)."""

    threads: int
    ops: float
    shared_bytes: float = 0.0
    registers: int = 0
    in_flight_bytes: float = 0.0
    split_to_fill: bool = False
    #: a matrix block's output tile (rows, columns): each k-step it reads rows + columns operand
    #: rows from shared memory for rows · columns MACs (None: not a matrix block, or not said)
    tile: tuple[int, int] | None = None
    alternatives: tuple["Block", ...] = ()


@dataclass(frozen=True)
class Stage:
    """A batch of ``ops`` independent identical ops per step, for ``steps`` dependent steps.

    Per-op quantities are per op per step.  ``latency_ops`` is the number of dependent unit
    operations on one op's critical path (1 for a multiply-add), which with ``steps`` gives
    the stage's contribution to the schedule depth.  ``deps`` are indices of earlier stages.
    """

    name: str
    unit: str
    ops: int
    steps: int = 1
    flops_per_op: float = 0.0
    sfu_ops_per_op: float = 0.0
    sfu_function: str = "exp"  # which transcendental the SFU ops are: exp, tanh or sigmoid
    sfu_on_chain: bool = True  # the SFU result feeds the next step (False: computed off the chain)
    bytes_read_per_op: float = 0.0
    bytes_written_per_op: float = 0.0
    resident_bytes_per_op: float = 0.0
    latency_ops: float = 1.0
    deps: tuple[int, ...] = ()
    copies: int = 1  # independent copies the ops split into (a fused kernel may tile over them)
    gemm_shape: tuple[int, int, int] | None = None  # (m, n, k) of the GEMMs a matrix stage runs
    onchip_bytes_per_op: float = 0.0  # bytes that stay on chip (set by a fusing policy)
    launch: bool = True  # starts a kernel (False: continues a fused one after a barrier)
    panel_tile: int = 0  # a whole blocked GEMM, output tiles of this edge (reads: gemm_read_bytes)
    reread_bytes_per_op: float = 0.0  # part of the reads that re-read data other tiles read too
    rereaders: int = 1  # how many tiles read that same data (a cache shared by cores may merge them)
    reread_set_bytes: float = 0.0  # size of the data one group of rereaders shares
    #: the rereaders run a sweep of the grid apart, not side by side (Mamba-2's kernels run their
    #: heads slowest): the cache must hold the whole set between them, one set at a time
    rereads_apart: bool = False
    cache_bytes_per_op: float = 0.0  # reads the chip's shared cache serves in DRAM's stead (set by share_panels)
    granule_ops: float = 0.0  # ops of one indivisible work unit (a thread block's tile); 0: fluid
    step_kernels: int = 0  # kernels launched per step of a chain (0: the steps run inside one kernel)
    step_reread_bytes: float = 0.0  # DRAM bytes every step reads again (a chain's weights)
    step_barriers: int = 0  # grid-wide barriers per step of a chain that runs inside one kernel
    step_loads: int = 0  # loads per step that the step waits for, served by the chip's shared cache
    step_dram_loads: int = 0  # loads per step that the step waits for, of data no step touched before (the DRAM's)
    persistent_bytes: float = 0.0  # bytes the kernel keeps on chip for its whole run (across its cores)
    tf32: bool = False  # fp32 operands may run on the matrix unit rounded to TF32
    compute_dtype: str | None = None  # the format its arithmetic runs in (None: the schedule's dtype)
    instructions_per_op: float = 0.0  # lane instructions per op per step, from the kernel's source (0: flops as FMAs)
    #: a matrix stage's lane instructions per op beside its products (a softmax's max, scale, sum, rescale and
    #: conversions), from the kernel's source: the same warps issue them in turn with the products
    lane_instructions_per_op: float = 0.0
    sync_mma: bool = False  # its products issue as synchronous warp MMAs (mma.sync), not the chip's native ones
    block: Block | None = None  # the kernel's thread block (None: the obvious kernel, see simulator.core)

    @cached_property
    def total_ops(self) -> int:
        return self.ops * self.steps

    @property
    def cache_bytes(self) -> float:
        return self.total_ops * self.cache_bytes_per_op

    @cached_property
    def flops(self) -> float:
        return self.total_ops * self.flops_per_op

    @cached_property
    def bytes_read(self) -> float:
        return self.total_ops * self.bytes_read_per_op

    @cached_property
    def bytes_written(self) -> float:
        return self.total_ops * self.bytes_written_per_op

    @property
    def depth_ops(self) -> float:
        """Dependent unit operations on this stage's critical path."""
        return self.steps * self.latency_ops

    @cached_property
    def onchip_bytes(self) -> float:
        return self.total_ops * self.onchip_bytes_per_op

    @property
    def working_set_bytes_per_copy(self) -> float:
        """Bytes one independent copy of the stage keeps live: what must fit on chip to fuse."""
        return self.ops * self.resident_bytes_per_op / self.copies


def gemm_read_bytes(m: int, n: int, k: int, tile: int, itemsize: int) -> float:
    """DRAM reads of the GEMM (m×k)(k×n) computed in output tiles of ``tile``×``tile``: each
    tile reads its rows of A and its columns of B once."""
    return float(itemsize * k * (m * math.ceil(n / tile) + n * math.ceil(m / tile)))


@dataclass(frozen=True)
class Schedule:
    """A DAG of stages (``deps`` point backwards), with its totals."""

    name: str
    dtype: str
    stages: tuple[Stage, ...]
    meta: dict = field(default_factory=dict, compare=False)

    @cached_property
    def work_flops(self) -> float:
        return float(sum(s.flops for s in self.stages))

    @cached_property
    def dram_bytes(self) -> float:
        return float(sum(s.bytes_read + s.bytes_written for s in self.stages))

    @cached_property
    def onchip_bytes(self) -> float:
        return float(sum(s.onchip_bytes for s in self.stages))

    @cached_property
    def depth_ops(self) -> float:
        """Longest chain of dependent unit operations through the DAG."""
        finish: list[float] = []
        for i, stage in enumerate(self.stages):
            start = max((finish[d] for d in stage.deps if d < i), default=0.0)
            finish.append(start + stage.depth_ops)
        return max(finish, default=0.0)


@dataclass(frozen=True)
class AffineCost:
    """Cost of one combine ``(A_s, b_s) ⊕ (A_d, b_d) = (A_d A_s, A_d b_s + b_d)`` of a family.

    ``copies`` independent recurrences run side by side (batch × heads × channels).  A
    *full* combine also forms ``A_d A_s``; a *b-only* combine skips it because no later
    combine needs that product (the last combine into every position, for instance).
    """

    copies: int
    a_bytes: float  # one A element (a vector for diagonal, a matrix for dense)
    b_bytes: float
    full_flops: float
    b_only_flops: float
    latency_ops: float = 1.0
    width: int = 1  # lanes one combine can keep busy (d² for a d×d product)


@njit_on_first_call(cache=True)
def _live_products(n, ptr, src, dst):
    """Per level: how many of its combines form a product A_d A_s that a later combine reads?

    Walks the levels backwards tracking, per position, whether its current A is needed:
    a combine always reads A_d (to form A_d b_s), and reads A_s only if its own product is
    needed.  Synchronous semantics: needs are gathered over a whole level before applying.
    """
    need = np.zeros(n, dtype=np.bool_)
    counts = np.zeros(len(ptr) - 1, dtype=np.int64)
    for j in range(len(ptr) - 2, -1, -1):
        p0, p1 = ptr[j], ptr[j + 1]
        live = np.empty(p1 - p0, dtype=np.bool_)
        for p in range(p0, p1):
            live[p - p0] = need[dst[p]]
        for p in range(p0, p1):
            need[dst[p]] = True
        for p in range(p0, p1):
            if live[p - p0]:
                need[src[p]] = True
                counts[j] += 1
    return counts


@njit_on_first_call(cache=True)
def _chained(ptr, src, dst):
    """Per level j ≥ 1: does level j consume exactly level j−1's results, pair for pair?"""
    depth = len(ptr) - 1
    chain = np.zeros(depth, dtype=np.bool_)
    for j in range(1, depth):
        a0, a1, b0, b1 = ptr[j - 1], ptr[j], ptr[j], ptr[j + 1]
        if a1 - a0 != b1 - b0:
            continue
        ok = True
        for q in range(b1 - b0):
            if src[b0 + q] != dst[a0 + q]:
                ok = False
                break
        chain[j] = ok
    return chain


def affine_stages(circuit: Circuit, cost: AffineCost) -> list[Stage]:
    """Cost a prefix circuit on affine elements, one stage per level (deps local, in order).

    Each level is a kernel that reads its operands from DRAM and writes its results back —
    except that a run of levels each consuming exactly the previous level's results (the
    sequential chain, the inner scans of a chunked circuit) is one stage of ``steps`` levels
    whose carry stays in registers: it reads only the new destination operands.  Ops are
    lane-sized: a combine is ``cost.width`` ops of ``1/width`` of its flops and bytes.
    """
    if circuit.depth == 0:  # one position: no combine, but the layer still reads and writes it
        return [Stage("copy (no combine)", "transfer", ops=cost.copies * cost.width,
                      bytes_read_per_op=cost.b_bytes / cost.width,
                      bytes_written_per_op=cost.b_bytes / cost.width, copies=cost.copies)]
    full_per_level = _live_products(circuit.n, circuit.ptr, circuit.src, circuit.dst)
    chained = _chained(circuit.ptr, circuit.src, circuit.dst)
    sizes = circuit.level_sizes
    stages: list[Stage] = []
    j = 0
    while j < circuit.depth:
        run = 1
        while j + run < circuit.depth and chained[j + run]:
            run += 1
        m = int(sizes[j])
        full = float(full_per_level[j : j + run].sum())
        frac = full / (m * run)  # share of combines that also form A_d A_s
        carry = run > 1
        src_bytes = 0.0 if carry else cost.b_bytes + frac * cost.a_bytes
        w = cost.width
        stages.append(
            Stage(
                name=f"level {j}" if run == 1 else f"levels {j}-{j + run - 1}",
                unit="vector",
                ops=m * cost.copies * w,
                steps=run,
                flops_per_op=(cost.b_only_flops + frac * (cost.full_flops - cost.b_only_flops)) / w,
                bytes_read_per_op=(src_bytes + cost.a_bytes + cost.b_bytes) / w,
                bytes_written_per_op=(cost.b_bytes + frac * cost.a_bytes) / w,
                resident_bytes_per_op=(cost.a_bytes + cost.b_bytes) / w,
                latency_ops=cost.latency_ops,
                deps=(len(stages) - 1,) if stages else (),
                copies=cost.copies,
            )
        )
        j += run
    return stages


def in_sequence(*groups: list[Stage]) -> tuple[Stage, ...]:
    """Concatenate stage groups whose deps are local to each group; the first stage of each
    group (and any stage of it without deps) then waits for the last stage of the previous."""
    out: list[Stage] = []
    for group in groups:
        base = len(out)
        for stage in group:
            deps = tuple(base + d for d in stage.deps) or ((base - 1,) if base else ())
            out.append(dataclasses.replace(stage, deps=deps))
    return tuple(out)


def in_stream_order(stages) -> tuple[Stage, ...]:
    """The stages as one CUDA stream runs a shipped kernel's launches: each starts when the one
    before has ended (whatever deps they had)."""
    return tuple(dataclasses.replace(s, deps=(i - 1,) if i else ()) for i, s in enumerate(stages))
