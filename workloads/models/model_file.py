"""scansim's own model file: a small YAML for a hypothetical model, with the same pieces a
Hugging Face config describes (:mod:`workloads.models.configs`) but named plainly::

    name: gdn-hybrid-1.3b
    d_model: 2048
    vocab: 32000
    tied_embeddings: true
    layers:                        # each layer's mixer / feed-forward part, the pattern repeated
      pattern: [gated-deltanet/mlp, gated-deltanet/mlp, gated-deltanet/mlp, attention/mlp]
      repeat: 6
    attention: {heads: 16, kv_heads: 4, head_dim: 128}
    mlp: {d_ff: 5632}              # gated: false for up, squared ReLU, down
    gated_deltanet: {heads: 16, key_dim: 128, value_dim: 128}

Mixers: attention, mamba, mamba2, gated-deltanet, none; feed-forward parts: mlp, moe, none
(RWKV-7 has no section here: cost it from its config.json).  Each kind the pattern uses needs
its section (``attention``, ``mamba``, ``mamba2``, ``gated_deltanet``, ``mlp``, ``moe``).  The
file is read as spec files are (:func:`hwmodels.loader.read_yaml`: a duplicate key is refused)
and refused in one line naming the field when a key is unknown, a size is not a whole number
from 1 to :data:`~workloads.models.model.MAX_SIZE`, the layers are more than
:data:`~workloads.models.model.MAX_LAYERS`, or a section is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hwmodels.loader import SpecError, read_yaml
from workloads.models.model import FEED_FORWARDS, LIMITS, MAX_LAYERS, MAX_SIZE, MIXERS, Model, ModelError

__all__ = ["load_model_file", "MAX_MODEL_FILE_BYTES"]

MAX_MODEL_FILE_BYTES = 1 << 20  # a model file is a few hundred bytes
_MAX_DEPTH = 8


#: a size in a model file: a whole number from 1 to MAX_SIZE
_Size = Annotated[int, Field(ge=1, le=MAX_SIZE)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class _Attention(_Strict):
    heads: _Size
    kv_heads: _Size | None = None  # default: one per head
    head_dim: _Size
    gate: bool = False  # the query projection also emits a sigmoid output gate
    qk_norm: bool = False


class _Mlp(_Strict):
    d_ff: _Size
    gated: bool = True


class _Moe(_Strict):
    experts: _Size
    per_token: _Size
    d_ff: _Size
    shared_d_ff: int = Field(default=0, ge=0, le=MAX_SIZE)


class _Mamba(_Strict):
    d_inner: _Size
    d_state: _Size = 16
    conv: _Size = 4
    dt_rank: _Size


class _Mamba2(_Strict):
    d_inner: _Size
    d_state: _Size = 128
    head_dim: _Size = 64
    groups: _Size = 1
    conv: _Size = 4


class _DeltaNet(_Strict):
    heads: _Size  # value heads, each with its own state
    key_heads: _Size | None = None  # default: one per value head
    key_dim: _Size
    value_dim: _Size
    conv: _Size = 4


_SECTIONS = {"attention": "attention", "mamba": "mamba", "mamba2": "mamba2", "gated-deltanet": "gated_deltanet",
             "mlp": "mlp", "moe": "moe"}
#: the mixers a model file describes: those with a section (RWKV-7 comes from its config.json)
_FILE_MIXERS = tuple(m for m in MIXERS if m in _SECTIONS) + ("none",)


class _Layers(_Strict):
    pattern: list[str] = Field(min_length=1, max_length=MAX_LAYERS)
    repeat: int = Field(default=1, ge=1, le=MAX_LAYERS)

    @field_validator("pattern")
    @classmethod
    def _kinds(cls, pattern):
        for entry in pattern:
            mixer, _, ffn = entry.partition("/")
            if mixer not in _FILE_MIXERS or ffn not in FEED_FORWARDS or (mixer, ffn) == ("none", "none"):
                raise ValueError(f"{entry!r}: expected MIXER/FEED-FORWARD with a mixer of "
                                 f"{', '.join(_FILE_MIXERS)} and a feed-forward part of "
                                 f"{', '.join(FEED_FORWARDS)} (not both none)"
                                 + ("; a model file has no rwkv7 section: give RWKV-7's config.json"
                                    if mixer == "rwkv7" else ""))
        return pattern


class _ModelFile(_Strict):
    name: str = Field(min_length=1)
    d_model: _Size
    vocab: _Size
    tied_embeddings: bool = False
    layers: _Layers
    attention: _Attention | None = None
    mlp: _Mlp | None = None
    moe: _Moe | None = None
    mamba: _Mamba | None = None
    mamba2: _Mamba2 | None = None
    gated_deltanet: _DeltaNet | None = None


def _where(loc: tuple) -> str:
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else f"{'.' if out else ''}{key}"
    return out or "(top level)"


def load_model_file(path: str | Path) -> Model:
    """A :class:`Model` from scansim's own model YAML (see the module's doc)."""

    path = Path(path)
    try:  # what a model file never needs: aliases, deep nesting, more than MAX_MODEL_FILE_BYTES
        document = read_yaml(path, max_bytes=MAX_MODEL_FILE_BYTES, max_depth=_MAX_DEPTH, aliases="a model file",
                             kind="a model file")
    except SpecError as exc:
        raise ModelError(str(exc)) from None
    if not isinstance(document, dict):
        raise ModelError(f"{path}: expected a mapping of model fields at the top level")
    try:
        f = _ModelFile.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown key"
        elif first["type"] == "less_than_equal" and first["ctx"]["le"] in LIMITS:
            limit = first["ctx"]["le"]
            message = f"expected at most {limit:,} ({LIMITS[limit]}), got {first['input']:,}"
        raise ModelError(f"{path}: {_where(first['loc'])}: {message}") from None
    layers = len(f.layers.pattern) * f.layers.repeat
    if layers > MAX_LAYERS:
        raise ModelError(f"{path}: layers: {len(f.layers.pattern)} × repeat {f.layers.repeat} = {layers:,} layers, "
                         f"expected at most {MAX_LAYERS:,} ({LIMITS[MAX_LAYERS]})")
    layout = tuple(tuple(entry.split("/")) for entry in f.layers.pattern) * f.layers.repeat
    for kind in sorted({k for layer in layout for k in layer} - {"none"}):
        if getattr(f, _SECTIONS[kind]) is None:
            raise ModelError(f"{path}: {_SECTIONS[kind]}: missing (the layers have {kind})")
    fields = dict(name=f.name, architecture="scansim", d_model=f.d_model, vocab=f.vocab, layout=layout,
                  tied_embeddings=f.tied_embeddings, source=str(path))
    if f.attention:
        a = f.attention
        if a.kv_heads is not None and a.heads % a.kv_heads:  # as a config.json's num_key_value_heads
            raise ModelError(f"{path}: attention.kv_heads: {a.kv_heads} does not divide heads = {a.heads}")
        fields.update(heads=a.heads, kv_heads=a.kv_heads or a.heads, head_dim=a.head_dim, attention_gate=a.gate,
                      qk_norm=a.qk_norm)
    if f.mlp:
        fields.update(d_ff=f.mlp.d_ff, mlp_gated=f.mlp.gated)
    if f.moe:
        if f.moe.per_token > f.moe.experts:
            raise ModelError(f"{path}: moe.per_token: {f.moe.per_token} is more than the {f.moe.experts} experts")
        fields.update(experts=f.moe.experts, experts_per_token=f.moe.per_token, expert_d_ff=f.moe.d_ff,
                      shared_expert_d_ff=f.moe.shared_d_ff)
    if f.mamba and f.mamba2:
        raise ModelError(f"{path}: mamba, mamba2: a model file describes one kind of Mamba layer")
    if f.mamba:
        fields.update(d_inner=f.mamba.d_inner, d_state=f.mamba.d_state, d_conv=f.mamba.conv, dt_rank=f.mamba.dt_rank)
    if f.mamba2:
        s = f.mamba2
        if s.d_inner % s.head_dim or (s.d_inner // s.head_dim) % s.groups:
            raise ModelError(f"{path}: mamba2: head_dim {s.head_dim} and groups {s.groups} do not divide "
                             f"d_inner {s.d_inner} into whole heads and groups")
        fields.update(d_inner=s.d_inner, d_state=s.d_state, d_conv=s.conv, ssm_head_dim=s.head_dim, groups=s.groups)
    if f.gated_deltanet:
        g = f.gated_deltanet
        key_heads = g.key_heads or g.heads
        if g.heads % key_heads:
            raise ModelError(f"{path}: gated_deltanet.key_heads: {key_heads} does not divide heads = {g.heads}")
        if f.mamba and f.mamba.conv != g.conv or f.mamba2 and f.mamba2.conv != g.conv:
            raise ModelError(f"{path}: gated_deltanet.conv: one convolution width for the model's recurrent layers")
        fields.update(linear_heads=g.heads, linear_key_heads=key_heads, linear_key_dim=g.key_dim,
                      linear_value_dim=g.value_dim, d_conv=g.conv)
    return Model(**fields)
