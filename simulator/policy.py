"""Mapping policies: which stages' operands stay on chip.

* ``unfused`` — the schedule as built: every stage is a kernel that reads its operands from
  DRAM and writes its results back (a naive per-level launch).
* ``fused`` — runs of dependent stages (each depending only on the one before) whose working
  set fits on chip become one kernel: the first stage loads the working set from DRAM, the
  stages in between exchange data through the on-chip level, the last stores the working set;
  stages after the first wait at a barrier instead of paying a launch.  Independent copies
  (channels, heads) are processed in waves, so what must fit is one copy's working set.
* ``auto`` — whichever of the two the simulation finds faster (see :func:`simulate`).

A shipped kernel's schedule (``schedule(…, impl=NAME)``) keeps its kernels under every policy:
which of its stages share a kernel, and what crosses DRAM between them, is the
implementation's to say.
"""

from __future__ import annotations

import dataclasses
import math

from hwmodels.spec import Accelerator, MemoryLevel
from workloads.schedule import DTYPE_BYTES, Schedule, Stage, gemm_read_bytes

__all__ = ["POLICIES", "onchip_level", "fuse", "fit_tiles", "share_panels", "wave_tile"]

POLICIES = ("unfused", "fused", "auto")


def onchip_level(acc: Accelerator) -> tuple[MemoryLevel, float, float] | None:
    """The on-chip level a fused kernel keeps data in — the one with the largest aggregate
    capacity — as ``(level, aggregate capacity, aggregate bandwidth)``; None if the chip has
    no level inside its outermost memory."""
    best = None
    for level in acc.memory[:-1]:
        scale = acc.cores if level.scope == "core" else 1
        capacity, bandwidth = level.capacity_bytes * scale, level.bandwidth_bytes_per_s * scale
        if best is None or capacity > best[1]:
            best = (level, capacity, bandwidth)
    return best


def _linear(stages: tuple[Stage, ...], i: int) -> bool:
    """Stage i depends on exactly stage i − 1."""
    return i > 0 and stages[i].deps == (i - 1,)


def fuse(schedule: Schedule, acc: Accelerator) -> Schedule:
    """The schedule under the ``fused`` policy (unchanged where nothing can be fused, and for a
    shipped kernel's schedule, whose kernels are as built)."""
    level = onchip_level(acc)
    if level is None or schedule.meta.get("impl"):
        return schedule
    _, capacity, _ = level
    stages = schedule.stages
    out: list[Stage] = []
    fused = 0
    i = 0
    while i < len(stages):
        j = i
        working = stages[i].working_set_bytes_per_copy
        while j + 1 < len(stages) and _linear(stages, j + 1):
            nxt = max(working, stages[j + 1].working_set_bytes_per_copy)
            if nxt > capacity:
                break
            working, j = nxt, j + 1
        if j == i or working > capacity:
            out.append(stages[i])
            i += 1
            continue
        block = stages[i : j + 1]
        copies = max(s.copies for s in block)
        total_ws = working * copies  # the whole working set crosses DRAM once each way
        # ... and never less than the block's inputs and outputs: a stage that declares no
        # resident bytes still reads what the block consumes and writes what it produces
        read_total = max(total_ws, block[0].bytes_read)
        written_total = max(total_ws, block[-1].bytes_written)
        for k, stage in enumerate(block):
            moved = stage.bytes_read_per_op + stage.bytes_written_per_op
            read = read_total / stage.total_ops if k == 0 else 0.0
            written = written_total / stage.total_ops if k == len(block) - 1 else 0.0
            out.append(dataclasses.replace(
                stage, name=f"{stage.name} (fused)", bytes_read_per_op=read,
                bytes_written_per_op=written, onchip_bytes_per_op=moved, launch=(k == 0)))
        fused += len(block)
        i = j + 1
    if not fused:  # nothing fits on chip: the schedule runs as built, and says so
        return schedule
    meta = {**schedule.meta, "policy": "fused", "fused_stages": fused}
    return dataclasses.replace(schedule, stages=tuple(out), meta=meta)


def wave_tile(acc: Accelerator, tile: int, itemsize: int) -> int:
    """The output block whose GEMM panels cross DRAM once on ``acc``: ``tile`` when each core
    reads its own; on a chip with a shared chip-level cache (a GPU's L2) the tiles that all
    cores run at once — a "wave" of ⌊√cores⌋ × ⌊√cores⌋ tiles — share the rows and columns
    they read, as long as one ``tile``-deep slab of the wave's panels fits in that cache."""
    side = math.isqrt(acc.cores)
    shared = [m for m in acc.memory[:-1] if m.scope == "chip"]
    if side <= 1 or not shared:
        return tile
    wave = tile * side
    slab = 2 * wave * tile * itemsize
    return wave if max(m.capacity_bytes for m in shared) >= slab else tile


def fit_tiles(schedule: Schedule, acc: Accelerator) -> Schedule:
    """The schedule with each stage's thread block chosen for ``acc`` where its kernel's library
    offers several tiles (``Block.alternatives``): the largest tile whose grid gives every core
    a block, or, where none does, the one with the most blocks (the largest of those) — as a
    library's heuristics pick a kernel by the problem's shape and the chip's SM count (cuBLAS;
    CUTLASS's profiler ranks the same candidates by time).  A stage in whole blocks
    (``granule_ops``) takes the chosen block's ops as its granule."""
    if acc.core is None or not any(s.block is not None and s.block.alternatives for s in schedule.stages):
        return schedule
    stages = []
    for stage in schedule.stages:
        if stage.block is not None and stage.block.alternatives:
            options = sorted((stage.block, *stage.block.alternatives), key=lambda b: -b.ops)
            grids = [math.ceil(stage.ops / max(b.ops, 1e-12)) for b in options]
            filling = [b for b, n in zip(options, grids) if n >= acc.cores]
            block = filling[0] if filling else options[grids.index(max(grids))]
            stage = dataclasses.replace(stage, block=dataclasses.replace(block, alternatives=()),
                                        granule_ops=block.ops if stage.granule_ops else 0.0)
        stages.append(stage)
    return dataclasses.replace(schedule, stages=tuple(stages))


def share_panels(schedule: Schedule, acc: Accelerator) -> Schedule:
    """The schedule as ``acc`` runs it (:func:`fit_tiles`), with the reads that a shared
    chip-level cache merges taken out (hardware caching: it applies under every policy):

    * a blocked GEMM reads its panels at its :func:`wave_tile`;
    * a stage whose data is re-read by ``rereaders`` tiles (FlashAttention's K and V, read by
      every query block of a head) fetches it from DRAM once per wave of concurrent tiles:
      its re-reads shrink by ``min(rereaders, cores)``, as long as the data the wave shares
      (``reread_set_bytes`` per group of rereaders, a head's K and V; ⌈cores / rereaders⌉
      groups run at once) fits that cache; where the rereaders run a sweep of the grid apart
      (``rereads_apart``: Mamba-2's heads re-reading their group's B, C and C·Bᵀ), the cache
      keeps the set between them if it holds the whole of one, and every re-read merges;
    * a chain that reads the same ``step_reread_bytes`` every step (an RNN's recurrent
      weights) fetches them from DRAM once when they fit that cache beside the rest of a step's
      traffic (its other reads and its writes pass through the same cache every step).

    The reads taken out of the two last are the cache's to serve (``cache_bytes_per_op``): they
    take its bandwidth (:func:`simulator.core.load_rate`) and its energy.  (A GEMM's panel
    traffic through the cache is not charged: it depends on the tile and the cluster multicast
    the library picks, which the GEMM's schedule does not model yet.)
    """
    schedule = fit_tiles(schedule, acc)
    caches = [m.capacity_bytes for m in acc.memory[:-1] if m.scope == "chip"]
    if not caches:
        return schedule
    itemsize = DTYPE_BYTES[schedule.dtype]
    stages, changed = [], False
    for stage in schedule.stages:
        reads = stage.bytes_read_per_op
        if stage.panel_tile and stage.gemm_shape is not None:
            wave = wave_tile(acc, stage.panel_tile, itemsize)
            if wave != stage.panel_tile:
                m, n, _ = stage.gemm_shape  # per output element of each of a grouped GEMM's products
                reads = gemm_read_bytes(*stage.gemm_shape, wave, itemsize) / (m * n)
                stage = dataclasses.replace(stage, panel_tile=wave)
        # side by side, ⌈cores / rereaders⌉ groups share their sets at once, each re-read by at
        # most one tile per core; a sweep apart, one set is live and every re-read merges
        groups = 1 if stage.rereads_apart else math.ceil(acc.cores / stage.rereaders)
        if stage.reread_bytes_per_op and stage.rereaders > 1 and stage.reread_set_bytes * groups <= max(caches):
            merged = stage.rereaders if stage.rereads_apart else min(stage.rereaders, acc.cores)
            kept = stage.reread_bytes_per_op / merged
            reads -= stage.reread_bytes_per_op - kept
            stage = dataclasses.replace(stage, reread_bytes_per_op=kept, rereaders=1,
                                        cache_bytes_per_op=stage.cache_bytes_per_op + stage.reread_bytes_per_op - kept)
        # the weights stay only if they fit beside the rest of a step's traffic, which passes
        # through the same cache every step (its inputs read, its outputs written)
        step_rest = stage.ops * (stage.bytes_read_per_op + stage.bytes_written_per_op) - stage.step_reread_bytes
        if stage.step_reread_bytes and stage.steps > 1 and stage.step_reread_bytes + step_rest <= max(caches):
            served = stage.step_reread_bytes / stage.ops * (1 - 1 / stage.steps)
            reads -= served
            stage = dataclasses.replace(stage, step_reread_bytes=0.0,
                                        cache_bytes_per_op=stage.cache_bytes_per_op + served)
        if reads != stage.bytes_read_per_op:
            stage = dataclasses.replace(stage, bytes_read_per_op=reads)
            changed = True
        stages.append(stage)
    return dataclasses.replace(schedule, stages=tuple(stages)) if changed else schedule
