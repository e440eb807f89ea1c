"""Mamba-1's selective scan: one fused kernel that never writes the (B, L, D, N) state.

Built as the CUDA kernel of state-spaces/mamba is (``csrc/selective_scan/
selective_scan_fwd_kernel.cuh`` and ``selective_scan_bwd_kernel.cuh`` with their launchers;
Gu & Dao, arXiv 2312.00752, §3.3): a grid of one thread block per (batch, channel d); the
block walks the sequence in chunks of ``threads × items`` steps.  Per chunk it loads u and Δ
(softplus of Δ), then **for each state n in turn** (``for (int state_idx = 0; state_idx <
params.dstate; ++state_idx)``): it loads that state's B and C for the chunk (``load_weight``,
through shared memory), forms each item's ``a = exp2(Δ_t A_dn)`` and ``b = B_tn Δ_t u_t``,
runs a block-wide scan seeded by the previous chunk's state (``cub::BlockScan``: each thread
reduces its items, the warps scan those, each thread applies the prefix to its items), and
accumulates ``y_t += C_tn h_tn``; ``y`` gets ``D·u`` and the gate ``silu(z)``.  So:

* DRAM reads u, Δ and z (B·L·D each) and B and C (B·L·N each; every channel's block reads
  them, so a shared cache merges the D re-reads) once; writes y (B·L·D) and the per-chunk
  state checkpoints (B·D·chunks·N fp32 pairs) — never a or b;
* the lanes are the blocks' threads; the dependent steps are the (chunk, state) iterations,
  each waiting for its B and C (one shared-cache latency: ``step_loads``) and then for its
  scan — the thread's reduction over its items, log₂ threads across the block, the items
  again to apply the prefix;
* per (t, d, n): exp2(ΔA) on the SFU (off the chain: the items' exponentials are
  independent), ΔA and B·Δu, two scan combines of a float2 pair (reduce and apply, 3 flops
  each), C·h accumulated — 10 flops; per (t, d) softplus (two transcendentals), Δ·u, D·u and
  silu(z) (one more) — amortised over the N state iterations;
* a block is ``threads`` threads with ``__launch_bounds__(threads, kMinBlocks)``: 3 resident
  blocks per SM at 128 threads, 5 below (the compiler holds registers to that), which sets
  how many blocks hide one another's latencies.

Backward (``selective_scan_bwd_kernel``): per (chunk, state) iteration the forward scan is
recomputed, the gradient of h scanned in reverse, dB and dC block-exchanged and added
atomically, dA block-reduced — twice the forward's chain and combines plus a reduction,
launch bounds 3 blocks at 128 threads, else 2.

The launcher picks ``threads × items`` by length: 32 × 4 up to L = 128, 32 × 8 up to 256,
32 × 16 up to 512, 64 × 16 up to 1024, else 128 × 16 (chunks of 2048).  Compute is fp32
whatever the input dtype (``compute_dtype``), and the lane instructions are counted from the
source (``instructions_per_op``; the transcendentals go to the SFU, counted apart): about 14
per element and state at 128 × 16, where the 10 flops as bf16 FMAs would be 2.5 issue slots:

* forward, per element and state: B and C through ``load_weight`` (a vector load, the
  transpose's shared-memory store and load, the bf16 → fp32 conversion: about 1.5 each), ΔA and
  B·Δu, the scan's reduce and apply (an FMUL and an FFMA each), ``y += C·h`` — 10; per thread
  and iteration, cub's ``BLOCK_SCAN_WARP_SCANS`` adds five shuffle levels of a float2 (two
  shuffles, the combine, a select: 25) and the block's exchange (warp aggregates through
  shared memory between two barriers, the prefix callback: about 20); per element and
  channel (amortised over the N states) the loads and conversions of u, Δ and z, softplus
  (``log1pf`` is a polynomial, not an intrinsic), Δ·u, D·u, silu and the store of y: about 25;
* backward, per element and state: B and C (3), the recomputed a and b and the reverse scan's
  input (4), both scans' combines (8), the gradients of u, Δ, A, B and C (12), B's and C's
  gradients exchanged to striped order (4) and added atomically (2) — 33; per thread and
  iteration two block scans and dA's block reduction, about 105; per element and channel
  the loads of u, Δ, dout and z, softplus and silu again with their derivatives, and the
  stores of du, dΔ and dz: about 40.
"""

from __future__ import annotations

import math

from workloads.schedule import DTYPE_BYTES, Block, Stage

SOURCE = ("state-spaces/mamba csrc/selective_scan/selective_scan_fwd_kernel.cuh (launcher: threads × "
          "items by seqlen); Gu & Dao, arXiv 2312.00752 §3.3 (hardware-aware selective scan)")

#: (max length, threads, items per thread) of the kernel's launcher
_LAUNCH = ((128, 32, 4), (256, 32, 8), (512, 32, 16), (1024, 64, 16), (math.inf, 128, 16))
_FLOPS_PER_ELEMENT = 10  # ΔA, B·Δu, two scan combines (3 each), y += C·h (2)
_FLOPS_PER_CHANNEL_STEP = 5  # Δ·u, D·u, silu(z) (2), y·silu(z)
_SFU_PER_CHANNEL_STEP = 3  # softplus of Δ (expf, log1pf), silu(z)'s expf
_REGISTERS = 65536  # 32-bit registers per SM (compute capability 8.x and 9.0)
#: lane instructions (see the module's doc): per element and state, per thread and (chunk,
#: state) iteration (the block scan's exchanges), per element and channel
_INSTRUCTIONS = {"fwd": (10, 45, 25), "bwd": (33, 105, 40)}


def _instructions(direction: str, per_op_step: float, states: int) -> float:
    """Lane instructions one thread issues in one (chunk, state) iteration."""
    element, iteration, channel = _INSTRUCTIONS[direction]
    return (element + channel / states) * per_op_step + iteration


def launch(seq_len: int) -> tuple[int, int]:
    """``(threads, items)`` per thread block for a sequence of ``seq_len``."""
    return next((t, i) for limit, t, i in _LAUNCH if seq_len <= limit)


def _block(threads: int, min_blocks: int) -> Block:
    """A block under ``__launch_bounds__(threads, min_blocks)``: the registers the compiler may
    give each thread so that ``min_blocks`` blocks fit an SM."""
    return Block(threads=threads, ops=threads, registers=_REGISTERS // (min_blocks * threads))


def build(w, dtype: str, direction: str = "fwd") -> tuple[Stage, ...]:
    e = DTYPE_BYTES[dtype]
    B, D, N, T = w.batch, w.heads, w.state, w.seq_len
    threads, items = launch(T)
    chunks = math.ceil(T / (threads * items))
    steps = chunks * N  # (chunk, state) iterations, one after another in every block
    ops = B * D * threads  # lanes: every thread of every block
    per_op_step = T / (threads * chunks)  # elements one lane handles in one iteration, on average
    chain = 2 * per_op_step + max(1, math.ceil(math.log2(threads)))  # reduce, block scan, apply
    bc_once = B * 2 * N * T * e
    reads = B * 3 * D * T * e + D * bc_once  # u, Δ, z; B and C by every channel's block
    writes = B * D * T * e + B * D * chunks * 2 * N * 4  # y; fp32 chunk-state checkpoints
    forward = Stage(
        "selective scan (fused: a, b and the state stay on chip)", "vector", ops=ops, steps=steps,
        flops_per_op=(_FLOPS_PER_ELEMENT + _FLOPS_PER_CHANNEL_STEP / N) * per_op_step,
        sfu_ops_per_op=(1 + _SFU_PER_CHANNEL_STEP / N) * per_op_step, sfu_on_chain=False,
        bytes_read_per_op=reads / (ops * steps), bytes_written_per_op=writes / (ops * steps),
        latency_ops=chain, step_loads=1, reread_bytes_per_op=(D - 1) * bc_once / (ops * steps), rereaders=D,
        reread_set_bytes=2 * N * T * e, granule_ops=threads, copies=B * D,
        compute_dtype="fp32", instructions_per_op=_instructions("fwd", per_op_step, N),
        block=_block(threads, 3 if threads >= 128 else 5))
    if direction == "fwd":
        return (forward,)
    # backward: per iteration the forward scan again, the reverse scan, the gradients (dB and
    # dC exchanged and added atomically, which the shared cache merges) and dA's block
    # reduction; it reads the inputs and dy, writes gradients the size of the inputs
    grads = B * 3 * D * T * e + bc_once
    backward = Stage(
        "bwd: selective scan (recompute, reverse scan, gradients)", "vector", ops=ops, steps=steps,
        flops_per_op=2 * forward.flops_per_op + 4 * per_op_step, sfu_ops_per_op=forward.sfu_ops_per_op,
        sfu_on_chain=False, bytes_read_per_op=(reads + B * D * T * e) / (ops * steps),
        bytes_written_per_op=grads / (ops * steps), latency_ops=2 * chain + math.ceil(math.log2(threads)),
        step_loads=1, reread_bytes_per_op=(D - 1) * bc_once / (ops * steps), rereaders=D,
        reread_set_bytes=2 * N * T * e, granule_ops=threads, copies=B * D,
        compute_dtype="fp32", instructions_per_op=_instructions("bwd", per_op_step, N),
        block=_block(threads, 3 if threads >= 128 else 2), deps=(0,))
    return forward, backward
