"""A whole model's step as frameworks run it: micro-batches and pipelines repeat the layers,
never the optimizer update; training activations as FlashAttention keeps them."""

from pathlib import Path

import pytest

from simulator.model import memory_bytes, simulate_model
from workloads.models import load_model

MODELS = Path(__file__).resolve().parents[2] / "examples" / "models"
OPTIMIZER = "optimizer update (Adam, fp32 states)"


def _rows(table):
    return table.set_index("component")["latency_s"]


def test_gradient_accumulation_runs_every_micro_batch_and_one_optimizer_step():
    """--microbatches M without a pipeline once returned one micro-batch's time (mamba-130m,
    batch 8 at 2,048 tokens: 34.8 ms whole, 11.3 ms as 4 micro-batches)."""
    m = load_model(MODELS / "mamba-130m.json")
    whole, one = simulate_model(m, "h100-sxm5-80gb", "train", 2048, 8)
    split, four = simulate_model(m, "h100-sxm5-80gb", "train", 2048, 8, microbatches=4)
    quarter, _ = simulate_model(m, "h100-sxm5-80gb", "train", 2048, 2)
    assert four["latency_s"] >= one["latency_s"]  # smaller products are never faster per token
    assert _rows(split)[OPTIMIZER] == pytest.approx(_rows(whole)[OPTIMIZER])  # once per step
    layers = _rows(split).drop(OPTIMIZER)
    assert layers.sum() == pytest.approx(4 * _rows(quarter).drop(OPTIMIZER).sum())
    assert four["tokens_per_s"] == pytest.approx(8 * 2048 / four["latency_s"])


def test_a_pipeline_charges_the_optimizer_once_per_step():
    """With --pipeline P and M micro-batches each stage updates its share of the weights once
    (once charged M times: Llama-3.1-70B bf16 +2.4 s of a 12.8 s step)."""
    m = load_model(MODELS / "llama-2-7b.json")
    flat, _ = simulate_model(m, "b200", "train", 1024, 8, microbatches=1)
    for microbatches in (4, 8):
        piped, _ = simulate_model(m, "b200", "train", 1024, 8, pipeline=4, microbatches=microbatches)
        assert _rows(piped)[OPTIMIZER] == pytest.approx(_rows(flat)[OPTIMIZER] / 4)


def test_training_activations_keep_no_attention_scores():
    """FlashAttention stores no T² scores: Llama-2-7B at batch 8 × 4,096 holds 34·s·b·h bytes
    per layer (146 GB) and the per-row log-sum-exp, not Korthikanti et al.'s 833 GB."""
    m = load_model(MODELS / "llama-2-7b.json")
    held = memory_bytes(m, 4096, 8, "bf16", "train")
    s, b, h, L = 4096, 8, m.d_model, m.layers
    assert held["activations"] == pytest.approx(34 * s * b * h * L + L * m.heads * s * b * 4)
    assert 145e9 < held["activations"] < 148e9
    # accumulating gradients, one micro-batch's activations are live at a time
    _, totals = simulate_model(m, "b200", "train", 4096, 8, microbatches=8)
    assert totals["memory_activations_bytes"] == pytest.approx(memory_bytes(m, 4096, 1, "bf16", "train")["activations"])
