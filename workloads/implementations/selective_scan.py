"""Mamba-1's selective scan: one fused kernel that never writes the (B, L, D, N) state.

Built as the CUDA kernel of state-spaces/mamba is (``csrc/selective_scan/
selective_scan_fwd_kernel.cuh`` and its launcher; Gu & Dao, arXiv 2312.00752, §3.3): a grid
of one thread block per (batch, channel d); the block walks the sequence in chunks of
``threads × items`` steps; per chunk and per state n each thread forms its items'
``a = exp(Δ_t A_dn)`` and ``b = Δ_t B_tn u_t`` in registers, scans them sequentially, the block
joins the threads' partial results with a block-wide scan (log₂ threads levels) seeded by the
previous chunk's state (a prefix callback), then each thread applies the prefix to its items
and accumulates ``y_t += C_tn h_tn``; ``y`` gets ``D·u`` and the gate ``silu(z)``.  So:

* DRAM reads u, Δ and z (B·L·D each) and B and C (B·L·N each; every channel's block reads
  them, so a shared cache merges the D re-reads) once; writes y (B·L·D) and the per-chunk
  state checkpoints (B·D·chunks·2N fp32) — never a or b;
* per (t, d, n): exp(ΔA) on the SFU (off the recurrence's chain: the items' exponentials are
  independent), ΔA, ΔBu, the combine a·h + b, C·h — 7 flops; per (t, d) D·u and silu(z);
* per thread block the dependent chain per chunk is items (thread scan) + log₂ threads (block
  scan) + items (applying the prefix), chunk after chunk; an SM holds as many blocks as its
  thread and block limits allow, and they hide one another's loads.

The launcher picks ``threads × items`` by length: 32 × 4 up to L = 128, 32 × 8 up to 256,
32 × 16 up to 512, 64 × 16 up to 1024, else 128 × 16 (chunks of 2048).  Compute is fp32
whatever the input dtype; scansim issues it at the schedule dtype's vector rate.
"""

from __future__ import annotations

import math

from workloads.schedule import DTYPE_BYTES, Stage

SOURCE = ("state-spaces/mamba csrc/selective_scan/selective_scan_fwd_kernel.cuh (launcher: threads × "
          "items by seqlen); Gu & Dao, arXiv 2312.00752 §3.3 (hardware-aware selective scan)")

#: resident threads and thread blocks per SM on Ampere and Hopper (CUDA C++ Programming
#: Guide, "Features and Technical Specifications": compute capability 8.0 and 9.0)
_THREADS_PER_SM, _BLOCKS_PER_SM = 2048, 32

#: (max length, threads, items per thread) of the kernel's launcher
_LAUNCH = ((128, 32, 4), (256, 32, 8), (512, 32, 16), (1024, 64, 16), (math.inf, 128, 16))
_FLOPS_PER_ELEMENT = 7  # ΔA, ΔB·u (2), a·h + b (2), y += C·h (2)
_FLOPS_PER_CHANNEL_STEP = 5  # D·u, silu(z) (3), y·silu(z)


def launch(seq_len: int) -> tuple[int, int]:
    """``(threads, items)`` per thread block for a sequence of ``seq_len``."""
    return next((t, i) for limit, t, i in _LAUNCH if seq_len <= limit)


def build(w, dtype: str, direction: str = "fwd") -> tuple[Stage, ...]:
    e = DTYPE_BYTES[dtype]
    B, D, N, T = w.batch, w.heads, w.state, w.seq_len
    threads, items = launch(T)
    chunks = math.ceil(T / (threads * items))
    steps = chunks * (2 * items + max(1, math.ceil(math.log2(threads))))
    ops = B * D * N * threads  # lanes: every thread of every block, for each state n
    per_op_step = T / (threads * steps)  # elements one lane handles per step, on average
    bc_once = B * 2 * N * T * e
    # the blocks an SM holds at once overlap one another's loads: they form one wave's unit
    resident = min(_BLOCKS_PER_SM, _THREADS_PER_SM // threads)
    granule = N * threads * resident
    reads = B * 3 * D * T * e + D * bc_once  # u, Δ, z; B and C by every channel's block
    writes = B * D * T * e + B * D * chunks * 2 * N * 4  # y; fp32 chunk-state checkpoints
    forward = Stage(
        "selective scan (fused: a, b and the state stay on chip)", "vector", ops=ops, steps=steps,
        flops_per_op=(_FLOPS_PER_ELEMENT + _FLOPS_PER_CHANNEL_STEP / N) * per_op_step,
        sfu_ops_per_op=(1 + 1 / N) * per_op_step, sfu_on_chain=False,
        bytes_read_per_op=reads / (ops * steps), bytes_written_per_op=writes / (ops * steps),
        latency_ops=1, reread_bytes_per_op=(D - 1) * bc_once / (ops * steps), rereaders=D,
        reread_set_bytes=2 * N * T * e, granule_ops=granule, copies=B * D)
    if direction == "fwd":
        return (forward,)
    # selective_scan_bwd_kernel: per chunk the forward is recomputed in registers, the
    # gradient of h is scanned in reverse (a second block scan), and du, dΔ, dz, dB, dC (B
    # and C by atomic adds, which the shared cache merges), dA, dD accumulate: twice the
    # forward's dependent steps, flops and exponentials; it reads the inputs and dy and
    # writes gradients the size of the inputs
    grads = B * 3 * D * T * e + bc_once
    backward = Stage(
        "bwd: selective scan (recompute, reverse scan, gradients)", "vector", ops=ops, steps=2 * steps,
        flops_per_op=forward.flops_per_op, sfu_ops_per_op=forward.sfu_ops_per_op, sfu_on_chain=False,
        bytes_read_per_op=(reads + B * D * T * e) / (ops * 2 * steps),
        bytes_written_per_op=grads / (ops * 2 * steps), latency_ops=1,
        reread_bytes_per_op=(D - 1) * bc_once / (ops * 2 * steps), rereaders=D,
        reread_set_bytes=2 * N * T * e, granule_ops=granule, copies=B * D, deps=(0,))
    return forward, backward
