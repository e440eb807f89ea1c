"""A pass of a model as the pieces scansim costs: the prefill of T tokens per sequence, one
decode step against the KV cache or recurrent state, or a training step.  Each piece is a
catalog workload with exact sizes: norms, projections and MLPs as GEMMs on the matrix unit (a
mixture's experts as one grouped GEMM), gates and activations elementwise, the short causal
conv1d of Mamba and DeltaNet, and the mixer through the existing families (attention;
Mamba-1's selective scan; Mamba-2's SSD; Gated DeltaNet's chunked form) — in the prefill, or
the decode of one token against the KV cache (attention: every cached key and value is read)
or the recurrent state (read and rewritten).  No weights are ever needed.
"""

from __future__ import annotations

import dataclasses
import math

from workloads.catalog import get_workload
from workloads.models.model import MIXERS, PHASES, Component, Model, ModelError
from workloads.models.parameters import parameters, widths

__all__ = ["components", "routed_experts", "RECOMPUTE", "recompute_mode", "checkpointed_layers", "ATTENTION_KERNELS"]

#: activation checkpointing: none; ``selective`` — torchtitan's per-op policy (``SelectiveAC``,
#: torchtitan/distributed/activation_checkpoint.py: every layer's matmuls, attention and
#: collectives saved "except every second mm", everything else recomputed); ``full`` — every
#: layer's forward again before its backward; or a fraction p of the layers, evenly spaced,
#: under full checkpointing (fms-fsdp's ``selective_checkpointing``,
#: fms_fsdp/policies/ac_handler.py: round(p · layers) of them)
RECOMPUTE = ("none", "selective", "full")


def _gemm(name: str, tokens: int, out: int, inner: int, count: int, groups: int = 1, after: str = "other"
          ) -> Component:
    """A product of ``tokens`` rows with a weight of ``inner`` × ``out`` (``groups`` of them), its
    input produced by ``after`` (:attr:`Component.input_from`)."""
    w = get_workload("gemm-4096").with_params(m=tokens, n=out, k=inner, batch=groups)
    return Component(name, w, "tiled", count, operands="weights", input_from=after)


def _elementwise(name: str, elements: int, inputs: int, flops: int, count: int) -> Component:
    w = get_workload("elementwise-256m").with_params(elements=elements, inputs=inputs, flops_per_element=flops)
    return Component(name, w, "map", count)


def recompute_mode(recompute: bool | str | float) -> str | float:
    """``recompute`` as one of :data:`RECOMPUTE` (True: full, False: none), or the fraction of
    the layers under full checkpointing (a number in (0, 1]; 1 is full)."""
    if isinstance(recompute, bool):
        return "full" if recompute else "none"
    if isinstance(recompute, (int, float)) and 0 < recompute <= 1:
        return "full" if recompute == 1 else float(recompute)
    if recompute not in RECOMPUTE:
        raise ModelError(f"recompute: expected one of {', '.join(RECOMPUTE)} or a fraction of the layers in "
                         f"(0, 1], got {recompute!r}")
    return recompute


def checkpointed_layers(layers: int, recompute: bool | str | float) -> int:
    """How many of ``layers`` keep only their input and run their forward again (full
    checkpointing on all of them, or on a fraction, evenly spaced)."""
    mode = recompute_mode(recompute)
    if isinstance(mode, float):
        return math.floor(mode * layers + 0.5)
    return layers if mode == "full" else 0


def components(m: Model, phase: str, seq_len: int, batch: int = 1, recompute: bool | str | float = False,
               optimizer_shards: int = 1, attention: str | None = None) -> list[Component]:
    """The pieces of one pass: the prefill of ``seq_len`` tokens per sequence, one decode step
    at context ``seq_len``, or a training step on ``batch`` sequences of ``seq_len`` — every
    piece forward and backward (its backward schedule: the GEMMs' ∂A and ∂B, the mixers'
    reverse scans and FlashAttention's backward), the layers' forward once more when
    activations are recomputed, and the optimizer's update (of 1/``optimizer_shards`` of the
    weights: ZeRO partitions the optimizer states over the data-parallel chips).  A prompt's
    attention (prefill and training) runs as the shipped kernel ``attention`` names (one of
    :data:`ATTENTION_KERNELS`), or as the attention family's blocked schedule (None)."""
    if attention is not None and attention not in ATTENTION_KERNELS:
        raise ModelError(f"attention: expected one of {', '.join(ATTENTION_KERNELS)} (or none: the blocked "
                         f"schedule), got {attention!r}")
    if phase not in PHASES:
        raise ModelError(f"phase: expected one of {', '.join(PHASES)}, got {phase!r}")
    if phase == "train":
        forward = _forward(m, "prefill", seq_len, batch, logits=batch * seq_len, attention=attention)  # loss on all
        parts = [dataclasses.replace(p, direction="fwd+bwd") for p in forward]
        mode = recompute_mode(recompute)
        if mode == "selective":
            parts += _selective_recompute(m, forward, batch * seq_len)
        elif mode != "none":  # activation checkpointing: a layer's forward again before its backward
            share = checkpointed_layers(m.layers, mode) / m.layers
            again = [(p, math.floor(p.count * share + 0.5)) for p in forward if not p.name.startswith(_ENDS)]
            parts += [dataclasses.replace(p, name=f"recompute: {p.name}", count=n) for p, n in again if n]
        # Adam with fp32 master weights and moments: read weight, gradient and two moments, write
        # weight and moments — 28 bytes a parameter, as 6 fp32 inputs and 1 output
        update = get_workload("elementwise-256m").with_params(elements=math.ceil(parameters(m) / optimizer_shards),
                                                              inputs=6, flops_per_element=12)
        return parts + [Component("optimizer update (Adam, fp32 states)", update, "map", 1, dtype="fp32",
                                  per_step=True)]
    return _forward(m, phase, seq_len, batch, attention=attention)


_ENDS = ("embedding lookup", "final norm", "LM head")  # the pieces outside the layers
#: the shipped kernels a prompt's attention may run as (workloads.implementations): PyTorch's
#: scaled_dot_product_attention runs FlashAttention-2 on its flash backend (PyTorch 2.2 release
#: notes), Hopper's own kernel is FlashAttention-3
ATTENTION_KERNELS = ("flash-attention-2", "flash-attention-3")


def _selective_recompute(m: Model, forward: list[Component], n: int) -> list[Component]:
    """What torchtitan's per-op activation checkpointing recomputes before a layer's backward:
    the layer's matmuls in order — q, k, v, the output projection, then the MLP's gate, up and
    down (up and down without a gate) — keep every odd one's output and recompute every even
    one (k, the output projection, and up, or down without a gate); attention's output is
    saved; every elementwise piece (norms, activations, residual adds) runs again.  Modelled
    for attention and MLP layers, the models torchtitan runs it on."""
    other = sorted({kind for layer in m.layout for kind in layer} - {"attention", "mlp", "none"})
    if other:
        raise ModelError(f"recompute: 'selective' follows torchtitan's per-op policy for attention and MLP "
                         f"layers; {m.where} has {', '.join(other)} layers (use 'full' or 'none')")
    w, d, layers = widths(m), m.d_model, m.count("attention")
    again = [dataclasses.replace(p, name=f"recompute: {p.name}") for p in forward
             if p.algorithm == "map" and not p.name.startswith(_ENDS)]
    again += [_gemm("recompute: key projection", n, w["kv"] // 2, d, layers, after="norm"),
              _gemm("recompute: output projection", n, d, m.heads * m.head_dim, layers)]
    if m.mlp_gated:
        again.append(_gemm("recompute: MLP up projection", n, m.d_ff, d, m.count("mlp"), after="norm"))
    else:
        again.append(_gemm("recompute: MLP down projection", n, d, m.d_ff, m.count("mlp"), after="activation"))
    return again


def _forward(m: Model, phase: str, seq_len: int, batch: int, logits: int | None = None,
             attention: str | None = None) -> list[Component]:
    n = batch * (seq_len if phase == "prefill" else 1)  # tokens through the projections
    logits = logits or batch  # serving needs the next token's logits only
    d = m.d_model
    parts = [_elementwise("embedding lookup", n * d, 1, 1, 1), _elementwise("norms", n * d, 1, 4, m.sublayers)]
    for mixer in MIXERS:
        if m.count(mixer):
            parts += _MIXER_PARTS[mixer](m, phase, seq_len, batch, n, m.count(mixer))
    for ffn in ("mlp", "moe"):
        if m.count(ffn):
            parts += _FFN_PARTS[ffn](m, n, m.count(ffn))
    parts.append(_elementwise("residual adds", n * d, 2, 1, m.sublayers))
    parts += [_elementwise("final norm", logits * d, 1, 4, 1),
              _gemm("LM head" + (" (last token)" if logits == batch else ""), logits, m.vocab, d, 1, after="norm")]
    if attention is None:
        return parts
    return [dataclasses.replace(p, impl=attention, name=p.name.replace("FlashAttention", attention))
            if p.workload.family == "attention" and p.algorithm == "blocked" else p for p in parts]


def _label(m: Model, mixer: str, text: str) -> str:
    """A piece's name, prefixed by its mixer in a hybrid (where several kinds of layers have one)."""
    hybrid = len({mx for mx, _ in m.layout} - {"none"}) > 1
    return f"{mixer}: {text}" if hybrid else text


def _attention_parts(m: Model, phase: str, seq_len: int, batch: int, n: int, count: int) -> list[Component]:
    w, d = widths(m), m.d_model
    name = lambda text: _label(m, "attention", text)  # noqa: E731
    parts = [_gemm(name("QKV projection" + (" and output gate" if m.attention_gate else "")), n, w["q"] + w["kv"],
                   d, count, after="norm")]
    if m.qk_norm:
        parts.append(_elementwise(name("query and key norms"), n * (m.heads + m.kv_heads) * m.head_dim, 1, 4, count))
    if phase == "prefill":
        attention = get_workload("llama2-7b-attention").with_params(
            seq_len=seq_len, batch=batch, heads=m.heads, state=m.head_dim, value=m.head_dim)
        parts.append(Component(name("attention (FlashAttention, causal)"), attention, "blocked", count))
    else:  # one query against every cached key and value: a split-KV decode kernel
        decode = get_workload("llama3-8b-decode-attention").with_params(
            seq_len=seq_len, batch=batch, heads=m.heads, groups=m.kv_heads, state=m.head_dim, value=m.head_dim)
        parts.append(Component(name("attention over the KV cache"), decode, "split-kv", count, operands="kv cache"))
    if m.attention_gate:
        parts.append(_elementwise(name("output gate (σ)"), n * m.heads * m.head_dim, 2, 5, count))
    return parts + [_gemm(name("output projection"), n, d, m.heads * m.head_dim, count)]


def _mamba_parts(m: Model, phase: str, seq_len: int, batch: int, n: int, count: int, mixer: str) -> list[Component]:
    w, d, di, ns = widths(m), m.d_model, m.d_inner, m.d_state
    name = lambda text: _label(m, mixer, text)  # noqa: E731
    proj, conv = (2 * di, di) if mixer == "mamba" else (w["mamba2_in"], w["mamba2_conv"])
    parts = [_gemm(name("input projection"), n, proj, d, count, after="norm"),
             _elementwise(name("causal conv1d + SiLU"), n * conv, m.d_conv, 2 * m.d_conv + 4, count)]
    if mixer == "mamba":
        parts += [_gemm(name("x projection (Δ, B, C)"), n, m.dt_rank + 2 * ns, di, count),
                  _gemm(name("Δ projection"), n, di, m.dt_rank, count)]
    if phase == "prefill" and mixer == "mamba":
        scan = get_workload("mamba-130m").with_params(seq_len=seq_len, batch=batch, heads=di, state=ns)
        parts.append(Component(name("selective scan"), scan, "chunked", count, impl="selective-scan"))
    elif phase == "prefill":
        ssd = get_workload("mamba2-2.7b").with_params(seq_len=seq_len, batch=batch, heads=di // m.ssm_head_dim,
                                                      state=ns, value=m.ssm_head_dim, groups=m.groups)
        parts.append(Component(name("SSD (chunked)"), ssd, "chunked", count))
    else:  # the state is read, updated and written back: d_inner × d_state per sequence
        parts.append(_elementwise(name("recurrent state update"), batch * di * ns, 3, 6, count))
    gate = "gate (y · SiLU z)" + (" and gated norm" if mixer == "mamba2" else "")
    return parts + [_elementwise(name(gate), n * di, 2, 6, count), _gemm(name("output projection"), n, d, di, count)]


def _deltanet_parts(m: Model, phase: str, seq_len: int, batch: int, n: int, count: int) -> list[Component]:
    """Gated DeltaNet (Yang, Kautz & Hatamizadeh, arXiv 2412.06464) as Qwen3-Next lays it out:
    q, k, v, z and the gates β, α from two projections, a causal conv over q, k and v, the
    chunked delta rule per value head (k and q shared by a group of value heads), a gated
    RMSNorm, the output projection."""
    w, d = widths(m), m.d_model
    name = lambda text: _label(m, "gated-deltanet", text)  # noqa: E731
    parts = [_gemm(name("q, k, v, z, β, α projections"), n, w["gdn_in"], d, count, after="norm"),
             _elementwise(name("causal conv1d + SiLU"), n * w["gdn_conv"], m.d_conv, 2 * m.d_conv + 4, count)]
    if phase == "prefill":
        rule = get_workload("gated-deltanet-1.3b").with_params(seq_len=seq_len, batch=batch, heads=m.linear_heads,
                                                               state=m.linear_key_dim, value=m.linear_value_dim)
        parts.append(Component(name("gated delta rule (chunked)"), rule, "chunked", count))
    else:  # S ← α S (I − β k kᵀ) + β v kᵀ, o = S q: the state read, updated and written back
        state = batch * m.linear_heads * m.linear_key_dim * m.linear_value_dim
        parts.append(_elementwise(name("recurrent state update"), state, 3, 8, count))
    return parts + [_elementwise(name("gated RMSNorm"), n * w["gdn_v"], 2, 8, count),
                    _gemm(name("output projection"), n, d, w["gdn_v"], count)]


def _mlp_parts(m: Model, n: int, count: int, d_ff: int = 0, label: str = "MLP") -> list[Component]:
    d_ff = d_ff or m.d_ff
    if label == "MLP" and not m.mlp_gated:
        return [_gemm("MLP up projection", n, d_ff, m.d_model, count, after="norm"),
                _elementwise("MLP squared ReLU", n * d_ff, 1, 2, count),
                _gemm("MLP down projection", n, m.d_model, d_ff, count, after="activation")]
    return [_gemm(f"{label} gate and up projections", n, 2 * d_ff, m.d_model, count, after="norm"),
            _elementwise(f"{label} SiLU · up", n * d_ff, 2, 5, count),
            _gemm(f"{label} down projection", n, m.d_model, d_ff, count, after="activation")]


def routed_experts(m: Model, tokens: int) -> tuple[int, int]:
    """``(experts, tokens per expert)`` a batch of ``tokens`` reaches: with routing spread
    evenly (what load-balancing losses aim at; an assumption), E·(1 − (1 − k/E)^n) distinct
    experts, each with n·k of them shared out.  Under expert parallelism over s chips
    (``m.expert_shards``) each chip holds E/s experts and serves what every chip's tokens
    route there: of s·n tokens, (E/s)·(1 − (1 − k/E)^(s·n)) of its experts reached, sharing
    its n·k routed tokens on average."""
    E, k, s = m.experts, m.experts_per_token, m.expert_shards
    held = E // s
    reached = max(1, min(held, math.ceil(held * (1 - (1 - k / E) ** (tokens * s)) - 1e-9)))
    return reached, math.ceil(tokens * k / reached)


def _moe_parts(m: Model, n: int, count: int) -> list[Component]:
    """A mixture of experts (Shazeer et al., arXiv 1701.06538; Mixtral, arXiv 2401.04088): the
    router's logits and top-k, every reached expert's gated MLP as one grouped GEMM over its
    tokens, and a shared expert where the model has one."""
    d = m.d_model
    reached, per_expert = routed_experts(m, n)
    parts = [_gemm("MoE router", n, m.experts, d, count, after="norm"),
             _elementwise("MoE top-k routing (softmax, select)", n * m.experts, 1, 4, count),
             _gemm(f"MoE experts gate and up projections ({reached} experts reached)", per_expert,
                   2 * m.expert_d_ff, d, count, groups=reached),
             _elementwise("MoE experts SiLU · up", reached * per_expert * m.expert_d_ff, 2, 5, count),
             _gemm("MoE experts down projections", per_expert, d, m.expert_d_ff, count, groups=reached,
                   after="activation"),
             _elementwise("MoE combine (weighted sum of the top-k)", n * d * m.experts_per_token, 2, 2, count)]
    if m.shared_expert_d_ff:
        parts += _mlp_parts(m, n, count, m.shared_expert_d_ff, "MoE shared expert")
    return parts


def _rwkv7_parts(m: Model, phase: str, seq_len: int, batch: int, n: int, count: int) -> list[Component]:
    """RWKV-7's time mixing: token shift, the r, k, v projections and the four low-rank maps,
    the generalised delta rule (chunked, as flash-linear-attention runs it), the group norm
    and gate, the output projection."""
    d = m.d_model
    name = lambda text: _label(m, "rwkv7", text)  # noqa: E731
    parts = [_elementwise(name("token shift and mixes"), n * d, 2, 12, count),
             _gemm(name("r, k, v projections"), n, 3 * d, d, count),
             _gemm(name("low-rank maps down (decay, a, v, gate)"), n, sum(m.lora_ranks), d, count),
             _gemm(name("low-rank maps up"), n, d, max(m.lora_ranks), count * len(m.lora_ranks)),
             _elementwise(name("decay, rates, key normalisation"), n * d, 3, 12, count)]
    if phase == "prefill":  # flash-linear-attention's chunk_dplr_delta_rule: the chunked matmul form
        # with a decay per key channel (the rwkv7 family's "chunked")
        rule = get_workload("rwkv7-1.5b").with_params(seq_len=seq_len, batch=batch, heads=m.linear_heads,
                                                      state=m.linear_key_dim, value=m.linear_value_dim)
        parts.append(Component(name("generalised delta rule (chunked DPLR form)"), rule, "chunked", count))
    else:  # S ← S (diag(w) + a bᵀ) + v kᵀ, o = S r: the state read, updated and written back
        state = batch * m.linear_heads * m.linear_key_dim * m.linear_value_dim
        parts.append(_elementwise(name("recurrent state update"), state, 3, 8, count))
    return parts + [_elementwise(name("group norm and gate"), n * d, 3, 10, count),
                    _gemm(name("output projection"), n, d, d, count)]


_MIXER_PARTS = {"attention": _attention_parts,
                "mamba": lambda *a: _mamba_parts(*a, mixer="mamba"),
                "mamba2": lambda *a: _mamba_parts(*a, mixer="mamba2"),
                "gated-deltanet": _deltanet_parts,
                "rwkv7": _rwkv7_parts}
_FFN_PARTS = {"mlp": _mlp_parts, "moe": _moe_parts}
