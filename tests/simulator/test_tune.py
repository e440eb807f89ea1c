"""The mapping search: its space, the chip's constraints, pruning by the lower bound, and where
a user meets it (the CLI, sweeps, the report).  Closed form throughout, so it stays fast."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwmodels.loader import load_accelerator
from hwmodels.spec import Accelerator
from reports.cli import main
from reports.report import tuned_section
from reports.sweep import SweepError, load_sweep, run_sweep
from simulator import SimulationError
from simulator.tune import core_bytes, tune
from tests.conftest import toy_spec
from workloads.catalog import get_workload
from workloads.mapping import (CHUNK_CIRCUITS, default_mapping, illegal, mapping_space, shipped_configuration,
                               working_set_bytes)

H100, GROQ, WSE2 = "h100-sxm5-80gb", "groq-lpu-style", "wse2-style"
FAST = dict(fidelity="analytic")


def _toy(cores, lanes, sram, bandwidth, launch):
    sfu = {f: {"ops_per_cycle": lanes, "latency_cycles": 1} for f in ("exp", "tanh", "sigmoid")}
    return Accelerator.model_validate(toy_spec(
        sfu={**sfu, "energy_per_op_j": 0.0},
        cores=cores, vector={"lanes": lanes, "flops_per_lane_per_cycle": {"fp32": 1.0}, "op_latency_cycles": 1.0,
                             "energy_per_flop_j": {"fp32": 1.0}},
        memory=[{"name": "sram", "scope": "core", "capacity_bytes": sram, "bandwidth_bytes_per_s": 1e9,
                 "latency_s": 0.0, "energy_per_byte_j": 0.0},
                {"name": "dram", "scope": "chip", "capacity_bytes": 1e12, "bandwidth_bytes_per_s": bandwidth,
                 "latency_s": 0.0, "energy_per_byte_j": 0.5, "sustained_fraction": 1.0}],
        kernel_launch_s=launch))


toys = st.builds(_toy, cores=st.sampled_from([1, 4, 64]), lanes=st.sampled_from([1, 8, 32]),
                 sram=st.sampled_from([4096.0, 65536.0, 1e6]), bandwidth=st.sampled_from([1.0, 1e3, 1e6]),
                 launch=st.sampled_from([0.0, 10.0]))
chips = st.one_of(toys, st.sampled_from([H100, GROQ, WSE2]).map(load_accelerator))
#: one workload of each kind of space: circuits (with the chunked circuit's knobs), the chunked
#: matmul forms, blocked attention, a GEMM's tile
layers = st.sampled_from(["diagonal-d64", "mamba2-2.7b", "gla-1.3b", "deltanet-1.3b", "llama2-7b-attention",
                          "gemm-4096"])


@settings(max_examples=12, deadline=None)
@given(chip=chips, name=layers, seq_len=st.sampled_from([16, 100, 512]))
def test_tuned_latency_is_no_worse_than_any_candidate_or_the_default(chip, name, seq_len):
    w = get_workload(name)
    w = w.with_params(seq_len=seq_len) if w.family != "gemm" else w.with_params(m=seq_len)
    try:
        found = tune(w, chip, "fp32", **FAST)
    except SimulationError as exc:  # a core too small for every tile of a GEMM: said, not guessed
        assert "no mapping" in str(exc) and "a core holds" in str(exc)
        return
    tuned = found.latency_s
    costed = [c for c in found.candidates if c.latency_s is not None]
    assert costed and all(tuned <= c.latency_s * (1 + 1e-12) for c in costed)
    # a pruned mapping's lower bound already exceeds the answer: it could not have won
    assert all(c.lower_bound_s > tuned for c in found.candidates if c.latency_s is None)
    assert found.pruned == len(found.candidates) - len(costed)
    if found.default_legal:
        assert tuned <= found.default_latency_s * (1 + 1e-12)
    assert found.result.lower_bound_s <= tuned * (1 + 1e-9)
    assert found.space_size == mapping_space(w).size


def test_sram_only_and_wafer_chips_choose_other_chunks_than_the_gpu():
    """The SRAM-only chip (64 KB per superlane) and the wafer (48 KB per core) cannot hold the
    chunks an H100 SM's 228 KB of shared memory can, and their bandwidth-to-compute balance
    differs: for at least one family the chosen mapping must differ from the GPU's."""
    differ, why = [], []
    for name in ("mamba2-2.7b", "gla-1.3b"):
        w = get_workload(name).with_params(seq_len=4096)
        chosen = {hw: tune(w, hw, "fp16", **FAST) for hw in (H100, GROQ, WSE2)}
        gpu = chosen[H100].best
        for hw in (GROQ, WSE2):
            other = chosen[hw].best
            knobs = {k: (gpu.get(k), other.get(k)) for k in ("algorithm", "chunk", "inner", "outer")
                     if gpu.get(k) != other.get(k)}
            if knobs:
                differ.append((name, hw))
                why.append(f"{name}: {hw} chose {other} (a core holds {core_bytes(load_accelerator(hw)):,.0f} B; "
                           f"{chosen[hw].illegal} mappings illegal) where {H100} chose {gpu} (a core holds "
                           f"{core_bytes(load_accelerator(H100)):,.0f} B): differing {knobs}")
    assert {hw for _, hw in differ} == {GROQ, WSE2}, "\n".join(why) or "every chip chose the GPU's mapping"
    print("\n".join(why))


def test_spaces_of_families_and_implementations():
    ssd = get_workload("mamba2-2.7b").with_params(seq_len=100)
    space = mapping_space(ssd)
    chunked = next(c for c in space.choices if c.algorithm == "chunked")
    assert chunked.knobs[0].values == (16, 32, 64)  # none above T
    assert space.policies == ("unfused", "fused")
    diag = mapping_space(get_workload("diagonal-d64"))
    circuit = next(c for c in diag.choices if c.algorithm == "chunked")
    assert [k.name for k in circuit.knobs] == ["chunk", "inner", "outer"]
    assert circuit.size == 5 * len(CHUNK_CIRCUITS) ** 2
    # shipped kernels: FlashAttention and FLA's chunk kernels expose no mapping knob (causal is
    # what is computed, not how): one point, as shipped; Mamba-2's kernel ships chunk 256
    attention = get_workload("llama2-7b-attention")
    assert mapping_space(attention, "flash-attention-3").size == 3 * 6  # rows 0 (its own), 128, 192 × cols
    assert mapping_space(get_workload("gla-1.3b"), "fla-chunk").size == 2 * 3  # its state and output tiles
    assert shipped_configuration("mamba2-ssd") == {"chunk": 256}
    assert default_mapping(ssd, impl="mamba2-ssd") == {"impl": "mamba2-ssd", "algorithm": "chunked", "chunk": 256,
                                                       "policy": "auto"}
    assert default_mapping(ssd) == {"algorithm": "sequential", "policy": "auto"}
    assert default_mapping(attention, "blocked") == {"algorithm": "blocked", "block": 128, "policy": "auto"}
    only = space.restricted(algorithms=("chunked",), chunk=32, policies=("fused",))
    assert list(only.points()) == [{"algorithm": "chunked", "chunk": 32, "policy": "fused"}]


def test_working_sets_by_hand():
    attention = get_workload("llama2-7b-attention")  # D = E = 128
    assert working_set_bytes(attention, {"algorithm": "blocked", "block": 128}, "bf16") == 128 * (2 * 128 + 128) * 2
    ssd = get_workload("mamba2-2.7b")  # K = 128, V = 64: a 64 × 64 channel tile
    assert working_set_bytes(ssd, {"algorithm": "chunked", "chunk": 256}, "fp16") == 256 * 192 * 2 + 64 * 64 * 4
    gemm = get_workload("gemm-4096")
    assert working_set_bytes(gemm, {"algorithm": "tiled", "tile": 128}, "fp16") == 2 * 2 * 128 * 32 * 2
    assert working_set_bytes(ssd, {"algorithm": "sequential"}, "fp16") == 0
    reason = illegal(ssd, {"algorithm": "chunked", "chunk": 256}, "fp16", 49152)
    assert reason.startswith("chunk 256") and "49,152" in reason
    assert core_bytes(load_accelerator(H100)) == 233472 and core_bytes(load_accelerator(WSE2)) == 49152


def test_pruning_search_is_deterministic_and_samples_large_spaces():
    w = get_workload("diagonal-d64").with_params(seq_len=256)
    first = tune(w, H100, "fp32", **FAST)
    assert first.pruned > 0 and not first.sampled
    assert tune(w, H100, "fp32", **FAST) == first
    # candidates come in order of lower bound
    bounds = [c.lower_bound_s for c in first.candidates]
    assert bounds == sorted(bounds)
    small = tune(w, H100, "fp32", max_points=10, seed=1, **FAST)
    assert small.sampled and small.space_size == first.space_size
    assert len(small.candidates) <= 11  # ten sampled and the default, kept
    assert any(c.mapping == small.default for c in small.candidates)
    assert tune(w, H100, "fp32", max_points=10, seed=1, **FAST).best == small.best


def test_des_recheck_never_returns_slower_than_the_default():
    w = get_workload("mamba2-2.7b").with_params(seq_len=1024)
    found = tune(w, H100, "bf16", top_k=2, event_budget=256)
    assert found.result.fidelity == "des" and found.fidelity == "des"
    assert found.latency_s <= found.default_latency_s
    assert found.best["algorithm"] == "chunked"


def test_an_illegal_point_is_refused_not_fatal():
    # FlashFFTConv refuses transform lengths above 32,768: the only point of its space
    w = get_workload("long-conv-d1024").with_params(seq_len=65536)
    with pytest.raises(Exception, match="no mapping"):
        tune(w, H100, "fp16", impl="flashfftconv", **FAST)
    found = tune(w.with_params(seq_len=4096), H100, "fp16", impl="flashfftconv", **FAST)
    assert found.best == {"impl": "flashfftconv", "algorithm": "monarch", "policy": "auto"}
    assert found.gain == 1


def test_cli_simulate_tune(capsys):
    args = ["simulate", "--hw", H100, "--workload", "mamba2-2.7b", "--seq-len", "2048", "--dtype", "bf16",
            "--fidelity", "analytic", "--tune"]
    assert main(args + ["--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["tuned_mapping"]["algorithm"] == "chunked"
    assert record["tuned_latency_s"] == record["latency_s"] <= record["default_latency_s"]
    assert main(args + ["--algo", "chunked"]) == 0
    out = capsys.readouterr().out
    assert "tuned mapping: algorithm chunked, chunk" in out and "default (algorithm chunked, chunk 64" in out


def test_sweep_tune_columns_and_report_section(tmp_path):
    doc = {"name": "tuned", "workloads": [{"name": "mamba2-2.7b"}, {"name": "llama2-7b-attention"}],
           "accelerators": [H100, WSE2], "axes": {"workload.seq_len": [512, 2048]},
           "fidelity": "analytic", "dtype": "fp16", "tune": True}
    results = run_sweep(doc, tmp_path / "out")
    assert (results["error"] == "").all()
    assert (results["latency_s"] == results["tuned_latency_s"]).all()
    assert (results["latency_s"] <= results["default_latency_s"]).all()
    assert (results["algorithm"] == results["tuned_algorithm"]).all()
    assert {"tuned_chunk", "tuned_block", "tuned_policy"} <= set(results.columns)
    words, tables = tuned_section(results)
    assert [t.title for t in tables] == ["Tuned mappings per chip", "Gain of tuning"]
    assert len(tables[0].frame) == 4 and set(tables[0].frame.columns) >= {H100, WSE2}
    assert any("changes between chips" in s for s in words), words
    assert tuned_section(results.drop(columns=[c for c in results if c.startswith("tuned_")])) == ([], [])


def test_sweep_file_tune_field(tmp_path):
    base = {"workloads": [{"name": "diagonal-d64"}], "accelerators": [H100]}
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps({**base, "tune": True, "axes": {"tune": [True, False]}}))
    with pytest.raises(SweepError, match="tune"):
        load_sweep(path)
    path.write_text(json.dumps({**base, "tune": "yes"}))
    with pytest.raises(SweepError, match="tune"):
        load_sweep(path)
    path.write_text(json.dumps({**base, "axes": {"tune": [True, False]}}))
    assert load_sweep(path).axes["tune"] == [True, False]
    path.write_text(json.dumps({**base, "axes": {"tune": [1]}}))
    with pytest.raises(SweepError, match="tune"):
        load_sweep(path)


def test_fla_chunk_tiles_are_searched_and_the_shipped_ones_win_on_an_h100():
    """fla-chunk's own knobs — its state and output programs' tiles (FLA's autotuning lists) —
    form a space of six; on an H100 the search lands on the shipped 64 and 128."""
    from simulator.tune import tune
    from workloads.catalog import get_workload

    w = get_workload("gla-1.3b").with_params(seq_len=4096, batch=4)
    found = tune(w, "h100-sxm5-80gb", "bf16", impl="fla-chunk", fidelity="analytic")
    assert found.space_size == 6 and found.default == found.best
    assert (found.best["state_tile"], found.best["out_tile"]) == (64, 128)


@pytest.mark.parametrize("head_dim, heads, batch", [(64, 32, 8), (128, 16, 4), (256, 8, 2)])
def test_fa3_tiles_searched_on_an_h100_land_within_ten_per_cent_of_the_shipped_tile(head_dim, heads, batch):
    """FlashAttention-3's own knobs — the query rows and key columns of its tile, among those
    tile_size.h runs — with the shared memory each needs (a query tile, two stages of key and
    value tiles): the search lands within 10 % of the tile FA3 ships for the head dimension,
    and at 256 only the shipped one fits."""
    from simulator.tune import tune
    from workloads.catalog import get_workload

    w = get_workload("llama2-7b-attention").with_params(seq_len=4096, state=head_dim, value=head_dim,
                                                        heads=heads, batch=batch)
    found = tune(w, "h100-sxm5-80gb", "bf16", impl="flash-attention-3", fidelity="analytic")
    assert found.default_latency_s <= 1.1 * found.latency_s, (found.best, found.default)
    if head_dim == 256:
        assert found.best == found.default and found.illegal > 0


def test_a_tuned_rows_gantt_and_tornado_rebuild_its_tuned_mapping():
    """The report re-runs one row for its Gantt chart and sensitivity tornado: a tuned row comes
    back with its tuned knobs, not the schedule's defaults."""
    import pandas as pd

    from reports.report import _point
    from reports.sweep import evaluate, point_schedule

    point = {"workload": "mamba2-2.7b", "workload_params": {}, "accelerator": "h100-sxm5-80gb", "algorithm": None,
             "dtype": "bf16", "policy": "auto", "fidelity": "analytic", "event_budget": 256,
             "workload.seq_len": 8192, "tune": True}
    row = pd.Series({**evaluate(point), "workload_params": "{}"})
    again = _point(row)
    assert again["chunk"] == row["tuned_chunk"] and again["policy"] == row["tuned_policy"]
    _, algorithm, options, _ = point_schedule(again)
    assert algorithm == row["tuned_algorithm"] and options.get("chunk") == row["tuned_chunk"]
