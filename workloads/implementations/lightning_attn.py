"""Lightning Attention-2: linear attention with a decay per head, in one sequential kernel.

Built as the Triton kernels of Qin et al.'s Lightning Attention-2 (arXiv 2401.04658) run, in the
copy TFLA benchmarks (NX-AI/mlstm_kernels ``mlstm_kernels/baselines/lightning_attention/
lightning_attn2.py``): q, k of width d, v of width e, a decay λ = e^{−s} per head, blocks of 64.

* forward (``_fwd_kernel``): a program per (batch·head, 32-wide value tile) walks the T/64
  blocks in order, keeping its d × 32 state ``kv`` in registers: per block it loads q, k and v,
  forms the intra-block ``(q kᵀ ⊙ decay) v``, the inter-block ``(q kv) ⊙ decay``, stores o and
  updates ``kv ← λ^64 kv + (k ⊙ decay)ᵀ v`` — four products per block, the decays computed
  once; every value tile re-reads q and k;
* backward: ``_bwd_intra_kernel``, a program per (batch·head, block): the five intra-block
  products (``do vᵀ``, then dq, dk; ``k qᵀ``, then dv); then ``_bwd_inter_kernel``, one program
  per batch·head walking the 32-row sub-blocks forwards (dq from the running ``kv``) and then
  backwards (dk, dv from the running ``dkv``), reading and rewriting dq, dk and dv.

Every operand is loaded and cast to fp32 before ``tl.dot``: Triton multiplies fp32 operands as
TF32 (its default ``input_precision``), so the products run at the matrix unit's TF32 rate.
Triton's default program: four warps, three pipeline stages.
"""

from __future__ import annotations

import dataclasses
import math

from workloads.implementations.triton_kernel import matrix_kernel, tile_block
from workloads.schedule import DTYPE_BYTES, Stage, in_stream_order

SOURCE = ("NX-AI/mlstm_kernels mlstm_kernels/baselines/lightning_attention/lightning_attn2.py (_fwd_kernel, "
          "_bwd_intra_kernel, _bwd_inter_kernel); Qin et al., arXiv 2401.04658 (Lightning Attention-2)")

BLOCK, CBLOCK, VALUE_TILE = 64, 32, 32  # the launcher's BLOCK, CBLOCK; BLOCK_MODEL = min(next_pow2(e), 32)
_WARPS, _STAGES = 4, 3  # Triton's defaults


def _tf32(stage: Stage) -> Stage:
    """The kernel's products on fp32 operands, as TF32."""
    return dataclasses.replace(stage, compute_dtype="fp32", tf32=True)


def build(w, dtype: str, direction: str = "fwd") -> tuple[Stage, ...]:
    e_bytes = DTYPE_BYTES[dtype]
    B, H, d, e, T = w.batch, w.heads, w.state, w.value, w.seq_len
    BH, n = B * H, math.ceil(T / BLOCK)
    bm = min(1 << max(0, (e - 1).bit_length()), VALUE_TILE)
    tiles = math.ceil(e / bm)
    qk_bytes, v_bytes = BH * T * d * e_bytes, BH * T * e * e_bytes
    per_block = 2 * BLOCK * BLOCK * d + 2 * BLOCK * BLOCK * bm + 2 * BLOCK * d * bm + 2 * d * BLOCK * bm
    forward = _tf32(matrix_kernel(
        "_fwd_kernel: intra-block (q kᵀ ⊙ decay) v, inter-block q kv, kv updated (sequential over blocks)",
        blocks=BH * tiles, steps=n, block_flops=per_block, reads=2 * qk_bytes * tiles + v_bytes, writes=v_bytes,
        shape=(BLOCK, bm, d), latency_ops=2 * math.log2(d) + 2,
        block=tile_block(BLOCK, bm, d, _STAGES, _WARPS, e_bytes)))
    if direction == "fwd":
        return (forward,)
    intra = _tf32(matrix_kernel(
        "_bwd_intra_kernel: the intra-block dq, dk, dv (five products per block)", blocks=BH * n,
        block_flops=2 * BLOCK * BLOCK * (3 * d + 2 * e), reads=2 * qk_bytes + 2 * v_bytes,
        writes=2 * qk_bytes + v_bytes, shape=(BLOCK, BLOCK, max(d, e)),
        block=tile_block(BLOCK, BLOCK, max(d, e), _STAGES, _WARPS, e_bytes)))
    sub = math.ceil(T / CBLOCK)
    inter = _tf32(matrix_kernel(
        "_bwd_inter_kernel: dq forwards, dk and dv backwards over the sub-blocks (sequential)", blocks=BH,
        steps=2 * sub, block_flops=(2 * 2 + 3 * 2) * CBLOCK * d * e / 2,
        reads=2 * qk_bytes + 2 * v_bytes + 2 * qk_bytes + v_bytes, writes=2 * qk_bytes + v_bytes,
        shape=(CBLOCK, e, d), latency_ops=2 * math.log2(d) + 2,
        block=tile_block(CBLOCK, e, d, _STAGES, _WARPS, e_bytes)))
    return in_stream_order([forward, intra, inter])
