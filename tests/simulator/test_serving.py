"""An offline batch served with continuous batching: the replies' law, the tail, and the run
against the static batch it reduces to."""

from pathlib import Path

import pytest

from simulator.model import ENERGY_PARTS, simulate_generation
from simulator.serving import reply_lengths, simulate_offline
from workloads.models import ModelError, load_model

MODELS = Path(__file__).resolve().parents[2] / "examples" / "models"


@pytest.mark.parametrize("mean,cap", [(199, 256), (333, 500), (494, 1000), (680, 2000), (128, 256), (3, 200)])
def test_reply_lengths_keep_the_stated_mean_under_the_cap(mean, cap):
    lengths = reply_lengths(mean, 512, cap)
    assert len(lengths) == 512 and min(lengths) >= 1 and max(lengths) <= cap
    assert sum(lengths) / 512 == pytest.approx(mean, rel=0.01, abs=0.3)
    assert lengths == sorted(lengths) == reply_lengths(mean, 512, cap)  # quantiles: in order, no dice
    # a mean above half the cap leans the law towards the cap (λ < 0), below it towards 0
    assert (lengths[256] > cap / 2) == (mean > cap / 2)


def test_reply_lengths_without_a_cap_are_the_exponentials_and_bad_laws_are_refused():
    lengths = reply_lengths(214, 1000)
    assert sum(lengths) / 1000 == pytest.approx(214, rel=0.01)
    assert max(lengths) == round(214 * -__import__("math").log1p(-0.9995))  # the top quantile
    assert reply_lengths(256, 8, 256) == [256] * 8
    for mean, cap, field in ((0.5, None, "output"), (300, 256, "max_output")):
        with pytest.raises(ModelError, match=field):
            reply_lengths(mean, 8, cap)


def test_one_wave_of_equal_replies_is_the_static_batch():
    m = load_model(MODELS / "llama-3-8b.json")
    run = simulate_offline(m, "h100-sxm5-80gb", 64, 200, 32, 32, max_output=200)
    _, _, static = simulate_generation(m, "h100-sxm5-80gb", 64, 200, 32)
    assert run["steps"] == 200 and run["mean_running_batch"] == 32
    assert run["energy_per_output_token_j"] == pytest.approx(static["energy_per_output_token_j"], rel=0.02)
    assert run["total_s"] == pytest.approx(static["total_s"], rel=0.02)
    assert sum(run[k] for k in ENERGY_PARTS) == pytest.approx(run["energy_j"], rel=1e-9)


def test_a_longer_tail_at_the_same_mean_costs_more_per_token():
    """TokenPowerBench's shape: the mean reply held, a higher cap leaves the last, longest
    replies running at a small batch whose steps cost nearly a full step's."""
    m = load_model(MODELS / "llama-3-8b.json")
    runs = [simulate_offline(m, "h100-nvl-94gb", 64, 190, 512, 128, max_output=cap) for cap in (256, 1000, 4000)]
    per_token = [r["energy_per_output_token_j"] for r in runs]
    assert per_token == sorted(per_token) and per_token[-1] > 1.2 * per_token[0]
    batch = [r["mean_running_batch"] for r in runs]
    assert batch == sorted(batch, reverse=True) and batch[0] <= 128
    with pytest.raises(ModelError, match="requests"):
        simulate_offline(m, "h100-nvl-94gb", 64, 190, 0, 128)


def test_an_offline_batch_from_the_command_line(capsys):
    from reports.cli import main

    args = ["model", "--hw", "h100-nvl-94gb", "--config", str(MODELS / "llama-3-8b.json"), "--prefill", "64",
            "--decode", "680", "--batch", "128", "--requests", "512"]
    assert main([*args, "--max-output", "2000"]) == 0
    out = capsys.readouterr().out
    assert "offline_mean_running_batch" in out and "exponential truncated at 2000" in out
    assert main([*args, "--max-output", "200"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "max_output" in err
    assert main([*args[:-2], "--max-output", "2000"]) == 2
    assert "--requests" in capsys.readouterr().err
