"""What each recurrence family asks of a machine, per algorithm: its schedule.

Every builder takes ``(workload, algorithm, dtype, options)`` and returns the stages of one
layer's forward pass.  Ops are lane-sized (one scalar channel's step, one output element's
dot product …) so that the simulator can spread them over lanes; each stage states its flops,
special-function ops (exp, tanh, sigmoid) and DRAM bytes per op, and the dependent unit
operations on one op's critical path.  Circuit algorithms are costed from the very
:class:`~workloads.circuits.Circuit` the kernels execute.

Notation: N = batch × heads independent copies, e = bytes per element of the dtype.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from workloads.circuits import CIRCUITS, CircuitError, prefix_circuit
from workloads.errors import WorkloadError
from workloads.schedule import Block, DTYPE_BYTES, AffineCost, Stage, affine_stages, gemm_read_bytes, in_sequence
from workloads.transforms import fft_size, radices

__all__ = ["Family", "FAMILIES", "DIMENSIONS", "carry_element", "measured_iterations", "fft_pass",
           "transform_length"]


@dataclass(frozen=True)
class Family:
    name: str
    algorithms: tuple[str, ...]
    build: Callable  # (workload, algorithm, dtype, options) -> tuple[Stage, ...]
    description: str


def _log2(n: int) -> int:
    return max(1, math.ceil(math.log2(max(2, n))))


def _circuit(algorithm: str, T: int, options: dict):
    try:
        return prefix_circuit(algorithm, T, **options)
    except CircuitError as exc:
        raise WorkloadError(str(exc)) from None


def _copies(w) -> int:
    return w.batch * w.heads


def _key_share(w) -> float:
    """The share of its keys and queries a head reads for itself: 1, or groups / heads where
    the heads of a group share them (Mamba-2's ``ngroups``: B and C are read, and C·Bᵀ formed,
    once per group — state-spaces/mamba ``ssd_bmm.py`` indexes them by head // (heads / groups))."""
    if not w.groups:
        return 1.0
    if w.heads % w.groups:
        raise WorkloadError(f"workload {w.name!r}: groups {w.groups} does not divide heads {w.heads}")
    return w.groups / w.heads


# --------------------------------------------------------------------------- affine families


def _affine(cost_of: Callable) -> Callable:
    def build(w, algorithm, dtype, options):
        circuit = _circuit(algorithm, w.seq_len, options)
        return in_sequence(affine_stages(circuit, cost_of(w, DTYPE_BYTES[dtype])))
    return build


def _diagonal_cost(w, e):
    # per channel: b_d ← a_d·b_s + b_d is one multiply-add (2 flops); a_d·a_s one multiply
    return AffineCost(copies=_copies(w) * w.state, a_bytes=e, b_bytes=e,
                      full_flops=3, b_only_flops=2, latency_ops=1)


def _dense_cost(w, e):
    d = w.state
    # A_d b_s + b_d: 2d² flops; A_d A_s: 2d³; one output entry is a length-d dot-product chain
    return AffineCost(copies=_copies(w), a_bytes=d * d * e, b_bytes=d * e,
                      full_flops=2 * d**3 + 2 * d**2, b_only_flops=2 * d**2, latency_ops=d,
                      width=d * d)


def _pd_cost(w, e):
    d = w.state
    # permutations compose as index maps (int32 gathers, no flops); D_d·D_s[P]: d multiplies;
    # D_d·b_s[P] + b_d: d multiply-adds
    return AffineCost(copies=_copies(w), a_bytes=d * (4 + e), b_bytes=d * e,
                      full_flops=3 * d, b_only_flops=2 * d, latency_ops=1, width=d)


# --------------------------------------------------------------------------- matrix-state families


def _readout(w, e, steps_name="readout") -> Stage:
    """o_t = S_tᵀ q_t from materialised states: per (copy, t, j) a length-K dot product."""
    K, V = w.state, w.value
    return Stage(steps_name, "vector", ops=_copies(w) * w.seq_len * V, flops_per_op=2 * K,
                 bytes_read_per_op=(K * V + K * _key_share(w)) * e / V, bytes_written_per_op=e,
                 latency_ops=_log2(K))


#: elements of the transition A_t per head, by its kind: one decay, one per key channel, K×K
def _a_elems(w, transition: str) -> int:
    return {"scalar": 1, "diagonal": w.state, "matrix": w.state * w.state}[transition]


def _matrix_state_cost(w, e, transition: str) -> AffineCost:
    """The combine of K×V-state elements whose A is a scalar decay, a diagonal gate or K×K."""
    K, V, N = w.state, w.value, _copies(w)
    if transition == "matrix":
        return AffineCost(copies=N, a_bytes=K * K * e, b_bytes=K * V * e,
                          full_flops=2 * K**3 + 2 * K * K * V, b_only_flops=2 * K * K * V,
                          latency_ops=K, width=K * V)
    # scalar decay or diagonal gate: A_d A_s is 1 or K products, A_d B_s + B_d is 2KV flops
    a = _a_elems(w, transition)
    return AffineCost(copies=N, a_bytes=a * e, b_bytes=K * V * e, full_flops=a + 2 * K * V,
                      b_only_flops=2 * K * V, latency_ops=1, width=K * V)


def _matrix_state_circuit(w, algorithm, dtype, options, transition: str, prep_flops: float,
                          steps: int):
    """Dense-element (or gated) circuit over the ``steps`` K×V states the kernel scans
    (T, or T·n_h micro-steps for DeltaProduct), with prep and a readout per token."""
    e = DTYPE_BYTES[dtype]
    K, V, N, T = w.state, w.value, _copies(w), steps
    circuit = _circuit(algorithm, T, options)
    cost = _matrix_state_cost(w, e, transition)
    prep = Stage("form transitions", "vector", ops=N * T * K * V, flops_per_op=prep_flops / (K * V),
                 sfu_ops_per_op=1 / (K * V), bytes_read_per_op=(2 * K * _key_share(w) + V + 2) * e / (K * V),
                 bytes_written_per_op=(_a_elems(w, transition) + K * V) * e / (K * V))
    return in_sequence([prep], affine_stages(circuit, cost), [_readout(w, e)])


def _gated(transition: str, normaliser: bool = False) -> Callable:
    """Matrix-state scans with a scalar decay (Mamba-2 SSD, RetNet, linear attention) or a
    decay per key channel (GLA): ``S_t = diag(α_t) S_{t-1} + k_t v_tᵀ``.  ``a`` gates per head
    and step: 1 or K, each read from DRAM and exponentiated.

    ``normaliser``: xLSTM's mLSTM (:mod:`workloads.kernels.mlstm`), whose normaliser
    ``n_t = f_t n_{t-1} + i_t k_t`` is one more value column of the state (V + 1, as the kernels
    carry it beside S), whose two gates per step cost a log-sigmoid (exp and log), the input
    gate's exp and the stabiliser's rescale (exp) — four special-function ops and a max — and
    whose output divides by max(|nᵀq|, e^{−m}): the chunked form adds a row maximum and an
    exponential per intra-chunk score (the stabilised log-weights)."""

    def build(w, algorithm, dtype, options):
        e = DTYPE_BYTES[dtype]
        K, V, N, T = w.state, w.value + normaliser, _copies(w), w.seq_len
        Vo = w.value  # columns read from v and written to o
        a = 2 if normaliser else _a_elems(w, transition)  # gate elements read per head-step
        sfu = 4 if normaliser else a  # their special-function ops
        qk = 2 * K * _key_share(w)  # query and key elements a head reads per step
        if algorithm == "sequential":
            # every state entry S_ij is a scalar channel: S_ij ← α_i S_ij + k_i v_j (1 mul +
            # 1 FMA) and adds q_i S_ij into o_j (1 FMA); per step a head reads q, k, v, α and
            # writes o
            return (Stage("recurrence", "vector", ops=N * K * V, steps=T, flops_per_op=5,
                          sfu_ops_per_op=sfu / (K * V),
                          bytes_read_per_op=(qk + Vo + a) * e / (K * V),
                          bytes_written_per_op=Vo * e / (K * V), latency_ops=1 + _log2(K)),)
        if algorithm == "chunked":
            C = int(options.get("chunk", 64))
            n = math.ceil(T / C)
            # per chunk: QKᵀ (2C²K, once per group of heads that share Q and K), decay-masked
            # ·V (2C²V), chunk state Kᵀ(wV) (2CKV); a
            # scalar decay masks the C² scores with exp(γ_t − γ_i), a vector gate folds
            # exp(±b) into the C rows of Q and K per channel (GLA, arXiv 2312.06635 §4):
            # C² or 2CK special-function ops; ops are the C² score entries of a chunk
            exps = (C * C if transition == "scalar" else 2 * C * K) + (sfu * C if normaliser else 0)
            stabiliser = 2 * C * C if normaliser else 0  # each score: a difference and a max
            intra = Stage("chunk: masked QKᵀ·V and chunk state", "matrix", ops=N * n * C * C,
                          flops_per_op=(C * C * (qk + 2 * V) + 2 * C * K * V + exps + stabiliser) / (C * C),
                          sfu_ops_per_op=exps / (C * C),
                          bytes_read_per_op=C * (qk + Vo + a) * e / (C * C),
                          bytes_written_per_op=(C * Vo + K * V) * e / (C * C),
                          latency_ops=_log2(K) + _log2(C), gemm_shape=(C, C, K))
            passing = Stage("inter-chunk state passing", "vector", ops=N * K * V, steps=n,
                            flops_per_op=2, bytes_read_per_op=e, bytes_written_per_op=e, latency_ops=1)
            out = Stage("chunk output: Q·S", "matrix", ops=N * n * C * V, flops_per_op=2 * K + 1,
                        bytes_read_per_op=(K * V + C * qk / 2 + C * Vo) * e / (C * V),
                        bytes_written_per_op=Vo * e / V, latency_ops=_log2(K), gemm_shape=(C, V, K))
            return in_sequence([intra], [passing], [out])
        return _matrix_state_circuit(w, algorithm, dtype, options, transition, prep_flops=2 * K * V,
                                     steps=T)
    return build


def _delta_kind(w) -> tuple[float, float]:
    """(flops per state entry per step, special-function ops per head-step) of the recurrence."""
    if w.family == "rwkv7":  # S_ij ← w_i S_ij + a_i u_j + k_i v_j, u = bᵀS; o: q·S
        return 2 + 6 + 2, 0
    if w.family == "gated-deltanet":  # u = kᵀS; S_ij ← α(S_ij − β k_i u_j) + β k_i v_j; o
        return 2 + 6 + 2, 1
    return 2 + 4 + 2, 0  # deltanet, deltaproduct


def _dplr_chunked(w, dtype, options) -> tuple[Stage, ...]:
    """RWKV-7's recurrence in its chunked matmul form (:mod:`workloads.kernels.delta`; the
    structure of flash-linear-attention's ``chunk_dplr_delta_rule``), chunks of C:

    * per chunk, in parallel: the decay ratios Γ_t/Γ_s (C²K/2 products), the four masked
      products of the chunk — a·b, k·b (the reads' system), a·q, k·q (the outputs') — each C²/2
      entries of K multiply-adds with their decay factor, and the unit lower-triangular solves
      W = (I − L)⁻¹ (Γ b) and U = (I − L)⁻¹ (M v) (C²K and 2C²V);
    * per chunk, in order: the reads Y = W S₀ + U (2CKV) and the state
      S ← Γ_C S₀ + (a ⊙ Γ_C/Γ)ᵀ Y + (k ⊙ Γ_C/Γ)ᵀ v (4CKV); the state stays on chip;
    * per chunk, in parallel: O = (Γ q) S₀ + P Y + Q v (2CKV and 2C²V, the products causal)."""
    e = DTYPE_BYTES[dtype]
    K, V, N, T = w.state, w.value, _copies(w), w.seq_len
    C = int(options.get("chunk", 64))
    n = math.ceil(T / C)
    chunk_flops = C * C * K / 2 + 4 * (C * C / 2) * K * 3 + C * C * K + 2 * C * C * V
    form = Stage("chunk: DPLR products and triangular solves", "matrix", ops=N * n * C * C,
                 flops_per_op=chunk_flops / (C * C),
                 bytes_read_per_op=C * (5 * K + V) * e / (C * C),  # q, w, a, b, k; v
                 bytes_written_per_op=(C * (K + V) + 2 * C * C + 3 * C * K) * e / (C * C),  # W, U; P, Q; Γq, ã, k̃
                 latency_ops=_log2(K) + C, gemm_shape=(C, C, K))
    passing = Stage("inter-chunk reads and state update", "matrix", ops=N * K * V, steps=n,
                    flops_per_op=6 * C + 1, bytes_read_per_op=C * (3 * K + V) * e / (K * V),
                    bytes_written_per_op=(C * V + K * V) * e / (K * V), latency_ops=2 * _log2(C),
                    gemm_shape=(K, V, C))
    out = Stage("chunk output", "matrix", ops=N * n * C * V, flops_per_op=2 * K + 2 * C,
                bytes_read_per_op=(C * K + 2 * C * C + 2 * C * V + K * V) * e / (C * V),
                bytes_written_per_op=e, latency_ops=_log2(K + C), gemm_shape=(C, V, K + C))
    return in_sequence([form], [passing], [out])


def _dplr(w, algorithm, dtype, options):
    e = DTYPE_BYTES[dtype]
    K, V, N = w.state, w.value, _copies(w)
    steps = w.seq_len * w.householders  # DeltaProduct: n_h micro-steps per token
    flops, sfu = _delta_kind(w)
    if algorithm == "sequential":
        # the state stays on chip; u = kᵀS is a length-K reduction before the update
        return (Stage("recurrence", "vector", ops=N * K * V, steps=steps, flops_per_op=flops,
                      sfu_ops_per_op=sfu / (K * V),
                      bytes_read_per_op=(2 * K + V + 2) * e / (K * V),
                      bytes_written_per_op=V * e / (K * V), latency_ops=2 + _log2(K)),)
    if algorithm == "chunked" and w.family == "rwkv7":
        return _dplr_chunked(w, dtype, options)
    if algorithm == "chunked":
        C = int(options.get("chunk", 64))
        n = math.ceil(steps / C)
        # per chunk: KKᵀ, QKᵀ (2C²K each), triangular solve for Δ's transform (≈ C²(K+V)),
        # W = TK, U = TV (2C²K, 2C²V); gates' exp(γ_t − γ_i): C² special-function ops
        wy_flops = 4 * C * C * K + C * C * (K + V) + 2 * C * C * (K + V)
        wy = Stage("chunk: WY/UT transform", "matrix", ops=N * n * C * C,
                   flops_per_op=wy_flops / (C * C), sfu_ops_per_op=1.0 if sfu else 0.0,
                   bytes_read_per_op=C * (2 * K + V + 2) * e / (C * C),
                   bytes_written_per_op=C * (K + V) * e / (C * C), latency_ops=_log2(C) + C,
                   gemm_shape=(C, C, K))
        # per chunk, in order: Δ = U − W S (2CKV), S ← Γ S + Kᵀ Δ (2CKV); S stays on chip
        passing = Stage("inter-chunk state update", "matrix", ops=N * K * V, steps=n,
                        flops_per_op=4 * C, bytes_read_per_op=C * (2 * K + V) * e / (K * V),
                        bytes_written_per_op=(C * V + K * V) * e / (K * V), latency_ops=2 * _log2(C),
                        gemm_shape=(K, V, C))
        # O = Γ Q S_0 + (QKᵀ ⊙ M) Δ: 2CKV + 2C²V per chunk
        out = Stage("chunk output", "matrix", ops=N * n * C * V, flops_per_op=2 * K + 2 * C,
                    bytes_read_per_op=(C * K + C * V + K * V) * e / (C * V),
                    bytes_written_per_op=e, latency_ops=_log2(K + C), gemm_shape=(C, V, K + C))
        return in_sequence([wy], [passing], [out])
    return _matrix_state_circuit(w, algorithm, dtype, options, "matrix",
                                 prep_flops=2 * K * K + 2 * K * V, steps=steps)


# --------------------------------------------------------------------------- nonlinear RNNs

_GATES = {"elman": 1, "gru": 3, "lstm": 4}
_ACTIVATION = {"elman": "tanh", "gru": "sigmoid", "lstm": "sigmoid"}  # the dominant one


def _nonlinear(w, algorithm, dtype, options):
    """Elman / GRU / LSTM.  The input projection U x is one parallel GEMM over all T; the
    recurrence then does, per step, g·d dot products of length d (W h) and g·d activations."""
    e = DTYPE_BYTES[dtype]
    g, d, N, T = _GATES[w.family], w.state, _copies(w), w.seq_len
    n_in = w.inputs or d
    n = 2 * d if w.family == "lstm" else d  # state size
    project = Stage("input projection U·x", "matrix", ops=N * T * g * d, flops_per_op=2 * n_in,
                    bytes_read_per_op=n_in * e / (g * d) + e, bytes_written_per_op=e,
                    latency_ops=_log2(n_in), gemm_shape=(T, g * d, n_in))
    if algorithm == "sequential":
        chain = Stage("recurrence", "vector", ops=N * g * d, steps=T, flops_per_op=2 * d + 4,
                      sfu_ops_per_op=1, sfu_function=_ACTIVATION[w.family], bytes_read_per_op=e, bytes_written_per_op=e / g,
                      latency_ops=_log2(d) + 3)
        return in_sequence([project], [chain])
    if algorithm not in ("deer", "quasi-deer"):
        raise AssertionError(algorithm)
    iterations = int(options["iterations"])
    inner = options.get("circuit", "kogge-stone")
    circuit = _circuit(inner, T, {})
    # linearise: f(ŝ_{t-1}) and its Jacobian at every t in parallel (dense: n×n entries)
    jac_entries = n * n if algorithm == "deer" else n
    linearise = Stage("linearise f and Jacobians", "vector", ops=N * T * g * d,
                      flops_per_op=2 * d + 4 + 3 * jac_entries / (g * d), sfu_ops_per_op=1,
                      sfu_function=_ACTIVATION[w.family],
                      bytes_read_per_op=(n + g) * e / (g * d),
                      bytes_written_per_op=(n + jac_entries) * e / (g * d),
                      latency_ops=_log2(d) + 3)
    if algorithm == "deer":
        cost = AffineCost(copies=N, a_bytes=n * n * e, b_bytes=n * e, full_flops=2 * n**3 + 2 * n * n,
                          b_only_flops=2 * n * n, latency_ops=n, width=n * n)
    else:
        cost = AffineCost(copies=N * n, a_bytes=e, b_bytes=e, full_flops=3, b_only_flops=2)
    check = Stage("convergence check", "vector", ops=N * T * n, flops_per_op=2,
                  bytes_read_per_op=2 * e, latency_ops=_log2(T * n))
    groups = [[project]]
    for _ in range(iterations):
        groups += [[linearise], affine_stages(circuit, cost), [check]]
    return in_sequence(*groups)


# --------------------------------------------------------------------------- attention


#: lane instructions per (query, key) score of the online softmax, besides its exponential, as
#: FlashAttention-2 issues them (Dao-AILab/flash-attention csrc/flash_attn/src/softmax.h:
#: ``reduce_max`` one max, ``scale_apply_exp2`` one fused multiply-add before each ``exp2f``,
#: ``reduce_sum`` one add; flash_fwd_kernel.h: P converted to 16 bits, two per instruction)
SOFTMAX_LANES = 3.5


def softmax_lanes(value_dim: int, key_block: int) -> float:
    """Lane instructions per score of a blocked attention's forward: :data:`SOFTMAX_LANES`, and
    the output accumulator's rescale (``softmax_rescale_o``: each of a query row's ``value_dim``
    outputs multiplied once per key block of ``key_block`` scores)."""
    return SOFTMAX_LANES + value_dim / key_block


def _attention(w, algorithm, dtype, options):
    """Ops are (query, key) pairs: a pair's score q·k, its exponential and its share of the
    weighted sum of V are independent of every other pair's, and what joins them — the dot
    products over D, the row maximum, the normaliser and the sum over keys — are reductions,
    trees of depth log₂ D and log₂ T.  So attention's depth is O(log T) (transformers sit in
    TC⁰), however its work of O(T²) is spread."""
    e = DTYPE_BYTES[dtype]
    D, E, N, T = w.state, w.value, _copies(w), w.seq_len
    causal = options.get("causal", 1)
    if causal not in (0, 1):
        raise WorkloadError(f"causal: expected 1 (a query sees the keys before it) or 0 (all keys), got {causal!r}")
    pairs = T * (T + 1) // 2 if causal else T * T  # (query, key) pairs
    ops = N * pairs
    if algorithm == "blocked":
        Bq = int(options.get("block", 128))
        Bk = int(options.get("key_block", Bq))  # an implementation's key tile (FlashAttention's kBlockN)
        nq = math.ceil(T / Bq)
        # FlashAttention: per query block, key blocks with a running max and sum (online
        # softmax).  The merge of two key blocks' (max, sum, partial output) is associative,
        # so the key blocks of a row combine in a tree of ⌈log₂ nq⌉ merges of a few dependent
        # ops each; within a block the reductions are log₂ D (scores) and log₂ Bq (row max,
        # sum, P·V).  Q and O cross DRAM once, K and V once per query block that needs them
        # (≈ nq/2 times; every query block reads all of them without the causal mask).
        kv_reads = N * ((nq + 1) / 2 if causal else nq) * T * (D + E) * e
        kv_once = N * T * (D + E) * e
        return (Stage("blocked attention (online softmax)", "matrix", ops=ops,
                      flops_per_op=2 * D + 2 * E, sfu_ops_per_op=1,
                      lane_instructions_per_op=softmax_lanes(E, Bk),
                      bytes_read_per_op=(N * T * D * e + kv_reads) / ops,
                      bytes_written_per_op=N * T * E * e / ops,
                      latency_ops=_log2(D) + 2 * _log2(Bq) + 3 * _log2(nq),
                      gemm_shape=(Bq, Bk, D), reread_bytes_per_op=(kv_reads - kv_once) / ops,
                      rereaders=nq, reread_set_bytes=T * (D + E) * e,
                      granule_ops=ops / (N * nq)),)  # a thread block: one query block of a head
    if algorithm == "naive":
        # materialised T×T scores: written, read and rewritten by softmax, read by ·V
        scores = Stage("scores QKᵀ", "matrix", ops=ops, flops_per_op=2 * D,
                       bytes_read_per_op=2 * T * D * e / pairs, bytes_written_per_op=e,
                       latency_ops=_log2(D), gemm_shape=(T, T, D))
        # row max, exp, row sum and divide: two length-T tree reductions per row
        soft = Stage("softmax", "vector", ops=ops, flops_per_op=3, sfu_ops_per_op=1,
                     bytes_read_per_op=e, bytes_written_per_op=e, latency_ops=2 * _log2(T) + 2)
        # each pair adds p·v into its row's E outputs: a length-T tree sum per output
        mix = Stage("weights·V", "matrix", ops=ops, flops_per_op=2 * E,
                    bytes_read_per_op=(pairs + T * E) * e / pairs, bytes_written_per_op=T * E * e / pairs,
                    latency_ops=_log2(T), gemm_shape=(T, E, T))
        return in_sequence([scores], [soft], [mix])
    raise AssertionError(algorithm)


# --------------------------------------------------------------------------- long convolutions

_COMPLEX64 = 8  # torch.fft's spectra: complex float32, whatever the input dtype


def fft_pass(name: str, rows: int, points: int, read: float, written: float) -> Stage:
    """One cuFFT transform of ``rows`` rows of ``points`` complex points (a real-to-complex
    transform of N reals is one of N/2 complex points): log₂ points levels of points/2 radix-2
    butterflies (a complex multiply and two adds: 10 flops) per row, each row's levels on chip
    (one pass through DRAM)."""
    levels = _log2(points)
    ops = rows * max(1, points // 2)
    return Stage(name, "vector", ops=ops, steps=levels, flops_per_op=10,
                 bytes_read_per_op=read / (ops * levels), bytes_written_per_op=written / (ops * levels),
                 latency_ops=3, copies=rows)


def transform_length(w, options) -> int:
    """A long convolution's transform length N: 2^⌈log₂ 2T⌉ for a causal one; T itself, a power
    of two, for a circular one (option ``circular`` 1: FlashFFTConv's unpadded ``conv``)."""
    T = w.seq_len
    circular = options.get("circular", 0)
    if circular not in (0, 1):
        raise WorkloadError(f"circular: expected 0 (causal, zero-padded to 2T) or 1 (circular), got {circular!r}")
    if not circular:
        return fft_size(T)
    if T & (T - 1):
        raise WorkloadError(f"circular: the transform is as long as the sequence, a power of two; got T = {T}")
    return T


def _long_conv(w, algorithm, dtype, options):
    """``y = h ∗ u`` per channel, a filter as long as the sequence (:mod:`workloads.kernels.
    longconv`).  ``heads`` are the channels D, ``batch`` the sequences.  Options: ``gated`` 1
    multiplies u by a pre-gate and y by a post-gate, each of u's shape, as Hyena's operator
    does (``y = q ⊙ (h ∗ (k ⊙ v))``); ``circular`` 1 convolves circularly over T (see
    :func:`transform_length`).

    * ``direct``: T(T + 1)/2 (circular: T²) multiply-adds per channel and sequence, u and h
      read once;
    * ``fft``: Hyena's reference path (``fftconv_ref``: ``torch.fft.rfft`` of u and of the
      filter to N points, the product of the spectra, ``irfft``), four kernels whose spectra
      cross DRAM as complex float32;
    * ``monarch``: FlashFFTConv's fused kernel — u (and the gates) read once, its N-point DFT
      as p levels of dense r-point DFT matrices on the matrix unit (:func:`workloads.
      transforms.radices`; a complex r-point dot product is 8r flops, a twiddle 6), the product
      with the filter's spectrum (complex, of the input dtype), the inverse the same way, y
      written once; the filter's spectrum by cuFFT."""
    e = DTYPE_BYTES[dtype]
    B, D, T = w.batch, w.heads, w.seq_len
    rows = B * D
    N = transform_length(w, options)
    gated = options.get("gated", 0)
    if gated not in (0, 1):
        raise WorkloadError(f"gated: expected 0 or 1, got {gated!r}")
    gate = rows * T * e * gated  # one gate's bytes
    if algorithm == "direct":
        ops = rows * (T * T if N == T else T * (T + 1) // 2)
        return (Stage("convolution, direct", "vector", ops=ops, flops_per_op=2 + 2 * gated * rows * T / ops,
                      bytes_read_per_op=((rows + D) * T * e + 2 * gate) / ops,
                      bytes_written_per_op=rows * T * e / ops, latency_ops=_log2(T)),)
    spectrum = (N // 2 + 1) * _COMPLEX64
    filter_fft = fft_pass("rfft of the filters (cuFFT)", D, N // 2, D * T * e, D * spectrum)
    if algorithm == "fft":
        u_fft = fft_pass("rfft of u (cuFFT)", rows, N // 2, rows * T * e + gate, rows * spectrum)
        product = Stage("spectra product", "vector", ops=rows * (N // 2 + 1), flops_per_op=6,
                        bytes_read_per_op=(rows + D) * spectrum / (rows * (N // 2 + 1)),
                        bytes_written_per_op=_COMPLEX64)
        inverse = fft_pass("irfft (cuFFT)", rows, N // 2, rows * spectrum + gate, rows * N * 4)
        return in_sequence([filter_fft, u_fft], [product], [inverse])
    levels = radices(algorithm, N)
    r, p = max(levels), len(levels)
    mean_radix = sum(levels) / p
    dft_flops = 8 * mean_radix + 6 * (p - 1) / p  # per output point and level
    forward = Stage(f"monarch DFT of u ({'·'.join(map(str, levels))}) and the spectra product",
                    "matrix", ops=rows * N, steps=p, flops_per_op=dft_flops + (6 + gated) / p,
                    bytes_read_per_op=(rows * T * e + gate + D * N * 2 * e) / (rows * N * p),
                    latency_ops=_log2(r), gemm_shape=(N // r, r, r), copies=rows)
    inverse = dataclasses.replace(forward, name="monarch inverse DFT", flops_per_op=dft_flops + gated / p,
                                  bytes_read_per_op=gate / (rows * N * p),
                                  bytes_written_per_op=rows * T * e / (rows * N * p), launch=False)
    return in_sequence([filter_fft], [forward], [inverse])


# --------------------------------------------------------------------------- primitives


def _gemm(w, algorithm, dtype, options):
    """C = A·B, (m×k)(k×n), output-stationary tiles of ``tile``×``tile``: each output tile reads
    its A and B panels once from DRAM and writes itself once.  ``batch`` independent products,
    each with its own A and B (a grouped GEMM, as a mixture of experts runs its experts), are
    one launch."""
    e = DTYPE_BYTES[dtype]
    tile = int(options.get("tile", 128))
    ops = w.batch * w.m * w.n
    return (Stage("gemm", "matrix", ops=ops, flops_per_op=2 * w.k,
                  bytes_read_per_op=w.batch * gemm_read_bytes(w.m, w.n, w.k, tile, e) / ops,
                  bytes_written_per_op=e, latency_ops=_log2(w.k), gemm_shape=(w.m, w.n, w.k),
                  panel_tile=tile,
                  # a thread block: one output tile, no taller than the GEMM (a skinny GEMM —
                  # a decode step's few tokens — is tiled across its width, not padded)
                  granule_ops=min(tile, w.m) * min(tile, w.n),
                  block=_gemm_block(w.m, w.n, tile, e)),)


#: A CUTLASS/cuBLAS tensor-core GEMM block on sm80 and later: eight warps, K stepped by 64
#: through a three-stage cp.async pipeline in shared memory — two stages in flight while the
#: third is multiplied (CUTLASS's default configuration for SM80 tensor ops: ThreadblockShape
#: 128×256×64, WarpShape 64×64×64, kStages 3 — NVIDIA/cutlass
#: include/cutlass/gemm/device/default_gemm_configuration.h); its output tile is the schedule's
#: ``tile``.  When the output tiles are fewer than the SMs, cuBLAS splits K so that every SM
#: loads (split-K; Osama et al., Stream-K, PPoPP 2023).
_GEMM_K_STEP, _GEMM_STAGES, _GEMM_THREADS = 64, 3, 256


def _gemm_block(m: int, n: int, tile: int, e: int) -> Block:
    step = (min(tile, m) + min(tile, n)) * _GEMM_K_STEP * e  # one k-step of A and B operands
    return Block(threads=_GEMM_THREADS, ops=min(tile, m) * min(tile, n), shared_bytes=_GEMM_STAGES * step,
                 in_flight_bytes=(_GEMM_STAGES - 1) * step, split_to_fill=True, tile=(min(tile, m), min(tile, n)))


#: Positions of the cache one block of a split-KV decode kernel takes: vLLM's PagedAttention V2
#: (csrc/attention/attention_kernels.cuh, ``PARTITION_SIZE = 512``); FlashDecoding (Dao, Haziza,
#: Massa, Sizov, "Flash-Decoding for long-context inference", 2023) splits the same way.
DECODE_SPLIT = 512


def _attention_decode(w, algorithm, dtype, options):
    """One new query per sequence against its ``seq_len`` cached keys and values, as serving
    kernels run it (split-KV, FlashDecoding and vLLM's PagedAttention V2): each block reads a
    split of one KV head's cache once, scores it against the ``heads / groups`` query heads that
    share the head (grouped-query attention), and keeps an online softmax and a partial output
    per head; a second kernel combines the splits.  Ops of the first stage are (cached position,
    KV head) pairs."""
    e = DTYPE_BYTES[dtype]
    groups = w.groups or w.heads
    if w.heads % groups:
        raise WorkloadError(f"workload {w.name!r}: heads ({w.heads}) must be a multiple of groups ({groups}), "
                            "the KV heads the query heads share")
    D, E, T, share = w.state, w.value, w.seq_len, w.heads // groups
    splits = math.ceil(T / DECODE_SPLIT)
    partial = share * (E + 2) * 4  # fp32 partial output, running max and sum per query head and split
    scores = Stage("split-KV scores and weighted values", "vector", ops=w.batch * groups * T,
                   flops_per_op=2 * share * (D + E) + 3 * share, sfu_ops_per_op=share, sfu_function="exp",
                   bytes_read_per_op=(D + E) * e, bytes_written_per_op=partial / min(T, DECODE_SPLIT),
                   latency_ops=_log2(D) + _log2(min(T, DECODE_SPLIT)))
    combine = Stage("combine the splits", "vector", ops=w.batch * w.heads * E, flops_per_op=3 * splits,
                    bytes_read_per_op=splits * (E + 2) * 4 / E, bytes_written_per_op=e, latency_ops=_log2(splits))
    return in_sequence([scores], [combine])


def _elementwise(w, algorithm, dtype, options):
    e = DTYPE_BYTES[dtype]
    return (Stage("map", "vector", ops=w.elements, flops_per_op=w.flops_per_element,
                  bytes_read_per_op=w.inputs * e, bytes_written_per_op=e),)


def _reduction(w, algorithm, dtype, options):
    e = DTYPE_BYTES[dtype]
    partials = min(w.elements, 65536)  # one running sum per lane of a large chip
    return in_sequence(
        [Stage("partial sums", "vector", ops=partials, steps=math.ceil(w.elements / partials),
               flops_per_op=1, bytes_read_per_op=e)],
        [Stage("tree", "vector", ops=partials // 2 or 1, steps=_log2(partials), flops_per_op=1,
               bytes_written_per_op=e / max(1, partials // 2))])


_CIRCUIT_NAMES = tuple(CIRCUITS)
# matrix-state families: the recurrence, their chunked matmul form, then the other circuits
_MATMUL_FORMS = ("sequential", "chunked") + tuple(c for c in CIRCUITS if c not in ("sequential", "chunked"))

FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("diagonal", _CIRCUIT_NAMES, _affine(_diagonal_cost),
           "h_t = a_t ⊙ h_{t-1} + b_t (Mamba-1 S6, S4D, LRU, GLA, minGRU)"),
    Family("dense", _CIRCUIT_NAMES, _affine(_dense_cost), "h_t = A_t h_{t-1} + b_t, d×d transitions"),
    Family("permutation-diagonal", _CIRCUIT_NAMES, _affine(_pd_cost),
           "h_t = P_t D_t h_{t-1} + b_t (PD-SSM; the S5 word problem)"),
    Family("ssd", _MATMUL_FORMS, _gated("scalar"),
           "S_t = α_t S_{t-1} + k_t v_tᵀ (Mamba-2 SSD, RetNet, linear attention)"),
    Family("gla", _MATMUL_FORMS, _gated("diagonal"),
           "S_t = diag(α_t) S_{t-1} + k_t v_tᵀ, a decay per key channel (GLA)"),
    Family("deltanet", _MATMUL_FORMS,
           _dplr, "S_t = S_{t-1} − β k (kᵀ S_{t-1}) + β k vᵀ"),
    Family("gated-deltanet", _MATMUL_FORMS,
           _dplr, "the delta rule with a scalar decay α_t"),
    Family("deltaproduct", _MATMUL_FORMS,
           _dplr, "n_h Householder (delta-rule) steps per token"),
    Family("rwkv7", _MATMUL_FORMS, _dplr,
           "S_t = (diag(w_t) + a_t b_tᵀ) S_{t-1} + k_t v_tᵀ; 'chunked' is the chunked matmul form "
           "(flash-linear-attention's chunk_dplr_delta_rule), the circuits combine dense elements"),
    Family("mlstm", ("sequential", "chunked"), _gated("scalar", normaliser=True),
           "S_t = f_t S_{t-1} + i_t k_t v_tᵀ with a normaliser and an exponential input gate (xLSTM's mLSTM)"),
    Family("long-conv", ("direct", "fft", "monarch"), _long_conv,
           "y = h ∗ u per channel, a filter as long as the sequence (Hyena, H3; FlashFFTConv)"),
    Family("elman", ("sequential", "deer", "quasi-deer"), _nonlinear, "h_t = tanh(W h_{t-1} + U x_t + b)"),
    Family("gru", ("sequential", "deer", "quasi-deer"), _nonlinear, "gated recurrent unit"),
    Family("lstm", ("sequential", "deer", "quasi-deer"), _nonlinear, "long short-term memory"),
    Family("attention", ("blocked", "naive"), _attention,
           "softmax attention, causal unless the option causal = 0 (an encoder's, all keys)"),
    Family("attention-decode", ("split-kv",), _attention_decode,
           "a decode step's attention: one query per sequence over its KV cache, grouped-query heads (groups: KV heads)"),
    Family("gemm", ("tiled",), _gemm, "C = A·B"),
    Family("elementwise", ("map",), _elementwise, "y = f(x₁, …) elementwise"),
    Family("reduction", ("tree",), _reduction, "sum of n elements"),
)}


#: the affine element (A, b) of each linear family: what one chunk of a sequence hands on
_ELEMENTS = {
    "diagonal": _diagonal_cost, "dense": _dense_cost, "permutation-diagonal": _pd_cost,
    "ssd": lambda w, e: _matrix_state_cost(w, e, "scalar"),
    # mLSTM's carry: S with its normaliser n as one more value column (and the stabiliser m)
    "mlstm": lambda w, e: dataclasses.replace(
        _matrix_state_cost(dataclasses.replace(w, value=w.value + 1), e, "scalar"),
        b_bytes=(w.state * (w.value + 1) + 1) * e),
    "gla": lambda w, e: _matrix_state_cost(w, e, "diagonal"),
    **{f: (lambda w, e: _matrix_state_cost(w, e, "matrix"))
       for f in ("deltanet", "gated-deltanet", "deltaproduct", "rwkv7")},
}


def carry_element(w, dtype: str) -> AffineCost:
    """The affine map one chunk of ``w``'s sequence hands to the next — its composed
    transition (``a_bytes``) and its last state (``b_bytes``) per independent copy
    (``copies``): what sequence parallelism sends between chips.  :class:`WorkloadError` for
    families whose steps do not compose (nonlinear cells, attention, primitives)."""
    if w.family not in _ELEMENTS:
        raise WorkloadError(f"workload {w.name!r}: family {w.family!r} has no associative carry, "
                            f"so its sequence cannot be split over chips; linear families: "
                            f"{', '.join(_ELEMENTS)}")
    return _ELEMENTS[w.family](w, DTYPE_BYTES[dtype])


_SEQUENCE = ("seq_len", "batch", "heads", "state")
#: the dimensions each family's schedule reads: a parameter outside them would change nothing
DIMENSIONS: dict[str, tuple[str, ...]] = {
    **{f: _SEQUENCE for f in ("diagonal", "dense", "permutation-diagonal")},
    "ssd": _SEQUENCE + ("value", "groups"),
    **{f: _SEQUENCE + ("value",) for f in ("gla", "mlstm", "deltanet", "gated-deltanet", "rwkv7", "attention")},
    "long-conv": ("seq_len", "batch", "heads"),
    "attention-decode": _SEQUENCE + ("value", "groups"),
    "deltaproduct": _SEQUENCE + ("value", "householders"),
    **{f: _SEQUENCE + ("inputs",) for f in ("elman", "gru", "lstm")},
    "gemm": ("m", "n", "k", "batch"),
    "elementwise": ("elements", "inputs", "flops_per_element"),
    "reduction": ("elements",),
}


def measured_iterations(w, algorithm: str, weight_scale: float = 1.0, max_len: int = 4096,
                        seed: int = 0) -> tuple[int, str]:
    """Newton iterations DEER / quasi-DEER take on this cell, measured by running the kernel
    on random inputs with random weights uniform in ±weight_scale/√d (PyTorch's default
    initialisation at ``weight_scale`` 1; larger scales make the cell less contracting and
    the iteration count grow towards T).

    Returns ``(iterations, how)``: ``how`` says at which length and width the count was
    measured and, when T exceeds ``max_len``, how it was extrapolated to T — from the counts
    at ``max_len`` / 2 and ``max_len``: kept when they agree (the count has saturated),
    else grown in proportion to T (Newton needs at most T + 1 iterations), capped at T + 1.
    """
    from workloads.kernels.rnn import init_params, rnn

    d = min(w.state, 64)  # iteration counts depend on the contraction, not the width; cap cost

    def count(T: int) -> int:
        rng = np.random.default_rng(seed)
        params = init_params(w.family, d, d, seed=seed, scale=weight_scale)
        return rnn(w.family, params, rng.normal(size=(T, d)), algorithm)[1]

    T = w.seq_len
    measured = count(min(T, max_len))
    how = f"measured at T = {min(T, max_len)}, d = {d}, weight scale {weight_scale:g}"
    if T <= max_len:
        return measured, how
    half = count(max_len // 2)
    if half == measured:
        return measured, how + f"; extrapolated to T = {T} as saturated (same count at T = {max_len // 2})"
    grown = min(T + 1, math.ceil(measured + (measured - half) * (T - max_len) / (max_len // 2)))
    return grown, how + f"; extrapolated to T = {T}: {half} → {measured} iterations from T = {max_len // 2} to {max_len}, grown linearly"
