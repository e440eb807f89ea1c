"""One Triton kernel launch as a stage: a grid of programs (thread blocks), each a tile of
matrix work with its loads pipelined through shared memory — the shape every Triton kernel of
flash-linear-attention and Mamba-2 has, so that their implementations describe each launch by
its grid, its per-program flops and its DRAM bytes in all."""

from __future__ import annotations

import math

from workloads.schedule import Block, Stage

__all__ = ["tile_block", "matrix_kernel"]


def tile_block(m: int, n: int, k: int, stages: int, warps: int, itemsize: int) -> Block:
    """A Triton program computing an ``m`` × ``n`` tile, stepping K by ``k`` through ``stages``
    software-pipelined buffers (``num_stages``): all but one of them in flight while it
    multiplies (Triton's pipeliner, triton/python/triton/compiler: ``num_stages``), ``warps``
    warps of 32 threads."""
    step = (m * k + k * n) * itemsize
    return Block(threads=32 * warps, ops=1, shared_bytes=stages * step,
                 in_flight_bytes=max(1, stages - 1) * step, tile=(m, n))


def matrix_kernel(name: str, *, blocks: int, block_flops: float, reads: float, writes: float,
                  shape: tuple[int, int, int], steps: int = 1, exps: float = 0.0, block: Block | None = None,
                  latency_ops: float | None = None, lanes: float = 0.0) -> Stage:
    """One kernel of ``blocks`` programs per step (one op each, one indivisible unit of work),
    each doing ``block_flops`` of matmul flops and ``lanes`` lane instructions beside them (the
    elementwise work between its products, counted from the kernel's source); ``exps``
    exponentials and ``reads`` / ``writes`` DRAM bytes are the kernel's in all."""
    total = blocks * steps
    return Stage(name, "matrix", ops=blocks, steps=steps, flops_per_op=block_flops,
                 sfu_ops_per_op=exps / total, sfu_function="exp", sfu_on_chain=False, lane_instructions_per_op=lanes,
                 bytes_read_per_op=reads / total, bytes_written_per_op=writes / total,
                 latency_ops=latency_ops if latency_ops is not None else 2 * math.log2(max(2, shape[2])),
                 gemm_shape=shape, granule_ops=1, block=block)
