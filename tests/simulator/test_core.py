"""The core model: occupancy, Little's law and the sustained bandwidth, checked by hand."""

import pytest
from pydantic import ValidationError

from hwmodels import load_accelerator
from hwmodels.spec import DEFAULT_SUSTAINED_FRACTION, Accelerator
from simulator import simulate
from simulator.core import block_of, issue_share, load_rate, memory_seconds, occupancy
from tests.conftest import toy_spec
from workloads.schedule import Block, Schedule, Stage


def _gpu(cores=4, latency_s=1e-6, bandwidth=1e12, **limits):
    core = {"threads": 2048, "blocks": 32, "registers": 65536, "shared_bytes": 100_000, "schedulers": 4,
            "source": "test"}
    core.update(limits)
    spec = toy_spec(cores=cores, core=core)
    spec["memory"][1].update(bandwidth_bytes_per_s=bandwidth, latency_s=latency_s)
    return Accelerator.model_validate(spec)


def _stream(ops, read=8.0, block=None, steps=1):
    return Stage("s", "vector", ops=ops, steps=steps, flops_per_op=1, bytes_read_per_op=read, block=block)


def test_residency_is_the_tightest_limit():
    acc = _gpu()
    cases = [(Block(threads=256, ops=256), 8, "threads"),  # 2048 / 256
             (Block(threads=64, ops=64, shared_bytes=30_000), 3, "shared memory"),  # 100,000 // 30,000
             (Block(threads=128, ops=128, registers=128), 4, "registers"),  # 65,536 // (128 · 128)
             (Block(threads=32, ops=32), 32, "blocks per core")]
    for block, resident, limit in cases:
        occ = occupancy(_stream(10**6, block=block), acc, "fp32")
        assert (occ.resident, occ.limit) == (resident, limit)


def test_littles_law_caps_a_small_grid_and_not_a_large_one():
    """Two blocks of 128 threads, each thread one 16-byte load in flight: 2 × 2 KiB over a 1 µs
    latency is 4.1 GB/s, far below the DRAM; a grid that fills the chip reaches the DRAM's
    sustained bandwidth where its loads in flight cover the latency."""
    acc = _gpu(bandwidth=1e12)
    small = _stream(2 * 128 * 2, read=8.0)  # 16-byte loads: 2 ops per thread, 2 blocks
    assert block_of(small, "fp32").ops == 256 and occupancy(small, acc, "fp32").active_cores == 2
    assert load_rate(small, acc, "fp32") == pytest.approx(2 * 128 * 16 / 1e-6)
    big, near = _stream(10**7, read=8.0), _gpu(bandwidth=1e11, latency_s=1e-7)  # 4 × 16 × 2 KiB in flight
    assert load_rate(big, near, "fp32") == pytest.approx(1e11)  # the toy DRAM sustains its peak
    assert load_rate(big, acc, "fp32") == pytest.approx(4 * 16 * 128 * 16 / 1e-6)  # a far DRAM: latency-bound
    # reads at the load rate, everything at the sustained bandwidth
    assert memory_seconds(small, acc, "fp32") == pytest.approx(small.bytes_read / load_rate(small, acc, "fp32"))


def test_loads_the_shared_cache_serves_hold_their_place_in_flight():
    """A quarter of the reads from DRAM (1 µs), three quarters from the L2 (0.2 µs): the bytes in
    flight return at their mean latency, 0.4 µs, and the DRAM gets its quarter of that rate —
    so a stage whose reads the cache serves is still bound by its loads in flight."""
    spec = _gpu(bandwidth=1e13).model_dump()
    spec["memory"] = [spec["memory"][0], {"name": "l2", "scope": "chip", "capacity_bytes": 1e7,
                                          "bandwidth_bytes_per_s": 1e14, "latency_s": 2e-7, "energy_per_byte_j": 0.0},
                      *spec["memory"][1:]]
    acc = Accelerator.model_validate(spec)
    block = Block(threads=128, ops=128, in_flight_bytes=4096)
    stage = Stage("s", "vector", ops=2 * 128, flops_per_op=1, bytes_read_per_op=2.0, cache_bytes_per_op=6.0,
                  block=block)
    assert load_rate(stage, acc, "fp32") == pytest.approx(0.25 * 2 * 4096 / (0.25 * 1e-6 + 0.75 * 2e-7))
    alone = Stage("s", "vector", ops=2 * 128, flops_per_op=1, bytes_read_per_op=8.0, block=block)
    assert load_rate(alone, acc, "fp32") == pytest.approx(2 * 4096 / 1e-6)  # every load from DRAM


def test_a_small_grid_computes_on_the_cores_it_reaches():
    """Eight blocks on a 64-core chip use 8 cores: eight times one core's share, not 1/64."""
    few, many = _gpu(cores=8, latency_s=0.0), _gpu(cores=64, latency_s=0.0)
    sched = Schedule("s", "fp32", (_stream(8 * 256, read=8.0),))
    for fidelity in ("analytic", "des"):
        assert simulate(sched, few, fidelity=fidelity).latency_s == pytest.approx(
            simulate(sched, many, fidelity=fidelity).latency_s, rel=1e-6)


def test_a_core_with_fewer_warps_than_schedulers_issues_at_their_share():
    """A warp issues from one of the core's four schedulers: one two-warp block per core
    computes at half the core's rate, two such blocks (or one of four warps) at all of it —
    in the closed form and the DES alike (also where the DES groups a wide chip's cores); and the
    lower bound, at the peak, stays below."""
    acc = _gpu(cores=4, latency_s=0.0)
    compute = lambda blocks, warps: Stage(  # noqa: E731
        "s", "vector", ops=blocks * 32 * warps, flops_per_op=64,
        block=Block(threads=32 * warps, ops=32 * warps))
    assert issue_share(compute(4, 2), acc, "fp32") == 0.5  # one block per core
    assert issue_share(compute(8, 2), acc, "fp32") == 1.0  # two per core
    assert issue_share(compute(4, 4), acc, "fp32") == 1.0
    assert issue_share(compute(4, 1), acc, "fp32") == 0.25
    for fidelity in ("analytic", "des"):
        half = simulate(Schedule("s", "fp32", (compute(4, 2),)), acc, fidelity=fidelity)
        full = simulate(Schedule("s", "fp32", (compute(4, 4),)), acc, fidelity=fidelity)
        # half the work at half the rate: as long as twice the work at the full rate
        assert half.latency_s == pytest.approx(full.latency_s, rel=1e-6)
        assert half.lower_bound_s <= half.latency_s <= half.upper_bound_s
    toy = Accelerator.model_validate(toy_spec(cores=4))
    assert issue_share(compute(4, 1), toy, "fp32") == 1.0  # no occupancy limits: no schedulers either
    # a chip the DES simulates as coarser core groups keeps its real cores' share
    wide = _gpu(cores=4096, latency_s=0.0)
    sched = Schedule("s", "fp32", (compute(4096, 2),))
    assert simulate(sched, wide, fidelity="des").latency_s == pytest.approx(
        simulate(sched, wide, fidelity="analytic").latency_s, rel=1e-6)


def test_chips_without_occupancy_limits_behave_as_before():
    toy = Accelerator.model_validate(toy_spec(cores=4))
    stage = _stream(3)
    assert occupancy(stage, toy, "fp32").active_cores == 3
    assert load_rate(stage, toy, "fp32") == toy.dram.sustained_bytes_per_s


def test_sustained_bandwidth_is_measured_assumed_or_the_default():
    h200, h100 = load_accelerator("h200-sxm-141gb"), load_accelerator("h100-sxm5-80gb")
    assert h200.dram.sustained_bytes_per_s == 3.89e12 and "gpu-benches" in h200.dram.sustained_bandwidth_bytes_per_s.source
    assert h100.dram.sustained_bytes_per_s == pytest.approx(3.35e12 * DEFAULT_SUSTAINED_FRACTION)
    spec = toy_spec()
    spec["memory"][1].pop("sustained_fraction")
    spec["memory"][1]["sustained_bandwidth_bytes_per_s"] = {"value": 2.0, "source": "a"}  # above the 1 B/s peak
    with pytest.raises(ValidationError, match="above the peak"):
        Accelerator.model_validate(spec)


def test_hw_show_sets_datasheet_beside_measured_and_still_loads(tmp_path, capsys):
    from reports.cli import main

    assert main(["hw", "show", "h200-sxm-141gb"]) == 0
    out = capsys.readouterr().out
    assert "datasheet 4.8 TB/s, sustained 3.89 TB/s (measured: RRZE-HPC/gpu-benches" in out
    assert "2,048 threads" in out
    (tmp_path / "h200.yaml").write_text(out)
    assert load_accelerator(tmp_path / "h200.yaml") == load_accelerator("h200-sxm-141gb")
