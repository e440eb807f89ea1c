"""The core model: what one core sustains for a stage, given the thread blocks resident on it.

A stage runs as a grid of thread blocks (:class:`workloads.schedule.Block`), declared by the
implementation that models a shipped kernel or, for a generic schedule, the kernel written the
obvious way (:func:`block_of`).  From the blocks and the core's occupancy limits
(:class:`hwmodels.spec.CoreLimits`: threads, blocks, registers and shared memory) follow

* how many blocks a core holds at once — the fewest that any one limit allows (the CUDA
  occupancy calculation: CUDA C++ Programming Guide, "Occupancy Calculator");
* how many cores the stage keeps busy: a grid of fewer blocks than cores leaves the rest idle;
* what share of a busy core's issue slots its warps reach: an SM issues from ``schedulers``
  sub-partitions, each with its own scheduler, a quarter of the lanes, a tensor core and its
  special-function units, and a warp issues from one of them for its whole life (NVIDIA's
  Volta and Hopper architecture whitepapers: "four processing blocks"; Jia et al., arXiv
  1804.06826 §3.1), so a core holding fewer warps than sub-partitions computes at
  ``warps / schedulers`` of its rate (:func:`issue_share`);
* the rate it can load from DRAM: a core has at most its resident blocks' loads in flight,
  and by Little's law a memory system of latency ``L`` returns ``bytes in flight / L`` (Hong &
  Kim, ISCA 2009, memory warp parallelism; V. Volkov, *Understanding Latency Hiding on GPUs*,
  PhD thesis, UC Berkeley, 2016, ch. 4) — never more than the bandwidth the DRAM sustains
  (:attr:`hwmodels.spec.MemoryLevel.sustained_bytes_per_s`: measured, or the documented
  share).  Stores need no reply, so they take bandwidth but no place in flight: a stage's
  reads move at its load rate, and all its bytes at the sustained bandwidth.

The model applies to chips that give their occupancy limits (``core``: GPUs, whose cores are
SIMT processors running thread blocks).  A chip without them (a systolic or dataflow part,
or a spec that does not say) spreads a stage's ops over as many cores as there are ops and
draws the DRAM at its sustained bandwidth, as before the core model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwmodels.spec import Accelerator
from workloads.schedule import DTYPE_BYTES, Block, Stage

__all__ = ["block_of", "Occupancy", "occupancy", "issue_share", "load_rate", "memory_seconds", "OBVIOUS_THREADS",
           "OBVIOUS_TILE"]

#: The kernel written the obvious way, for a stage that declares no block: four warps (128
#: threads, the block size of Triton's default ``num_warps=4`` and of PyTorch's elementwise
#: kernels); a matrix stage computes a 64 × 64 output tile per block, stepping K by 32 with its
#: two operand tiles double-buffered in shared memory (one in flight while it multiplies the
#: other); any other stage gives each thread the ops of one 16-byte vector load per step — the
#: widest load instruction (CUDA C++ Programming Guide, "Device Memory Accesses"), which PyTorch's
#: vectorised elementwise kernels (aten/src/ATen/native/cuda/MemoryAccess.cuh) and Triton's
#: blocked loads issue — and one such load in flight.
OBVIOUS_THREADS = 128
OBVIOUS_TILE = 64
OBVIOUS_K_STEP = 32
VECTOR_LOAD_BYTES = 16


def block_of(stage: Stage, dtype: str) -> Block:
    """The thread block ``stage`` runs as: its own, or the obvious kernel's (see above)."""
    if stage.block is not None:
        return stage.block
    e = DTYPE_BYTES[dtype]
    if stage.unit == "matrix" and stage.gemm_shape is not None and stage.flops_per_op:
        m, n, k = (max(1, int(x)) for x in stage.gemm_shape)
        bm, bn, bk = min(m, OBVIOUS_TILE), min(n, OBVIOUS_TILE), min(k, OBVIOUS_K_STEP)
        operands = (bm * bk + bk * bn) * e
        ops = stage.granule_ops or max(1.0, 2 * bm * bn * k / stage.flops_per_op)
        return Block(threads=OBVIOUS_THREADS, ops=ops, shared_bytes=2 * operands, in_flight_bytes=operands,
                     tile=(bm, bn))
    per_thread = max(1, int(VECTOR_LOAD_BYTES // stage.bytes_read_per_op)) if stage.bytes_read_per_op else 1
    ops = stage.granule_ops or OBVIOUS_THREADS * per_thread
    return Block(threads=OBVIOUS_THREADS, ops=ops, in_flight_bytes=ops * stage.bytes_read_per_op)


@dataclass(frozen=True)
class Occupancy:
    """A stage's grid on a chip: ``blocks`` per step, ``resident`` blocks a core can hold (and
    ``limit``, the resource that sets it), ``active_cores`` the cores with work,
    ``per_core`` the blocks each active core holds at once, and ``in_flight_bytes`` the DRAM
    bytes one active core keeps requested."""

    blocks: int
    resident: int
    limit: str
    active_cores: int
    per_core: int
    in_flight_bytes: float


def occupancy(stage: Stage, acc: Accelerator, dtype: str) -> Occupancy:
    """How ``stage``'s blocks land on ``acc``'s cores (see the module's doc).  A block that no
    core can hold is sized by the limit alone (one resident block), as a kernel whose launch
    would fail must be reshaped by its author: the result says which limit."""
    if acc.core is None:  # not a SIMT chip: every op its own unit of work, nothing limits residency
        active = max(1, min(acc.cores, stage.ops))
        return Occupancy(blocks=stage.ops, resident=stage.ops, limit="none", active_cores=active,
                         per_core=math.ceil(stage.ops / active), in_flight_bytes=math.inf)
    block = block_of(stage, dtype)
    blocks = max(1, math.ceil(stage.ops / max(block.ops, 1e-12)))
    limits = {"blocks per core": acc.core.blocks, "threads": acc.core.threads // max(1, block.threads)}
    if block.shared_bytes:
        limits["shared memory"] = acc.core.shared_bytes // block.shared_bytes
    if block.registers:
        limits["registers"] = acc.core.registers // (block.registers * block.threads)
    limit, resident = min(limits.items(), key=lambda kv: kv[1])
    resident = max(1, int(resident))
    if block.split_to_fill:  # each block's reduction split over more blocks: every core loads
        blocks = max(blocks, acc.cores)
    active = min(acc.cores, blocks)
    per_core = min(resident, math.ceil(blocks / active))
    return Occupancy(blocks=blocks, resident=resident, limit=limit, active_cores=active, per_core=per_core,
                     in_flight_bytes=per_core * block.in_flight_bytes)


def issue_share(stage: Stage, acc: Accelerator, dtype: str) -> float:
    """Share of one busy core's lanes, matrix units and SFUs that ``stage``'s resident warps
    can issue to (see the module's doc): 1 once the core holds a warp per scheduler, and on
    chips that give no occupancy limits."""
    if acc.core is None:
        return 1.0
    warps = occupancy(stage, acc, dtype).per_core * math.ceil(block_of(stage, dtype).threads / acc.core.warp_threads)
    return min(1.0, warps / acc.core.schedulers)


def load_rate(stage: Stage, acc: Accelerator, dtype: str) -> float:
    """Bytes per second ``stage`` can load from DRAM: the DRAM's sustained bandwidth, or what
    its active cores' bytes in flight return over the latency (Little's law), or — where the
    chip's shared cache serves some of its reads (``cache_bytes_per_op``) — what that cache's
    sustained bandwidth leaves for the DRAM's share of them, whichever is least.  Loads the
    cache serves hold their place in flight too, for the cache's latency: the bytes in flight
    return at their mean latency, and the DRAM's rate is its share of that."""
    rate = acc.dram.sustained_bytes_per_s
    cache = acc.shared_cache
    share, latency = 1.0, acc.dram.latency_s
    if stage.cache_bytes_per_op and stage.bytes_read_per_op and cache is not None:
        share = stage.bytes_read_per_op / (stage.bytes_read_per_op + stage.cache_bytes_per_op)
        rate = min(rate, cache.sustained_bytes_per_s * share)
        latency = share * acc.dram.latency_s + (1 - share) * cache.latency_s
    if acc.core is None or latency <= 0:
        return rate
    occ = occupancy(stage, acc, dtype)
    little = share * occ.active_cores * occ.in_flight_bytes / latency
    return min(rate, little) if little > 0 else rate


def memory_seconds(stage: Stage, acc: Accelerator, dtype: str) -> float:
    """Time ``stage``'s DRAM traffic takes alone: its reads at its load rate, and all its bytes
    at the sustained bandwidth, whichever is longer (no latency added)."""
    moved = stage.bytes_read + stage.bytes_written
    if not moved:
        return 0.0
    reads = stage.bytes_read / load_rate(stage, acc, dtype) if stage.bytes_read else 0.0
    return max(reads, moved / acc.dram.sustained_bytes_per_s)
