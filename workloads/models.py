"""Whole models from the config files users have: a Hugging Face ``config.json`` of a
transformer (LlamaForCausalLM, MistralForCausalLM, MixtralForCausalLM), a recurrent model
(MambaForCausalLM, Mamba2ForCausalLM, RWKV7ForCausalLM) or a hybrid (JambaForCausalLM: Mamba and attention
layers with mixture-of-experts MLPs; NemotronHForCausalLM: Mamba-2, attention and MLP layers
in a pattern string; Qwen3NextForCausalLM: Gated DeltaNet and gated attention layers with
experts), as the layers scansim costs.

A model is its embedding, its layers and the LM head.  A layer is a *mixer* — attention,
Mamba-1, Mamba-2, Gated DeltaNet or none — and a *feed-forward* part — an MLP, a mixture of
experts, or none (a Mamba block) — in the order the config's layer pattern gives
(:attr:`Model.layout`).  Each piece is a catalog workload with exact sizes: norms, projections
and MLPs as GEMMs on the matrix unit (a mixture's experts as one grouped GEMM), gates and
activations elementwise, the short causal conv1d of Mamba and DeltaNet, and the mixer through
the existing families (attention; Mamba-1's selective scan; Mamba-2's SSD; Gated DeltaNet's
chunked form) — in the prefill of T tokens per sequence, or the decode of one token against
the KV cache (attention: every cached key and value is read) or the recurrent state (read and
rewritten).  No weights are ever needed.
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
           "sharded", "PHASES", "MIXERS", "FEED_FORWARDS"]

PHASES = ("prefill", "decode", "train")
MIXERS = ("attention", "mamba", "mamba2", "gated-deltanet", "rwkv7")  # and "none": a layer that is only an MLP
FEED_FORWARDS = ("mlp", "moe", "none")


class ModelError(WorkloadError):
    """A model config that cannot be costed; the message names the file and the field."""


@dataclass(frozen=True)
class Model:
    name: str
    architecture: str  # the config's model family (llama, mixtral, mamba, …); scansim for a model YAML
    d_model: int
    vocab: int
    layout: tuple[tuple[str, str], ...]  # (mixer, feed-forward) of every layer, first to last
    tied_embeddings: bool = False
    heads: int = 0  # attention
    kv_heads: int = 0
    head_dim: int = 0
    attention_gate: bool = False  # the query projection also emits a sigmoid output gate (Qwen3-Next)
    qk_norm: bool = False  # RMSNorm on every query and key head
    d_ff: int = 0  # dense MLP
    mlp_gated: bool = True  # SwiGLU (gate, up, down); False: up, squared ReLU, down (Nemotron-H)
    experts: int = 0  # mixture of experts
    experts_per_token: int = 0
    expert_d_ff: int = 0
    shared_expert_d_ff: int = 0  # an always-on expert beside the routed ones (0: none)
    d_inner: int = 0  # Mamba: expand · d_model
    d_state: int = 0
    d_conv: int = 0  # the short causal convolution of Mamba and Gated DeltaNet
    dt_rank: int = 0  # Mamba-1
    ssm_head_dim: int = 0  # Mamba-2
    groups: int = 1  # Mamba-2: B and C shared by the heads of a group
    linear_heads: int = 0  # Gated DeltaNet: value heads (each with its own state)
    linear_key_heads: int = 0  # query and key heads, shared by linear_heads / linear_key_heads value heads
    linear_key_dim: int = 0
    linear_value_dim: int = 0
    lora_ranks: tuple[int, ...] = ()  # RWKV-7: the low-rank decay, in-context-rate, value-residual and gate maps
    source: str = ""

    @property
    def layers(self) -> int:
        return len(self.layout)

    def count(self, kind: str) -> int:
        """How many layers have the mixer or feed-forward ``kind``."""
        return sum(kind in layer for layer in self.layout)

    @property
    def sublayers(self) -> int:
        """Mixers and feed-forward parts: each has a pre-norm and a residual add (and under
        tensor parallelism an all-reduce after its output projection)."""
        return sum((mixer != "none") + (ffn != "none") for mixer, ffn in self.layout)


@dataclass(frozen=True)
class Component:
    """One piece of a layer (or of the model's ends): a workload, its algorithm, and how many
    times a forward pass runs it (one per layer that has it)."""

    name: str
    workload: Workload
    algorithm: str | None
    count: int
    impl: str | None = None
    direction: str = "fwd"  # fwd+bwd in a training step
    dtype: str | None = None  # None: the pass's dtype


_ARCHITECTURES = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "MixtralForCausalLM": "mixtral",
                  "MambaForCausalLM": "mamba", "Mamba2ForCausalLM": "mamba2", "JambaForCausalLM": "jamba",
                  "NemotronHForCausalLM": "nemotron-h", "Qwen3NextForCausalLM": "qwen3-next",
                  "RWKV7ForCausalLM": "rwkv7"}


class _Config:
    """A config's fields, read with the file and field named in every error."""

    def __init__(self, path: Path, config: dict, architecture: str):
        self.path, self.config, self.architecture = path, config, architecture

    def error(self, what: str) -> ModelError:
        return ModelError(f"{self.path}: {what}")

    def int(self, *keys: str, default: int | None = None, low: int = 1) -> int:
        for key in keys:
            if key in self.config:
                value = self.config[key]
                if isinstance(value, bool) or not isinstance(value, int) or value < low:
                    raise self.error(f"{key}: expected a whole number ≥ {low}, got {value!r}")
                return value
        if default is None:
            raise self.error(f"{keys[0]}: missing (a {self.architecture} config has it)")
        return default

    def bool(self, key: str, default: bool) -> bool:
        value = self.config.get(key, default)
        if not isinstance(value, bool):
            raise self.error(f"{key}: expected true or false, got {value!r}")
        return value

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            raise self.error(what)


def load_model(path: str | Path) -> Model:
    """A :class:`Model` from a Hugging Face ``config.json`` (or scansim's own model YAML, see
    :mod:`workloads.model_file`); :class:`ModelError` naming the file and field when it cannot
    be read or its architecture is not one scansim costs."""
    path = Path(path)
    if path.suffix in (".yaml", ".yml"):
        from workloads.model_file import load_model_file

        return load_model_file(path)
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
    c = _Config(path, config, names[0])
    d = c.int("hidden_size", "d_model")
    common = dict(name=str(config.get("_name_or_path") or path.parent.name or path.stem), architecture=arch,
                  d_model=d, vocab=c.int("vocab_size"),
                  tied_embeddings=c.bool("tie_word_embeddings", arch in ("mamba", "mamba2")), source=str(path))
    layers = c.int("num_hidden_layers", "n_layer", "n_layers")
    return Model(**common, **_LOADERS[arch](c, d, layers))


def _attention(c: _Config, d: int) -> dict:
    heads = c.int("num_attention_heads")
    kv = c.int("num_key_value_heads", default=heads)
    c.check(heads % kv == 0, f"num_key_value_heads: {kv} does not divide num_attention_heads = {heads}")
    c.check("head_dim" in c.config or d % heads == 0,
            f"num_attention_heads: {heads} does not divide hidden_size = {d} (give head_dim)")
    return dict(heads=heads, kv_heads=kv, head_dim=c.int("head_dim", default=d // heads))


def _experts(c: _Config, *, count: tuple[str, ...], d_ff: str) -> dict:
    experts = c.int(*count)
    k = c.int("num_experts_per_tok")
    c.check(k <= experts, f"num_experts_per_tok: {k} is more than the {experts} experts")
    return dict(experts=experts, experts_per_token=k, expert_d_ff=c.int(d_ff))


def _mamba(c: _Config, d: int, *, inner: str, expand: str, state: str, conv: str, rank: str) -> dict:
    """Mamba-1's sizes under the config's field names (``inner`` "": expand · d_model)."""
    d_inner = c.int(inner, default=c.int(expand, default=2) * d) if inner else c.int(expand, default=2) * d
    dt_rank = math.ceil(d / 16) if c.config.get(rank, "auto") == "auto" else c.int(rank)
    return dict(d_inner=d_inner, d_state=c.int(state, "d_state", default=16), d_conv=c.int(conv, "d_conv", default=4),
                dt_rank=dt_rank)


def _llama(c: _Config, d: int, layers: int) -> dict:
    return dict(layout=(("attention", "mlp"),) * layers, **_attention(c, d), d_ff=c.int("intermediate_size"))


def _mixtral(c: _Config, d: int, layers: int) -> dict:
    return dict(layout=(("attention", "moe"),) * layers, **_attention(c, d),
                **_experts(c, count=("num_local_experts",), d_ff="intermediate_size"))


def _mamba1(c: _Config, d: int, layers: int) -> dict:
    return dict(layout=(("mamba", "none"),) * layers,
                **_mamba(c, d, inner="intermediate_size", expand="expand", state="state_size", conv="conv_kernel",
                         rank="time_step_rank"))


def _ssd(c: _Config, d_inner: int, head_dim: str, state: str) -> dict:
    head, groups = c.int(head_dim, "headdim", default=64), c.int("n_groups", "ngroups", default=1)
    c.check(d_inner % head == 0, f"{head_dim}: {head} does not divide the inner width {d_inner}")
    c.check((d_inner // head) % groups == 0, f"n_groups: {groups} does not divide the {d_inner // head} heads")
    return dict(d_inner=d_inner, d_state=c.int(state, "d_state", default=128),
                d_conv=c.int("conv_kernel", "d_conv", default=4), ssm_head_dim=head, groups=groups)


def _mamba2(c: _Config, d: int, layers: int) -> dict:
    d_inner = c.int("intermediate_size", default=c.int("expand", default=2) * d)
    return dict(layout=(("mamba2", "none"),) * layers, **_ssd(c, d_inner, "head_dim", "state_size"))


_PATTERN = {"M": ("mamba2", "none"), "*": ("attention", "none"), "-": ("none", "mlp")}


def _nemotron_h(c: _Config, d: int, layers: int) -> dict:
    """Nemotron-H (NVIDIA, arXiv 2504.03624; transformers' NemotronHConfig): one sublayer per
    layer, as ``hybrid_override_pattern`` spells them — M Mamba-2, * attention, - an MLP of
    up, squared ReLU and down projections."""
    pattern = c.config.get("hybrid_override_pattern")
    c.check(isinstance(pattern, str) and len(pattern) == layers and set(pattern) <= set(_PATTERN),
            f"hybrid_override_pattern: expected {layers} of {', '.join(_PATTERN)} (Mamba-2, attention, MLP), "
            f"got {str(pattern)[:60]!r}")
    d_inner = c.int("mamba_num_heads") * c.int("mamba_head_dim")
    return dict(layout=tuple(_PATTERN[ch] for ch in pattern), **_attention(c, d), d_ff=c.int("intermediate_size"),
                mlp_gated=c.config.get("mlp_hidden_act", "relu2") != "relu2",
                **_ssd(c, d_inner, "mamba_head_dim", "ssm_state_size"))


def _jamba(c: _Config, d: int, layers: int) -> dict:
    """Jamba (Lieber et al., arXiv 2403.19887; transformers' JambaConfig): layer i is attention
    when i % attn_layer_period == attn_layer_offset, else Mamba; its MLP is a mixture of
    experts when i % expert_layer_period == expert_layer_offset (and there are experts)."""
    period, offset = c.int("attn_layer_period", default=8), c.int("attn_layer_offset", default=4, low=0)
    e_period, e_offset = c.int("expert_layer_period", default=2), c.int("expert_layer_offset", default=1, low=0)
    c.check(offset < period, f"attn_layer_offset: {offset} is not below attn_layer_period = {period}")
    c.check(e_offset < e_period, f"expert_layer_offset: {e_offset} is not below expert_layer_period = {e_period}")
    moe = _experts(c, count=("num_experts",), d_ff="intermediate_size")
    layout = tuple(("attention" if i % period == offset else "mamba",
                    "moe" if moe["experts"] > 1 and i % e_period == e_offset else "mlp") for i in range(layers))
    mamba = _mamba(c, d, inner="", expand="mamba_expand", state="mamba_d_state", conv="mamba_d_conv",
                   rank="mamba_dt_rank")
    return dict(layout=layout, **_attention(c, d), d_ff=c.int("intermediate_size"), **moe, **mamba)


def _qwen3_next(c: _Config, d: int, layers: int) -> dict:
    """Qwen3-Next (transformers' Qwen3NextConfig): ``layer_types`` ("linear_attention",
    "full_attention") or every full_attention_interval-th layer full attention, the others
    Gated DeltaNet; a mixture of experts with a shared expert in every decoder_sparse_step-th
    layer not in mlp_only_layers, a dense MLP in the rest; gated attention with per-head
    query/key norms."""
    types = c.config.get("layer_types")
    if types is None:
        interval = c.int("full_attention_interval", default=4)
        types = ["full_attention" if (i + 1) % interval == 0 else "linear_attention" for i in range(layers)]
    c.check(isinstance(types, list) and len(types) == layers
            and all(t in ("linear_attention", "full_attention") for t in types),
            f"layer_types: expected {layers} of 'linear_attention' or 'full_attention', got {str(types)[:60]}")
    step = c.int("decoder_sparse_step", default=1)
    dense = c.config.get("mlp_only_layers", [])
    c.check(isinstance(dense, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in dense),
            f"mlp_only_layers: expected a list of layer indices, got {dense!r}")
    moe = _experts(c, count=("num_experts",), d_ff="moe_intermediate_size")
    layout = tuple(("attention" if t == "full_attention" else "gated-deltanet",
                    "moe" if (i + 1) % step == 0 and i not in dense else "mlp") for i, t in enumerate(types))
    key_heads, value_heads = c.int("linear_num_key_heads"), c.int("linear_num_value_heads")
    c.check(value_heads % key_heads == 0,
            f"linear_num_key_heads: {key_heads} does not divide linear_num_value_heads = {value_heads}")
    return dict(layout=layout, **_attention(c, d), attention_gate=c.bool("attn_output_gate", True), qk_norm=True,
                d_ff=c.int("intermediate_size"), **moe,
                shared_expert_d_ff=c.int("shared_expert_intermediate_size", default=0, low=0),
                d_conv=c.int("linear_conv_kernel_dim", default=4), linear_heads=value_heads,
                linear_key_heads=key_heads, linear_key_dim=c.int("linear_key_head_dim"),
                linear_value_dim=c.int("linear_value_head_dim"))


def _rwkv7(c: _Config, d: int, layers: int) -> dict:
    """RWKV-7 "Goose" (Peng et al., arXiv 2503.14456) with flash-linear-attention's config
    fields (fla/models/rwkv7): time mixing with r, k, v, o projections, four low-rank maps
    (decay, in-context learning rate, value residual, gate), heads of ``head_dim`` with a
    ``head_dim``² state; channel mixing an MLP of up, squared ReLU and down."""
    head = c.int("head_dim", default=64)
    c.check(d % head == 0, f"head_dim: {head} does not divide hidden_size = {d}")
    ranks = tuple(c.int(f"{name}_low_rank_dim") for name in ("decay", "a", "v", "gate"))
    return dict(layout=(("rwkv7", "mlp"),) * layers, d_ff=c.int("intermediate_size", default=4 * d),
                mlp_gated=False, linear_heads=d // head, linear_key_heads=d // head, linear_key_dim=head,
                linear_value_dim=head, lora_ranks=ranks)


_LOADERS = {"llama": _llama, "mixtral": _mixtral, "mamba": _mamba1, "mamba2": _mamba2, "jamba": _jamba,
            "nemotron-h": _nemotron_h, "qwen3-next": _qwen3_next, "rwkv7": _rwkv7}


# --------------------------------------------------------------------------- sizes


def _widths(m: Model) -> dict[str, int]:
    """Projection widths the pieces share: attention's query (with its gate) and key/value
    outputs, Mamba-2's input projection and conv channels, Gated DeltaNet's q, k, v (and z)."""
    qk = m.linear_key_heads * m.linear_key_dim
    v = m.linear_heads * m.linear_value_dim
    ssd_heads = m.d_inner // m.ssm_head_dim if m.ssm_head_dim else 0
    return {"q": m.heads * m.head_dim * (2 if m.attention_gate else 1), "kv": 2 * m.kv_heads * m.head_dim,
            "mamba2_in": 2 * m.d_inner + 2 * m.groups * m.d_state + ssd_heads,
            "mamba2_conv": m.d_inner + 2 * m.groups * m.d_state,
            "gdn_in": 2 * qk + 2 * v + 2 * m.linear_heads, "gdn_conv": 2 * qk + v, "gdn_v": v}


def _mixer_parameters(m: Model, mixer: str) -> int:
    d, w = m.d_model, _widths(m)
    if mixer == "attention":
        return d * (w["q"] + w["kv"]) + m.heads * m.head_dim * d + (2 * m.head_dim if m.qk_norm else 0)
    if mixer == "mamba":
        di, n, r = m.d_inner, m.d_state, m.dt_rank
        # in_proj, conv (+bias), x_proj, dt_proj (+bias), A, D, out_proj
        return d * 2 * di + di * m.d_conv + di + di * (r + 2 * n) + r * di + di + di * n + di + di * d
    if mixer == "none":
        return 0
    if mixer == "rwkv7":  # r, k, v, o; each low-rank map down and up (+ a bias but the gate's);
        # token-shift mixes (6), k_k, k_a, r_k and the group norm's weight and bias (5)
        return 4 * d * d + sum(2 * d * r for r in m.lora_ranks) + 3 * d + 11 * d
    if mixer == "mamba2":
        heads = m.d_inner // m.ssm_head_dim
        conv = w["mamba2_conv"]
        return d * w["mamba2_in"] + conv * m.d_conv + conv + 3 * heads + m.d_inner + m.d_inner * d
    # Gated DeltaNet: in_proj_qkvz and in_proj_ba, conv, A and dt bias, gated norm, out_proj
    return d * w["gdn_in"] + w["gdn_conv"] * m.d_conv + 2 * m.linear_heads + m.linear_value_dim + w["gdn_v"] * d


def _ffn_parameters(m: Model, ffn: str, active: bool) -> int:
    d = m.d_model
    if ffn == "mlp":
        return (3 if m.mlp_gated else 2) * d * m.d_ff
    if ffn == "moe":
        routed = (m.experts_per_token if active else m.experts) * 3 * d * m.expert_d_ff
        shared = 3 * d * m.shared_expert_d_ff + d if m.shared_expert_d_ff else 0  # and its sigmoid gate
        return d * m.experts + routed + shared  # the router
    return 0


def parameters(m: Model, active: bool = False) -> int:
    """Weights: embeddings (and an untied LM head), every layer's mixer, feed-forward part and
    norms, and the final norm; ``active``: with only the experts a token is routed to."""
    embed = m.vocab * m.d_model * (1 if m.tied_embeddings else 2)
    layers = sum(_mixer_parameters(m, mixer) + _ffn_parameters(m, ffn, active) for mixer, ffn in m.layout)
    return embed + layers + m.d_model * (m.sublayers + 1)  # the pre-norms and the final norm


def _gemm(name: str, tokens: int, out: int, inner: int, count: int, groups: int = 1) -> Component:
    w = get_workload("gemm-4096").with_params(m=tokens, n=out, k=inner, batch=groups)
    return Component(name, w, "tiled", count)


def _elementwise(name: str, elements: int, inputs: int, flops: int, count: int) -> Component:
    w = get_workload("elementwise-256m").with_params(elements=elements, inputs=inputs, flops_per_element=flops)
    return Component(name, w, "map", count)


def _read(name: str, elements: int, count: int) -> Component:
    """A pass that reads ``elements`` (a KV cache) and reduces them: memory-bound decode."""
    return Component(name, get_workload("reduction-256m").with_params(elements=elements), "tree", count)


_SPLIT = {"attention": ("heads", "kv_heads"), "mamba": ("d_inner",), "mamba2": ("d_inner",),
          "gated-deltanet": ("linear_heads", "linear_key_heads"), "rwkv7": ("linear_heads", "linear_key_heads"),
          "mlp": ("d_ff",),
          "moe": ("expert_d_ff", "shared_expert_d_ff")}
_REPLICABLE = ("kv_heads", "linear_key_heads")  # heads shared by groups of query / value heads


def sharded(m: Model, tp: int) -> Model:
    """One chip's share of the model under tensor parallelism of degree ``tp`` (Megatron-LM:
    Shoeybi et al., arXiv 1909.08053): attention and DeltaNet heads, MLP and expert widths,
    Mamba's inner channels and heads, and the vocabulary split ``tp`` ways; the model width is
    whole on every chip.  Grouped key/value heads fewer than the chips are replicated, one per
    chip (as vLLM and TensorRT-LLM shard grouped-query attention)."""
    if tp == 1:
        return m
    if isinstance(tp, bool) or not isinstance(tp, int) or tp < 1:
        raise ModelError(f"chips: expected a whole number ≥ 1, got {tp!r}")
    kinds = {kind for layer in m.layout for kind in layer}
    share = {}
    for name in (name for kind in sorted(kinds) for name in _SPLIT.get(kind, ())):
        value = getattr(m, name)
        if name in _REPLICABLE and value < tp and tp % value == 0:
            share[name] = 1  # fewer shared key/value heads than chips: each chip keeps a copy of one
        elif value % tp:
            raise ModelError(f"{m.name}: {name} = {value} does not split over {tp} chips")
        else:
            share[name] = value // tp
    if "mamba2" in kinds and (m.d_inner // tp) % m.ssm_head_dim:
        raise ModelError(f"{m.name}: {m.d_inner // m.ssm_head_dim} SSD heads do not split over {tp} chips")
    return dataclasses.replace(m, **share, vocab=math.ceil(m.vocab / tp))


def all_reduces(m: Model, phase: str, seq_len: int, batch: int = 1) -> tuple[float, int]:
    """``(elements, count)`` of the all-reduces tensor parallelism adds to one pass: after each
    row-parallel projection (every mixer's output projection and every MLP's or expert's down
    projection) the partial sums of every token's ``d_model`` outputs; twice as many in a
    training step (the backward's input gradients)."""
    tokens = batch * (1 if phase == "decode" else seq_len)
    return float(tokens * m.d_model), m.sublayers * (2 if phase == "train" else 1)


def components(m: Model, phase: str, seq_len: int, batch: int = 1, recompute: bool = False) -> list[Component]:
    """The pieces of one pass: the prefill of ``seq_len`` tokens per sequence, one decode step
    at context ``seq_len``, or a training step on ``batch`` sequences of ``seq_len`` — every
    piece forward and backward (its backward schedule: the GEMMs' ∂A and ∂B, the mixers'
    reverse scans and FlashAttention's backward), the layers' forward once more when
    activations are recomputed, and the optimizer's update."""
    if phase not in PHASES:
        raise ModelError(f"phase: expected one of {', '.join(PHASES)}, got {phase!r}")
    if phase == "train":
        forward = _forward(m, "prefill", seq_len, batch, logits=batch * seq_len)  # a loss on every token
        parts = [dataclasses.replace(p, direction="fwd+bwd") for p in forward]
        if recompute:  # activation checkpointing: each layer's forward again before its backward
            parts += [dataclasses.replace(p, name=f"recompute: {p.name}") for p in forward
                      if not p.name.startswith(_ENDS)]
        # Adam with fp32 master weights and moments: read weight, gradient and two moments, write
        # weight and moments — 28 bytes a parameter, as 6 fp32 inputs and 1 output
        update = get_workload("elementwise-256m").with_params(elements=parameters(m), inputs=6, flops_per_element=12)
        return parts + [Component("optimizer update (Adam, fp32 states)", update, "map", 1, dtype="fp32")]
    return _forward(m, phase, seq_len, batch)


_ENDS = ("embedding lookup", "final norm", "LM head")  # the pieces outside the layers


def _forward(m: Model, phase: str, seq_len: int, batch: int, logits: int | None = None) -> list[Component]:
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
              _gemm("LM head" + (" (last token)" if logits == batch else ""), logits, m.vocab, d, 1)]
    return parts


def _label(m: Model, mixer: str, text: str) -> str:
    """A piece's name, prefixed by its mixer in a hybrid (where several kinds of layers have one)."""
    hybrid = len({mx for mx, _ in m.layout} - {"none"}) > 1
    return f"{mixer}: {text}" if hybrid else text


def _attention_parts(m: Model, phase: str, seq_len: int, batch: int, n: int, count: int) -> list[Component]:
    w, d = _widths(m), m.d_model
    name = lambda text: _label(m, "attention", text)  # noqa: E731
    parts = [_gemm(name("QKV projection" + (" and output gate" if m.attention_gate else "")), n, w["q"] + w["kv"],
                   d, count)]
    if m.qk_norm:
        parts.append(_elementwise(name("query and key norms"), n * (m.heads + m.kv_heads) * m.head_dim, 1, 4, count))
    if phase == "prefill":
        attention = get_workload("llama2-7b-attention").with_params(
            seq_len=seq_len, batch=batch, heads=m.heads, state=m.head_dim, value=m.head_dim)
        parts.append(Component(name("attention (FlashAttention, causal)"), attention, "blocked", count))
    else:  # one query against every cached key and value
        parts.append(_read(name("attention over the KV cache"), batch * 2 * seq_len * m.kv_heads * m.head_dim, count))
    if m.attention_gate:
        parts.append(_elementwise(name("output gate (σ)"), n * m.heads * m.head_dim, 2, 5, count))
    return parts + [_gemm(name("output projection"), n, d, m.heads * m.head_dim, count)]


def _mamba_parts(m: Model, phase: str, seq_len: int, batch: int, n: int, count: int, mixer: str) -> list[Component]:
    w, d, di, ns = _widths(m), m.d_model, m.d_inner, m.d_state
    name = lambda text: _label(m, mixer, text)  # noqa: E731
    proj, conv = (2 * di, di) if mixer == "mamba" else (w["mamba2_in"], w["mamba2_conv"])
    parts = [_gemm(name("input projection"), n, proj, d, count),
             _elementwise(name("causal conv1d + SiLU"), n * conv, m.d_conv, 2 * m.d_conv + 4, count)]
    if mixer == "mamba":
        parts += [_gemm(name("x projection (Δ, B, C)"), n, m.dt_rank + 2 * ns, di, count),
                  _gemm(name("Δ projection"), n, di, m.dt_rank, count)]
    if phase == "prefill" and mixer == "mamba":
        scan = get_workload("mamba-130m").with_params(seq_len=seq_len, batch=batch, heads=di, state=ns)
        parts.append(Component(name("selective scan"), scan, "chunked", count, impl="selective-scan"))
    elif phase == "prefill":
        ssd = get_workload("mamba2-2.7b").with_params(seq_len=seq_len, batch=batch, heads=di // m.ssm_head_dim,
                                                      state=ns, value=m.ssm_head_dim)
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
    w, d = _widths(m), m.d_model
    name = lambda text: _label(m, "gated-deltanet", text)  # noqa: E731
    parts = [_gemm(name("q, k, v, z, β, α projections"), n, w["gdn_in"], d, count),
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
        return [_gemm("MLP up projection", n, d_ff, m.d_model, count),
                _elementwise("MLP squared ReLU", n * d_ff, 1, 2, count),
                _gemm("MLP down projection", n, m.d_model, d_ff, count)]
    return [_gemm(f"{label} gate and up projections", n, 2 * d_ff, m.d_model, count),
            _elementwise(f"{label} SiLU · up", n * d_ff, 2, 5, count),
            _gemm(f"{label} down projection", n, m.d_model, d_ff, count)]


def routed_experts(m: Model, tokens: int) -> tuple[int, int]:
    """``(experts, tokens per expert)`` a batch of ``tokens`` reaches: with routing spread
    evenly (what load-balancing losses aim at; an assumption), E·(1 − (1 − k/E)^n) distinct
    experts, each with n·k of them shared out."""
    E, k = m.experts, m.experts_per_token
    reached = max(1, min(E, math.ceil(E * (1 - (1 - k / E) ** tokens) - 1e-9)))
    return reached, math.ceil(tokens * k / reached)


def _moe_parts(m: Model, n: int, count: int) -> list[Component]:
    """A mixture of experts (Shazeer et al., arXiv 1701.06538; Mixtral, arXiv 2401.04088): the
    router's logits and top-k, every reached expert's gated MLP as one grouped GEMM over its
    tokens, and a shared expert where the model has one."""
    d = m.d_model
    reached, per_expert = routed_experts(m, n)
    parts = [_gemm("MoE router", n, m.experts, d, count),
             _elementwise("MoE top-k routing (softmax, select)", n * m.experts, 1, 4, count),
             _gemm(f"MoE experts gate and up projections ({reached} experts reached)", per_expert,
                   2 * m.expert_d_ff, d, count, groups=reached),
             _elementwise("MoE experts SiLU · up", reached * per_expert * m.expert_d_ff, 2, 5, count),
             _gemm("MoE experts down projections", per_expert, d, m.expert_d_ff, count, groups=reached),
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
    if phase == "prefill":  # flash-linear-attention's chunk_dplr_delta_rule: the delta rule's chunked
        # WY form with a per-channel decay — costed as the gated delta rule's chunked form
        rule = get_workload("gated-deltanet-1.3b").with_params(seq_len=seq_len, batch=batch, heads=m.linear_heads,
                                                               state=m.linear_key_dim, value=m.linear_value_dim)
        parts.append(Component(name("generalised delta rule (chunked, WY form)"), rule, "chunked", count))
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
