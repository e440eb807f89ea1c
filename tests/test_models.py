"""Whole models from their config.json: parameter counts against the published sizes, decode
bound by the weights' bandwidth, a pass no faster than its pieces' bounds, clear errors."""

import json
from pathlib import Path

import pytest

from hwmodels.loader import load_accelerator
from reports.cli import main
from simulator import simulate
from simulator.model import simulate_model
from workloads.catalog import schedule
from workloads.models import ModelError, components, load_model, parameters

MODELS = Path(__file__).resolve().parent.parent / "examples" / "models"


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
])
def test_parameter_counts_match_the_published_sizes(name, published):
    assert parameters(load_model(MODELS / f"{name}.json")) == pytest.approx(published, rel=0.01)


def test_decode_on_a_bandwidth_bound_chip_reads_its_weights_once_per_token():
    """Llama-2-7B decoding one token on a 320 GB/s T4: the weights' bytes over the bandwidth,
    within 10 % (the KV cache, norms and launches are the rest)."""
    t4 = load_accelerator("t4")
    model = load_model(MODELS / "llama-2-7b.json")
    _, totals = simulate_model(model, t4, "decode", 256, batch=1, dtype="fp16")
    ideal = parameters(model) * 2 / t4.dram.bandwidth_bytes_per_s
    assert ideal <= totals["latency_s"] <= 1.1 * ideal


@pytest.mark.parametrize("name", ["llama-2-7b", "mamba-2.8b", "mamba2-2.7b"])
@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_a_pass_is_no_faster_than_its_pieces_bounds(name, phase):
    h100 = load_accelerator("h100-sxm5-80gb")
    model = load_model(MODELS / f"{name}.json")
    table, totals = simulate_model(model, h100, phase, 2048, batch=4)
    bound = sum(part.count * simulate(schedule(part.workload, part.algorithm, "bf16", impl=part.impl), h100,
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
           "time_step_rank", "conv_kernel", "tie_word_embeddings"]
_VALUES = (st.integers(-4, 5000) | st.booleans() | st.none() | st.text(max_size=6) | st.floats()
           | st.lists(st.sampled_from(["LlamaForCausalLM", "MambaForCausalLM", "Mamba2ForCausalLM", "Bert"]),
                      max_size=2))


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
