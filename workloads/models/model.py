"""The model value: a whole model as scansim costs it — its embedding, its layers and the LM
head.  A layer is a *mixer* — attention, Mamba-1, Mamba-2, Gated DeltaNet, RWKV-7 or none —
and a *feed-forward* part — an MLP, a mixture of experts, or none (a Mamba block) — in the
order the config's layer pattern gives (:attr:`Model.layout`).  A :class:`Component` is one
piece of a pass (a catalog workload, its algorithm and how many times the pass runs it).
"""

from __future__ import annotations

from dataclasses import dataclass

from workloads.catalog import Workload
from workloads.errors import WorkloadError

__all__ = ["Model", "Component", "ModelError", "PHASES", "MIXERS", "FEED_FORWARDS", "MAX_LAYERS", "MAX_SIZE",
           "LIMITS"]

PHASES = ("prefill", "decode", "train")
MIXERS = ("attention", "mamba", "mamba2", "gated-deltanet", "rwkv7")  # and "none": a layer that is only an MLP
FEED_FORWARDS = ("mlp", "moe", "none")

#: the most layers a config or model file may give: the deepest released models have about 130
#: (Llama 3.1 405B: 126), so 10,000 is far above any real model; a bound that refuses a typo or a
#: hostile file in one line before a layout of 10^12 layers is built
MAX_LAYERS = 10_000
#: the largest width, head count, expert count, state size or vocabulary a config or model file
#: may give: the largest released are about 262,000 (Gemma 3's vocabulary) and 53,000 (Llama 3.1
#: 405B's MLP), so ten million is far above any real model
MAX_SIZE = 10_000_000
#: what the two bounds say in an error message
LIMITS = {MAX_LAYERS: "scansim's limit on layers, far above the ~130 of the deepest released models",
          MAX_SIZE: "scansim's limit on a size, far above any released model's"}


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
    expert_shards: int = 1  # expert parallelism: this chip holds experts / expert_shards of them
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

    @property
    def where(self) -> str:
        """How an error names the model: its file, else its name quoted (a name is the user's
        text, and may hold anything, a line break included)."""
        return self.source or repr(self.name)

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
    dtype: str | None = None  # None: the format its operands take (below) in the pass
    per_step: bool = False  # runs once per step, however many micro-batches (the optimizer update)
    #: what it computes on, hence its format: "weights" (a product with the model's weights: the
    #: model's dtype, fp8 in an fp8 model), "activations" (norms, softmax, elementwise, the
    #: mixers' scans: 16-bit in an fp8 model) or "kv cache" (the cache's own format)
    operands: str = "activations"
    #: a product with the weights: what produced its input — "norm" (a norm's output), "activation"
    #: (an MLP's activation) or "other" — which says where an fp8 recipe can fuse its input's cast
    #: (:mod:`workloads.models.fp8`)
    input_from: str = "other"
