"""A whole model's step as frameworks run it: micro-batches and pipelines repeat the layers,
never the optimizer update; training activations as FlashAttention keeps them."""

from pathlib import Path

import pytest

from simulator.model import memory_bytes, memory_per_chip, simulate_model
from workloads.models import ModelError, load_model

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


# --- fp8 as frameworks run it -------------------------------------------------------------

def test_fp8_runs_the_weight_gemms_in_fp8_and_everything_else_in_bf16():
    """Llama-2-7B decode on an H100: the weight GEMMs read half the bytes; norms, elementwise
    pieces and the KV cache stay 16-bit unless the cache is asked for in fp8."""
    m = load_model(MODELS / "llama-2-7b.json")
    bf16, b = simulate_model(m, "h100-sxm5-80gb", "decode", 2048, 8)
    fp8, f = simulate_model(m, "h100-sxm5-80gb", "decode", 2048, 8, dtype="fp8")
    dram = lambda t: t.set_index("component")["dram_bytes"]  # noqa: E731
    assert f["activation_dtype"] == "bf16" and f["kv_dtype"] == "bf16"
    for gemm in ("QKV projection", "MLP down projection"):
        assert dram(fp8)[gemm] < 0.51 * dram(bf16)[gemm]
    for piece in ("norms", "MLP SiLU · up", "attention over the KV cache"):
        assert dram(fp8)[piece] == pytest.approx(dram(bf16)[piece])
    assert f["memory_weights_bytes"] == pytest.approx(b["memory_weights_bytes"] / 2)
    assert f["memory_KV_cache_bytes"] == pytest.approx(b["memory_KV_cache_bytes"])
    assert f["latency_s"] < b["latency_s"]
    cache8, c = simulate_model(m, "h100-sxm5-80gb", "decode", 2048, 8, dtype="fp8", kv_dtype="fp8")
    assert c["memory_KV_cache_bytes"] == pytest.approx(b["memory_KV_cache_bytes"] / 2)
    assert dram(cache8)["attention over the KV cache"] < 0.51 * dram(bf16)["attention over the KV cache"]


def test_fp8_answers_on_every_preset_with_an_fp8_matrix_rate_and_is_refused_in_one_line_elsewhere(capsys):
    from hwmodels.loader import load_accelerator, preset_names
    from reports.cli import main

    config = str(MODELS / "mamba-130m.json")  # GEMMs, a conv, a selective scan: every kind of piece
    answered = []
    for name in preset_names():
        code = main(["model", "--hw", name, "--config", config, "--prefill", "256", "--decode", "8",
                     "--dtype", "fp8", "--json"])
        out = capsys.readouterr()
        if load_accelerator(name).matrix_peak_flops_per_s("fp8"):
            assert code == 0, out.err
            answered.append(name)
        else:
            assert code == 2 and "no fp8 matrix rate" in out.err and out.err.count("\n") == 1
    assert {"h100-sxm5-80gb", "h200-sxm-141gb", "b200"} <= set(answered)


def test_fp8_training_pays_its_recipes_casts_counted_by_hand(capsys):
    """Llama-2-7B, one training step of 2 × 1,024 tokens in fp8: beside each product with the
    weights, the recipe's bytes per element of its input X (by what produced it), its output's
    gradient G and its weight W — Transformer Engine's delayed scaling (X after a norm or the
    activation 1 B, any other X 4 B, G 4 B, W 4 B once a step), its current scaling (4, 5, 6;
    6; 6 once a step) and torchao's tensorwise (X 6, G 6, W 8 every micro-batch)."""
    from reports.cli import main
    from workloads.models.fp8 import fp8_casts
    from workloads.models.phases import components

    m = load_model(MODELS / "llama-2-7b.json")
    T, d, f, L, V = 2 * 1024, m.d_model, m.d_ff, m.layers, m.vocab
    qkv, out, up, down, head = (d, 3 * d), (d, d), (d, 2 * f), (f, d), (d, V)  # (inner, out) of each product
    x = lambda p: T * p[0]  # noqa: E731
    g = lambda p: T * p[1]  # noqa: E731
    w = lambda p: p[0] * p[1]  # noqa: E731

    def moved(kind: str, per_step: bool) -> float:
        casts = fp8_casts(components(m, "train", 1024, 2), kind)
        return sum(c.count * c.workload.elements * 4 for c in casts if c.per_step == per_step)

    layers = (qkv, out, up, down)  # QKV and gate-up after a norm, down after the activation
    delayed = L * (x(qkv) + 4 * x(out) + x(up) + x(down)) + x(head) + 4 * (L * sum(map(g, layers)) + g(head))
    assert moved("delayed", False) == pytest.approx(delayed, abs=4 * (4 * L + 1))  # whole 16-bit elements
    assert moved("delayed", True) == pytest.approx(4 * (L * sum(map(w, layers)) + w(head)), abs=4 * (4 * L + 1))
    current = L * (4 * x(qkv) + 6 * x(out) + 4 * x(up) + 5 * x(down)) + 4 * x(head) \
        + 6 * (L * sum(map(g, layers)) + g(head))
    assert moved("current", False) == pytest.approx(current, abs=4 * (4 * L + 1))
    tensorwise = 6 * (L * sum(map(x, layers)) + x(head)) + 6 * (L * sum(map(g, layers)) + g(head)) \
        + 8 * (L * sum(map(w, layers)) + w(head))
    assert moved("tensorwise", False) == pytest.approx(tensorwise, abs=4 * (4 * L + 1))
    assert not moved("tensorwise", True)  # torchao keeps no fp8 weight: cast every micro-batch
    # in a step: the casts are rows of the table, a weight kept over micro-batches cast once a step
    one, a = simulate_model(m, "b200", "train", 1024, 4, "fp8", microbatches=1)
    two, b = simulate_model(m, "b200", "train", 1024, 4, "fp8", microbatches=2)
    rows = lambda t, key: t[t["component"].str.startswith(key)]["dram_bytes"].sum()  # noqa: E731
    assert one["component"].iloc[-1] == OPTIMIZER  # the casts come before the step's last row
    assert rows(two, "fp8 weight cast") == pytest.approx(rows(one, "fp8 weight cast"))
    assert rows(two, "fp8 casts") == pytest.approx(rows(one, "fp8 casts"), rel=0.01)
    bf16, c = simulate_model(m, "b200", "train", 1024, 4, "bf16")
    assert not bf16["component"].str.startswith("fp8").any()
    _, t = simulate_model(m, "b200", "train", 1024, 4, "fp8", fp8_scaling="tensorwise")
    assert c["latency_s"] > t["latency_s"] > a["latency_s"]  # still faster than bf16; dearer than delayed
    with pytest.raises(ModelError, match="fp8_scaling: expected one of delayed, current, tensorwise"):
        simulate_model(m, "b200", "train", 1024, 4, "fp8", fp8_scaling="rowwise")
    code = main(["model", "--hw", "h100-sxm5-80gb", "--config", str(MODELS / "llama-2-7b.json"),
                 "--fp8-scaling", "current"])
    err = capsys.readouterr().err
    assert code == 2 and "--fp8-scaling is an fp8 training recipe" in err and err.count("\n") == 1


def test_a_prompts_attention_runs_as_the_shipped_kernel_named(capsys):
    """--attention flash-attention-2 (what PyTorch's scaled_dot_product_attention runs): the
    prompt's attention is that implementation's schedule, forward and backward — on an H100 its
    synchronous warp MMAs make it slower than the blocked schedule, which runs at the chip's
    asynchronous rate; the decode step's split-KV kernel is unchanged; anything else is refused."""
    from reports.cli import main
    from workloads.dispatch import schedule
    from workloads.models.phases import components

    m = load_model(MODELS / "llama-2-7b.json")
    parts = {p.name: p for p in components(m, "train", 2048, 1, attention="flash-attention-2")}
    fa2 = parts["attention (flash-attention-2, causal)"]
    assert fa2.impl == "flash-attention-2" and fa2.direction == "fwd+bwd"
    assert schedule(fa2.workload, fa2.algorithm, "bf16", impl=fa2.impl, direction=fa2.direction).stages
    blocked, b = simulate_model(m, "h100-sxm5-80gb", "prefill", 2048, 1)
    flash, f = simulate_model(m, "h100-sxm5-80gb", "prefill", 2048, 1, attention="flash-attention-2")
    rows = lambda t: t.set_index("component")["latency_s"]  # noqa: E731
    assert rows(flash)["attention (flash-attention-2, causal)"] > rows(blocked)["attention (FlashAttention, causal)"]
    assert rows(flash).drop("attention (flash-attention-2, causal)").sum() == pytest.approx(
        rows(blocked).drop("attention (FlashAttention, causal)").sum())
    step, _ = simulate_model(m, "h100-sxm5-80gb", "decode", 2048, 1, attention="flash-attention-2")
    assert "attention over the KV cache" in set(step["component"])
    with pytest.raises(ModelError, match="attention: expected one of flash-attention-2, flash-attention-3"):
        simulate_model(m, "h100-sxm5-80gb", "prefill", 2048, 1, attention="sdpa")
    code = main(["model", "--hw", "h100-sxm5-80gb", "--config", str(MODELS / "llama-2-7b.json"), "--attention", "x"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--attention: invalid choice: 'x'" in err


# --- data parallelism and ZeRO ------------------------------------------------------------

def test_memory_per_chip_under_zero_is_rajbhandari_et_als_formulas():
    """ZeRO (SC 2020) §5.1, Ψ parameters, K = 12, N_d = 64: (2+2+K)Ψ, (2+2+K/N_d)Ψ,
    (2+(2+K)/N_d)Ψ, (2+2+K)Ψ/N_d for the weights, gradients and optimizer states."""
    from simulator.model import memory_per_chip
    from workloads.models import parameters

    m = load_model(MODELS / "llama-2-7b.json")
    psi, K, Nd = parameters(m), 12, 64
    expected = {0: (2 + 2 + K) * psi, 1: (2 + 2 + K / Nd) * psi, 2: (2 + (2 + K) / Nd) * psi,
                3: (2 + 2 + K) * psi / Nd}
    for zero, total in expected.items():
        held = memory_per_chip(m, 4096, 1, "bf16", "train", data_parallel=Nd, zero=zero)
        assert held["weights"] + held["gradients"] + held["optimizer states"] == pytest.approx(total)
    # ZeRO-3 holds two whole layers' parameters besides (the one computed, the one prefetched)
    assert memory_per_chip(m, 4096, 1, "bf16", "train", data_parallel=Nd, zero=3)[
        "gathered layer weights (ZeRO-3)"] == pytest.approx(2 * 2 * psi / m.layers)


def test_llama_2_70b_trains_on_64_h100s_under_zero_3_and_not_under_plain_data_parallelism():
    m = load_model(MODELS / "llama-2-70b.json")
    with pytest.raises(ModelError, match="does not fit"):
        simulate_model(m, "h100-sxm5-80gb", "train", 4096, 4, recompute=True, data_parallel=64)
    table, t = simulate_model(m, "h100-sxm5-80gb", "train", 4096, 4, recompute=True, data_parallel=64, zero=3)
    assert t["chips"] == 64 and t["tokens"] == 64 * 4 * 4096
    assert sum(v for k, v in t.items() if k.startswith("memory_")) < 80e9
    gathers = table[table["component"].str.contains("ZeRO-3/FSDP")]
    assert len(gathers) == 2 and (gathers["latency_s"] > 0).all()
    assert 0 < t["mfu"] < t["hfu"] < 1  # recomputation is hardware work, not model work


def test_the_optimizer_runs_once_per_step_on_its_share_under_every_layout():
    m = load_model(MODELS / "mamba-130m.json")
    one, _ = simulate_model(m, "h100-sxm5-80gb", "train", 1024, 4)
    for zero in (0, 1, 2, 3):
        table, _ = simulate_model(m, "h100-sxm5-80gb", "train", 1024, 4, microbatches=4, data_parallel=8, zero=zero)
        rows = table[table["component"] == OPTIMIZER]
        assert len(rows) == 1 and rows["count"].iloc[0] == 1
        if zero == 0:
            assert rows["latency_s"].iloc[0] == pytest.approx(_rows(one)[OPTIMIZER])
        else:  # a 1/8 share of the weights: less, but never below an eighth (launch, latency)
            assert _rows(one)[OPTIMIZER] / 8 <= rows["latency_s"].iloc[0] < _rows(one)[OPTIMIZER]


def test_ddp_exposes_only_the_last_bucket_when_the_backward_is_long_enough():
    """Mamba-130M's 16-bit gradients in 25 MB buckets over 8 H100s in one node: a long backward
    hides every bucket's all-reduce but the last."""
    import math

    from hwmodels.loader import load_accelerator
    from simulator.model import DDP_BUCKET_BYTES
    from simulator.multichip import ring_collective_s
    from workloads.models import parameters

    m, acc = load_model(MODELS / "mamba-130m.json"), load_accelerator("h100-sxm5-80gb")
    table, _ = simulate_model(m, acc, "train", 4096, 16, data_parallel=8)
    grads = 2 * parameters(m)
    n = math.ceil(grads / DDP_BUCKET_BYTES)
    row = table[table["component"].str.startswith("gradient all-reduce")]
    assert row["latency_s"].iloc[0] == pytest.approx(ring_collective_s(acc, grads / n, 8, "all-reduce"))


def test_collectives_take_their_cores_from_the_compute_they_overlap():
    """NCCL's thread blocks never share an SM with a compute kernel: while a layer's gathers and
    reduce-scatters run, its compute has 132 − 24 of an H100's SMs.  Llama-2-7B under ZeRO-3 on 8
    chips: the row is Σ max(c, b + k·min(b, c)) − max(c, b) over the layers' (compute, collective)
    spans, k = 24/132 — and nothing on a chip whose collectives take no cores."""
    from hwmodels.loader import load_accelerator
    from simulator.model import _overlap_slowdown_s

    m = load_model(MODELS / "llama-2-7b.json")
    acc = load_accelerator("h100-sxm5-80gb")
    assert acc.link.collective_cores == 24
    table, _ = simulate_model(m, acc, "train", 2048, 2, data_parallel=8, zero=3)
    slowed = table[table["component"].str.startswith("compute overlapped by those collectives")]
    assert len(slowed) == 1 and "on 108 of 132 cores" in slowed["component"].iloc[0]
    assert slowed["latency_s"].iloc[0] > 0
    k = 24 / 132
    assert _overlap_slowdown_s(acc, [(1.0, 0.5)]) == pytest.approx(k * 0.5)  # short collective: k·c
    assert _overlap_slowdown_s(acc, [(1.0, 2.0)]) == pytest.approx(0.0)  # the collective is longer anyway
    assert _overlap_slowdown_s(acc, [(1.0, 1.1)]) == pytest.approx(1.0 + k - 1.1)
    free = acc.model_dump()
    free["link"]["collective_cores"] = 0
    table, _ = simulate_model(m, load_accelerator(free), "train", 2048, 2, data_parallel=8, zero=3)
    assert not table["component"].str.startswith("compute overlapped").any()


def test_a_training_step_waits_only_for_its_batchs_copy_from_the_host():
    """The data loader's workers load ahead (PyTorch's DataLoader prefetches), so a step waits
    for its micro-batch's token ids and labels (int64) over PCIe: 2 × 8 B × 2 × 2,048 tokens at
    the H100's 64 GB/s each way, once per micro-batch; a spec without a host link has no row."""
    from hwmodels.loader import load_accelerator

    m = load_model(MODELS / "llama-2-7b.json")
    acc = load_accelerator("b200")
    table, _ = simulate_model(m, acc, "train", 2048, 4, microbatches=2)
    row = table[table["component"].str.startswith("the micro-batch to the chip")]
    assert len(row) == 1 and row["latency_s"].iloc[0] == pytest.approx(2 * (2 * 8 * 2 * 2048) / 64e9)
    bare = acc.model_dump()
    bare["host_bytes_per_s"] = None
    table, _ = simulate_model(m, load_accelerator(bare), "train", 2048, 4, microbatches=2)
    assert not table["component"].str.startswith("the micro-batch").any()


# --- two link levels ----------------------------------------------------------------------

def test_a_collective_beyond_a_node_runs_at_the_scale_out_networks_pace():
    """H100: 8 per node on NVLink (18 × 25 GB/s through NVSwitch), 50 GB/s InfiniBand NDR per
    GPU between nodes: a ring all-reduce of 1 GB over 8 and over 16 GPUs by hand — 16 GPUs
    in two nodes cross between them through 8 NICs side by side (8 rings), a group with one
    GPU per node through its one."""
    from hwmodels.loader import load_accelerator
    from simulator.model import all_reduce_s

    acc = load_accelerator("h100-sxm5-80gb")
    assert all_reduce_s(acc, 1e9, 8) == pytest.approx(2 * 7 / 8 * 1e9 / 450e9 + 14 * 1e-6)
    assert all_reduce_s(acc, 1e9, 16) == pytest.approx(2 * 15 / 16 * 1e9 / (8 * 50e9) + 30 * 5e-6)
    # two groups of 4, 4 chips apart (inside a tensor-parallel group of 4): 16 chips, two nodes,
    # two of the group in each node
    assert all_reduce_s(acc, 1e9, 4, stride=4) == pytest.approx(2 * 3 / 4 * 1e9 / (2 * 50e9) + 6 * 5e-6)
    # one per node (inside a tensor-parallel group of 8): each crossing through one NIC
    assert all_reduce_s(acc, 1e9, 4, stride=8) == pytest.approx(2 * 3 / 4 * 1e9 / 50e9 + 6 * 5e-6)


def test_a_link_gives_both_levels_or_neither():
    from hwmodels.spec import Link

    with pytest.raises(ValueError, match="node_size and inter_node"):
        Link(topology="ring", links_per_chip=2, bandwidth_bytes_per_s=1e9, latency_s=0.0, energy_per_byte_j=0.0,
             node_size=8)


# --- MFU and HFU --------------------------------------------------------------------------

def test_model_flops_are_6n_per_token_plus_attention_and_mfu_is_them_over_the_peak(capsys):
    """PaLM, Appendix B: 6N + 12·L·H·Q·T per token of a training step; N without the embedding
    lookup (Llama-2-7B's LM head is untied and counted)."""
    import json

    from reports.cli import main
    from simulator.model import model_flops
    from workloads.models import parameters

    m = load_model(MODELS / "llama-2-7b.json")
    n = parameters(m) - m.vocab * m.d_model
    tokens = 2 * 2048
    assert model_flops(m, "train", 2048, 2) == pytest.approx(tokens * (6 * n + 12 * 32 * 32 * 128 * 2048))
    assert model_flops(m, "decode", 2048, 2) == pytest.approx(2 * (2 * n + 4 * 32 * 32 * 128 * 2048))
    assert main(["model", "--hw", "h100-sxm5-80gb", "--config", str(MODELS / "llama-2-7b.json"), "--train",
                 "--prefill", "2048", "--batch", "2", "--data-parallel", "8", "--zero", "3", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    peak = 8 * 989.4e12  # eight H100s' dense bf16 tensor peak
    assert record["mfu"] == pytest.approx(model_flops(m, "train", 2048, 16) / record["latency_s"] / peak, rel=1e-3)
    assert 0 < record["mfu"] < 1 and 0 < record["hfu"] < 1
    assert record["memory_gathered_layer_weights_(ZeRO-3)_bytes"] > 0


def _low_compute_h100():
    """An H20-class part: an H100's memory and cores, its matrix unit at 148 of 989 dense
    TFLOP/s (NVIDIA's H20 is listed at 148 TFLOP/s dense bf16 and 4.0 TB/s)."""
    from hwmodels.loader import load_accelerator

    h100 = load_accelerator("h100-sxm5-80gb")
    slow = {k: v * 148 / 989.4 for k, v in h100.matrix.macs_per_cycle.items()}
    return h100.model_copy(update={"name": "h20-class",
                                   "matrix": h100.matrix.model_copy(update={"macs_per_cycle": slow})})


def test_a_decode_gemm_at_batch_1_is_bandwidth_bound_even_on_a_chip_with_little_compute():
    """At batch 1 the libraries put the token on the instruction's narrow side (8 columns) or
    run a GEMV on the vector lanes, so Llama-3-8B's decode GEMMs read their weights at the
    DRAM's pace on an H20-class part, as on the H100 — not at 1/64 of its matrix rate."""
    m = load_model(MODELS / "llama-3-8b.json")
    table, low = simulate_model(m, _low_compute_h100(), "decode", 512, 1)
    gemms = table[table.component.str.contains("projection|LM head")]
    assert set(gemms.bound) == {"memory"}, gemms[["component", "bound"]]
    _, h100 = simulate_model(m, "h100-sxm5-80gb", "decode", 512, 1)
    assert low["latency_s"] == pytest.approx(h100["latency_s"], rel=0.02)
    weights = table.dram_bytes.sum()
    assert low["latency_s"] <= 1.3 * weights / (3.35e12 * 0.88)  # its bytes at the sustained rate


def test_skinny_products_pad_to_the_instructions_narrow_side_and_prefer_the_vector_lanes_when_faster():
    import dataclasses

    from hwmodels.loader import load_accelerator
    from simulator.units import place, systolic_efficiency
    from workloads.schedule import Stage

    h100 = load_accelerator("h100-sxm5-80gb")
    gemv = Stage("decode", "matrix", ops=1, flops_per_op=2 * 4096 * 4096, gemm_shape=(1, 4096, 4096))
    # m16n8k16 with A and B swapped: 4096 on the 16-row side, the token padded to 8 columns,
    # at mma.sync's share of Hopper's peak
    share = h100.matrix.sync_mma_share
    assert systolic_efficiency(gemv, h100) == pytest.approx(share / 8)
    assert systolic_efficiency(dataclasses.replace(gemv, gemm_shape=(4096, 1, 4096)), h100) == pytest.approx(share / 8)
    a100 = load_accelerator("a100-sxm4-80gb")  # mma.sync is the A100's native instruction
    assert systolic_efficiency(gemv, a100) == pytest.approx(1 / 8)
    wide = dataclasses.replace(gemv, gemm_shape=(4096, 4096, 4096))
    assert systolic_efficiency(wide, h100) > 0.99 and place(wide, h100, "bf16").unit == "matrix"
    # an H100's bf16 lanes (133.8 TFLOP/s) beat an eighth of its mma.sync rate (82 TFLOP/s)
    assert place(gemv, h100, "bf16").unit == "vector"
    assert "GEMV" in place(gemv, h100, "bf16").note
    assert place(gemv, h100, "fp8").unit == "matrix"  # no fp8 lanes: the padded instruction
    eight = dataclasses.replace(gemv, gemm_shape=(8, 4096, 4096))
    assert systolic_efficiency(eight, h100) == pytest.approx(share) and place(eight, h100, "bf16").unit == "matrix"
    # a chip without warp instructions keeps its array's fill (a TPU's 128 × 128 systolic array)
    tpu = load_accelerator("tpu-v4")
    assert systolic_efficiency(gemv, tpu) < 1 / 64


def test_expert_parallelism_splits_the_experts_and_pays_two_all_to_alls_per_moe_layer():
    """Mixtral 8x7B (93.4 GB of bf16 weights) does not fit one H100; with its 8 experts split
    over 8 data-parallel replicas each holds the shared weights and one expert per layer, and
    each decode step dispatches and combines every token's 2 × 4,096 activations."""
    from hwmodels.loader import load_accelerator
    from simulator.model import memory_per_chip
    from simulator.multichip import all_to_all_s
    from workloads.models import expert_sharded, parameters, routed_experts

    m = load_model(MODELS / "mixtral-8x7b.json")
    with pytest.raises(ModelError, match="does not fit"):
        simulate_model(m, "h100-sxm5-80gb", "decode", 512, 16, data_parallel=8)
    table, totals = simulate_model(m, "h100-sxm5-80gb", "decode", 512, 16, data_parallel=8, expert_parallel=8)
    assert totals["chips"] == 8 and totals["expert_parallel"] == 8
    # weights by hand: everything but the routed experts whole, the experts an eighth
    experts = 32 * 8 * 3 * 4096 * 14336
    assert parameters(expert_sharded(m, 8)) == parameters(m) - experts + experts // 8
    held = memory_per_chip(expert_sharded(m, 8), 512, 16, "bf16", "decode")
    assert held["weights"] == pytest.approx((parameters(m) - experts * 7 / 8) * 2)
    # a chip's one expert serves every replica's tokens routed to it: 8 · 16 tokens, top-2 of 8
    assert routed_experts(expert_sharded(m, 8), 16) == (1, 32)
    row = table.set_index("component").loc["all-to-all over 8 chips (expert parallel: dispatch and combine)"]
    h100 = load_accelerator("h100-sxm5-80gb")
    nbytes = 16 * 2 * 4096 * 2
    assert row["count"] == 2 * 32
    assert row["latency_s"] == pytest.approx(64 * all_to_all_s(h100, nbytes, 8))
    # through NVSwitch: one link latency, 7/8 of the bytes at a chip's 18 links' bandwidth
    assert all_to_all_s(h100, nbytes, 8) == pytest.approx(
        h100.link.latency_s + 7 / 8 * nbytes / (h100.link.links_per_chip * h100.link.bandwidth_bytes_per_s))
    assert row["energy_link_j"] == pytest.approx(64 * 7 / 8 * nbytes * h100.link.energy_per_byte_j)
    train, _ = simulate_model(m, "h100-sxm5-80gb", "train", 1024, 1, data_parallel=8, expert_parallel=8, zero=3,
                              recompute=True)
    assert train.set_index("component").loc[row.name, "count"] == 4 * 32  # and the backward's
    # one expert parallel layout is the layout without it
    _, one = simulate_model(load_model(MODELS / "llama-3-8b.json"), "h100-sxm5-80gb", "decode", 512, 4, data_parallel=2)
    _, same = simulate_model(load_model(MODELS / "llama-3-8b.json"), "h100-sxm5-80gb", "decode", 512, 4,
                             data_parallel=2, expert_parallel=1)
    assert one["latency_s"] == same["latency_s"]


@pytest.mark.parametrize("layout,message", [
    ({"data_parallel": 8, "expert_parallel": 3}, "divisor of data_parallel"),
    ({"data_parallel": 16, "expert_parallel": 16}, "8 experts do not split over 16"),
    ({"data_parallel": 2, "expert_parallel": 0}, "whole number"),
])
def test_expert_parallel_layouts_that_cannot_be_are_refused_in_one_line(layout, message):
    m = load_model(MODELS / "mixtral-8x7b.json")
    with pytest.raises(ModelError, match=message):
        simulate_model(m, "h100-sxm5-80gb", "decode", 512, 1, **layout)
    with pytest.raises(ModelError, match="no mixture-of-experts"):
        simulate_model(load_model(MODELS / "llama-3-8b.json"), "h100-sxm5-80gb", "decode", 512, 1,
                       data_parallel=2, expert_parallel=2)


def test_expert_parallel_from_the_command_line(capsys):
    from reports.cli import main

    config = str(MODELS / "mixtral-8x7b.json")
    assert main(["model", "--hw", "h100-sxm5-80gb", "--config", config, "--prefill", "256", "--decode", "8",
                 "--batch", "4", "--data-parallel", "8", "--expert-parallel", "8"]) == 0
    assert "all-to-all over 8 chips" in capsys.readouterr().out
    assert main(["model", "--hw", "h100-sxm5-80gb", "--config", config, "--prefill", "256", "--decode", "8",
                 "--batch", "4", "--data-parallel", "8", "--expert-parallel", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expert_parallel" in err


# --- training layouts as the frameworks run them --------------------------------------------

def test_context_parallel_ranks_reduce_their_gradients_and_share_the_zero_partition():
    """Llama-3-8B, 8192 tokens on 8 H100s as context parallel 8: the ranks hold the same
    weights and partial gradients, so they reduce them (there was no reduction before) and
    ZeRO-3 shards over them as over data-parallel replicas (torchtitan's FSDP over dp × cp)."""
    m = load_model(MODELS / "llama-3-8b.json")
    cp, _ = simulate_model(m, "h100-sxm5-80gb", "train", 8192, 1, sequence=8, zero=3)
    assert cp["component"].str.contains("over 8 data-parallel chips").sum() == 2
    shards = memory_per_chip(m, 8192, 1, "bf16", "train", sequence=8, zero=3)
    replicas = memory_per_chip(m, 8192, 1, "bf16", "train", data_parallel=8, zero=3)
    assert shards["optimizer states"] == pytest.approx(replicas["optimizer states"])
    stage1, _ = simulate_model(m, "h100-sxm5-80gb", "train", 8192, 1, sequence=8, zero=1)
    assert stage1["component"].str.contains("gradient reduce-scatter over 8 data-parallel chips").any()


def test_tensor_parallel_training_shards_activations_along_the_sequence():
    """Korthikanti et al. Eq. 4: with sequence parallelism a tensor-parallel group of t chips
    holds 34·s·b·h/t bytes of activations per layer; weights as the shard's."""
    m = load_model(MODELS / "llama-2-7b.json")
    one = memory_per_chip(m, 4096, 2, "bf16", "train")
    eight = memory_per_chip(m, 4096, 2, "bf16", "train", chips=8)
    assert eight["activations"] == pytest.approx(one["activations"] / 8)
    assert eight["weights"] == one["weights"]  # the caller passes the tensor shard's model


def test_a_training_pipeline_holds_one_f_one_b_micro_batches_not_all():
    """1F1B (Narayanan et al., SC 2021): the first stage holds at most as many micro-batches'
    activations as there are stages — 32 micro-batches over 4 stages fit where GPipe's 32 would not."""
    m, acc = load_model(MODELS / "llama-2-13b.json"), "h100-sxm5-80gb"
    table, totals = simulate_model(m, acc, "train", 4096, 32, "fp8", pipeline=4, microbatches=32,
                                   data_parallel=4, zero=1)
    assert totals["latency_s"] > 0
    held = memory_per_chip(m, 4096, 4, "fp8", "train", pipeline=4, data_parallel=4, zero=1)
    gpipe = memory_per_chip(m, 4096, 32, "fp8", "train", pipeline=4, data_parallel=4, zero=1)
    assert totals["memory_activations_bytes"] == pytest.approx(held["activations"])
    assert gpipe["activations"] == pytest.approx(8 * held["activations"])


def test_activation_checkpointing_selective_and_by_fraction_of_layers():
    """torchtitan's per-op policy recomputes, per layer, every second matmul (k, the output
    projection, the MLP's up projection) and the elementwise pieces, and keeps the others'
    outputs; fms-fsdp checkpoints round(p · layers) evenly spaced layers in full."""
    from workloads.models import components

    m = load_model(MODELS / "llama-3-8b.json")
    n, d, L = 2 * 1024, m.d_model, m.layers
    again = [c for c in components(m, "train", 1024, 2, "selective") if c.name.startswith("recompute: ")]
    gemms = {c.name: c.workload for c in again if c.algorithm == "tiled"}
    kv = m.kv_heads * m.head_dim
    assert {k: (w.m, w.n, w.k) for k, w in gemms.items()} == {
        "recompute: key projection": (n, kv, d), "recompute: output projection": (n, d, m.heads * m.head_dim),
        "recompute: MLP up projection": (n, m.d_ff, d)}
    forward = {c.name: c.count for c in components(m, "prefill", 1024, 2)}
    assert all(c.count == (L if c.algorithm == "tiled" else forward[c.name.removeprefix("recompute: ")])
               for c in again)
    assert {c.name for c in again if c.algorithm == "map"} >= {"recompute: norms", "recompute: residual adds"}
    # saved: the layer's input, q, v, attention's output (and fp32 log-sum-exp), the gate's and down's outputs
    saved = d + m.heads * m.head_dim + kv + m.heads * m.head_dim + m.d_ff + d
    assert memory_bytes(m, 1024, 2, "bf16", "train", "selective")["activations"] == L * 1024 * 2 * (
        saved * 2 + m.heads * 4)
    half = [c for c in components(m, "train", 1024, 2, 0.5) if c.name.startswith("recompute: ")]
    assert half and all(c.count == forward[c.name.removeprefix("recompute: ")] // 2 for c in half)
    none = memory_bytes(m, 1024, 2, "bf16", "train")["activations"]
    full = memory_bytes(m, 1024, 2, "bf16", "train", True)["activations"]
    assert memory_bytes(m, 1024, 2, "bf16", "train", 0.5)["activations"] == pytest.approx((none + full) / 2)
    times = [simulate_model(m, "h100-sxm5-80gb", "train", 1024, 2, recompute=r, data_parallel=8, zero=3)[1]["latency_s"]
             for r in ("none", "selective", 0.5, "full")]
    assert times[0] < times[1] < times[3] and times[0] < times[2] < times[3]
    with pytest.raises(ModelError, match="recompute: expected one of none, selective, full or a fraction"):
        simulate_model(m, "h100-sxm5-80gb", "train", 1024, 2, recompute="partial")
    with pytest.raises(ModelError, match="'selective' follows torchtitan's per-op policy"):
        simulate_model(load_model(MODELS / "mamba-130m.json"), "h100-sxm5-80gb", "train", 1024, 2,
                       recompute="selective")


def test_hybrid_sharding_shards_in_a_group_and_all_reduces_across_replicas():
    """HSDP (FSDP's HYBRID_SHARD): ZeRO-3's partition over the shard group only (8: a node),
    the gathers and reduce-scatters inside it, each layer's gradient shard all-reduced across
    the replicas; refused unless the group divides the data-parallel chips and zero is 3."""
    m = load_model(MODELS / "llama-2-7b.json")
    hw = "a100-sxm4-80gb"
    full = memory_per_chip(m, 4096, 2, "bf16", "train", data_parallel=128, zero=3)
    hybrid = memory_per_chip(m, 4096, 2, "bf16", "train", data_parallel=128, zero=3, shard_group=8)
    assert hybrid["optimizer states"] == pytest.approx(full["optimizer states"] * 128 / 8)
    assert hybrid["activations"] == full["activations"]
    table, totals = simulate_model(m, hw, "train", 4096, 2, data_parallel=128, zero=3, shard_group=8)
    rows = table[table["component"].str.contains("HSDP")]
    assert len(rows) == 2 and rows["component"].str.contains("over 8 data-parallel chips").all()
    assert rows["component"].str.contains("all-reduced across 16 replicas").any()
    _, fsdp = simulate_model(m, hw, "train", 4096, 2, data_parallel=128, zero=3)
    assert totals["latency_s"] > 0 and fsdp["latency_s"] > 0
    with pytest.raises(ModelError, match="shard_group: expected a whole number dividing the data-parallel group"):
        simulate_model(m, hw, "train", 4096, 2, data_parallel=12, zero=3, shard_group=8)
    with pytest.raises(ModelError, match="expected zero 3"):
        simulate_model(m, hw, "train", 4096, 2, data_parallel=16, zero=1, shard_group=8)
