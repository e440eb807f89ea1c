"""Tensor and expert parallelism: one chip's share of a model, and the collectives they add."""

from __future__ import annotations

import dataclasses
import math

from workloads.models.model import Model, ModelError

__all__ = ["sharded", "all_reduces", "expert_sharded", "all_to_alls"]


_SPLIT = {"attention": ("heads", "kv_heads"), "mamba": ("d_inner",), "mamba2": ("d_inner", "groups"),
          "gated-deltanet": ("linear_heads", "linear_key_heads"), "rwkv7": ("linear_heads", "linear_key_heads"),
          "mlp": ("d_ff",),
          "moe": ("expert_d_ff", "shared_expert_d_ff")}
# heads shared by groups of query / value heads, and Mamba-2's B and C groups
_REPLICABLE = ("kv_heads", "linear_key_heads", "groups")


def sharded(m: Model, tp: int) -> Model:
    """One chip's share of the model under tensor parallelism of degree ``tp`` (Megatron-LM:
    Shoeybi et al., arXiv 1909.08053): attention and DeltaNet heads, MLP and expert widths,
    Mamba's inner channels and heads, Mamba-2's B and C groups, and the vocabulary split
    ``tp`` ways; the model width is whole on every chip.  Grouped key/value heads (and B and C
    groups) fewer than the chips are replicated, one per chip (as vLLM and TensorRT-LLM shard
    grouped-query attention and Mamba-2's groups)."""
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
            raise ModelError(f"{m.where}: {name} = {value} does not split over {tp} chips")
        else:
            share[name] = value // tp
    if "mamba2" in kinds and (m.d_inner // tp) % m.ssm_head_dim:
        raise ModelError(f"{m.where}: {m.d_inner // m.ssm_head_dim} SSD heads do not split over {tp} chips")
    return dataclasses.replace(m, **share, vocab=math.ceil(m.vocab / tp))


def all_reduces(m: Model, phase: str, seq_len: int, batch: int = 1) -> tuple[float, int]:
    """``(elements, count)`` of the all-reduces tensor parallelism adds to one pass: after each
    row-parallel projection (every mixer's output projection and every MLP's or expert's down
    projection) the partial sums of every token's ``d_model`` outputs; twice as many in a
    training step (the backward's input gradients)."""
    tokens = batch * (1 if phase == "decode" else seq_len)
    return float(tokens * m.d_model), m.sublayers * (2 if phase == "train" else 1)



def expert_sharded(m: Model, ep: int) -> Model:
    """One chip's share under expert parallelism of degree ``ep`` (GShard, Lepikhin et al.,
    arXiv 2006.16668; DeepSpeed-MoE, Megatron-LM's ``expert_model_parallel_size``): each
    mixture-of-experts layer's routed experts split ``ep`` ways over the data-parallel
    replicas, whole; everything else — attention, dense MLPs, the router, a shared expert —
    replicated on every one."""
    if isinstance(ep, bool) or not isinstance(ep, int) or ep < 1:
        raise ModelError(f"expert_parallel: expected a whole number ≥ 1, got {ep!r}")
    if ep == 1:
        return m
    if not m.count("moe"):
        raise ModelError(f"expert_parallel: {m.name} has no mixture-of-experts layers to split")
    if m.experts % ep:
        raise ModelError(f"expert_parallel: {m.experts} experts do not split over {ep} chips")
    return dataclasses.replace(m, expert_shards=ep)


def all_to_alls(m: Model, phase: str, seq_len: int, batch: int = 1) -> tuple[float, int]:
    """``(elements, count)`` of the all-to-alls expert parallelism adds to one pass: per
    mixture-of-experts layer, the dispatch of every token's ``d_model`` activations to the
    chips of its k experts and the combine that brings the k results back, each
    ``tokens · k · d_model`` elements; twice as many in a training step (the backward's)."""
    tokens = batch * (1 if phase == "decode" else seq_len)
    return float(tokens * m.experts_per_token * m.d_model), 2 * m.count("moe") * (2 if phase == "train" else 1)
