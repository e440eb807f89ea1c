"""Whole models from the config files users have: a Hugging Face ``config.json`` of a
transformer (LlamaForCausalLM, MistralForCausalLM) or a recurrent model (MambaForCausalLM,
Mamba2ForCausalLM), as the layers scansim costs.

A model is its embedding, ``layers`` identical blocks and the LM head.  A block is its
components, each a catalog workload with exact sizes: norms, projections and MLP as GEMMs on
the matrix unit, gates and activations elementwise, the short causal conv1d of Mamba, and
the mixer through the existing families (attention; Mamba-1's selective scan; Mamba-2's SSD)
— in the prefill of T tokens per sequence, or the decode of one token against the KV cache
(attention: every cached key and value is read) or the recurrent state (read and rewritten).
No weights are ever needed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from workloads.catalog import Workload, get_workload
from workloads.errors import WorkloadError

__all__ = ["Model", "Component", "ModelError", "load_model", "parameters", "components", "all_reduces",
           "sharded", "PHASES"]

PHASES = ("prefill", "decode", "train")


class ModelError(WorkloadError):
    """A model config that cannot be costed; the message names the file and the field."""


@dataclass(frozen=True)
class Model:
    name: str
    architecture: str  # llama, mamba or mamba2
    d_model: int
    layers: int
    vocab: int
    tied_embeddings: bool = False
    heads: int = 0  # attention
    kv_heads: int = 0
    head_dim: int = 0
    d_ff: int = 0
    d_inner: int = 0  # Mamba: expand · d_model
    d_state: int = 0
    d_conv: int = 0
    dt_rank: int = 0  # Mamba-1
    ssm_head_dim: int = 0  # Mamba-2
    groups: int = 1  # Mamba-2: B and C shared by the heads of a group
    source: str = ""


@dataclass(frozen=True)
class Component:
    """One piece of a block (or of the model's ends): a workload, its algorithm, and how many
    times a forward pass runs it (``layers`` for a block's pieces)."""

    name: str
    workload: Workload
    algorithm: str | None
    count: int
    impl: str | None = None
    direction: str = "fwd"  # fwd+bwd in a training step
    dtype: str | None = None  # None: the pass's dtype


_ARCHITECTURES = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama",
                  "MambaForCausalLM": "mamba", "Mamba2ForCausalLM": "mamba2"}


def load_model(path: str | Path) -> Model:
    """A :class:`Model` from a Hugging Face ``config.json``; :class:`ModelError` naming the
    file and field when it cannot be read or its architecture is not one scansim costs."""
    path = Path(path)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: not a JSON config ({' '.join(str(exc).split())[:80]})") from None
    if not isinstance(config, dict):
        raise ModelError(f"{path}: expected a JSON object of config fields")
    names = config.get("architectures") or []
    if not isinstance(names, list) or not all(isinstance(a, str) for a in names):
        raise ModelError(f"{path}: architectures: expected a list of names, got {names!r}")
    arch = next((_ARCHITECTURES[a] for a in names if a in _ARCHITECTURES), None)
    if arch is None:
        raise ModelError(f"{path}: architectures: expected one of {', '.join(_ARCHITECTURES)}, got {names!r}")

    def field(*keys, default=None):
        for key in keys:
            if key in config:
                value = config[key]
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ModelError(f"{path}: {key}: expected a whole number ≥ 1, got {value!r}")
                return value
        if default is None:
            raise ModelError(f"{path}: {keys[0]}: missing (a {names[0]} config has it)")
        return default

    d = field("hidden_size", "d_model")
    tied = config.get("tie_word_embeddings", arch != "llama")
    if not isinstance(tied, bool):
        raise ModelError(f"{path}: tie_word_embeddings: expected true or false, got {tied!r}")
    common = dict(name=str(config.get("_name_or_path") or path.parent.name or path.stem), architecture=arch,
                  d_model=d, layers=field("num_hidden_layers", "n_layer", "n_layers"),
                  vocab=field("vocab_size"), tied_embeddings=tied, source=str(path))

    def check(ok: bool, what: str) -> None:
        if not ok:
            raise ModelError(f"{path}: {what}")

    if arch == "llama":
        heads = field("num_attention_heads")
        kv = field("num_key_value_heads", default=heads)
        check(heads % kv == 0, f"num_key_value_heads: {kv} does not divide num_attention_heads = {heads}")
        check("head_dim" in config or d % heads == 0,
              f"num_attention_heads: {heads} does not divide hidden_size = {d} (give head_dim)")
        return Model(**common, heads=heads, kv_heads=kv, head_dim=field("head_dim", default=d // heads),
                     d_ff=field("intermediate_size"))
    expand = field("expand", default=2)
    d_inner = field("intermediate_size", default=expand * d)
    d_conv = field("conv_kernel", "d_conv", default=4)
    if arch == "mamba":
        dt_rank = config.get("time_step_rank", "auto")
        dt_rank = math.ceil(d / 16) if dt_rank == "auto" else field("time_step_rank")
        return Model(**common, d_inner=d_inner, d_state=field("state_size", "d_state", default=16),
                     d_conv=d_conv, dt_rank=dt_rank)
    head_dim, groups = field("head_dim", "headdim", default=64), field("n_groups", "ngroups", default=1)
    check(d_inner % head_dim == 0, f"head_dim: {head_dim} does not divide the inner width {d_inner}")
    check((d_inner // head_dim) % groups == 0, f"n_groups: {groups} does not divide the {d_inner // head_dim} heads")
    return Model(**common, d_inner=d_inner, d_state=field("state_size", "d_state", default=128), d_conv=d_conv,
                 ssm_head_dim=head_dim, groups=groups)


def parameters(m: Model) -> int:
    """Weights: embeddings (and an untied LM head), every block's projections, convolution,
    SSM parameters and norms, and the final norm."""
    embed = m.vocab * m.d_model * (1 if m.tied_embeddings else 2)
    d = m.d_model
    if m.architecture == "llama":
        block = d * (m.heads + 2 * m.kv_heads) * m.head_dim + m.heads * m.head_dim * d + 3 * d * m.d_ff + 2 * d
    elif m.architecture == "mamba":
        di, n, r = m.d_inner, m.d_state, m.dt_rank
        block = (d * 2 * di + di * m.d_conv + di + di * (r + 2 * n) + r * di + di + di * n + di
                 + di * d + d)  # in_proj, conv (+bias), x_proj, dt_proj (+bias), A, D, out_proj, norm
    else:
        di, n, g = m.d_inner, m.d_state, m.groups
        nh = di // m.ssm_head_dim
        conv = di + 2 * g * n
        block = (d * (2 * di + 2 * g * n + nh) + conv * m.d_conv + conv + 3 * nh + di + di * d + d)
    return embed + m.layers * block + d


def _gemm(name: str, tokens: int, out: int, inner: int, count: int) -> Component:
    return Component(name, get_workload("gemm-4096").with_params(m=tokens, n=out, k=inner), "tiled", count)


def _elementwise(name: str, elements: int, inputs: int, flops: int, count: int) -> Component:
    w = get_workload("elementwise-256m").with_params(elements=elements, inputs=inputs, flops_per_element=flops)
    return Component(name, w, "map", count)


def _read(name: str, elements: int, count: int) -> Component:
    """A pass that reads ``elements`` (a KV cache) and reduces them: memory-bound decode."""
    return Component(name, get_workload("reduction-256m").with_params(elements=elements), "tree", count)


def sharded(m: Model, tp: int) -> Model:
    """One chip's share of the model under tensor parallelism of degree ``tp`` (Megatron-LM:
    Shoeybi et al., arXiv 1909.08053): attention heads, MLP width, Mamba's inner channels and
    heads, and the vocabulary split ``tp`` ways; the model width is whole on every chip."""
    if tp == 1:
        return m
    if not isinstance(tp, int) or tp < 1:
        raise ModelError(f"chips: expected a whole number ≥ 1, got {tp!r}")
    split = {"llama": ("heads", "kv_heads", "d_ff"), "mamba": ("d_inner",), "mamba2": ("d_inner",)}[m.architecture]
    for name in split:
        if getattr(m, name) % tp:
            raise ModelError(f"{m.name}: {name} = {getattr(m, name)} does not split over {tp} chips")
    if m.architecture == "mamba2" and (m.d_inner // tp) % m.ssm_head_dim:
        raise ModelError(f"{m.name}: {m.d_inner // m.ssm_head_dim} SSD heads do not split over {tp} chips")
    return dataclasses.replace(m, **{n: getattr(m, n) // tp for n in split}, vocab=math.ceil(m.vocab / tp))


def all_reduces(m: Model, phase: str, seq_len: int, batch: int = 1) -> tuple[float, int]:
    """``(elements, count)`` of the all-reduces tensor parallelism adds to one pass: after each
    row-parallel projection (attention's output and the MLP's down projection; Mamba's output
    projection) the partial sums of every token's ``d_model`` outputs; twice as many in a
    training step (the backward's input gradients)."""
    tokens = batch * (1 if phase == "decode" else seq_len)
    per_layer = 2 if m.architecture == "llama" else 1
    return float(tokens * m.d_model), per_layer * m.layers * (2 if phase == "train" else 1)


def components(m: Model, phase: str, seq_len: int, batch: int = 1, recompute: bool = False) -> list[Component]:
    """The pieces of one pass: the prefill of ``seq_len`` tokens per sequence, one decode step
    at context ``seq_len``, or a training step on ``batch`` sequences of ``seq_len`` — every
    piece forward and backward (its backward schedule: the GEMMs' ∂A and ∂B, the mixers'
    reverse scans and FlashAttention's backward), the blocks' forward once more when
    activations are recomputed, and the optimizer's update."""
    if phase not in PHASES:
        raise ModelError(f"phase: expected one of {', '.join(PHASES)}, got {phase!r}")
    if phase == "train":
        forward = _forward(m, "prefill", seq_len, batch, logits=batch * seq_len)  # a loss on every token
        parts = [dataclasses.replace(p, direction="fwd+bwd") for p in forward]
        if recompute:  # activation checkpointing: each block's forward again before its backward
            parts += [dataclasses.replace(p, name=f"recompute: {p.name}") for p in forward if p.count == m.layers]
        # Adam with fp32 master weights and moments: read weight, gradient and two moments, write
        # weight and moments — 28 bytes a parameter, as 6 fp32 inputs and 1 output
        update = get_workload("elementwise-256m").with_params(elements=parameters(m), inputs=6, flops_per_element=12)
        return parts + [Component("optimizer update (Adam, fp32 states)", update, "map", 1, dtype="fp32")]
    return _forward(m, phase, seq_len, batch)


def _forward(m: Model, phase: str, seq_len: int, batch: int, logits: int | None = None) -> list[Component]:
    n = batch * (seq_len if phase == "prefill" else 1)  # tokens through the projections
    logits = logits or batch  # serving needs the next token's logits only
    d, L = m.d_model, m.layers
    parts = [_elementwise("embedding lookup", n * d, 1, 1, 1)]
    parts.append(_elementwise("norms", n * d, 1, 4, 2 * L if m.architecture == "llama" else L))
    if m.architecture == "llama":
        qkv = (m.heads + 2 * m.kv_heads) * m.head_dim
        parts.append(_gemm("QKV projection", n, qkv, d, L))
        if phase == "prefill":
            attention = get_workload("llama2-7b-attention").with_params(
                seq_len=seq_len, batch=batch, heads=m.heads, state=m.head_dim, value=m.head_dim)
            parts.append(Component("attention (FlashAttention, causal)", attention, "blocked", L))
        else:  # one query against every cached key and value
            parts.append(_read("attention over the KV cache", batch * 2 * seq_len * m.kv_heads * m.head_dim, L))
        parts += [_gemm("output projection", n, d, m.heads * m.head_dim, L),
                  _gemm("MLP gate and up projections", n, 2 * m.d_ff, d, L),
                  _elementwise("SiLU · up", n * m.d_ff, 2, 5, L),
                  _gemm("MLP down projection", n, d, m.d_ff, L)]
    else:
        di, ns = m.d_inner, m.d_state
        if m.architecture == "mamba":
            proj, conv_width = 2 * di, di
        else:
            proj, conv_width = 2 * di + 2 * m.groups * ns + di // m.ssm_head_dim, di + 2 * m.groups * ns
        parts.append(_gemm("input projection", n, proj, d, L))
        parts.append(_elementwise("causal conv1d + SiLU", n * conv_width, m.d_conv, 2 * m.d_conv + 4, L))
        if m.architecture == "mamba":
            parts += [_gemm("x projection (Δ, B, C)", n, m.dt_rank + 2 * ns, di, L),
                      _gemm("Δ projection", n, di, m.dt_rank, L)]
        if phase == "prefill":
            if m.architecture == "mamba":
                scan = get_workload("mamba-130m").with_params(seq_len=seq_len, batch=batch, heads=di, state=ns)
                parts.append(Component("selective scan", scan, "chunked", L, impl="selective-scan"))
            else:
                ssd = get_workload("mamba2-2.7b").with_params(seq_len=seq_len, batch=batch,
                                                              heads=di // m.ssm_head_dim, state=ns,
                                                              value=m.ssm_head_dim)
                parts.append(Component("SSD (chunked)", ssd, "chunked", L))
        else:  # the state is read, updated and written back: d_inner × d_state per sequence
            parts.append(_elementwise("recurrent state update", batch * di * ns, 3, 6, L))
        parts += [_elementwise("gate (y · SiLU z)" + (" and gated norm" if m.architecture == "mamba2" else ""),
                               n * di, 2, 6, L),
                  _gemm("output projection", n, d, di, L)]
    parts.append(_elementwise("residual adds", n * d, 2, 1, 2 * L if m.architecture == "llama" else L))
    parts += [_elementwise("final norm", logits * d, 1, 4, 1),
              _gemm("LM head" + (" (last token)" if logits == batch else ""), logits, m.vocab, d, 1)]
    return parts
