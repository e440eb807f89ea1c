"""Mamba-2's chunked scan as its Triton kernels run it: ``mamba_chunk_scan_combined``.

Built from state-spaces/mamba ``mamba_ssm/ops/triton/ssd_combined.py`` and the kernels it calls
(``ssd_chunk_state.py``, ``ssd_state_passing.py``, ``ssd_bmm.py``, ``ssd_chunk_scan.py``; Dao &
Gu, arXiv 2405.21060 §6).  Heads h of size p, state n, ``groups`` g of heads sharing B and C,
chunks of Q (the ``Mamba2`` module's default 256, option ``chunk``), nc = ⌈T / Q⌉.  Forward, five
launches in one stream:

1. ``_chunk_cumsum_fwd``: Δ after bias and softplus, and its in-chunk cumulative sum with A —
   both written in fp32;
2. ``_chunk_state_fwd``: per (batch, chunk, head) the chunk's own state xᵀ·(decay ⊙ Δ ⊙ B), a
   p × n product over the chunk's Q steps, written in fp32;
3. ``_state_passing_fwd``: per (batch, head) a program walks the chunks in order, rescaling the
   running state and adding each chunk's — the sequential part, nc dependent steps — writing
   the state entering every chunk in the input dtype;
4. ``_bmm_chunk_fwd``: C·Bᵀ per (batch, chunk, group), Q × Q over n, written in fp32 (the whole
   square: ``causal=False``);
5. ``_chunk_scan_fwd``: per (batch, chunk, head) the output C·state plus the causal (C·Bᵀ ⊙
   decay)·x — its K loop stops at the diagonal block (``K_MAX = (pid_m + 1)·BM``).

B, C and C·Bᵀ are indexed by head // (h / g) and never expanded to the heads — but every kernel
whose grid runs over the heads loads them once per head, and its grid runs the heads slowest
(``grid = (tiles, batch · chunks, nheads)``: each head sweeps every chunk before the next head
starts).  So a group's tensor is re-read h / g times, a whole sweep apart: from the L2 where all
of it (over every batch and chunk) fits there, else from DRAM
(:func:`simulator.policy.share_panels`, ``reread_set_bytes``).  At 65,536 tokens C·Bᵀ in fp32
is 67 MB per group — more than an H100's 50 MB L2 — so with one group the chunk scan re-reads
it from DRAM for every head, as the heads' own C·Bᵀ would be read with ``ngroups = nheads``.
Backward
(``_mamba_chunk_scan_combined_bwd``): the cumulative sum, C·Bᵀ, chunk states and state passing
recomputed (states in fp32), then the state gradients (dout·C per chunk), their reverse pass
over the chunks, dx (and dΔ, dD), dB, dC and d(C·Bᵀ) per group looping over its heads, the two
products back through C·Bᵀ, the decay's gradient and the cumulative sum's.

Tiles: each product is costed with the entry of the kernels' autotuning list (``(BM, BN, BK,
num_stages, num_warps)``, ``ssd_chunk_state.py``/``ssd_chunk_scan.py``) that covers its output
with the fewest 4-warp programs — the autotuner's choice is made at run time, so this is an
assumption: (64, 128, 32, 4, 4) for the p × n states, (128, 128, 32, 4, 4) for C·Bᵀ and (128, 64,
32, 4, 4) for the chunk scan; the state passing walks 1,024 state entries per program.
"""

from __future__ import annotations

import dataclasses
import math

from workloads.errors import WorkloadError
from workloads.implementations.triton_kernel import matrix_kernel, tile_block
from workloads.schedule import DTYPE_BYTES, Block, Stage, in_stream_order

SOURCE = ("state-spaces/mamba mamba_ssm/ops/triton/ssd_combined.py (mamba_chunk_scan_combined, "
          "mamba_split_conv1d_scan_combined), ssd_chunk_state.py, ssd_state_passing.py, ssd_bmm.py, ssd_chunk_scan.py; "
          "Dao-AILab/causal-conv1d; Dao & Gu, arXiv 2405.21060 §6")

CHUNK = 256  # mamba_ssm/modules/mamba2.py: Mamba2(chunk_size=256)
_FP32 = 4
_PASSING_BLOCK = 1024  # state entries per program of _state_passing_fwd (its autotuning list: 64 … 2048)
_STATE_TILE, _CB_TILE, _SCAN_TILE = (64, 128), (128, 128), (128, 64)
_K_STEP, _STAGES, _WARPS = 32, 4, 4


def _programs(rows: int, cols: int, tile: tuple[int, int]) -> int:
    return math.ceil(rows / tile[0]) * math.ceil(cols / tile[1])


def _causal_k(Q: int, bm: int) -> int:
    """Σ over a chunk's row blocks of the columns the causal K loop visits: K_MAX = (m + 1)·BM."""
    return sum(min((m + 1) * bm, Q) for m in range(math.ceil(Q / bm)))


def build(w, dtype: str, direction: str = "fwd", chunk: int = CHUNK) -> tuple[Stage, ...]:
    return in_stream_order(_stages(w, dtype, direction, chunk, gated=False))


def build_split_conv1d(w, dtype: str, direction: str = "fwd", chunk: int = CHUNK, width: int = 4
                       ) -> tuple[Stage, ...]:
    """``mamba_split_conv1d_scan_combined`` (``MambaSplitConv1dScanCombinedFn``, no norm and no
    output projection): zxbcdt split into z, xBC and Δ; ``causal_conv1d_fwd`` (the
    causal-conv1d CUDA kernel) runs the ``width``-tap depthwise convolution and SiLU over xBC —
    read once, written once; the chunk scan as above with the gate: the output kernel reads z
    and writes the gated output and the ungated one.  Backward: the convolution recomputed,
    the scan's backward with the gate's (``_chunk_scan_bwd_dz``: reads x, z, the output and its
    gradient, writes dz and the gated gradient), ``causal_conv1d_bwd`` (reads xBC and its
    gradient, writes the input's), and that gradient copied into the strided dzxbcdt."""
    if isinstance(width, bool) or not isinstance(width, int) or not 2 <= width <= 4:
        raise WorkloadError(f"width: expected 2, 3 or 4 taps (causal_conv1d), got {width!r}")
    e = DTYPE_BYTES[dtype]
    channels = w.heads * w.value + 2 * (w.groups or w.heads) * w.state  # x, B and C
    elements = w.batch * w.seq_len * channels

    def conv(label=""):
        return Stage(f"{label}causal_conv1d_fwd: {width}-tap depthwise convolution and SiLU of xBC", "vector",
                     ops=elements, flops_per_op=2 * width + 2, sfu_ops_per_op=2, sfu_function="exp",
                     sfu_on_chain=False, bytes_read_per_op=e, bytes_written_per_op=e, latency_ops=width)

    scan = _stages(w, dtype, direction, chunk, gated=True)
    if direction == "fwd":
        return in_stream_order([conv(), *scan])
    tokens_x = w.batch * w.seq_len * w.heads * w.value
    forward, backward = scan[:5], scan[5:]
    gate = Stage("_chunk_scan_bwd_dz: the gate's gradient", "vector", ops=tokens_x, flops_per_op=6,
                 sfu_ops_per_op=2, sfu_function="exp", sfu_on_chain=False, bytes_read_per_op=4 * e,
                 bytes_written_per_op=2 * e, latency_ops=2)
    conv_bwd = Stage("causal_conv1d_bwd: xBC's gradient through SiLU and the convolution", "vector", ops=elements,
                     flops_per_op=4 * width + 4, sfu_ops_per_op=2, sfu_function="exp", sfu_on_chain=False,
                     bytes_read_per_op=2 * e, bytes_written_per_op=e, latency_ops=width)
    copy = Stage("copy: xBC's gradient into the strided dzxbcdt", "vector", ops=elements,
                 bytes_read_per_op=e, bytes_written_per_op=e)
    return in_stream_order([conv(), *forward, conv("recompute: "), gate, *backward, conv_bwd, copy])


def _per_head(stage: Stage, shared: float, heads_per_group: int, groups: int) -> Stage:
    """``stage``, a kernel over the heads, loading ``shared`` bytes of its ``groups`` groups'
    tensors (B, C or C·Bᵀ, counted once per group in its reads) once per head: re-reads a
    sweep apart, which a cache holding one group's share merges (see the module's doc)."""
    if heads_per_group == 1 or not shared:
        return stage
    total = stage.total_ops
    extra = shared * (heads_per_group - 1)
    return dataclasses.replace(stage, bytes_read_per_op=stage.bytes_read_per_op + extra / total,
                               reread_bytes_per_op=shared * heads_per_group / total, rereaders=heads_per_group,
                               reread_set_bytes=shared / groups, rereads_apart=True)


def _stages(w, dtype: str, direction: str, chunk: int, gated: bool) -> list[Stage]:
    """The scan's kernels in launch order; ``gated``: the output kernel also reads z and writes
    the gated output beside the ungated one (``z`` given)."""
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 16 or chunk & (chunk - 1):
        raise WorkloadError(f"chunk: expected a power of two ≥ 16 (mamba_chunk_scan_combined), got {chunk!r}")
    e = DTYPE_BYTES[dtype]
    b, h, n, p, T, Q = w.batch, w.heads, w.state, w.value, w.seq_len, chunk
    g = w.groups or h
    if h % g:
        raise WorkloadError(f"workload {w.name!r}: groups {g} does not divide heads {h}")
    rep = h // g  # heads re-reading each group's B, C and C·Bᵀ
    nc = math.ceil(T / Q)
    tokens = b * T
    x = tokens * h * p * e  # x, dout, out, dx
    bc = tokens * g * n * e  # B or C: once per group
    dt = tokens * h * 2 * _FP32  # Δ and its cumulative sum, fp32
    states = b * nc * h * p * n
    cb = b * nc * g * Q * Q * _FP32
    tile = lambda t: tile_block(t[0], t[1], _K_STEP, _STAGES, _WARPS, e)  # noqa: E731
    passing_block = Block(threads=32 * _WARPS, ops=_PASSING_BLOCK,
                          in_flight_bytes=(_STAGES - 1) * _PASSING_BLOCK * _FP32)
    causal = _causal_k(Q, _SCAN_TILE[0])

    def cumsum(label=""):
        return Stage(f"{label}_chunk_cumsum_fwd: Δ (softplus) and its in-chunk sum, fp32", "vector",
                     ops=tokens * h, flops_per_op=4, sfu_ops_per_op=2, sfu_function="exp", sfu_on_chain=False,
                     bytes_read_per_op=e, bytes_written_per_op=2 * _FP32, latency_ops=math.log2(Q))

    def chunk_state(label=""):
        return _per_head(matrix_kernel(
            f"{label}_chunk_state_fwd: each chunk's own state, fp32",
            blocks=b * nc * h * _programs(p, n, _STATE_TILE), block_flops=2 * Q * _STATE_TILE[0] * _STATE_TILE[1],
            reads=x + bc + dt, writes=states * _FP32, shape=(*_STATE_TILE, Q), block=tile(_STATE_TILE)), bc, rep, g)

    def state_passing(label="", state_bytes=e):
        return Stage(f"{label}_state_passing_fwd: the state entering every chunk (sequential over chunks)",
                     "vector", ops=b * h * p * n, steps=nc, flops_per_op=2, bytes_read_per_op=_FP32,
                     bytes_written_per_op=state_bytes, latency_ops=2, block=passing_block)

    def bmm(label=""):
        return matrix_kernel(f"{label}_bmm_chunk_fwd: C·Bᵀ per chunk and group, fp32",
                             blocks=b * nc * g * _programs(Q, Q, _CB_TILE), block_flops=2 * n * _CB_TILE[0] * _CB_TILE[1],
                             reads=2 * bc, writes=cb, shape=(*_CB_TILE, n), block=tile(_CB_TILE))

    per_head_scan = 2 * Q * n * p + 2 * p * _SCAN_TILE[0] * causal  # C·state, and (C·Bᵀ ⊙ decay)·x to the diagonal
    scan = _per_head(matrix_kernel(
        "_chunk_scan_fwd: out = C·state + causal (C·Bᵀ ⊙ decay)·x",
        blocks=b * nc * h * _programs(Q, p, _SCAN_TILE), block_flops=per_head_scan / _programs(Q, p, _SCAN_TILE),
        reads=cb + x + dt + bc + states * e + (x if gated else 0), writes=x * (2 if gated else 1),
        exps=b * nc * h * _SCAN_TILE[0] * causal + (tokens * h * p if gated else 0),
        shape=(*_SCAN_TILE, Q), block=tile(_SCAN_TILE)), cb + bc, rep, g)
    forward = [cumsum(), chunk_state(), state_passing(), bmm(), scan]
    if direction == "fwd":
        return forward

    rc = "recompute: "
    grads = [
        cumsum(rc), bmm(rc), chunk_state(rc), state_passing(rc, _FP32),
        _per_head(matrix_kernel(
            "_chunk_scan_bwd_dstates: doutᵀ·C per chunk", blocks=b * nc * h * _programs(p, n, _STATE_TILE),
            block_flops=2 * Q * _STATE_TILE[0] * _STATE_TILE[1], reads=x + bc + dt,
            writes=states * _FP32, shape=(*_STATE_TILE, Q), block=tile(_STATE_TILE)), bc, rep, g),
        Stage("_state_passing_bwd: state gradients in reverse over the chunks", "vector", ops=b * h * p * n,
              steps=nc, flops_per_op=4, bytes_read_per_op=2 * _FP32, bytes_written_per_op=2 * e, latency_ops=2,
              block=passing_block),
        _per_head(matrix_kernel(
            "_chunk_scan_chunk_state_bwd_dx: dx, dΔ, dD", blocks=b * nc * h * _programs(Q, p, _SCAN_TILE),
            block_flops=per_head_scan / _programs(Q, p, _SCAN_TILE),
            reads=cb + 2 * x + dt + bc + states * e, writes=x + tokens * h * _FP32,
            exps=b * nc * h * _SCAN_TILE[0] * causal, shape=(*_SCAN_TILE, Q), block=tile(_SCAN_TILE)), cb + bc, rep, g),
        # dB, dC and d(C·Bᵀ): a program per (chunk, group) looping over the group's heads
        matrix_kernel("_chunk_state_bwd_db: dB (fp32 partials)", blocks=b * nc * g * _programs(Q, n, _STATE_TILE),
                      block_flops=2 * p * _STATE_TILE[0] * _STATE_TILE[1] * h // g, reads=x + states * e + dt,
                      writes=tokens * g * n * _FP32, shape=(*_STATE_TILE, p), block=tile(_STATE_TILE)),
        matrix_kernel("_chunk_scan_bwd_dc: dC (fp32 partials)", blocks=b * nc * g * _programs(Q, n, _STATE_TILE),
                      block_flops=2 * p * _STATE_TILE[0] * _STATE_TILE[1] * h // g, reads=x + states * e + dt,
                      writes=tokens * g * n * _FP32, shape=(*_STATE_TILE, p), block=tile(_STATE_TILE)),
        matrix_kernel("_chunk_scan_bwd_dcb: d(C·Bᵀ), fp32", blocks=b * nc * g * _programs(Q, Q, _CB_TILE),
                      block_flops=2 * p * _CB_TILE[0] * _CB_TILE[1] * h // g, reads=2 * x + dt, writes=cb,
                      shape=(*_CB_TILE, p), block=tile(_CB_TILE)),
        matrix_kernel("_bmm_chunk_bwd: dB += C·d(C·Bᵀ)", blocks=b * nc * g * _programs(Q, n, _STATE_TILE),
                      block_flops=2 * Q * _STATE_TILE[0] * _STATE_TILE[1], reads=cb + bc, writes=bc,
                      shape=(*_STATE_TILE, Q), block=tile(_STATE_TILE)),
        matrix_kernel("_bmm_chunk_bwd: dC += B·d(C·Bᵀ)ᵀ", blocks=b * nc * g * _programs(Q, n, _STATE_TILE),
                      block_flops=2 * Q * _STATE_TILE[0] * _STATE_TILE[1], reads=cb + bc, writes=bc,
                      shape=(*_STATE_TILE, Q), block=tile(_STATE_TILE)),
        _per_head(Stage("_chunk_scan_bwd_ddAcs_stable: the decay's gradient", "vector",
                        ops=b * nc * h * Q * Q // 2, flops_per_op=4, sfu_ops_per_op=1, sfu_on_chain=False,
                        bytes_read_per_op=(cb + 2 * x) / (b * nc * h * Q * Q // 2), bytes_written_per_op=0.0,
                        latency_ops=math.log2(Q)), cb, rep, g),
        Stage("_chunk_cumsum_bwd: dΔ, dA", "vector", ops=tokens * h, flops_per_op=4, bytes_read_per_op=2 * _FP32,
              bytes_written_per_op=e, latency_ops=math.log2(Q)),
    ]
    return forward + grads
