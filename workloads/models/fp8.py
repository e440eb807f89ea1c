"""What fp8 training adds around every product with the weights: the scaling and cast kernels.

A Linear layer trained in fp8 multiplies fp8 copies of its input X, its weight W and, in the
backward, its output's gradient G; making them costs memory traffic beside the three GEMMs — a
pass for each tensor's scale (its amax) unless the recipe knows the scale beforehand, the cast
itself (16-bit read, fp8 written), and on Hopper the transposed copy the backward's GEMMs need
(its fp8 GEMMs take only the TN layout: Transformer Engine's ``nvte_is_non_tn_fp8_gemm_supported``,
``transformer_engine/pytorch/csrc/quantizer.cpp``).  A recipe is the bytes it moves per
element of X (by what produced X: a norm or an activation can write it in fp8 itself), of G,
and of W (once a step where the recipe keeps the fp8 weights over the micro-batches):

* ``delayed`` — Transformer Engine's ``DelayedScaling``, Megatron-LM's and NeMo's default
  (``fp8_recipe="delayed"``, megatron/core/transformer/transformer_config.py): the scale comes
  from earlier steps' amax history, so no pass of its own.  X after a norm: the norm writes
  fp8 (1 B instead of 2) and a transpose follows (1 B read, 1 B written) — 1 B beyond the
  16-bit norm; after the MLP's activation the same; any other X a ``cast_transpose`` (2 B
  read, 1 + 1 B written, amax inside) — 4 B; G a ``cast_transpose`` (fused with the bias
  gradient) — 4 B; W a ``cast_transpose`` — 4 B, cached over the micro-batches
  (``is_first_microbatch``) — once a step.  (TransformerEngine@d0067d0:
  transformer_engine/pytorch/module/linear.py, layernorm_linear.py, layernorm_mlp.py,
  base.py ``quantize_weight``; common/transpose/cast_transpose.cu.)
* ``current`` — Transformer Engine's ``Float8CurrentScaling`` (NeMo's "fp8 current scaling"
  recipe): each tensor's amax computed first (``nvte_compute_amax``: a 2 B read), then the
  cast and transpose — X 6 B, after a norm 4 B (the norm writes 16 bits and its amax; the
  quantize reads it again and writes fp8 twice), after the activation 5 B (its transpose
  made in the backward); G 6 B; W 6 B once a step (quantizer.cpp ``quantize_impl``;
  csrc/extensions/normalization.cpp, activation.cpp).
* ``tensorwise`` — torchao's ``Float8Linear`` with dynamic per-tensor scales (the recipe
  torchtitan ran as ``float8`` until 2026): X and G an amax pass (2 B) and one compiled
  kernel writing fp8 row- and column-major (2 B read, 1 + 1 B written) — 6 B each; W an amax
  pass, the forward cast and the backward's column-major cast — 8 B, every micro-batch (no
  fp8 weight is kept).  The bytes are those of torchao's own model of the compiled recipe
  (pytorch/ao@36027d8 torchao/testing/training/roofline_utils.py; torchao/float8/
  float8_linear.py, float8_scaling_utils.py).

Blackwell's fp8 GEMMs take any layout, so its transposes are not needed; the recipes keep them
(pessimistic there by 1–2 B per element).  A recomputed forward (activation checkpointing)
casts its X again (and W where the recipe casts it every micro-batch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from workloads.catalog import get_workload
from workloads.models.model import Component, ModelError

__all__ = ["Fp8Recipe", "FP8_RECIPES", "DEFAULT_FP8_RECIPE", "fp8_casts"]


@dataclass(frozen=True)
class Fp8Recipe:
    """Bytes moved per element beyond the GEMMs: of X by what produced it, of G, of W; and
    whether W is cast once a step (kept over the micro-batches) or every micro-batch."""

    x: dict[str, float]
    grad: float
    weight: float
    weight_per_step: bool


FP8_RECIPES = {
    "delayed": Fp8Recipe(x={"norm": 1, "activation": 1, "other": 4}, grad=4, weight=4, weight_per_step=True),
    "current": Fp8Recipe(x={"norm": 4, "activation": 5, "other": 6}, grad=6, weight=6, weight_per_step=True),
    "tensorwise": Fp8Recipe(x={"norm": 6, "activation": 6, "other": 6}, grad=6, weight=8, weight_per_step=False),
}
DEFAULT_FP8_RECIPE = "delayed"  # Megatron-LM's and NeMo's default
_RECOMPUTED = "recompute: "


def _traffic(name: str, nbytes: float, count: int, per_step: bool = False) -> Component:
    """A memory-bound kernel moving ``nbytes`` (16-bit reads and writes in equal parts; a cast's
    compare and scale, one operation per 16-bit element)."""
    w = get_workload("elementwise-256m").with_params(elements=max(1, math.ceil(nbytes / 4)), inputs=1,
                                                     flops_per_element=1)
    return Component(name, w, "map", count, per_step=per_step)


def fp8_casts(parts: list[Component], recipe: str) -> list[Component]:
    """The cast kernels ``recipe`` adds to a training step whose pieces are ``parts``: for every
    product with the weights (forward and backward), its X, G and W casts; for a recomputed one,
    its X cast again (and its W's where the recipe casts W every micro-batch)."""
    if recipe not in FP8_RECIPES:
        raise ModelError(f"fp8_scaling: expected one of {', '.join(FP8_RECIPES)}, got {recipe!r}")
    r = FP8_RECIPES[recipe]
    casts = []
    for part in parts:
        if part.operands != "weights":
            continue
        w = part.workload
        x, g, weight = w.batch * w.m * w.k, w.batch * w.m * w.n, w.batch * w.k * w.n
        again = part.name.startswith(_RECOMPUTED)
        moved = x * r.x[part.input_from] + (0 if again else g * r.grad)
        if not r.weight_per_step:
            moved += weight * r.weight
        if moved:
            casts.append(_traffic(f"fp8 casts ({recipe}): {part.name}", moved, part.count))
        if r.weight_per_step and not again:
            casts.append(_traffic(f"fp8 weight cast ({recipe}, once a step): {part.name}", weight * r.weight,
                                  part.count, per_step=True))
    return casts
