"""The simulator agrees with itself: answers independent of the event budget, bounds that hold
on random points of every fidelity, attention at its true depth, the costed circuit equal to
the executed one, and labels that say what happened."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwmodels.loader import load_accelerator, preset_names
from simulator import SimulationError, simulate
from tests.simulator.test_simulator_scale import _exponent, _pram
from workloads.backward import FORWARD_ONLY
from workloads.catalog import CATALOG, algorithms, get_workload
from workloads.dispatch import schedule
from workloads.circuits import CIRCUITS, prefix_circuit
from workloads.errors import WorkloadError

LAYERS = [name for name, w in CATALOG.items() if w.family not in ("gemm", "elementwise", "reduction")]


@pytest.fixture(scope="module")
def many_cores():
    """A preset whose 132 cores outnumber what budget 1024 simulates one by one (78 groups
    for a 13-stage schedule)."""
    return [load_accelerator("h100-sxm5-80gb")]


def _default_algorithm(w) -> str:
    algo = algorithms(w)[0]
    return "kogge-stone" if algo == "sequential" and "kogge-stone" in algorithms(w) else algo


@pytest.mark.parametrize("name", LAYERS)
def test_latency_does_not_depend_on_the_event_budget(many_cores, name):
    """Within 2 % between budgets 1024 and 16384 (bench/bench_budget.py runs every preset at
    three T: 0 of 432 points moved by more than 0.01 %).  Once, a budget that left between
    cores/2 and cores tiles idled the other cores: 56.1 ms against 28.8 ms."""
    w = get_workload(name).with_params(seq_len=1024)
    algo = _default_algorithm(w)
    sched = schedule(w, algo, "bf16" if algo in ("chunked", "blocked") else "fp32",
                     **({"iterations": 3} if algo in ("deer", "quasi-deer") else {}))
    for acc in many_cores:
        try:
            small, large = (simulate(sched, acc, "auto", event_budget=b).latency_s for b in (1024, 16384))
        except SimulationError:
            continue
        assert small == pytest.approx(large, rel=0.02), acc.name


_PRESETS = preset_names()


@st.composite
def points(draw):
    name = draw(st.sampled_from(LAYERS))
    w = CATALOG[name]
    algo = draw(st.sampled_from(algorithms(w)))
    T = draw(st.integers(1, 2048 if algo in CIRCUITS and algo != "sequential" else 8192))
    w = w.with_params(seq_len=T, batch=draw(st.integers(1, 4)))
    if w.family in ("elman", "gru", "lstm"):
        w = w.with_params(state=draw(st.sampled_from([8, 64, 512])), inputs=0)
    options = {"iterations": draw(st.integers(1, 4))} if algo in ("deer", "quasi-deer") else {}
    options["direction"] = draw(st.sampled_from(["fwd"] if w.family in FORWARD_ONLY else ["fwd", "fwd+bwd"]))
    return w, algo, options


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(point=points(), preset=st.sampled_from(_PRESETS), dtype=st.sampled_from(["fp32", "bf16"]),
       policy=st.sampled_from(["unfused", "fused", "auto"]), fidelity=st.sampled_from(["des", "analytic"]))
def test_lower_bound_latency_upper_bound_on_random_points(point, preset, dtype, policy, fidelity):
    """Once the "upper bound" (Brent's work/p + depth) was below the simulated latency on 38 of
    60 random points, by up to ×15; and the closed form fell below its own lower bound."""
    w, algo, options = point
    try:
        sched = schedule(w, algo, dtype, **options)
        result = simulate(sched, _acc(preset), policy, event_budget=1024, fidelity=fidelity)
    except (SimulationError, WorkloadError) as exc:  # too big for the chip, or no rate for dtype
        assert "exceeds" in str(exc) or "rate" in str(exc) or "resource" in str(exc)
        return
    assert result.lower_bound_s * (1 - 1e-9) <= result.latency_s <= result.upper_bound_s * (1 + 1e-9)
    assert math.isfinite(result.energy_j) and result.energy_j > 0


_ACCS: dict = {}


def _acc(name):
    if name not in _ACCS:
        _ACCS[name] = load_accelerator(name)
    return _ACCS[name]


@pytest.mark.parametrize("algorithm", ["blocked", "naive"])
def test_attention_is_log_depth_on_a_pram(algorithm):
    """The dot products, the row max, the normaliser and the sum over keys are tree
    reductions, and FlashAttention's online-softmax merge is associative: on a machine with
    a lane per (query, key) pair attention's latency grows like log T.  Once each output's
    T-long dot product ran on one lane: slope 0.98 (blocked) and 0.92 (naive)."""
    pram = _pram(1 << 26)
    ts = [2**k for k in range(6, 13)]
    w = get_workload("llama2-7b-attention").with_params(batch=1, heads=1, state=64, value=64)
    results = [simulate(schedule(w.with_params(seq_len=t), algorithm), pram, "unfused") for t in ts]
    latency = [r.latency_s for r in results]
    assert _exponent(ts, latency) < 0.3
    assert all(r.compute_bound_s < 0.1 * r.latency_s for r in results)  # work/PE negligible


def _costed_combines(sched, copies: int, width: int) -> float:
    return sum(s.total_ops for s in sched.stages if s.name.startswith("level")) / (copies * width)


@pytest.mark.parametrize("algo", ["kogge-stone", "brent-kung", "sklansky", "han-carlson"])
@pytest.mark.parametrize("name,n_h", [("deltanet-1.3b", 1), ("deltaproduct-1.3b", 2),
                                      ("deltaproduct-1.3b", 3), ("rwkv7-1.5b", 1), ("mamba2-2.7b", 1),
                                      ("gla-1.3b", 1)])
def test_costed_circuit_is_the_executed_circuit(name, n_h, algo):
    """DeltaProduct's kernel runs the delta rule over T·n_h micro-steps (under a circuit too:
    tests/workloads/test_families.py), so its circuit has T·n_h positions; once the costed circuit had
    T whatever n_h (equal flops for n_h = 1, 2, 3)."""
    T = 100
    w = get_workload(name).with_params(seq_len=T, heads=2, state=4, value=4)
    if n_h > 1:
        w = w.with_params(householders=n_h)
    sched = schedule(w, algo)
    width = w.state * w.value  # one combine is K·V lane-sized ops
    executed = prefix_circuit(algo, T * n_h)
    assert _costed_combines(sched, w.batch * w.heads, width) == executed.size


def test_fused_policy_label_says_whether_anything_fused():
    """Nothing fits on chip: the result says unfused (once it said "fused" with 0 of 18
    stages fused, and an unexplained 14× jump in the demo)."""
    jetson = load_accelerator("jetson-orin-nano-8gb")
    w = get_workload("diagonal-d64").with_params(seq_len=1 << 18)
    result = simulate(schedule(w, "kogge-stone"), jetson, "fused", fidelity="analytic")
    assert result.fused_stages == 0 and result.policy == "unfused"
    small = simulate(schedule(w.with_params(seq_len=256), "kogge-stone"), jetson, "fused")
    assert small.policy == "fused" and small.fused_stages == small.stages


@pytest.mark.parametrize("name,algo", [("mamba2-2.7b", "chunked"), ("deltanet-1.3b", "chunked"),
                                       ("gated-deltanet-1.3b", "chunked"), ("lstm-2048", "sequential"),
                                       ("elman-2048", "sequential")])
def test_a_fused_stage_still_reads_its_inputs_and_writes_its_outputs(name, algo):
    """Once the fused policy dropped all DRAM traffic of stages that declare no resident bytes
    (Mamba-2 chunked on an H100: 0 DRAM bytes fused, 1.51 GB unfused)."""
    h100 = load_accelerator("h100-sxm5-80gb")
    sched = schedule(get_workload(name).with_params(seq_len=2048), algo, "bf16")
    fused = simulate(sched, h100, "fused")
    assert fused.dram_bytes >= sched.stages[0].bytes_read + sched.stages[-1].bytes_written
    assert fused.dram_bytes > 0


def test_newton_iterations_follow_the_weight_scale_and_say_how_they_were_found():
    """An Elman cell with large recurrent weights is not contracting: Newton needs many more
    iterations (once measured only on contracting weights, so a nonlinear RNN looked log-deep)."""
    w = get_workload("elman-2048").with_params(seq_len=200, state=16, inputs=16)
    calm = schedule(w, "quasi-deer")
    wild = schedule(w, "quasi-deer", weight_scale=6.0)
    assert wild.meta["iterations"] > 3 * calm.meta["iterations"]
    assert "weight scale 6" in wild.meta["iterations_how"]
    h100 = load_accelerator("h100-sxm5-80gb")
    result = simulate(wild, h100, fidelity="analytic")
    assert result.newton_iterations == wild.meta["iterations"]
    assert any("Newton iterations (measured at T = 200" in n for n in result.notes)
    long = schedule(w.with_params(seq_len=10000), "quasi-deer")
    assert "extrapolated to T = 10000" in long.meta["iterations_how"]
    with pytest.raises(WorkloadError, match="weight_scale"):
        schedule(w, "deer", weight_scale=-1.0)
