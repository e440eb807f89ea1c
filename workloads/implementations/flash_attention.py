"""FlashAttention-2 and FlashAttention-3: one attention, two kernel generations.

Both run the blocked online-softmax algorithm of :func:`workloads.families` ``attention``
(``blocked``) — a thread block per (query block, head), K and V streamed in key blocks — and
FlashAttention-2's backward (:mod:`workloads.backward`).  They differ in how they drive the
matrix unit (Dao, arXiv 2307.08691; Shah et al., arXiv 2407.08608):

* **FlashAttention-2** issues its products as the Ampere-era synchronous warp MMA
  (``mma.sync``), which on Hopper reaches only part of the tensor cores' peak — the chip's
  ``sync_mma_share`` (2/3 on an H100, FA3 §1) — and tiles a head dimension of 128 as 128 × 64
  (queries × keys);
* **FlashAttention-3** issues Hopper's asynchronous warpgroup MMA (``wgmma``) at the unit's full
  rate, with larger tiles: 128 × 128 causal and 128 × 176 otherwise at head dimension 128,
  192-row query blocks at 64 (``tile_size_fwd_sm90``).

FlashAttention-2's tiles are its launcher's (csrc/flash_attn/src/flash_fwd_launch_template.h),
FlashAttention-3's those of ``hopper/tile_size.h``, for 16-bit inputs.  Where a
chip's native instructions are its synchronous ones (``sync_mma_share`` 1: Ampere, Ada) the two
differ only in their tiles; FlashAttention-3 itself runs on Hopper alone.  Both pay the online
softmax's lane instructions (:func:`workloads.families.softmax_lanes`, counted from
FlashAttention-2's source; FA3's softmax is the same arithmetic) and its exponentials after the
products, as :mod:`simulator.units` costs every kernel's — FA3's warp specialisation and
ping-pong scheduling overlap one warpgroup's softmax with another's products, which this does
not credit, so FA3 comes out up to a quarter slower than its published forward at long
sequences; FA2, whose warps compute and softmax in turn, still comes out faster than published
(a median 0.76 of the time on the development half's 81 timings, 0.56 at short causal
sequences), by what this does not model of it.
"""

from __future__ import annotations

import dataclasses

from workloads.backward import backward_stages
from workloads.errors import WorkloadError
from workloads.families import FAMILIES
from workloads.schedule import Stage

SOURCE = ("Dao, arXiv 2307.08691 (FlashAttention-2); Shah et al., arXiv 2407.08608 (FlashAttention-3); "
          "Dao-AILab/flash-attention hopper/tile_size.h (tile_size_fwd_sm90, tile_size_fwd_sm8x)")


def fa2_tile(head_dim: int, causal: bool) -> tuple[int, int]:
    """(query rows, key columns) of FlashAttention-2's forward tile on a data-centre part (A100,
    H100), without dropout: ``run_mha_fwd_hdim*`` of csrc/flash_attn/src/flash_fwd_launch_template.h.
    At head dimension 256 the launcher picks by shared memory: 128 × 64 where an SM holds less
    than 192 KiB (the A100), 64 × 64 on the H100 — a schedule does not know its chip, so this
    gives the first."""
    if head_dim <= 64:
        return 128, 128
    return 128, 64


def fa3_tile(head_dim: int, causal: bool) -> tuple[int, int]:
    """(query rows, key columns) of FlashAttention-3's forward tile on Hopper."""
    if head_dim <= 64:
        return 192, 128 if causal else 192
    if head_dim <= 96:
        return 192, 144
    if head_dim <= 128:
        return 128, 128 if causal else 176
    if head_dim <= 192:
        return 128, 128
    return 128, 80


#: the (query rows, key columns) tiles each generation runs at some head dimension: the values a
#: mapping search may give ``rows`` and ``cols`` (0: the tile its launcher or tile_size.h picks)
FA2_ROWS, FA2_COLS = (64, 128), (32, 64, 128)  # the tiles flash_fwd_launch_template.h instantiates
FA3_ROWS, FA3_COLS = (128, 192), (80, 128, 144, 176, 192)


def _build(tile, sync_mma: bool, legal: tuple[tuple[int, ...], tuple[int, ...]]):
    def build(w, dtype: str, direction: str = "fwd", causal: int = 1, rows: int = 0, cols: int = 0
              ) -> tuple[Stage, ...]:
        for name, value, values in (("rows", rows, legal[0]), ("cols", cols, legal[1])):
            if value and value not in values:
                raise WorkloadError(f"{name}: expected 0 (the kernel's own choice) or one of "
                                    f"{', '.join(map(str, values))}, got {value!r}")
        shipped = tile(w.state, bool(causal))
        rows, cols = rows or shipped[0], cols or shipped[1]
        stages = FAMILIES["attention"].build(w, "blocked", dtype, {"block": rows, "key_block": cols, "causal": causal})
        if direction != "fwd":
            stages = backward_stages(w, "blocked", dtype, stages)
        return tuple(dataclasses.replace(s, sync_mma=sync_mma) for s in stages)
    return build


build_fa2 = _build(fa2_tile, sync_mma=True, legal=(FA2_ROWS, FA2_COLS))
build_fa3 = _build(fa3_tile, sync_mma=False, legal=(FA3_ROWS, FA3_COLS))
#: each generation's own tile choice, by implementation name
TILES = {"flash-attention-2": fa2_tile, "flash-attention-3": fa3_tile}
