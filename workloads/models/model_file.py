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

Mixers: attention, mamba, mamba2, gated-deltanet, none; feed-forward parts: mlp, moe, none.
Each kind the pattern uses needs its section (``attention``, ``mamba``, ``mamba2``,
``gated_deltanet``, ``mlp``, ``moe``).  The file is refused in one line naming the field when
a key is unknown, a size is not a whole number ≥ 1, or a section is missing.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator

from workloads.errors import WorkloadError
from workloads.models.model import FEED_FORWARDS, MIXERS, Model, ModelError

__all__ = ["load_model_file", "MAX_MODEL_FILE_BYTES"]

MAX_MODEL_FILE_BYTES = 1 << 20  # a model file is a few hundred bytes
_MAX_DEPTH = 8


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class _Attention(_Strict):
    heads: PositiveInt
    kv_heads: PositiveInt | None = None  # default: one per head
    head_dim: PositiveInt
    gate: bool = False  # the query projection also emits a sigmoid output gate
    qk_norm: bool = False


class _Mlp(_Strict):
    d_ff: PositiveInt
    gated: bool = True


class _Moe(_Strict):
    experts: PositiveInt
    per_token: PositiveInt
    d_ff: PositiveInt
    shared_d_ff: int = Field(default=0, ge=0)


class _Mamba(_Strict):
    d_inner: PositiveInt
    d_state: PositiveInt = 16
    conv: PositiveInt = 4
    dt_rank: PositiveInt


class _Mamba2(_Strict):
    d_inner: PositiveInt
    d_state: PositiveInt = 128
    head_dim: PositiveInt = 64
    groups: PositiveInt = 1
    conv: PositiveInt = 4


class _DeltaNet(_Strict):
    heads: PositiveInt  # value heads, each with its own state
    key_heads: PositiveInt | None = None  # default: one per value head
    key_dim: PositiveInt
    value_dim: PositiveInt
    conv: PositiveInt = 4


class _Layers(_Strict):
    pattern: list[str] = Field(min_length=1)
    repeat: PositiveInt = 1

    @field_validator("pattern")
    @classmethod
    def _kinds(cls, pattern):
        for entry in pattern:
            mixer, _, ffn = entry.partition("/")
            if mixer not in (*MIXERS, "none") or ffn not in FEED_FORWARDS or (mixer, ffn) == ("none", "none"):
                raise ValueError(f"{entry!r}: expected MIXER/FEED-FORWARD with a mixer of "
                                 f"{', '.join((*MIXERS, 'none'))} and a feed-forward part of "
                                 f"{', '.join(FEED_FORWARDS)} (not both none)")
        return pattern


class _ModelFile(_Strict):
    name: str = Field(min_length=1)
    d_model: PositiveInt
    vocab: PositiveInt
    tied_embeddings: bool = False
    layers: _Layers
    attention: _Attention | None = None
    mlp: _Mlp | None = None
    moe: _Moe | None = None
    mamba: _Mamba | None = None
    mamba2: _Mamba2 | None = None
    gated_deltanet: _DeltaNet | None = None


_SECTIONS = {"attention": "attention", "mamba": "mamba", "mamba2": "mamba2", "gated-deltanet": "gated_deltanet",
             "mlp": "mlp", "moe": "moe"}


def _read(path: Path) -> object:
    """The YAML document, refusing what a model file never needs: aliases (an alias bomb),
    deep nesting, more than :data:`MAX_MODEL_FILE_BYTES`."""
    try:
        if path.stat().st_size > MAX_MODEL_FILE_BYTES:
            raise WorkloadError(f"{path}: more than the {MAX_MODEL_FILE_BYTES >> 10} KiB a model file may hold")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorkloadError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkloadError(f"{path}: cannot be read as UTF-8 text ({' '.join(str(exc).split())[:80]})") from None
    try:
        depth = 0
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise WorkloadError(f"{path}: YAML aliases are not used in a model file")
            depth += isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent))
            depth -= isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent))
            if depth > _MAX_DEPTH:
                raise WorkloadError(f"{path}: nested deeper than {_MAX_DEPTH} levels")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WorkloadError(f"{path}: not YAML ({' '.join(str(exc).split())[:100]})") from None


def _where(loc: tuple) -> str:
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else f"{'.' if out else ''}{key}"
    return out or "(top level)"


def load_model_file(path: str | Path) -> Model:
    """A :class:`Model` from scansim's own model YAML (see the module's doc)."""

    path = Path(path)
    try:
        document = _read(path)
    except WorkloadError as exc:
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
        raise ModelError(f"{path}: {_where(first['loc'])}: {message}") from None
    layout = tuple(tuple(entry.split("/")) for entry in f.layers.pattern) * f.layers.repeat
    for kind in sorted({k for layer in layout for k in layer} - {"none"}):
        if getattr(f, _SECTIONS[kind]) is None:
            raise ModelError(f"{path}: {_SECTIONS[kind]}: missing (the layers have {kind})")
    fields = dict(name=f.name, architecture="scansim", d_model=f.d_model, vocab=f.vocab, layout=layout,
                  tied_embeddings=f.tied_embeddings, source=str(path))
    if f.attention:
        a = f.attention
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
