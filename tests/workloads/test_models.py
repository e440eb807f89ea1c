"""Whole models from their config.json: parameter counts against the published sizes, decode
bound by the weights' bandwidth, a pass no faster than its pieces' bounds, clear errors."""

import dataclasses
import json
from pathlib import Path

import pytest

from hwmodels.loader import load_accelerator
from reports.cli import main
from simulator import simulate
from simulator.model import simulate_model
from simulator.model import memory_bytes
from workloads.catalog import get_workload
from workloads.dispatch import schedule
from workloads.models import ModelError, components, load_model, parameters, routed_experts, sharded

MODELS = Path(__file__).resolve().parents[2] / "examples" / "models"


@pytest.mark.parametrize("name,published", [
    ("llama-2-7b", 6.74e9),    # Touvron et al., arXiv 2307.09288: "7B" = 6.74 B parameters
    ("llama-2-13b", 13.0e9),   # ibid.
    ("llama-2-70b", 69.0e9),   # ibid.
    ("llama-3-8b", 8.03e9),    # meta-llama/Meta-Llama-3-8B model card
    ("mistral-7b", 7.24e9),    # mistralai/Mistral-7B-v0.1 model card
    ("mamba-130m", 0.129e9),   # state-spaces/mamba-130m: 129 M
    ("mamba-1.4b", 1.37e9),    # state-spaces/mamba-1.4b: 1.37 B
    ("mamba-2.8b", 2.77e9),    # state-spaces/mamba-2.8b: 2.77 B (Gu & Dao, Table 3's 2.8B row)
    ("mamba2-2.7b", 2.70e9),   # state-spaces/mamba2-2.7b: 2.70 B
    ("mixtral-8x7b", 46.7e9),  # Jiang et al., arXiv 2401.04088 / Mistral AI: 46.7 B total
    ("jamba-v0.1", 52e9),      # Lieber et al., arXiv 2403.19887: 52 B total
    ("qwen3-next-80b-a3b", 80e9),  # Qwen/Qwen3-Next-80B-A3B model card: 80 B total
    ("nemotron-h-8b", 8e9),    # NVIDIA, arXiv 2504.03624: Nemotron-H-8B (one significant figure)
    ("rwkv7-1.5b", 1.52e9),    # Peng et al., arXiv 2503.14456: RWKV7-World3-1.5B, 1.52 B
])
def test_parameter_counts_match_the_published_sizes(name, published):
    rel = 0.02 if name == "nemotron-h-8b" else 0.01
    assert parameters(load_model(MODELS / f"{name}.json")) == pytest.approx(published, rel=rel)


@pytest.mark.parametrize("name,active,embeddings", [
    ("mixtral-8x7b", 12.9e9, True),   # Mistral AI, "Mixtral of experts": 12.9 B active per token
    ("jamba-v0.1", 12e9, True),       # Lieber et al.: 12 B active
    ("qwen3-next-80b-a3b", 3e9, False),  # model card: 3 B activated (the "A3B"; one significant figure)
])
def test_active_parameters_count_the_routed_experts_only(name, active, embeddings):
    model = load_model(MODELS / f"{name}.json")
    counted = parameters(model, active=True) - (0 if embeddings else 2 * model.vocab * model.d_model)
    assert counted == pytest.approx(active, rel=0.01 if embeddings else 0.1)
    assert parameters(model, active=True) < parameters(model)


def test_hybrid_layer_patterns_follow_their_configs():
    """Jamba: attention at i % 8 == 4, experts at odd layers; Qwen3-Next: full attention every
    fourth layer, Gated DeltaNet in the others, experts everywhere."""
    jamba = load_model(MODELS / "jamba-v0.1.json")
    assert [i for i, (mixer, _) in enumerate(jamba.layout) if mixer == "attention"] == [4, 12, 20, 28]
    assert [i for i, (_, ffn) in enumerate(jamba.layout) if ffn == "moe"] == list(range(1, 32, 2))
    assert jamba.count("mamba") == 28 and jamba.count("mlp") == 16
    qwen = load_model(MODELS / "qwen3-next-80b-a3b.json")
    assert [i for i, (mixer, _) in enumerate(qwen.layout) if mixer == "attention"] == list(range(3, 48, 4))
    assert qwen.count("gated-deltanet") == 36 and qwen.count("moe") == 48
    rwkv = load_model(MODELS / "rwkv7-1.5b.json")  # a recurrent model: its state does not grow
    assert memory_bytes(rwkv, 1024, 2, "bf16") == memory_bytes(rwkv, 65536, 2, "bf16")
    assert memory_bytes(rwkv, 1024, 2, "bf16")["recurrent state"] == 2 * 24 * (32 * 64 * 64 + 2 * 2048) * 2
    nemotron = load_model(MODELS / "nemotron-h-8b.json")  # one sublayer per layer: M, *, -
    assert (nemotron.count("mamba2"), nemotron.count("attention"), nemotron.count("mlp")) == (24, 4, 24)
    assert nemotron.sublayers == nemotron.layers == 52 and not nemotron.mlp_gated
    # a hybrid keeps a KV cache for its attention layers only, and a state for the others
    held = memory_bytes(jamba, 8192, 2, "bf16")
    assert held["KV cache"] == 2 * 4 * 2 * 8192 * 8 * 128 * 2
    assert held["recurrent state"] == 2 * 28 * (8192 * 16 + 8192 * 4) * 2
    names = [p.name for p in components(qwen, "prefill", 1024)]
    assert "gated-deltanet: gated delta rule (chunked)" in names
    assert "attention: attention (FlashAttention, causal)" in names


def test_a_mixture_reads_only_the_experts_its_tokens_reach():
    """Decoding one token reads k experts' weights; a large batch reaches every expert; the
    experts run as one grouped GEMM (one launch, each expert's own weights)."""
    model = load_model(MODELS / "mixtral-8x7b.json")
    assert routed_experts(model, 1) == (2, 1)
    assert routed_experts(model, 4096) == (8, 1024)
    reached = [routed_experts(model, n)[0] for n in range(1, 40)]
    assert reached == sorted(reached) and reached[-1] == 8
    b200 = load_accelerator("b200")
    one = 3 * 4096 * 14336 * 2  # an expert's gate, up and down weights, bf16
    for batch, experts in ((1, 2), (64, 8)):
        table, _ = simulate_model(model, b200, "decode", 256, batch=batch)
        moe = table[table["component"].str.startswith("MoE experts") & table["component"].str.contains("projection")]
        weights = 32 * experts * one  # and the tokens' activations, a per cent or two beside them
        assert weights <= moe["dram_bytes"].sum() <= 1.02 * weights
    grouped = simulate(schedule(get_workload("gemm-4096").with_params(m=16, n=4096, k=4096, batch=8), "tiled", "bf16"),
                       b200)
    single = simulate(schedule(get_workload("gemm-4096").with_params(m=16, n=4096, k=4096), "tiled", "bf16"), b200)
    assert grouped.flops == 8 * single.flops and grouped.dram_bytes == pytest.approx(8 * single.dram_bytes, rel=0.01)


def test_grouped_key_value_heads_are_replicated_over_more_chips():
    """Qwen3-Next's 2 KV heads on 4 chips: one copy per chip, as vLLM shards them."""
    model = load_model(MODELS / "qwen3-next-80b-a3b.json")
    share = sharded(model, 4)
    assert (share.heads, share.kv_heads, share.linear_heads, share.linear_key_heads) == (4, 1, 8, 4)
    _, totals = simulate_model(model, "b200", "decode", 4096, batch=4, chips=4)
    assert totals["memory_KV_cache_bytes"] == 4 * 12 * 2 * 4096 * 1 * 256 * 2


def test_decode_on_a_bandwidth_bound_chip_reads_its_weights_once_per_token():
    """Llama-2-7B decoding one token on a 320 GB/s T4: the weights' bytes over the bandwidth a
    streaming kernel sustains, within 10 % (the KV cache, norms and launches are the rest)."""
    t4 = load_accelerator("t4")
    model = load_model(MODELS / "llama-2-7b.json")
    _, totals = simulate_model(model, t4, "decode", 256, batch=1, dtype="fp16")
    ideal = parameters(model) * 2 / t4.dram.sustained_bytes_per_s
    assert ideal <= totals["latency_s"] <= 1.1 * ideal


@pytest.mark.parametrize("name", ["llama-2-7b", "mamba-2.8b", "mamba2-2.7b", "jamba-v0.1", "nemotron-h-8b",
                                  "qwen3-next-80b-a3b"])
@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_a_pass_is_no_faster_than_its_pieces_bounds(name, phase):
    b200 = load_accelerator("b200")
    model = load_model(MODELS / f"{name}.json")
    table, totals = simulate_model(model, b200, phase, 2048, batch=4)
    bound = sum(part.count * simulate(schedule(part.workload, part.algorithm, "bf16", impl=part.impl), b200,
                                      fidelity="analytic").lower_bound_s
                for part in components(model, phase, 2048, batch=4))
    assert totals["latency_s"] >= bound > 0
    assert table["share"].sum() == pytest.approx(1.0) and set(table["bound"]) <= {"compute", "memory", "depth"}


def test_attention_grows_faster_with_context_than_the_recurrences():
    h100 = load_accelerator("h100-sxm5-80gb")
    growth = {}
    for name in ("llama-2-7b", "mamba2-2.7b"):
        model = load_model(MODELS / f"{name}.json")
        short, long = (simulate_model(model, h100, "prefill", t)[1]["latency_s"] for t in (2048, 32768))
        growth[name] = long / short
    assert growth["mamba2-2.7b"] < 20 < growth["llama-2-7b"]  # 16× the tokens


@pytest.mark.parametrize("config,message", [
    ({"architectures": ["GPT2LMHeadModel"], "hidden_size": 8}, "architectures: expected one of"),
    ({"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10},
     "num_attention_heads: missing"),
    ({"architectures": ["MambaForCausalLM"], "hidden_size": -4}, "hidden_size: expected a whole number"),
    ({"architectures": ["MixtralForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10,
      "num_attention_heads": 4, "intermediate_size": 8, "num_local_experts": 2, "num_experts_per_tok": 3},
     "num_experts_per_tok: 3 is more than the 2 experts"),
    ({"architectures": ["JambaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10,
      "num_attention_heads": 4, "intermediate_size": 8, "num_experts": 2, "num_experts_per_tok": 1,
      "attn_layer_period": 4, "attn_layer_offset": 4}, "attn_layer_offset: 4 is not below attn_layer_period"),
    ({"architectures": ["Qwen3NextForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10,
      "num_attention_heads": 4, "intermediate_size": 8, "num_experts": 2, "num_experts_per_tok": 1,
      "moe_intermediate_size": 8, "layer_types": ["full_attention"]}, "layer_types: expected 2 of"),
    ({"architectures": ["NemotronHForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10,
      "hybrid_override_pattern": "ME"}, "hybrid_override_pattern: expected 2 of M, \\*, -"),
])
def test_bad_configs_name_the_field(tmp_path, config, message):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ModelError, match=message):
        load_model(path)


def test_model_command_and_what_does_not_fit(capsys):
    config = str(MODELS / "llama-2-7b.json")
    assert main(["model", "--hw", "h100-sxm5-80gb", "--config", config, "--prefill", "1024",
                 "--decode", "64", "--batch", "4", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["time_to_first_token_s"] > record["time_per_output_token_s"] > 0
    assert record["memory_weights_bytes"] == parameters(load_model(config)) * 2
    assert main(["model", "--hw", "h100-sxm5-80gb", "--config", config, "--prefill", "131072", "--batch", "64"]) == 2
    err = capsys.readouterr().err
    assert "does not fit h100-sxm5-80gb" in err and "KV cache" in err and err.count("\n") == 1


def test_a_training_step_is_forward_backward_and_update_and_says_what_it_holds():
    h100 = load_accelerator("h100-sxm5-80gb")
    model = load_model(MODELS / "mamba2-2.7b.json")
    _, prefill = simulate_model(model, h100, "prefill", 2048, batch=2)
    table, train = simulate_model(model, h100, "train", 2048, batch=2)
    _, again = simulate_model(model, h100, "train", 2048, batch=2, recompute=True)
    assert train["latency_s"] > 2 * prefill["latency_s"] and again["latency_s"] > train["latency_s"]
    assert again["memory_activations_bytes"] < train["memory_activations_bytes"]
    assert train["memory_optimizer_states_bytes"] == 12 * parameters(model)
    assert table["component"].iloc[-1].startswith("optimizer update")
    # Llama-2-7B's weights, gradients and Adam states alone exceed one H100's 80 GB
    with pytest.raises(ModelError, match="optimizer states 80.9 GB"):
        simulate_model(load_model(MODELS / "llama-2-7b.json"), h100, "train", 2048, batch=1, recompute=True)


def test_a_70b_model_on_eight_chips_is_one_command(capsys):
    """Llama-2-70B's 138 GB of weights do not fit one H100; split 8 ways (Megatron-style
    tensor parallelism) they do, and the all-reduces after every row-parallel projection cost
    link time that grows with the degree."""
    config = str(MODELS / "llama-2-70b.json")
    assert main(["model", "--hw", "h100-sxm5-80gb", "--config", config]) == 2
    assert "does not fit h100-sxm5-80gb" in capsys.readouterr().err
    assert main(["model", "--hw", "h100-sxm5-80gb", "--config", config, "--chips", "8", "--batch", "8",
                 "--prefill", "2048", "--decode", "128", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["chips"] == 8 and record["memory_weights_bytes"] < 80e9 / 4
    model = load_model(config)
    table, totals = simulate_model(model, "h100-sxm5-80gb", "decode", 2048, batch=8, chips=8)
    reduce = table[table["component"].str.startswith("all-reduce")].iloc[0]
    assert reduce["count"] == 2 * model.layers and 0 < reduce["share"] < 1
    _, four = simulate_model(model, "h100-sxm5-80gb", "decode", 2048, batch=8, chips=4)
    assert totals["latency_s"] < four["latency_s"]  # more chips: less per chip, more all-reduce
    with pytest.raises(ModelError, match="does not split over 3 chips"):
        simulate_model(model, "h100-sxm5-80gb", "decode", 2048, chips=3)


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_FIELDS = ["architectures", "hidden_size", "num_hidden_layers", "vocab_size", "num_attention_heads",
           "num_key_value_heads", "intermediate_size", "state_size", "expand", "head_dim", "n_groups",
           "time_step_rank", "conv_kernel", "tie_word_embeddings", "num_experts", "num_local_experts",
           "num_experts_per_tok", "attn_layer_period", "attn_layer_offset", "layer_types", "linear_num_key_heads",
           "linear_num_value_heads", "linear_key_head_dim", "linear_value_head_dim", "moe_intermediate_size",
           "hybrid_override_pattern", "mamba_num_heads", "mamba_head_dim", "decay_low_rank_dim",
           "a_low_rank_dim", "v_low_rank_dim", "gate_low_rank_dim"]
_VALUES = (st.integers(-4, 5000) | st.booleans() | st.none() | st.text(max_size=6) | st.floats()
           | st.lists(st.sampled_from(["LlamaForCausalLM", "MambaForCausalLM", "Mamba2ForCausalLM", "Bert",
                                       "MixtralForCausalLM", "JambaForCausalLM", "Qwen3NextForCausalLM", "NemotronHForCausalLM",
                                       "RWKV7ForCausalLM",
                                       "linear_attention", "full_attention"]), max_size=3))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=10))
def test_fuzzed_configs_load_and_cost_or_fail_with_a_model_error(tmp_path, config):
    """Whatever a config.json holds: a model whose prefill costs a finite time, or one line."""
    import math

    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    try:
        model = load_model(path)
        if parameters(model) > 2e11:  # a legal but absurd size: the cost check below is for real ones
            return
        _, totals = simulate_model(model, "b200", "prefill", 64, batch=1)
        assert math.isfinite(totals["latency_s"]) and totals["latency_s"] > 0
    except ModelError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc) or "does not" in str(exc)


def test_pipeline_stages_split_the_weights_and_pay_fill_and_drain():
    """Llama-2-70B as 4-way tensor × 2-stage pipeline on 8 H100s: each chip holds half of a
    4-way shard; a batch of 8 in 4 micro-batches takes (4 + 2 − 1) stage slots, the bubble's
    share shrinking with more micro-batches."""
    model = load_model(MODELS / "llama-2-70b.json")
    _, tensor = simulate_model(model, "h100-sxm5-80gb", "decode", 2048, batch=8, chips=4)
    table, piped = simulate_model(model, "h100-sxm5-80gb", "decode", 2048, batch=8, chips=4, pipeline=2,
                                  microbatches=4)
    assert piped["chips"] == 8 and piped["memory_weights_bytes"] == pytest.approx(tensor["memory_weights_bytes"] / 2)
    bubble = table[table["component"].str.startswith("pipeline fill and drain")].iloc[0]
    hop = table[table["component"].str.startswith("activations between")].iloc[0]
    work = table["latency_s"].sum() - bubble["latency_s"] - hop["latency_s"]  # 4 micro-batches of half the layers
    slot = (work + hop["latency_s"]) / 4
    assert bubble["latency_s"] == pytest.approx(slot) and piped["latency_s"] == pytest.approx(5 * slot)
    _, more = simulate_model(model, "h100-sxm5-80gb", "decode", 2048, batch=8, chips=4, pipeline=2, microbatches=8)
    assert more["tokens_per_s"] > 0 and piped["energy_j"] > 0
    with pytest.raises(ModelError, match="microbatches: expected a whole number from 1 to the batch"):
        simulate_model(model, "h100-sxm5-80gb", "decode", 2048, batch=2, pipeline=2, microbatches=4)


def test_context_parallelism_splits_a_long_prompt_over_chips():
    """A 128k-token prompt of Nemotron-H-8B over 4 chips: ring attention, the Mamba-2 layers'
    carries scanned across chips, a quarter of the KV cache on each — and several times
    faster than one chip; a decode step cannot be split along its one token."""
    model = load_model(MODELS / "nemotron-h-8b.json")
    _, one = simulate_model(model, "h100-sxm5-80gb", "prefill", 131072)
    table, four = simulate_model(model, "h100-sxm5-80gb", "prefill", 131072, sequence=4)
    assert 2.5 < one["latency_s"] / four["latency_s"] <= 4.0
    assert four["memory_KV_cache_bytes"] == pytest.approx(one["memory_KV_cache_bytes"] / 4)
    names = table["component"].tolist()
    assert any(n.endswith("ring over 4 chips") for n in names)
    carries = table[table["component"].str.endswith("carries across 4 chips")]
    assert len(carries) == 1 and carries["count"].iloc[0] == 24 and carries["latency_s"].iloc[0] > 0
    with pytest.raises(ModelError, match="a decode step has one token per sequence"):
        simulate_model(model, "h100-sxm5-80gb", "decode", 4096, sequence=2)


def test_every_shipped_config_costs_every_phase_on_every_preset_or_says_why():
    """Prefill, decode and training of every example config on every preset (in the first
    16-bit or 32-bit dtype the preset's vector unit has): a finite time, or one line saying
    the model does not fit the chip."""
    import math

    from hwmodels.loader import preset_names
    from workloads.models import PHASES

    ran = refused = 0
    for config in sorted(MODELS.glob("*.json")):
        model = load_model(config)
        for name in preset_names():
            acc = load_accelerator(name)
            dtype = next(d for d in ("bf16", "fp16", "fp32") if d in acc.vector.flops_per_lane_per_cycle)
            for phase in PHASES:
                try:
                    _, totals = simulate_model(model, acc, phase, 512, batch=1, dtype=dtype)
                except ModelError as exc:
                    assert "does not fit" in str(exc) and "\n" not in str(exc)
                    refused += 1
                    continue
                assert math.isfinite(totals["latency_s"]) and totals["latency_s"] > 0 and totals["energy_j"] > 0
                ran += 1
    assert ran > 150 and refused > 0


def test_a_model_of_ones_own_in_scansims_yaml():
    """A hypothetical hybrid from a few lines of YAML: its layers as the pattern says, its
    parameters counted by hand, costed like any config."""
    model = load_model(MODELS / "gdn-hybrid-1.3b.yaml")
    assert model.layers == 24 and model.count("attention") == 6 and model.count("gated-deltanet") == 18
    d, v, ff = 2048, 32000, 5632
    attention = d * (16 + 2 * 4) * 128 + 16 * 128 * d
    deltanet = d * (2 * 16 * 128 + 2 * 16 * 128 + 2 * 16) + (3 * 16 * 128) * 4 + 2 * 16 + 128 + 16 * 128 * d
    per_layer_norms_and_mlp = 2 * d + 3 * d * ff
    expected = v * d + 6 * attention + 18 * deltanet + 24 * per_layer_norms_and_mlp + d
    assert parameters(model) == expected
    _, totals = simulate_model(model, "h100-sxm5-80gb", "prefill", 4096, batch=2)
    assert totals["latency_s"] > 0


@pytest.mark.parametrize("text,message", [
    ("name: x\nd_model: 64\nvocab: 10\nlayers: {pattern: [attention/mlp]}\nmlp: {d_ff: 8}\n",
     "attention: missing (the layers have attention)"),
    ("name: x\nd_model: 64\nvocab: 10\nlayers: {pattern: [attention/mlp]}\nattention: {heads: 4, head_dim: 16}\n"
     "mlp: {d_ff: 8, colour: red}\n", "mlp.colour: unknown key"),
    ("name: x\nd_model: 64.5\nvocab: 10\nlayers: {pattern: [none/mlp]}\nmlp: {d_ff: 8}\n", "d_model: "),
    ("name: x\nd_model: 64\nvocab: 10\nlayers: {pattern: [lstm/mlp]}\nmlp: {d_ff: 8}\n",
     "layers.pattern: 'lstm/mlp': expected MIXER/FEED-FORWARD"),
    ("a: &a [1, 2]\nb: [*a, *a]\n", "YAML aliases are not used in a model file"),
    ("- 1\n- 2\n", "expected a mapping of model fields"),
])
def test_bad_model_files_name_the_field(tmp_path, text, message):
    path = tmp_path / "model.yaml"
    path.write_text(text)
    with pytest.raises(ModelError, match=rf"{path}(:\d+)?: .*"):
        load_model(path)
    with pytest.raises(ModelError) as err:
        load_model(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_model_command_refuses_a_bad_config_in_one_line(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "hidden_size": "wide"}))
    assert main(["model", "--hw", "h100-sxm5-80gb", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hidden_size: expected a whole number ≥ 1, got 'wide'" in err


def test_largest_batch_and_context_that_fit_are_the_edge_of_what_runs():
    from simulator.model import largest_fit

    llama = load_model(MODELS / "llama-3-8b.json")
    limits = largest_fit(llama, "h100-sxm5-80gb", "decode", 8192, batch=8)
    simulate_model(llama, "h100-sxm5-80gb", "decode", 8192, batch=limits["max_batch"])
    with pytest.raises(ModelError, match="does not fit"):
        simulate_model(llama, "h100-sxm5-80gb", "decode", 8192, batch=limits["max_batch"] + 1)
    with pytest.raises(ModelError, match="does not fit"):
        simulate_model(llama, "h100-sxm5-80gb", "decode", limits["max_context"] + 1, batch=8)
    mamba = largest_fit(load_model(MODELS / "mamba2-2.7b.json"), "h100-sxm5-80gb", "decode", 8192, batch=8)
    assert mamba["max_context"] is None and mamba["max_batch"] > limits["max_batch"]  # its state does not grow
    assert largest_fit(load_model(MODELS / "llama-2-70b.json"), "h100-sxm5-80gb", "decode", 1024) == {
        "max_batch": 0, "max_context": 0}  # the weights alone do not fit one chip


def test_mamba2_groups_reach_the_scan_and_shard_like_kv_heads():
    """A Mamba-2 model's ngroups reaches its SSD scan (B and C read once per group), and tensor
    parallelism splits the groups — replicated where fewer than the chips, as vLLM does."""
    m = load_model(MODELS / "mamba2-2.7b.json")
    scan = next(c for c in components(m, "prefill", 4096) if c.name.startswith("SSD"))
    assert m.groups == 1 and scan.workload.groups == 1
    assert sharded(m, 4).groups == 1
    eight = dataclasses.replace(m, groups=8)
    assert sharded(eight, 4).groups == 2
