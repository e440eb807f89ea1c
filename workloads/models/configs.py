"""Hugging Face ``config.json`` readers, one per architecture family: transformers
(LlamaForCausalLM, MistralForCausalLM, MixtralForCausalLM), recurrent models (MambaForCausalLM,
Mamba2ForCausalLM, RWKV7ForCausalLM) and hybrids (JambaForCausalLM: Mamba and attention layers
with mixture-of-experts MLPs; NemotronHForCausalLM: Mamba-2, attention and MLP layers in a
pattern string; Qwen3NextForCausalLM: Gated DeltaNet and gated attention layers with experts).
Every error names the file and the field.
"""

from __future__ import annotations

import json
import math
import reprlib
from pathlib import Path

from workloads.models.model import LIMITS, MAX_LAYERS, MAX_SIZE, Model, ModelError

__all__ = ["read_config", "ARCHITECTURES", "MAX_CONFIG_BYTES"]

#: a config.json is a few kilobytes; a larger file is refused before it is read
MAX_CONFIG_BYTES = 16 << 20

ARCHITECTURES = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "MixtralForCausalLM": "mixtral",
                 "MambaForCausalLM": "mamba", "Mamba2ForCausalLM": "mamba2", "JambaForCausalLM": "jamba",
                 "NemotronHForCausalLM": "nemotron-h", "Qwen3NextForCausalLM": "qwen3-next",
                 "RWKV7ForCausalLM": "rwkv7"}


class _Config:
    """A config's fields, read with the file and field named in every error."""

    def __init__(self, path: Path, config: dict, architecture: str):
        self.path, self.config, self.architecture = path, config, architecture

    def error(self, what: str) -> ModelError:
        return ModelError(f"{self.path}: {what}")

    def int(self, *keys: str, default: int | None = None, low: int = 1, high: int = MAX_SIZE) -> int:
        """The first of ``keys`` the config has, a whole number in [low, high] (``high``: one
        of :data:`~workloads.models.model.LIMITS`)."""
        for key in keys:
            if key in self.config:
                value = self.config[key]
                if isinstance(value, bool) or not isinstance(value, int) or value < low:
                    raise self.error(f"{key}: expected a whole number ≥ {low}, got {_got(value)}")
                if value > high:
                    raise self.error(f"{key}: expected at most {high:,} ({LIMITS[high]}), got {value:,}")
                return value
        if default is None:
            raise self.error(f"{keys[0]}: missing (a {self.architecture} config has it)")
        return default

    def bool(self, key: str, default: bool) -> bool:
        value = self.config.get(key, default)
        if not isinstance(value, bool):
            raise self.error(f"{key}: expected true or false, got {_got(value)}")
        return value

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            raise self.error(what)




#: a value as an error message shows it: short, and never deeper than a few levels (a field may
#: hold anything a JSON file can)
_GOT = reprlib.Repr()
_GOT.maxlevel, _GOT.maxstring, _GOT.maxother, _GOT.maxlong, _GOT.maxlist, _GOT.maxdict = 3, 40, 40, 40, 6, 6
_got = _GOT.repr


class _LongNumber:
    """A JSON integer too long to be any size: Python refuses to convert more than 4,300
    digits (``ValueError`` out of ``json.loads``), so such a number is kept as this, and
    refused by the field that reads it — an unused field may hold one."""

    def __init__(self, digits: int):
        self.digits = digits

    def __repr__(self) -> str:
        return f"a number of {self.digits:,} digits"


def _parse_int(text: str) -> int | _LongNumber:
    return int(text) if len(text) <= 100 else _LongNumber(len(text.lstrip("-")))


def _read_json(path: Path) -> object:
    """The file's JSON, or a one-line :class:`ModelError`: too large, not UTF-8, not JSON,
    nested deeper than Python's JSON reader recurses."""
    try:
        if path.is_file() and path.stat().st_size > MAX_CONFIG_BYTES:
            raise ModelError(f"{path}: {path.stat().st_size:,} bytes, more than the {MAX_CONFIG_BYTES >> 20} MiB "
                             "a config.json may hold")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: is a folder, expected a config.json") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: not a JSON config ({' '.join(str(exc).split())[:80]})") from None
    try:
        return json.loads(text, parse_int=_parse_int)
    except RecursionError:
        raise ModelError(f"{path}: nested too deeply to read: expected a JSON object of config fields") from None
    except ValueError as exc:  # json.JSONDecodeError is one
        raise ModelError(f"{path}: not a JSON config ({' '.join(str(exc).split())[:80]})") from None


def read_config(path: Path) -> Model:
    """A :class:`Model` from a Hugging Face ``config.json``: every size a whole number up to
    :data:`~workloads.models.model.MAX_SIZE`, the layers up to
    :data:`~workloads.models.model.MAX_LAYERS`."""
    config = _read_json(path)
    if not isinstance(config, dict):
        raise ModelError(f"{path}: expected a JSON object of config fields")
    names = config.get("architectures") or []
    if not isinstance(names, list) or not all(isinstance(a, str) for a in names):
        raise ModelError(f"{path}: architectures: expected a list of names, got {_got(names)}")
    arch = next((ARCHITECTURES[a] for a in names if a in ARCHITECTURES), None)
    if arch is None:
        raise ModelError(f"{path}: architectures: expected one of {', '.join(ARCHITECTURES)}, got {_got(names)}")
    c = _Config(path, config, names[0])
    d = c.int("hidden_size", "d_model")
    given = config.get("_name_or_path")
    common = dict(name=given if isinstance(given, str) and given.strip() else path.parent.name or path.stem,
                  architecture=arch, d_model=d, vocab=c.int("vocab_size"),
                  tied_embeddings=c.bool("tie_word_embeddings", arch in ("mamba", "mamba2")), source=str(path))
    layers = c.int("num_hidden_layers", "n_layer", "n_layers", high=MAX_LAYERS)
    return Model(**common, **_LOADERS[arch](c, d, layers))


# --------------------------------------------------------------------------- shared sections


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




# --------------------------------------------------------------------------- transformers


def _llama(c: _Config, d: int, layers: int) -> dict:
    return dict(layout=(("attention", "mlp"),) * layers, **_attention(c, d), d_ff=c.int("intermediate_size"))


def _mixtral(c: _Config, d: int, layers: int) -> dict:
    return dict(layout=(("attention", "moe"),) * layers, **_attention(c, d),
                **_experts(c, count=("num_local_experts",), d_ff="intermediate_size"))




# --------------------------------------------------------------------------- recurrent models


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




# --------------------------------------------------------------------------- hybrids


_PATTERN = {"M": ("mamba2", "none"), "*": ("attention", "none"), "-": ("none", "mlp")}


def _nemotron_h(c: _Config, d: int, layers: int) -> dict:
    """Nemotron-H (NVIDIA, arXiv 2504.03624; transformers' NemotronHConfig): one sublayer per
    layer, as ``hybrid_override_pattern`` spells them — M Mamba-2, * attention, - an MLP of
    up, squared ReLU and down projections."""
    pattern = c.config.get("hybrid_override_pattern")
    c.check(isinstance(pattern, str) and len(pattern) == layers and set(pattern) <= set(_PATTERN),
            f"hybrid_override_pattern: expected {layers} of {', '.join(_PATTERN)} (Mamba-2, attention, MLP), "
            f"got {_got(pattern)}")
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
            f"layer_types: expected {layers} of 'linear_attention' or 'full_attention', got {_got(types)}")
    step = c.int("decoder_sparse_step", default=1)
    dense = c.config.get("mlp_only_layers", [])
    c.check(isinstance(dense, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in dense),
            f"mlp_only_layers: expected a list of layer indices, got {_got(dense)}")
    dense = set(dense)
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




_LOADERS = {"llama": _llama, "mixtral": _mixtral, "mamba": _mamba1, "mamba2": _mamba2, "jamba": _jamba,
            "nemotron-h": _nemotron_h, "qwen3-next": _qwen3_next, "rwkv7": _rwkv7}

