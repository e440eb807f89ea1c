"""The findings in words, as a newcomer reads them: numbers in human form (never in
e-notation), ratios that say what is compared, the validation verdict whether met or not, and
the demo's whole models of one size."""

import math
import re

import pandas as pd
import pytest

from reports.html import write_report
from reports.model_report import MATCHED, architecture
from reports.report import page_summary
from reports.story import Story, story
from reports.units import count, human, plain, usd_per_tokens
from reports.validate import verdict

E_NOTATION = re.compile(r"\d(\.\d+)?e[+-]?\d", re.IGNORECASE)


@pytest.mark.parametrize("value,shown", [
    (292_122, "292,000"), (3_332, "3,330"), (6.38, "6.38"), (1.0, "1"), (0.0554, "0.0554"),
    (3.85e-9, "0.00000000385"), (123_456_789, "123,000,000"), (0.5, "0.5"), (0, "0"),
])
def test_plain_numbers_have_three_figures_and_no_exponent(value, shown):
    assert plain(value) == shown


def test_human_units_and_prices_read_without_exponents():
    assert human(5.54e-8, "energy_per_token_j") == "55.4 nJ"
    assert human(183e-6, "latency_s") == "183 µs"
    assert human(1e9, "memory_bytes") == "1 GB"
    assert human(1e-13, "energy_j") == "0.1 pJ"
    assert usd_per_tokens(0.2367) == "$0.237 per million tokens"
    assert usd_per_tokens(6.31e-5) == "$0.0631 per billion tokens"
    assert usd_per_tokens(3.85e-9) == "$0.00385 per trillion tokens"  # a million tokens: under a cent
    assert count(8_030_261_248) == "8.03 billion"


def _results(ratio: float = 292_122.0) -> pd.DataFrame:
    """One chip, three mixers at three lengths: a narrow linear scan, attention ``ratio`` times
    slower at the longest T, and an LSTM under two algorithms."""
    rows = []
    for t in (256, 1024, 4096):
        scan = 1e-6 * t / 256
        for workload, family, algorithm, latency in (
                ("diagonal-d64", "diagonal", "sequential", scan),
                ("llama2-7b-attention", "attention", "blocked", scan * ratio * (t / 4096) ** 1.0),
                ("lstm-2048", "lstm", "sequential", scan * 400),
                ("lstm-2048", "lstm", "quasi-deer", scan * 4000)):
            rows.append({"accelerator": "chip", "workload": workload, "family": family, "algorithm": algorithm,
                         "seq_len": t, "latency_s": latency, "error": "", "compute_bound_s": latency / 2,
                         "memory_bound_s": latency / 3, "depth_bound_s": latency / 4,
                         "energy_per_token_j": 5.54e-8, "usd_per_million_tokens": 3.85e-9})
    return pd.DataFrame(rows)


def test_story_says_what_it_compares_in_human_numbers():
    told = story(_results())
    assert isinstance(told, Story) and told.key and told.more
    key = " ".join(told.key)
    assert "llama2-7b-attention (Llama-2-7B attention layer) takes 292,000 times as long as diagonal-d64" in key
    assert "fastest mixer on chip" not in key and "is diagonal-d64 (one narrow diagonal head" in key
    assert "Linear RNNs overtake attention" in key
    everything = " ".join(told.key + told.more)
    assert not E_NOTATION.search(everything), everything
    assert not re.search(r"\d×", everything)  # a ratio says "N times as long as X", never a bare "N×"
    assert "$0.00385 per trillion tokens" in everything and "55.4 nJ" in everything
    assert "sequential for lstm-2048 (10 times as fast as quasi-deer)" in everything


def _validation(ratios, split, set_name, family="f"):
    return pd.DataFrame({"ratio": ratios, "split": split, "family": family, "set": set_name,
                         "within_band": [1 / 1.25 <= r <= 1.25 for r in ratios]})


def test_the_verdict_leads_whether_targets_are_met_or_missed():
    no_orderings = pd.DataFrame(columns=["predicted_holds"])
    met = verdict(_validation([1.0, 1.1, 0.95], "dev", "kernels", "gemm"), no_orderings)
    assert met.startswith("✓ Targets met: kernels set, 3 published timings (gemm)")
    assert "median factor of 1.05" in met  # exp(median |log ratio|) = exp(log 1.05)
    held = _validation([1.0, 3.0, 3.0, 1.0, 1.0], ["held-out", "held-out", "held-out", "dev", "dev"], "recurrent")
    missed = verdict(held, no_orderings)
    assert missed.startswith("✗ Targets NOT met: recurrent set, held-out half (3 published timings")
    assert f"median factor of {math.exp(math.log(3)):.2f}" in missed and "33 % within a factor of 2" in missed
    assert "development half (2 timings) 1.00 and 100 %" in missed


def test_the_page_opens_with_lists_and_marks_missed_targets(tmp_path):
    summary = page_summary("Simulated: things.", Story(("one finding", "another"), ("detail",)),
                           "- ✓ Targets met: a\n- ✗ Targets NOT met: b", "More findings")
    page = write_report(tmp_path, "t", summary, [], []).read_text()
    assert '<ul class="findings">' in page and "<li>one finding</li>" in page
    assert '<li class="met">✓ Targets met: a</li>' in page
    assert '<li class="missed">✗ Targets NOT met: b</li>' in page
    assert "<details><summary>More findings (1)</summary>" in page and "<p>Simulated: things.</p>" in page
    assert page.index("Findings</h2>") < page.index("How far to trust these numbers</h2>") < page.index("<details>")


def test_the_demo_compares_whole_models_of_one_size_and_three_architectures():
    from reports.demo import DEMO_MODELS, _MODELS
    from workloads.models import load_model, parameters

    sizes = [parameters(load_model(_MODELS / f"{m}.json")) for m in DEMO_MODELS]
    assert max(sizes) / min(sizes) <= MATCHED
    assert sorted(architecture(str(_MODELS / f"{m}.json")) for m in DEMO_MODELS) == ["hybrid", "recurrent",
                                                                                    "transformer"]
    # Mamba-Codestral-7B-v0.1: 7.29 B parameters on its model card
    assert parameters(load_model(_MODELS / "mamba-codestral-7b.json")) == pytest.approx(7.29e9, rel=0.01)
