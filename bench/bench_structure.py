"""Generic schedules against the shipped kernels of the same case (issue: the core model).

A family's generic schedule and a shipped implementation pay for the same physics — the core
model, Little's law, the launches, the issue rates — and differ only in structure: how many
kernels they launch, what crosses DRAM between them, how much arithmetic they do and where.
For each pair this prints both predicted times and, beside their ratio, the ratios of what
their structures alone imply: DRAM bytes, flops and launches, and the closed-form lower
bound (the longest of work over the chip, DRAM bytes over its bandwidth and the dependent
chain with its launches).  A pair whose time ratio sits near its lower bounds' ratio differs
by its structure; one far from it would point at physics one side pays and the other does not.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from hwmodels.loader import load_accelerator  # noqa: E402
from simulator import simulate  # noqa: E402
from workloads.catalog import get_workload  # noqa: E402
from workloads.dispatch import schedule  # noqa: E402

#: (label, workload, its sizes, generic algorithm, implementation, dtype, chip, why they differ)
PAIRS = (
    ("LSTM layer, cuDNN", "lstm-2048", {"state": 1024, "batch": 32, "seq_len": 100, "inputs": 0},
     "sequential", "cudnn-rnn", "fp16", "v100-sxm2-16gb",
     "the generic chain keeps U in the chip's memories and projects its inputs (inputs 0: as wide "
     "as the state); cuDNN skips the projection (CUDNN_SKIP_INPUT) and launches a GEMM and an "
     "elementwise kernel per step, each GEMM streaming U again (8 MB > the 6 MB L2)"),
    ("Mamba-2 SSD, mamba_chunk_scan_combined", "mamba2-2.7b", {"batch": 8, "seq_len": 4096},
     "chunked", "mamba2-ssd", "bf16", "h100-sxm5-80gb",
     "the generic's three unfused stages move every chunk state through DRAM three times (written, "
     "passed, read) and the intra-chunk outputs once; the five Triton kernels write each state once and "
     "form the intra-chunk output inside the scan kernel"),
    ("GLA, FLA chunk_gla", "gla-1.3b", {"batch": 4, "seq_len": 4096, "heads": 16, "state": 128, "value": 128},
     "chunked", "fla-chunk", "bf16", "h100-sxm5-80gb",
     "FLA's five kernels write the gate's cumsum, the intra-chunk scores and every chunk state; the "
     "generic schedule may fuse its three stages and keep them on chip"),
    ("GLA, FLA fused_chunk_gla", "gla-1.3b", {"batch": 4, "seq_len": 4096, "heads": 16, "state": 128, "value": 128},
     "chunked", "fla-fused-chunk", "bf16", "h100-sxm5-80gb",
     "fused_chunk_gla materialises q ⊙ exp(g) and k ⊙ exp(g_last − g), re-reads them per value tile, writes a "
     "partial output per key tile for PyTorch to sum, and forms the intra-chunk scores elementwise — one "
     "exponential per (row, column, key channel) — where the generic schedule's chunk is one masked matmul"),
    ("Mamba-1, selective scan", "mamba-130m", {"batch": 8, "seq_len": 4096},
     "chunked", "selective-scan", "bf16", "h100-sxm5-80gb",
     "the fused kernel never writes the (B, L, D, N) state; the generic chunked scan materialises "
     "a and b and the chunk carries"),
    ("mLSTM, TFLA triton_xl_chunk", "xlstm-7b", {"batch": 8, "seq_len": 8192, "heads": 16, "state": 128, "value": 256},
     "chunked", "tfla-xl-chunk", "bf16", "h100-sxm5-80gb",
     "TFLA's parallel kernel forms q kᵀ again for each of its two 128-wide value tiles (a quarter more flops) "
     "and re-reads q per key block; the generic schedule's three unfused stages move every chunk state "
     "through DRAM, which the fused policy keeps on chip"),
    ("Attention, FlashAttention-2", "llama2-7b-attention", {"batch": 2, "seq_len": 8192, "heads": 16},
     "blocked", "flash-attention-2", "bf16", "h100-sxm5-80gb",
     "the same online softmax and its lane instructions per score; FlashAttention-2 issues mma.sync, "
     "2/3 of the H100's tensor rate, and 64-key tiles, which rescale its output twice as often"),
)


def _row(result, sched) -> dict:
    """A result's time and lower bound, and what its schedule (as run: fused or not) moves,
    computes and launches."""
    launches = sum(s.steps * s.step_kernels if s.step_kernels else int(s.launch) for s in sched.stages)
    if result.fused_stages:  # the fused policy ran its stages as one kernel
        launches -= result.fused_stages - 1
    return {"us": result.latency_s * 1e6, "lower_us": result.lower_bound_s * 1e6, "gb": result.dram_bytes / 1e9,
            "gflop": result.flops / 1e9, "kernels": launches}


def main() -> None:
    print(f"{'pair':42s} {'policy':8s} {'generic µs':>11s} {'shipped µs':>11s} {'ratio':>6s} "
          f"{'lower-bound ratio':>18s} {'DRAM ratio':>11s} {'flop ratio':>11s} {'launches':>11s}")
    for label, name, sizes, algorithm, impl, dtype, chip, why in PAIRS:
        w, acc = get_workload(name).with_params(**sizes), load_accelerator(chip)
        shipped_sched = schedule(w, algorithm, dtype, impl=impl, launch="graph")
        shipped = _row(simulate(shipped_sched, acc), shipped_sched)
        generic_sched = schedule(w, algorithm, dtype)
        for policy in ("unfused", "auto"):
            generic = _row(simulate(generic_sched, acc, policy=policy), generic_sched)
            print(f"{label:42s} {policy:8s} {generic['us']:11.1f} {shipped['us']:11.1f} "
                  f"{generic['us'] / shipped['us']:6.2f} {generic['lower_us'] / shipped['lower_us']:18.2f} "
                  f"{generic['gb'] / shipped['gb']:11.2f} {generic['gflop'] / shipped['gflop']:11.2f} "
                  f"{generic['kernels']:>5d} / {shipped['kernels']:<5d}")
        print(f"  {chip}, {dtype}: {why}")


if __name__ == "__main__":
    main()
