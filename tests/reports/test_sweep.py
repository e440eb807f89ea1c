"""Sweeps: files, samplers, local pool vs a real Dask cluster, crash-safe resume, Pareto, report."""

import os
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from reports.cli import main
from reports.pareto import pareto_front, pareto_mask, pareto_ranks
from reports.report import write_sweep_report
from reports.sweep import SweepError, load_sweep, points, read_results, run_sweep

ROOT = Path(__file__).resolve().parents[2]
SMALL = {
    "name": "small",
    "workloads": [{"name": "diagonal-d64"}],
    "accelerators": ["h100-sxm5-80gb", "edge-npu-32x32"],
    "axes": {"workload.seq_len": [64, 1024], "algorithm": ["sequential", "kogge-stone"]},
    "event_budget": 256,
}
COMPARE = ["point_id", "latency_s", "energy_j", "dram_bytes", "algorithm", "seq_len", "accelerator"]


def write(tmp_path, doc, name="sweep.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return path


def canonical(frame):
    return frame[COMPARE].sort_values("point_id").reset_index(drop=True)


def test_grid_points_are_the_product_with_stable_ids(tmp_path):
    spec = load_sweep(write(tmp_path, SMALL))
    pts = points(spec)
    assert len(pts) == 1 * 2 * 2 * 2
    assert len({p["point_id"] for p in pts}) == 8
    assert [p["point_id"] for p in points(spec)] == [p["point_id"] for p in pts]


def test_sobol_and_random_samplers_respect_ranges(tmp_path):
    doc = dict(SMALL, axes={"accelerator.cores": {"low": 4, "high": 64, "integer": True},
                            "accelerator.memory[hbm3].bandwidth_bytes_per_s": {"low": 1e11, "high": 1e13, "log": True}},
               accelerators=["h100-sxm5-80gb"], sampler={"kind": "sobol", "points": 16, "seed": 3})
    pts = points(load_sweep(write(tmp_path, doc)))
    assert len(pts) == 16
    cores = [p["accelerator.cores"] for p in pts]
    bws = [p["accelerator.memory[hbm3].bandwidth_bytes_per_s"] for p in pts]
    assert all(isinstance(c, int) and 4 <= c <= 64 for c in cores)
    assert all(1e11 <= b <= 1e13 for b in bws) and len(set(cores)) > 4
    doc["sampler"] = {"kind": "random", "points": 5, "seed": 1}
    assert len(points(load_sweep(write(tmp_path, doc)))) == 5


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.update(colour=1), r"colour: unknown key"),
    (lambda d: d.pop("workloads"), r"expected workloads or models"),
    (lambda d: d["axes"].update({"model.seq_len": [1024]}), r"'model.seq_len': value 1024: the sweep has no models"),
    (lambda d: d["axes"].update({"model.width": [1]}), r"unknown axis 'model.width'"),
    (lambda d: d.update(models=[{"config": "nope.json"}]), r"models: nope.json: no such file"),
    (lambda d: d["axes"].update({"accelerator.cores": {"low": 5, "high": 1}}), r"low must be below high"),
    (lambda d: d["axes"].update({"workload.width": [1]}), r"expected a workload dimension"),
    (lambda d: d["axes"].update({"speed": [1]}), r"unknown axis 'speed'"),
    (lambda d: d.update(workloads=[{"name": "nope"}]), r"workloads: unknown workload 'nope'"),
    (lambda d: d.update(accelerators=["nope"]), r"accelerators: unknown accelerator 'nope'"),
    # every value of an axis is checked before the sweep runs: a typo is not a folder of
    # rejected points, an index out of range or a path through a number is not a traceback
    (lambda d: d["axes"].update({"accelerator.memory[7].latency_s": [1e-7]}),
     r"'accelerator.memory\[7\].latency_s': value 1e-07: accelerator.memory\[7\]: no such entry \(the list has"),
    (lambda d: d["axes"].update({"accelerator.memory[nosuch].latency_s": [1e-7]}), r"no such entry"),
    (lambda d: d["axes"].update({"accelerator.cores.x": [1]}), r"accelerator.cores.x goes through a int"),
    (lambda d: d["axes"].update({"accelerator.bogus": [1]}), r"accelerator.bogus: Extra inputs"),
    (lambda d: d["axes"].update({"accelerator.cores": [0]}), r"value 0: .*greater than or equal to 1"),
    (lambda d: d["axes"].update({"workload.seq_len": [float("nan")]}), r"seq_len must be an integer ≥ 1, got nan"),
    (lambda d: d["axes"].update({"workload.seq_len": ["abc"]}), r"seq_len must be an integer ≥ 1, got 'abc'"),
    (lambda d: d["axes"].update({"workload.seq_len": [100.5]}), r"got 100.5"),
    (lambda d: d["axes"].update({"dtype": ["fp99"]}), r"'dtype': value 'fp99': expected one of"),
    (lambda d: d["axes"].update({"algorithm": ["nope"]}), r"'algorithm': value 'nope': no workload"),
    (lambda d: d.update(workloads=[{"name": "diagonal-d64"}, {"name": "diagonal-d64"}]), r"listed twice"),
    (lambda d: d.update(sampler={"kind": "random", "points": 3, "seed": -1}), r"sampler.seed: .*greater than or equal to 0"),
])
def test_bad_sweep_files_name_file_and_key(tmp_path, mutate, message):
    doc = yaml.safe_load(yaml.safe_dump(SMALL))
    mutate(doc)
    path = write(tmp_path, doc)
    with pytest.raises(SweepError, match=rf"{path}: .*{message}"):
        load_sweep(path)


@pytest.mark.parametrize("command", [
    ["sweep", "SWEEP", "-o", "FILE"], ["sweep", "SWEEP", "-o", "FILE/below"], ["sweep", "SWEEP", "-o", ""],
    ["sweep", "SWEEP", "-o", "DIR", "--workers", "0"], ["report", "DIR", "-o", "FILE"],
    ["validate", "-o", "FILE"], ["demo", "-o", "FILE/x"], ["calibrate", "-o", "FILE/no/such/host.yaml"],
])
def test_output_paths_that_cannot_be_written_are_one_line_errors(tmp_path, capsys, command):
    """-o naming a file, a path below a file, or nothing once gave tracebacks; --workers 0 ran."""
    (tmp_path / "file").write_text("x")
    names = {"SWEEP": str(write(tmp_path, SMALL)), "FILE": str(tmp_path / "file"), "DIR": str(tmp_path / "d")}
    argv = [next((arg.replace(k, v) for k, v in names.items() if arg.startswith(k)), arg) for arg in command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument" in err and "Traceback" not in err
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.slow
def test_dask_cluster_gives_the_same_rows_as_a_local_run(tmp_path):
    from distributed import LocalCluster

    spec = load_sweep(write(tmp_path, SMALL))
    local = run_sweep(spec, tmp_path / "local")  # in this process (the local pool has its own tests)
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                      processes=True) as cluster:
        remote = run_sweep(spec, tmp_path / "dask", scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(canonical(local), canonical(remote))
    assert len(local) == 8 and (local["error"] == "").all()


@pytest.mark.slow
def test_killed_driver_resumes_without_losing_or_duplicating_points(tmp_path):
    doc = dict(SMALL, axes={"workload.seq_len": [64, 128, 256, 512, 1024, 2048],
                            "algorithm": ["sequential", "kogge-stone", "brent-kung"]})
    path = write(tmp_path, doc)
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "reports.cli", "sweep", str(path), "-o", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("part-*.parquet"))) < 4:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(list(out.glob("part-*.parquet")))
    assert 4 <= partial < 36, "the driver was to be killed part-way"
    assert main(["sweep", str(path), "-o", str(out)]) == 2  # refuses to clobber without --resume
    assert main(["sweep", str(path), "-o", str(out), "--resume"]) == 0
    resumed = read_results(out)
    assert len(resumed) == 36 and resumed["point_id"].is_unique
    straight = run_sweep(load_sweep(path), tmp_path / "straight")
    pd.testing.assert_frame_equal(canonical(resumed), canonical(straight))


def test_pareto_front_by_hand():
    # (latency, energy): d is dominated by b; e by a, b and c; a, b, c trade off
    table = pd.DataFrame({"name": list("abcde"), "latency_s": [1, 2, 3, 2.5, 3.5],
                          "energy_j": [5, 3, 1, 3.5, 5]})
    assert list(pareto_front(table, ["latency_s", "energy_j"])["name"]) == ["a", "b", "c"]
    assert list(pareto_ranks(table[["latency_s", "energy_j"]].to_numpy())) == [0, 0, 0, 1, 2]
    three = np.array([[1, 1, 9], [1, 1, 9], [2, 2, 1], [3, 3, 3]])
    assert list(pareto_mask(three)) == [True, True, True, False]  # ties do not dominate


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.tags = [], 0

    def handle_starttag(self, tag, attrs):
        self.tags += 1
        if tag == "img":
            self.images.append(dict(attrs)["src"])


@pytest.mark.slow
def test_report_renders_with_valid_images(tmp_path):
    """`scansim report` on a sweep's folder (the worker pools are tested on their own)."""
    run_sweep(load_sweep(write(tmp_path, SMALL)), tmp_path / "res")
    assert main(["report", str(tmp_path / "res"), "-o", str(tmp_path / "report")]) == 0
    index = tmp_path / "report" / "index.html"
    page = _Page()
    page.feed(index.read_text())
    assert page.tags > 20 and len(page.images) >= 6
    for src in page.images:
        assert (index.parent / src).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quick_sweep_example_has_fifty_points():
    assert len(points(load_sweep(ROOT / "examples" / "quick-sweep.yaml"))) >= 50


def test_accelerator_overrides_objectives_and_a_swept_crossover_axis(tmp_path):
    doc = dict(SMALL, accelerators=[{"preset": "h100-sxm5-80gb", "name": "h100-slow-hbm",
                                     "overrides": {"memory[hbm3].bandwidth_bytes_per_s": 1.0e+12}}],
               axes={"workload.seq_len": [64, 4096], "algorithm": ["sequential", "kogge-stone"],
                     "accelerator.cores": [33, 132]},
               objectives=["latency_s", "energy_per_token_j"])
    path = write(tmp_path, doc)
    results = run_sweep(load_sweep(path), tmp_path / "res")
    assert set(results["accelerator"]) == {"h100-slow-hbm"}
    assert set(results["accelerator.memory[hbm3].bandwidth_bytes_per_s"]) == {1.0e12}
    slow, fast = (results[results["accelerator.cores"] == c]["latency_s"].sum() for c in (33, 132))
    assert slow > fast
    assert main(["report", str(tmp_path / "res"), "-o", str(tmp_path / "rep")]) == 0
    page = (tmp_path / "rep" / "index.html").read_text()
    assert "Pareto fronts: latency, energy per token" in page and "accelerator.cores" in page
    bad = dict(doc, objectives=["speed"])
    with pytest.raises(SweepError, match=r"objectives: unknown \['speed'\]"):
        load_sweep(write(tmp_path, bad, "bad.yaml"))


def test_report_rebuilds_the_point_it_draws_with_all_its_parameters():
    """The tornado and the Gantt chart re-run one point: with its workload parameters and its
    chunk (once rebuilt from seq_len alone, so a batch-8 sweep showed every ×0.5 / ×2 row at
    0.03–0.15 of a latency it had not computed)."""
    from reports.report import _point, sensitivity
    from reports.sweep import evaluate

    point = {"workload": "mamba-130m", "workload_params": {"batch": 8}, "accelerator": "h100-sxm5-80gb",
             "algorithm": "chunked", "chunk": 256, "dtype": "fp32", "policy": "unfused",
             "fidelity": "des", "event_budget": 256, "workload.seq_len": 4096}
    row = pd.Series({**evaluate(point), "workload_params": '{"batch": 8}'})
    again = _point(row)
    assert again["chunk"] == 256 and again["workload_params"] == {"batch": 8}
    assert evaluate(again)["latency_s"] == row["latency_s"]
    changes = sensitivity(again)
    # halving or doubling one hardware parameter moves latency by at most ×2 or so, never ×30
    assert ((changes[["half", "double"]] > 0.4) & (changes[["half", "double"]] < 2.5)).all().all()


def test_circuit_check_runs_the_chunk_the_point_costs(monkeypatch):
    """The sweep's circuit check executes the very circuit the point costs (once it checked
    chunked(64) while the point costed chunked(256))."""
    from reports.sweep import evaluation

    built = []

    def recording(name, n, **options):
        built.append((name, n, options))
        return prefix_circuit(name, n, **options)

    from workloads.circuits import prefix_circuit

    monkeypatch.setattr(evaluation, "prefix_circuit", recording)
    evaluation.circuit_error.cache_clear()
    point = {"workload": "diagonal-d64", "workload_params": {}, "accelerator": "h100-sxm5-80gb",
             "algorithm": "chunked", "chunk": 256, "dtype": "fp32", "policy": "unfused",
             "fidelity": "analytic", "event_budget": 256, "workload.seq_len": 1000}
    row = evaluation.evaluate(point)
    assert built == [("chunked", 1000, {"chunk": 256})] and row["circuit_max_rel_error"] < 1e-12
    evaluation.circuit_error.cache_clear()


def test_direction_is_a_sweep_axis(tmp_path):
    doc = dict(SMALL, accelerators=["h100-sxm5-80gb"],
               axes={"workload.seq_len": [256], "algorithm": ["kogge-stone"], "direction": ["fwd", "fwd+bwd"]})
    results = run_sweep(load_sweep(write(tmp_path, doc)), tmp_path / "out")
    by = results.set_index("direction")["latency_s"]
    assert by["fwd+bwd"] > 1.5 * by["fwd"]  # at T = 256 launches weigh: 1.9×
    with pytest.raises(SweepError, match="direction"):
        load_sweep(write(tmp_path, dict(doc, axes={"direction": ["bwd"]}), "bad.yaml"))


def test_results_folder_is_one_parquet_dataset_and_keeps_its_own_sweep(tmp_path):
    """pandas reads the folder as a dataset (the description is ``_sweep.json``, which pyarrow
    skips); a refused second run leaves it untouched; resuming with another sweep file is
    refused rather than merging two sweeps."""
    path = write(tmp_path, SMALL)
    out = tmp_path / "out"
    run_sweep(load_sweep(path), out)
    assert len(pd.read_parquet(out)) == 8
    before = (out / "_sweep.json").read_text()
    other = write(tmp_path, dict(SMALL, name="other"), "other.yaml")
    with pytest.raises(SweepError, match="pass --resume"):
        run_sweep(load_sweep(other), out)
    assert (out / "_sweep.json").read_text() == before
    with pytest.raises(SweepError, match="holds the results of another sweep"):
        run_sweep(load_sweep(other), out, resume=True)
    assert len(run_sweep(load_sweep(path), out, resume=True)) == 8


def test_a_hardware_sweep_report_shows_its_axes_and_says_what_they_bought(tmp_path):
    """Once no table had the swept cores or bandwidth, and no plot showed latency against them."""
    doc = {"workloads": [{"name": "mamba2-2.7b", "params": {"seq_len": 4096, "batch": 8}}],
           "accelerators": ["h100-sxm5-80gb"],
           "axes": {"accelerator.memory[hbm3].bandwidth_bytes_per_s": {"low": 5e11, "high": 8e12, "log": True},
                    "algorithm": ["chunked", "kogge-stone"]},
           "sampler": {"kind": "sobol", "points": 16, "seed": 0}, "fidelity": "analytic", "dtype": "bf16"}
    results = run_sweep(load_sweep(write(tmp_path, doc)), tmp_path / "res")
    index = write_sweep_report(results, tmp_path / "rep")
    page = index.read_text()
    assert "accelerator.memory[hbm3].bandwidth (TB/s)" in page and "latency (µs)" in page
    assert "Latency vs accelerator.memory[hbm3].bandwidth" in page
    best = results.loc[results["latency_s"].idxmin()]
    assert f"the fastest design is {best['algorithm']} on h100-sxm5-80gb" in page
    import re

    assert re.search(r"Raising accelerator.memory\[hbm3\].bandwidth_bytes_per_s from [\d.]+ GB/s to [\d.]+ TB/s "
                     r"lowers the best latency", page)
    assert "latency_s" not in page.split("<table")[1]  # SI names stay in the CSV, not the tables


def test_a_sweep_of_whole_models_maps_which_serves_fastest(tmp_path):
    """Models as a sweep's axis: configs beside the sweep file, context and batch swept; a
    model too big for the chip at a point is a row that says so; the report draws throughput
    and memory against context, the crossover map, and says who overtakes whom."""
    import shutil

    for name in ("llama-2-7b", "mamba2-2.7b"):
        shutil.copy(ROOT / "examples" / "models" / f"{name}.json", tmp_path / f"{name}.json")
    doc = {"models": [{"config": "llama-2-7b.json"}, {"config": "mamba2-2.7b.json", "name": "Mamba-2 2.7B"}],
           "accelerators": ["h100-sxm5-80gb"], "phase": "decode", "dtype": "bf16",
           "axes": {"model.seq_len": [1024, 16384, 131072], "model.batch": [1, 16]}}
    results = run_sweep(load_sweep(write(tmp_path, doc)), tmp_path / "res")
    assert len(results) == 2 * 3 * 2 and set(results["model"]) == {"llama-2-7b", "Mamba-2 2.7B"}
    gone = results[results["error"] != ""]
    assert len(gone) and gone["error"].str.contains("does not fit h100-sxm5-80gb").all()
    assert (gone["model"] == "llama-2-7b").all()  # its KV cache; Mamba-2's state does not grow
    mamba = results[results["model"] == "Mamba-2 2.7B"]
    assert mamba.groupby("batch")["tokens_per_s"].nunique().max() == 1  # the same at every context
    index = write_sweep_report(results, tmp_path / "rep")
    page = index.read_text()
    assert (index.parent / "models-0.png").is_file() and (index.parent / "model-crossover-0.png").is_file()
    assert "Serving batch 16 on h100-sxm5-80gb" in page and "throughput (tokens/s)" in page
    assert "no longer fits from context" in page


def test_a_training_sweep_over_data_parallelism_and_zero_stages(tmp_path):
    """model.data_parallel and model.zero are axes of a training sweep: on one H100 Llama-2-7B's
    training state does not fit, over 8 replicas with ZeRO-3 it does; ZeRO outside training is
    refused before the sweep runs, in one line naming the axis."""
    import shutil

    shutil.copy(ROOT / "examples" / "models" / "llama-2-7b.json", tmp_path / "llama-2-7b.json")
    doc = {"models": [{"config": "llama-2-7b.json"}], "accelerators": ["h100-sxm5-80gb"], "phase": "train",
           "dtype": "bf16", "axes": {"model.seq_len": [1024], "model.data_parallel": [1, 8], "model.zero": [0, 3]}}
    results = run_sweep(load_sweep(write(tmp_path, doc)), tmp_path / "res").set_index(["data_parallel", "zero"])
    assert results.loc[(1, 0), "error"].startswith("meta-llama/Llama-2-7b-hf at batch 1")
    assert results.loc[(8, 3), "error"] == "" and results.loc[(8, 3), "average_power_w"] > 75.0
    assert "ZeRO-3" in write_sweep_report(results.reset_index(), tmp_path / "rep").read_text()
    with pytest.raises(SweepError, match="model.zero.*ZeRO partitions training state: give phase: train"):
        load_sweep(write(tmp_path, {**doc, "phase": "decode"}))


def test_human_units_pick_one_unit_per_column():
    from reports.units import human_table

    frame = pd.DataFrame({"latency_s": [2e-4, 3e-4, 1.5e-3], "energy_j": [0.02, 0.03, 0.04],
                          "dram_bytes": [5e8, 6e8, 7e8], "accelerator.cores": [16, 32, 64],
                          "chip_cost_usd": [100.0, 200.0, 300.0], "algorithm": ["a", "b", "c"]})
    shown = human_table(frame)
    assert list(shown.columns) == ["latency (µs)", "energy (mJ)", "DRAM traffic (MB)", "accelerator.cores",
                                   "chip cost ($)", "algorithm"]
    assert shown["latency (µs)"].tolist() == pytest.approx([200, 300, 1500])
    assert shown["DRAM traffic (MB)"].iloc[0] == pytest.approx(500)


def test_a_serving_sweep_over_expert_parallelism(tmp_path):
    """model.expert_parallel is an axis: Mixtral 8x7B over 8 replicas fits an H100 each only
    with its experts split over them; a split that does not divide the replicas is that
    point's one-line error, and the report names the layout."""
    import shutil

    shutil.copy(ROOT / "examples" / "models" / "mixtral-8x7b.json", tmp_path / "mixtral-8x7b.json")
    doc = {"models": [{"config": "mixtral-8x7b.json"}], "accelerators": ["h100-sxm5-80gb"], "phase": "decode",
           "dtype": "bf16", "axes": {"model.seq_len": [1024], "model.batch": [8], "model.data_parallel": [8],
                                     "model.expert_parallel": [1, 3, 8]}}
    results = run_sweep(load_sweep(write(tmp_path, doc)), tmp_path / "res").set_index("expert_parallel")
    assert "does not fit" in results.loc[1, "error"]
    assert "divisor of data_parallel" in results.loc[3, "error"]
    assert results.loc[8, "error"] == "" and results.loc[8, "tokens_per_s"] > 0
    assert "experts over 8" in write_sweep_report(results.reset_index(), tmp_path / "rep").read_text()
