"""Fault injection: damaged results folders, full disks, killed workers and drivers, two
sweeps in one folder, unreachable schedulers, Ctrl-C — each one line, nothing lost."""

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml

from reports import cli
from reports.sweep import run as sweep_run
from reports.cli import main
from reports.sweep import SweepError, load_sweep, read_results, run_sweep

ROOT = Path(__file__).resolve().parents[2]
QUICK = {"workloads": [{"name": "diagonal-d64"}], "accelerators": ["h100-sxm5-80gb"],
         "axes": {"workload.seq_len": [64, 128, 256, 512], "algorithm": ["sequential", "kogge-stone"]},
         "fidelity": "des", "event_budget": 256}


def _sweep_file(tmp_path, doc=QUICK):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _rows(frame):
    return frame.sort_values("point_id").reset_index(drop=True)[["point_id", "latency_s", "energy_j"]]


def test_damaged_and_foreign_parts_are_set_aside_and_recomputed(tmp_path, capsys):
    path = _sweep_file(tmp_path)
    out = tmp_path / "out"
    straight = run_sweep(load_sweep(path), out)
    parts = sorted(out.glob("part-*.parquet"))
    parts[0].write_bytes(parts[0].read_bytes()[:100])  # truncated
    pd.DataFrame({"x": [1]}).to_parquet(parts[1])  # a parquet file, but not a scansim result
    assert main(["report", str(out), "-o", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2 damaged result file(s)" in err and "--resume" in err
    assert main(["sweep", str(path), "-o", str(out), "--resume"]) == 0
    assert "set aside 2 damaged result file(s)" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "damaged").iterdir()) == sorted(p.name for p in parts[:2])
    pd.testing.assert_frame_equal(_rows(read_results(out)), _rows(straight))


def test_a_damaged_sweep_description_is_rewritten_when_the_points_are_this_sweeps(tmp_path, capsys):
    path = _sweep_file(tmp_path)
    out = tmp_path / "out"
    run_sweep(load_sweep(path), out)
    (out / "_sweep.json").write_text("{not json")
    assert main(["report", str(out), "-o", str(tmp_path / "rep")]) == 2
    assert "damaged sweep description" in capsys.readouterr().err
    assert main(["sweep", str(path), "-o", str(out), "--resume"]) == 0
    assert main(["report", str(out), "-o", str(tmp_path / "rep")]) == 0
    # a different sweep's file cannot claim the folder
    other = _sweep_file(tmp_path, dict(QUICK, axes={"workload.seq_len": [32]}))
    (out / "_sweep.json").write_text("{not json")
    assert main(["sweep", str(other), "-o", str(out), "--resume"]) == 2
    assert "results of another sweep" in capsys.readouterr().err


def test_a_second_sweep_into_a_busy_folder_is_refused_and_a_stale_lock_taken_over(tmp_path):
    path = _sweep_file(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".lock").write_text(str(os.getpid()))  # a live sweep holds it
    with pytest.raises(SweepError, match=rf"another scansim sweep \(pid {os.getpid()}\)"):
        run_sweep(load_sweep(path), out)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / ".lock").write_text(str(dead.pid))  # its sweep was killed
    assert len(run_sweep(load_sweep(path), out)) == 8 and not (out / ".lock").exists()


def test_a_full_disk_stops_with_one_line_and_resume_completes(tmp_path, capsys, monkeypatch):
    path = _sweep_file(tmp_path)
    out = tmp_path / "out"
    real, written = sweep_run.write_rows, []

    def write_until_full(folder, rows):
        if len(written) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(rows)
        real(folder, rows)

    monkeypatch.setattr(sweep_run, "write_rows", write_until_full)
    assert main(["sweep", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err and "3 points of 8 are saved" in err
    monkeypatch.setattr(sweep_run, "write_rows", real)
    assert main(["sweep", str(path), "-o", str(out), "--resume"]) == 0
    assert len(read_results(out)) == 8 and read_results(out)["point_id"].is_unique


def _slow_sweep(tmp_path, points=8):
    doc = dict(QUICK, axes={"workload.seq_len": [1024 + 64 * i for i in range(points)],
                            "algorithm": ["sklansky"]}, event_budget=1024)
    return _sweep_file(tmp_path, doc)


def _start(path, out, *extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "reports.cli", "sweep", str(path), "-o", str(out), *extra],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _workers(proc, count=2, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = [c for c in psutil.Process(proc.pid).children(recursive=True)
                    if "resource_tracker" not in " ".join(c.cmdline())]
        if len(children) >= count:
            return children
        time.sleep(0.1)
    raise AssertionError("the pool's workers did not start")


@pytest.mark.slow
def test_a_killed_worker_stops_the_sweep_with_one_line_and_resume_completes(tmp_path):
    path, out = _slow_sweep(tmp_path), tmp_path / "out"
    proc = _start(path, out, "--workers", "2")
    _workers(proc)[0].send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "a worker process died" in err and "--resume" in err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("scansim: error:")
    assert main(["sweep", str(path), "-o", str(out), "--resume"]) == 0
    assert len(read_results(out)) == 8 and read_results(out)["point_id"].is_unique


@pytest.mark.slow
def test_workers_leave_when_their_driver_is_killed(tmp_path):
    path, out = _slow_sweep(tmp_path), tmp_path / "out"
    proc = _start(path, out, "--workers", "2")
    workers = _workers(proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"orphaned workers: {[p.pid for p in alive]}"


def test_dask_addresses_fail_fast_in_one_line(tmp_path, capsys, monkeypatch):
    path = _sweep_file(tmp_path)
    assert main(["sweep", str(path), "-o", str(tmp_path / "a"), "--scheduler", "garbage"]) == 2
    assert "expected a Dask scheduler address" in capsys.readouterr().err
    monkeypatch.setattr(sweep_run, "DASK_CONNECT_TIMEOUT_S", 1)
    start = time.monotonic()
    assert main(["sweep", str(path), "-o", str(tmp_path / "b"), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert time.monotonic() - start < 8 and err.count("\n") == 1 and "dask scheduler" in err


def test_ctrl_c_is_one_line_and_exit_130(capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_hw_list", interrupted)
    assert main(["hw", "list"]) == 130
    assert capsys.readouterr().err == "scansim: interrupted\n"
