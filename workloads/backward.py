"""Backward passes: the stages a training step adds after a layer's forward pass.

Every family answers ``direction="fwd+bwd"`` with its forward stages followed by these.  The
backward of a linear scan is a scan in reverse (see :mod:`workloads.kernels.backward`, which
executes it with the same circuit), so each builder reuses the forward's own stages where the
backward does the same work, and states what it adds:

* **circuits** (diagonal, dense, permutation-diagonal; the matrix-state families' circuit
  forms): the reverse scan of the gradients — the forward's circuit stages again — then one
  elementwise pass ``∂a = g ⊙ h_{t-1}``, ``∂b = g``.  ``states="recompute"`` runs the forward
  scan again first instead of reading the states it stored;
* **matrix-state recurrences** (``sequential``): a recompute of the states (for ∂q) and the
  reverse recurrence of dS (∂k, ∂v, ∂gate), each of the forward's cost and traffic, as FLA's
  fused-recurrent backward does;
* **chunked matmul forms** (SSD, GLA, DeltaNet's WY, RWKV-7's DPLR form): FLA's chunk backward — the chunk
  states recomputed (``recompute``) or read back (``store``), their gradients passed back
  over the chunks in reverse, and the intra-chunk gradients ∂Q, ∂K, ∂V: two matmuls for each
  of the forward's, so twice its intra-chunk and output flops;
* **attention**: FlashAttention-2's backward (Dao, arXiv 2307.08691, Alg. 2): per (query, key)
  pair the scores are recomputed and five matmuls run (S, dP, dV, dQ, dK: 6D + 4E flops
  against the forward's 2D + 2E), one exponential; K, V, dK, dV cross DRAM once per key
  block, Q, dO and the dQ accumulator once per key block that needs them;
* **nonlinear RNNs**: backpropagation through time — the reverse chain of the recurrent
  matrix-vector products (the forward chain's cost) and the weight and input gradients as
  GEMMs over all T; DEER's backward is one adjoint linear scan of the converged Jacobians
  (one Newton iteration's scan) and the same GEMMs;
* **long convolutions**: ∂u and ∂h are two correlations with ∂y, each costed as the forward's
  transforms and product again;
* **GEMM**: ∂A = ∂C·Bᵀ and ∂B = Aᵀ·∂C, two GEMMs of the forward's size; **elementwise** and
  **reduction**: one pass reading the gradient and the inputs, writing the input gradients.
"""

from __future__ import annotations

import dataclasses
import math

from workloads.errors import WorkloadError
from workloads.families import carry_element
from workloads.schedule import DTYPE_BYTES, Stage, in_sequence

__all__ = ["DIRECTIONS", "STATES", "FORWARD_ONLY", "backward_stages"]

DIRECTIONS = ("fwd", "fwd+bwd")
#: families that only serve: a decode step has no backward
FORWARD_ONLY = ("attention-decode",)
STATES = ("store", "recompute")


def _again(stages, prefix: str) -> list[Stage]:
    """The forward's stages, relabelled, as a chain (deps local to the group)."""
    return [dataclasses.replace(s, name=f"{prefix}{s.name}", deps=(k - 1,) if k else ())
            for k, s in enumerate(stages)]


def _log2(n) -> int:
    return max(1, math.ceil(math.log2(max(2, n))))


def _gradient(stage: Stage, name: str, flops_per_op: float) -> Stage:
    """The gradient pass of ``stage``: it reads what the stage read and wrote (its inputs and
    the gradient of its output) and writes the gradients of its inputs."""
    return dataclasses.replace(stage, name=name, deps=(), flops_per_op=flops_per_op,
                               bytes_read_per_op=stage.bytes_read_per_op + stage.bytes_written_per_op,
                               bytes_written_per_op=stage.bytes_read_per_op)


def backward_stages(w, algorithm: str, dtype: str, forward: tuple[Stage, ...],
                    states: str = "store") -> tuple[Stage, ...]:
    """The forward stages followed by the backward's (see the module docstring)."""
    if states not in STATES:
        raise WorkloadError(f"states: expected one of {', '.join(STATES)}, got {states!r}")
    e = DTYPE_BYTES[dtype]
    family = w.family
    if family in FORWARD_ONLY:
        raise WorkloadError(f"workload {w.name!r}: {family} is a serving step (one new token against a cache) and "
                            "has no backward; a training step's attention is the attention family's")
    if family == "attention":
        groups = _attention_backward(w, algorithm, e, forward)
    elif family in ("elman", "gru", "lstm"):
        groups = _rnn_backward(w, algorithm, e, forward)
    elif family == "gemm":
        groups = [_again(forward, "bwd ∂A: "), _again(forward, "bwd ∂B: ")]
    elif family == "long-conv":
        # ∂u = h ⋆ ∂y and ∂h = Σ_b u ⋆ ∂y: two correlations, each the forward's transforms
        # and product again (FlashFFTConv's backward recomputes the spectra)
        groups = [_again(forward, "bwd ∂u: "), _again(forward, "bwd ∂h: ")]
    elif family in ("elementwise", "reduction"):
        inputs = max(1, w.inputs)
        groups = [[Stage("bwd: ∂x", "vector", ops=w.elements, flops_per_op=1,
                         bytes_read_per_op=(1 + inputs) * e, bytes_written_per_op=inputs * e)]]
    elif algorithm == "chunked" and family not in ("diagonal", "dense", "permutation-diagonal"):
        groups = _chunked_backward(forward, states)
    elif algorithm == "sequential" and family not in ("diagonal", "dense", "permutation-diagonal"):
        # matrix-state recurrence: recompute S (and ∂q = S do), then the reverse dS chain,
        # which reads what the forward read and wrote and writes the input gradients
        chain = forward[0]
        reverse = _gradient(chain, "bwd: reverse dS, ∂k, ∂v, ∂gate", chain.flops_per_op + 3)
        groups = [_again(forward, "bwd recompute S, ∂q: "), [reverse]]
    else:
        groups = _scan_backward(w, dtype, forward, states)
    return in_sequence(list(forward), *groups)


def _scan_backward(w, dtype, forward, states):
    """Circuit forms: the reverse scan is the forward's circuit stages again; then per
    position the gradients ∂b = g and ∂a = g ⊗ h_{t-1}, whose product has the shape (and the
    flops) of the forward combine's A_d·b_s."""
    cost = carry_element(w, dtype)
    scan = [s for s in forward if s.name.startswith(("level", "copy"))]
    rest = [s for s in forward if s not in scan]
    width = cost.width
    grads = Stage("bwd: ∂a = g ⊗ h_{t-1}, ∂b = g", "vector", ops=w.seq_len * w.householders * cost.copies * width,
                  flops_per_op=cost.b_only_flops / width, bytes_read_per_op=2 * cost.b_bytes / width,
                  bytes_written_per_op=(cost.a_bytes + cost.b_bytes) / width, copies=cost.copies)
    groups = []
    if states == "recompute":
        groups.append(_again(forward, "bwd recompute: "))
    if rest:  # forming transitions, reading out: their gradients cost what they did
        groups.append(_again(rest, "bwd: "))
    return groups + [_again(scan, "bwd reverse scan: "), [grads]]


def _chunked_backward(forward, states):
    intra, passing, out = forward[0], forward[1], forward[2]
    groups = []
    if states == "recompute":
        groups.append(_again([passing], "bwd recompute states: "))
    groups.append(_again([passing], "bwd: chunk-state gradients, in reverse: "))
    groups.append([_gradient(intra, "bwd: intra-chunk ∂Q, ∂K, ∂V", 2 * intra.flops_per_op)])
    groups.append([_gradient(out, "bwd: ∂ of the output matmuls", 2 * out.flops_per_op)])
    return groups


#: lane instructions per (query, key) score of FlashAttention-2's backward besides its exponential
#: (Dao-AILab/flash-attention csrc/flash_attn/src/flash_bwd_kernel.h): the fused multiply-add
#: before ``exp2f`` that recomputes P, P and dS converted to 16 bits (two per instruction) and
#: stored to shared memory (eight per 16-byte store) for the dV and dK products, dS = P ⊙ (dP − D)
#: (a subtraction and a multiply).  The ∂Q accumulator's ``atomicAdd`` — each of a query row's D
#: fp32 partial sums once per key block — adds D / key columns per score (:func:`_attention_backward`)
BACKWARD_SOFTMAX_LANES = 1 + 0.5 + 0.125 + 2 + 0.5 + 0.125


def _attention_backward(w, algorithm, e, forward):
    D, E, N, T = w.state, w.value, w.batch * w.heads, w.seq_len
    if algorithm == "blocked":
        fwd = forward[0]
        n = fwd.rereaders  # key blocks = query blocks
        # FA2's backward runs a thread block per key block: it reads its K, V once and writes
        # dK, dV once; for every query block that needs it (≈ (n + 1)/2) it reads Q, dO and
        # the row statistics (log-sum-exp, rowsum(dO ⊙ O): two fp32) and adds into the fp32
        # ∂Q accumulator (read and written)
        kv = N * T * (D + E) * e
        q_side = N * T * ((D + E) * e + 2 * 4)
        dq = N * T * D * 4
        ops = fwd.ops
        causal = ops < N * T * T  # the forward kept only the (query, key) pairs of the mask
        passes = (n + 1) / 2 if causal else n
        key_block = fwd.gemm_shape[1]
        return [[dataclasses.replace(
            fwd, name="bwd: FlashAttention-2 (recompute scores, five matmuls)", deps=(),
            flops_per_op=6 * D + 4 * E, lane_instructions_per_op=BACKWARD_SOFTMAX_LANES + D / key_block,
            bytes_read_per_op=(kv + passes * (q_side + dq)) / ops,
            bytes_written_per_op=(kv + passes * dq) / ops,
            reread_bytes_per_op=(passes - 1) * (q_side + dq) / ops,
            reread_set_bytes=T * ((D + E) * e + 8 + 4 * D), latency_ops=fwd.latency_ops + _log2(D))]]
    scores, soft, mix = forward
    return [_again([mix], "bwd ∂V = Pᵀ·∂O: "), _again([mix], "bwd ∂P = ∂O·Vᵀ: "),
            _again([soft], "bwd ∂S = P ⊙ (∂P − rowsum): "),
            _again([scores], "bwd ∂Q = ∂S·K: "), _again([scores], "bwd ∂K = ∂Sᵀ·Q: ")]


def _rnn_backward(w, algorithm, e, forward):
    project = forward[0]
    g_d = project.gemm_shape[1]  # g·d gate rows
    n_in = project.gemm_shape[2]
    d = w.state
    N, T = w.batch * w.heads, w.seq_len
    # ∂W = Σ δ_t h_{t-1}ᵀ, ∂U = Σ δ_t x_tᵀ, ∂x = Uᵀ δ: three GEMMs over all T
    weights = Stage("bwd: ∂W, ∂U, ∂x (GEMMs over all T)", "matrix", ops=N * T * g_d,
                    flops_per_op=2 * (d + 2 * n_in), bytes_read_per_op=(d + 2 * n_in) * e / g_d + e,
                    bytes_written_per_op=n_in * e / g_d, latency_ops=_log2(T), gemm_shape=(g_d, d + n_in, T))
    if algorithm == "sequential":
        chain = [s for s in forward if s.steps > 1]
        return [_again(chain, "bwd reverse chain: "), [weights]]
    # DEER: one adjoint linear scan of the converged Jacobians, then the GEMMs
    scan = [s for s in forward if s.name.startswith("level")]
    per_iteration = len(scan) // max(1, sum(1 for s in forward if s.name.startswith("linearise")))
    return [_again(scan[:per_iteration], "bwd adjoint scan: "), [weights]]
