"""xLSTM's mLSTM as Tiled Flash Linear Attention runs it: NX-AI's ``triton_xl_chunk`` kernels.

Built as the forward of NX-AI/mlstm_kernels is (``mlstm_kernels/torch/chunkwise/triton_xl_chunk/
fw.py``, ``fw_recurrent.py``, ``fw_parallel.py``, ``chunkwise_gates.py``; the Triton kernels in
``mlstm_kernels/triton/chunkwise/xl_chunk/``; Beck et al., "Tiled Flash Linear Attention",
arXiv 2503.14376).  For a chunk size ``L`` (``chunk``, the call's ``chunk_size``; 128 by
default) the launcher's heuristic (``kernel_param_heuristics.py``) sets the inter-chunk size
``L_inter = min(128, L)`` and keeps every ``L / L_inter``-th state; per call:

* ``compute_chunkwise_log_gates_vecB`` (``torch.compile``: one kernel) — the forget gates'
  log-sigmoid summed within each chunk, fp32;
* ``mlstm_chunkwise__recurrent_fw_C_kernel`` — a program per (64-row key tile, 64-column value
  tile, batch·head) walks the ``S / L_inter`` chunks in order: it loads the chunk's k tile and
  v tile and its gates (log-sigmoid and a running sum: two transcendentals per position, one
  exponential per position for the decay), adds ``(k ⊙ a)ᵀ v`` (2 · 64 · 64 · L_inter flops) to
  its fp32 state and stores the state (and the normaliser) every ``L / L_inter`` chunks; four
  warps, one pipeline stage, so each chunk waits for its loads (``step_dram_loads``);
* ``mlstm_chunkwise__parallel_fw_Hintra_kernel`` — a program per (128-column value tile,
  64-row query block, chunk, batch·head): for each 64-row key block up to its own (causal within
  the chunk) it forms ``q kᵀ`` over the key dimension in 64-wide steps, the gated and
  stabilised scores (an exponential each) and ``S v``; then ``q C`` and ``q · n`` from the
  chunk's stored state, normalises, and stores h (the input dtype) and the normaliser and
  stabiliser (fp32).  Four warps, one stage.

So the intra-chunk work grows with ``L`` (quadratic within a chunk) and the sequential walk
shrinks with it: the chunk size trades the two, which is what TFLA's sweep over chunk sizes
shows.

The backward (``bw.py`` with ``recompute_states_in_bw=True``, the autograd function's default;
``bw_recurrent.py``, ``bw_parallel_dV.py``, ``bw_parallel_dK.py``, ``bw_parallel_dQ.py``,
``chunkwise_gates.py``) launches, one after another:

* the forward's recurrent kernel again, for the chunk states;
* ``mlstm_chunkwise__recurrent_bw_dC_kernel`` — a program per (64-row key tile, 64-column
  value tile, batch·head) walks the chunks in reverse: it loads the chunk's q and ∂h tiles and
  the gates, scales q by the gates and ∂h by 1 / n, adds ``(q ⊙ b̄)ᵀ (∂h / n)`` to its fp32 ∂C
  and stores it every ``L / L_inter`` chunks; four warps, one stage;
* ``compute_chunkwise_log_gates_vecB_vecA`` (``torch.compile``: one kernel);
* the three parallel kernels, a program per (head-dimension tile of 128, 64-row block, chunk,
  batch·head), four warps, one stage.  ``∂V`` (blocks of keys) walks the query blocks from its
  own to the chunk's end, recomputing ``k qᵀ`` over the key dimension in 64-wide steps, forms
  the gated, normalised scores and adds ``(…)ᵀ ∂h``; on its first block it adds ``k̄ ∂C``.
  ``∂K`` (blocks of keys) walks the same query blocks, forming ``v (∂h / n)ᵀ`` over the value
  dimension in 64-wide steps (``∂h / n`` divided afresh every step) and adding ``(…)ᵀ q``; on
  its first block ``v ∂Cᵀ``.  ``∂Q`` (blocks of queries) walks the key blocks up to its own,
  forming ``∂h vᵀ`` over the value dimension, then ``(… ⊙ D) / n · k``; on its first block
  ``∂h Cᵀ`` from the forward's state;
* ``compute_gate_grads_vecDeltaI_vecDeltaF`` (``torch.compile``): the gates' gradients from q,
  k, ∂q and ∂k, summed over the key dimension, the forget gate's reversed cumulative sum.
"""

from __future__ import annotations

import dataclasses
import math

from workloads.errors import WorkloadError
from workloads.implementations.triton_kernel import matrix_kernel, tile_block
from workloads.schedule import DTYPE_BYTES, Stage, in_stream_order

SOURCE = ("NX-AI/mlstm_kernels mlstm_kernels/torch/chunkwise/triton_xl_chunk (fw.py, fw_recurrent.py, "
          "fw_parallel.py, bw.py, bw_recurrent.py, bw_parallel_dV.py, bw_parallel_dK.py, bw_parallel_dQ.py, "
          "chunkwise_gates.py), mlstm_kernels/triton/chunkwise/xl_chunk, kernel_param_heuristics.py; "
          "Beck et al., arXiv 2503.14376 (TFLA)")
LIMIT_SOURCE = ("NX-AI/mlstm_kernels mlstm_kernels/torch/chunkwise/triton_limit_chunk (fw.py, fw_recurrent.py, "
                "fw_parallel.py, bw.py, bw_recurrent.py, bw_parallel.py, chunkwise_gates.py, fwbw.py), "
                "mlstm_kernels/triton/chunkwise/limit_chunk; Beck et al., arXiv 2503.14376 (TFLA)")

DEFAULT_CHUNK = 128  # DEFAULT_CHUNK_SIZE of kernel_param_heuristics.py
_INTER_MAX = 128  # chunk_size_inter = min(128, chunk)
_TILE = 64  # siz_b_DHQK, the recurrent kernel's siz_b_DHHV, and siz_b_LQ = siz_b_LKV
_PAR_DHHV = 128  # the parallel kernel's value tile (get_head_dim_block_size(DHHV, 128))
_WARPS, _STAGES = 4, 1  # num_warps (head-dim tiles of 64), num_stages: the launchers' defaults
_FP32 = 4

# Lane instructions beside the products, counted from the kernels' source (Triton lowers
# tl.exp to ex2.approx after a multiply by log₂e, fp32 division to div.full.f32 — a reciprocal
# and a multiply — and packs two bf16 conversions in one instruction):
#: per score of the parallel kernel's key-block loop: the gate matrix D̃ (a subtract and an
#: add), the row maximum, exp(D̃ − m) (a subtract and the multiply), S = G · scale · D (two
#: multiplies), the row sum and S converted to bf16; its output accumulator's rescale is one
#: FMA per element per key block (pv / 64 per score)
_SCORE_LANES = 2 + 1 + 2 + 2 + 1 + 0.5
_MASK_LANES = 2  # the diagonal key block's causal mask: a compare and a select per score
_INTER_Q_LANES = 1 + 2 + 0.5 + 2  # q widened, times the decay and the scale, narrowed; q̄ · n (a multiply, an add)
_CONVERT = 0.5  # the state slice narrowed to the input dtype for q̄ C
_OUT_LANES = 1 + 2 + 0.5  # inter + ratio · intra (an FMA), / normaliser (div.full), narrowed


#: per score of a backward parallel kernel, counted from the source as the forward's: the gate
#: matrix D̃ (a subtraction and an addition), exp(D̃ − m) (the subtraction and log₂e's
#: multiply), the product with the recomputed scores or score gradients, the division by the
#: normaliser (div.full: a reciprocal and a multiply) and the conversion to the input dtype
_BW_SCORE_LANES = 2 + 2 + 1 + 2 + 0.5
_DIVIDE = 2 + 0.5  # ∂K's ∂h / n per element of every value step, narrowed


def _recurrent_lanes(inter: int) -> float:
    """Lane instructions per chunk of one recurrent program: k ⊙ a (a multiply and half a
    conversion per element of the 64 × L_inter key tile) and C ← g · C + … (one FMA per
    element of its 64 × 64 state tile)."""
    return _TILE * inter * 1.5 + _TILE * _TILE


def _tiles(n: int, tile: int) -> int:
    return math.ceil(n / tile)


def build(w, dtype: str, direction: str = "fwd", chunk: int = DEFAULT_CHUNK) -> tuple[Stage, ...]:
    e = DTYPE_BYTES[dtype]
    B, H, K, V, S = w.batch, w.heads, w.state, w.value, w.seq_len
    if chunk < 16 or chunk & (chunk - 1) or S % chunk:
        raise WorkloadError(f"chunk: expected a power of two ≥ 16 that divides seq_len {S} "
                            f"(kernel_param_heuristics.py), got {chunk!r}")
    BH, tokens = B * H, B * H * S
    inter = min(_INTER_MAX, chunk)
    chunks_inter, chunks = S // inter, S // chunk
    saved = chunks_inter // (chunk // inter) + 1  # the states kept, and the initial one
    nk, nv = _tiles(K, _TILE), _tiles(V, _TILE)
    q_bytes, v_bytes = tokens * K * e, tokens * V * e
    state = K * V * _FP32 + K * _FP32  # C and n of one batch·head, fp32

    gates = Stage("compute_chunkwise_log_gates_vecB: log-sigmoid of f, summed within chunks", "vector",
                  ops=tokens, flops_per_op=2, sfu_ops_per_op=3, sfu_function="exp", sfu_on_chain=False,
                  bytes_read_per_op=e, bytes_written_per_op=_FP32, latency_ops=math.log2(chunk))
    recurrent = matrix_kernel(
        "recurrent_fw_C: the state of every chunk (sequential over chunks)", blocks=nk * nv * BH,
        steps=chunks_inter, block_flops=2 * _TILE * _TILE * inter + 2 * _TILE * inter,
        reads=q_bytes * nv + v_bytes * nk + 2 * tokens * e * nk * nv,  # k, v; f and i per tile
        writes=BH * saved * state, exps=4 * tokens * nk * nv,  # log, sigmoid (2), exp per position
        shape=(_TILE, _TILE, inter), latency_ops=2 * math.log2(inter),
        block=tile_block(_TILE, _TILE, inter, _STAGES, _WARPS, e), lanes=_recurrent_lanes(inter))
    recurrent = dataclasses.replace(recurrent, step_dram_loads=1)  # num_stages = 1: no prefetch
    # the parallel kernel: query block j of a chunk walks key blocks 0 … j, each q kᵀ over the
    # key dimension and S v over its value tile, then q C and q · n once
    blocks_per_chunk = _tiles(chunk, _TILE)
    walked = (blocks_per_chunk + 1) / 2  # key blocks per query block, on average
    ov, pv = _tiles(V, _PAR_DHHV), min(V, _PAR_DHHV)
    per_block = walked * (2 * _TILE * _TILE * K + 2 * _TILE * _TILE * pv) + 2 * _TILE * K * pv \
        + 2 * _TILE * K
    # what a program loads: per key block its q tile again (the loop over the key dimension
    # reloads it), the k and v tiles and the two gate vectors; then q, its value tile's slice of
    # the chunk's state and the normaliser.  The chunk's query blocks re-read one another's
    # tiles, which the shared cache may merge (simulator.policy.share_panels); the value tiles'
    # re-reads of q and k are charged, as for FLA's kernels.
    readers = blocks_per_chunk
    per_key_block = _TILE * (2 * K + pv) * e + 2 * _TILE * _FP32
    per_program = walked * per_key_block + _TILE * K * e + (K * pv + K) * _FP32
    programs = ov * readers * chunks * BH
    loads = programs * per_program
    once = 2 * q_bytes * ov + v_bytes + BH * chunks * state + 2 * tokens * _FP32 * ov
    parallel = matrix_kernel(
        "parallel_fw_Hintra: outputs within each chunk, and from its state", blocks=programs,
        block_flops=per_block, reads=loads, writes=v_bytes + 2 * tokens * _FP32, exps=ov * tokens * walked * _TILE,
        shape=(_TILE, pv, K), latency_ops=2 * math.log2(chunk),
        block=tile_block(_TILE, pv, _TILE, _STAGES, _WARPS, e),
        lanes=walked * _TILE * _TILE * (_SCORE_LANES + pv / _TILE) + _TILE * _TILE * _MASK_LANES
        + _TILE * K * _INTER_Q_LANES + K * pv * _CONVERT + _TILE * pv * _OUT_LANES)
    parallel = dataclasses.replace(parallel, reread_bytes_per_op=max(0.0, loads - once) / parallel.total_ops,
                                   rereaders=readers, reread_set_bytes=chunk * (2 * K + pv) * e + state / ov)
    forward = [gates, recurrent, parallel]
    if direction == "fwd":
        return in_stream_order(forward)
    return in_stream_order(forward + _backward(w, e, chunk, recurrent))


def _backward(w, e: int, chunk: int, recurrent: Stage) -> list[Stage]:
    """The backward's kernels (see the module's doc), in launch order."""
    B, H, K, V, S = w.batch, w.heads, w.state, w.value, w.seq_len
    BH, tokens = B * H, B * H * S
    inter = min(_INTER_MAX, chunk)
    chunks_inter, chunks = S // inter, S // chunk
    saved = chunks_inter // (chunk // inter) + 1
    q_bytes, v_bytes = tokens * K * e, tokens * V * e
    recompute = dataclasses.replace(recurrent, name="bw: " + recurrent.name.split(":")[0] + ": the chunk states again")
    dC = _reverse_dC(w, e, inter, saved)
    gates = Stage("compute_chunkwise_log_gates_vecB_vecA: log-sigmoid of f, summed both ways within chunks",
                  "vector", ops=tokens, flops_per_op=4, sfu_ops_per_op=3, sfu_function="exp", sfu_on_chain=False,
                  bytes_read_per_op=2 * _FP32, bytes_written_per_op=2 * _FP32, latency_ops=math.log2(chunk))
    blocks = _tiles(chunk, _TILE)
    walked = (blocks + 1) / 2  # blocks each program walks, on average (causal within the chunk)
    programs = blocks * chunks * BH
    state_slice = K * V * _FP32  # a chunk's ∂C or C, fp32
    pk, pv = min(K, _PAR_DHHV), min(V, _PAR_DHHV)
    ok, ov = _tiles(K, _PAR_DHHV), _tiles(V, _PAR_DHHV)
    gate_vectors = 2 * _TILE * _FP32  # two fp32 gate vectors of the walked block

    def parallel(name, tiles, per_walk_flops, inter_flops, per_walk_reads, first_reads, writes_, extra_lanes):
        n = programs * tiles
        loads = n * (walked * per_walk_reads + first_reads + 3 * _TILE * _FP32)
        return matrix_kernel(
            name, blocks=n, block_flops=walked * per_walk_flops + inter_flops, reads=loads, writes=writes_,
            exps=n * walked * _TILE * _TILE, shape=(_TILE, _PAR_DHHV, _TILE), latency_ops=2 * math.log2(chunk),
            block=tile_block(_TILE, _PAR_DHHV, _TILE, _STAGES, _WARPS, e),
            lanes=walked * _TILE * _TILE * _BW_SCORE_LANES + _TILE * _TILE * _MASK_LANES + extra_lanes)

    dV = parallel("parallel_bw_dV: ∂v per key block (k qᵀ recomputed)", ov,
                  2 * _TILE * _TILE * K + 2 * _TILE * _TILE * pv, 2 * _TILE * K * pv,
                  2 * _TILE * K * e + _TILE * pv * e + gate_vectors, state_slice / ov, v_bytes,
                  _TILE * K * 1.5 + K * pv * _CONVERT)  # k̄ = k ⊙ ā narrowed; ∂C narrowed
    dK = parallel("parallel_bw_dK: ∂k per key block", ok,
                  2 * _TILE * _TILE * V + 2 * _TILE * _TILE * pk, 2 * _TILE * V * pk,
                  2 * _TILE * V * e + _TILE * V * _FP32 / _TILE + _TILE * pk * e + gate_vectors,
                  state_slice / ok, q_bytes, walked * _TILE * V * _DIVIDE + pk * V * _CONVERT)
    dQ = parallel("parallel_bw_dQ: ∂q per query block", ok,
                  2 * _TILE * _TILE * V + 2 * _TILE * _TILE * pk, 2 * _TILE * V * pk,
                  2 * _TILE * V * e + _TILE * pk * e + gate_vectors, state_slice / ok, q_bytes,
                  pk * V * _CONVERT + _TILE * pk * _DIVIDE)  # C narrowed; the inter part / n
    return [recompute, dC, gates, dV, dK, dQ, _gate_grads(w, e)]


def _reverse_dC(w, e: int, inter: int, saved: int) -> Stage:
    """``recurrent_bw_dC`` (both kernel sets): a program per (64 × 64 state tile, batch·head)
    walks the chunks of ``inter`` rows in reverse, loads q, ∂h and three gate vectors (f, m, n),
    adds ``(q ⊙ b̄)ᵀ (∂h / n)`` to its fp32 ∂C and stores ``saved`` of them; one pipeline stage,
    so each chunk waits for its loads."""
    BH = w.batch * w.heads
    tokens, nk, nv = BH * w.seq_len, _tiles(w.state, _TILE), _tiles(w.value, _TILE)
    dC = matrix_kernel(
        "recurrent_bw_dC: ∂C of every chunk (sequential over chunks, in reverse)", blocks=nk * nv * BH,
        steps=w.seq_len // inter, block_flops=2 * _TILE * _TILE * inter,
        reads=tokens * (w.state * e * nv + w.value * e * nk + 3 * _FP32 * nk * nv),
        writes=BH * saved * w.state * w.value * _FP32, exps=2 * tokens * nk * nv, shape=(_TILE, _TILE, inter),
        latency_ops=2 * math.log2(inter), block=tile_block(_TILE, _TILE, inter, _STAGES, _WARPS, e),
        lanes=inter * _TILE * (1.5 + _DIVIDE) + _TILE * _TILE)  # q ⊙ b̄, ∂h / n, ∂C's FMA
    return dataclasses.replace(dC, step_dram_loads=1)


def _gate_grads(w, e: int) -> Stage:
    """``compute_gate_grads_vecDeltaI_vecDeltaF`` (``torch.compile``: one kernel): q ⊙ ∂q − k ⊙ ∂k
    and k ⊙ ∂k summed over the key dimension in fp32, the forget gate's reversed cumulative sum
    and its sigmoid — q, k, ∂q, ∂k and f read, the two gates' gradients written."""
    tokens = w.batch * w.heads * w.seq_len
    return Stage("compute_gate_grads_vecDeltaI_vecDeltaF: the input and forget gates' gradients", "vector",
                 ops=tokens, flops_per_op=4 * w.state + 4, sfu_ops_per_op=1, sfu_function="sigmoid",
                 sfu_on_chain=False, bytes_read_per_op=4 * w.state * e + _FP32, bytes_written_per_op=2 * _FP32,
                 latency_ops=math.log2(w.state * w.seq_len))


# --------------------------------------------------------------------------- triton_limit_chunk

LIMIT_CHUNK = 64  # CHUNK_SIZE of triton_limit_chunk's fw.py, bw.py and fwbw.py
_LIMIT_MAX = 128  # a program holds its chunk's L × L scores: the "limit" of the chunk size
#: per score of limit_chunk's parallel forward, counted from fw_kernel_parallel.py as the xl
#: kernels': D = b_q − b_k + i_k (a subtraction and an addition), the causal mask (a compare and
#: a select), the row maximum, exp(D − m) (the subtraction and log₂e's multiply), S ⊙ D̄, the
#: row sum and S̄ narrowed for S̄ v
_LIMIT_SCORE_LANES = 2 + 2 + 1 + 2 + 1 + 1 + 0.5
#: per score of its backward: D̃, the mask, exp(D̃ − m), ∂S̄ ⊙ D̄ and ∂S narrowed
_LIMIT_BW_SCORE_LANES = 2 + 2 + 2 + 1 + 0.5


def _eager(name: str, tokens: int, read: float, written: float, flops: float = 1.0, sfu: float = 0.0,
           latency_ops: float = 1.0) -> Stage:
    """One PyTorch elementwise (or scan) kernel over the gates: ``read`` and ``written`` bytes per position."""
    return Stage(name, "vector", ops=tokens, flops_per_op=flops, sfu_ops_per_op=sfu, sfu_function="exp",
                 sfu_on_chain=False, bytes_read_per_op=read, bytes_written_per_op=written, latency_ops=latency_ops)


def build_limit(w, dtype: str, direction: str = "fwd", chunk: int = LIMIT_CHUNK) -> tuple[Stage, ...]:
    """TFLA's first mLSTM kernels, ``triton_limit_chunk`` (``mlstm_kernels/torch/chunkwise/
    triton_limit_chunk``; the Triton kernels in ``mlstm_kernels/triton/chunkwise/limit_chunk``):
    the whole chunk of ``L`` rows (64 by default) in one program, so the chunk size is limited
    by what a program holds.  Forward: the forget gate widened to fp32, its log-sigmoid and
    running sum within chunks (three PyTorch kernels); ``recurrent_fw_C`` — a program per
    (64 × 64 state tile, batch·head) walks the chunks in order and stores every chunk's fp32
    state (one pipeline stage, so each chunk waits for its loads); ``parallel_fw_H`` — a program
    per (64-wide value tile, chunk, batch·head) forms ``q kᵀ`` over the key dimension in 64-wide
    steps (again for every value tile) with ``q̄ C`` from the previous chunk's state, then
    ``S̄ v``, normalises and stores h, n and m.  Backward (the states recomputed:
    ``RECOMPUTE_STATES_IN_BW``'s default): the gates' three kernels and the recurrent kernel
    again, ``recurrent_bw_dC`` over the chunks in reverse storing every chunk's fp32 ∂C, then
    ``parallel_bw_dQKV`` — a program per (64-wide key tile, chunk, batch·head) forms its slice of
    ``q kᵀ``, walks the value dimension in 64-wide steps for the inter-chunk parts of ∂q and ∂k,
    ``∂S̄`` and its partial ∂v (one per key tile), then ∂q and ∂k; ``matDeltaV.sum(0)`` adds the
    partials (PyTorch) and ``compute_gate_grads_vecDeltaI_vecDeltaF`` the gates' gradients."""
    e = DTYPE_BYTES[dtype]
    B, H, K, V, S = w.batch, w.heads, w.state, w.value, w.seq_len
    if chunk < 16 or chunk > _LIMIT_MAX or chunk & (chunk - 1) or S % chunk:
        raise WorkloadError(f"chunk: expected a power of two from 16 to {_LIMIT_MAX} that divides seq_len {S} "
                            f"(triton_limit_chunk holds a whole chunk in one program), got {chunk!r}")
    L, BH, tokens = chunk, B * H, B * H * S
    NC = S // L
    nk, nv = _tiles(K, _TILE), _tiles(V, _TILE)
    q_bytes, v_bytes = tokens * K * e, tokens * V * e
    states = BH * (NC + 1) * (K * V + K + 1) * _FP32  # every chunk's C, n and m, and the initial ones

    def gates(prefix=""):
        return [_eager(prefix + "vecF.to(float32)", tokens, e, _FP32),
                _eager(prefix + "logsigmoid(f)", tokens, _FP32, _FP32, flops=2, sfu=2),
                _eager(prefix + "cumsum within chunks", tokens, _FP32, _FP32, latency_ops=math.log2(L))]

    recurrent = matrix_kernel(
        "recurrent_fw_C: the state of every chunk (sequential over chunks)", blocks=nk * nv * BH, steps=NC,
        block_flops=2 * _TILE * _TILE * L + 2 * _TILE * L,
        reads=q_bytes * nv + v_bytes * nk + 2 * tokens * _FP32 * nk * nv,  # k, v; b and i per tile
        writes=states, exps=2 * tokens * nk * nv, shape=(_TILE, _TILE, L), latency_ops=2 * math.log2(L),
        block=tile_block(_TILE, _TILE, L, 1, _WARPS, e), lanes=_recurrent_lanes(L))
    recurrent = dataclasses.replace(recurrent, step_dram_loads=1)  # num_stages = 1
    programs = nv * NC * BH
    per_program = nk * (2 * L * L * _TILE + 2 * L * _TILE * _TILE) + 2 * L * L * _TILE
    # per key step q and k and the state's slice and normaliser (fp32); then v and three gate vectors
    loads = programs * (nk * (2 * L * _TILE * e + _TILE * _TILE * _FP32 + _TILE * _FP32)
                        + L * _TILE * e + 3 * L * _FP32)
    parallel = matrix_kernel(
        "parallel_fw_H: each chunk's outputs, within it and from its state", blocks=programs,
        block_flops=per_program, reads=loads, writes=v_bytes + 2 * tokens * _FP32 * nv, exps=programs * L * L,
        shape=(L, _TILE, _TILE), latency_ops=2 * math.log2(L) + 2 * math.log2(K),
        block=tile_block(L, _TILE, _TILE, 1, _WARPS, e),
        lanes=L * L * _LIMIT_SCORE_LANES + nk * (L * _TILE * 1.5 + _TILE * _TILE * _CONVERT) + L * _TILE * _OUT_LANES)
    forward = gates() + [recurrent, parallel]
    if direction == "fwd":
        return in_stream_order(forward)
    again = dataclasses.replace(recurrent, name="bw: recurrent_fw_C: the chunk states again")
    dC = _reverse_dC(w, e, L, NC + 1)
    programs = nk * NC * BH
    inter = 2 * 2 * L * _TILE * _TILE  # ∂k from v ∂Cᵀ and ∂q from ∂h Cᵀ, per value step
    # per value step: the inter parts, ∂S̄ = (∂h / n) vᵀ, and ∂v = S̄ᵀ (∂h / n) + k̄ ∂C
    per_step = inter + 2 * L * L * _TILE + 2 * L * L * _TILE + 2 * L * _TILE * _TILE
    per_program = 2 * L * L * _TILE + nv * per_step + 2 * 2 * L * L * _TILE  # q kᵀ; the value steps; ∂q, ∂k
    step_loads = 2 * L * _TILE * e + 2 * _TILE * _TILE * _FP32  # ∂h and v; ∂C and C slices (fp32)
    loads = programs * (2 * L * _TILE * e + 5 * L * _FP32 + nv * step_loads)
    dQKV = matrix_kernel(
        "parallel_bw_dQKV: ∂q, ∂k and a partial ∂v per key tile", blocks=programs, block_flops=per_program,
        reads=loads, writes=2 * q_bytes + nk * v_bytes, exps=programs * L * L, shape=(L, _TILE, _TILE),
        latency_ops=2 * math.log2(L) + 2 * math.log2(V), block=tile_block(L, _TILE, _TILE, 1, _WARPS, e),
        lanes=L * L * _LIMIT_BW_SCORE_LANES + nv * (2 * L * _TILE * _DIVIDE + 2 * _TILE * _TILE * _CONVERT)
        + L * _TILE * _OUT_LANES)
    partials = nk * tokens * V
    dv_sum = Stage("matDeltaV.sum(0): the key tiles' partial ∂v", "vector", ops=tokens * V, flops_per_op=nk - 1,
                   bytes_read_per_op=partials * e / (tokens * V), bytes_written_per_op=e, latency_ops=math.log2(nk + 1))
    return in_stream_order(forward + gates("bw: ") + [again, dC, dQKV, dv_sum, _gate_grads(w, e)])
