"""Backward passes: the Numba reference gradients against finite differences, and the
forward + backward schedules every family answers."""

import numpy as np
import pytest

from workloads.circuits import prefix_circuit
from workloads.kernels import linear_scan, ssd
from workloads.kernels.backward import linear_scan_backward, ssd_backward


def _finite_difference(loss, x, entries, eps=1e-6):
    out = []
    for idx in entries:
        up, down = x.copy(), x.copy()
        up[idx] += eps
        down[idx] -= eps
        out.append((loss(up) - loss(down)) / (2 * eps))
    return np.array(out)


def _entries(rng, shape, n=6):
    return [tuple(int(rng.integers(0, s)) for s in shape) for _ in range(n)]


@pytest.mark.parametrize("algorithm", ["sequential", "kogge-stone", "brent-kung", "chunked"])
@pytest.mark.parametrize("T", [1, 37])
def test_diagonal_scan_backward_matches_finite_differences(algorithm, T):
    """The reverse scan runs the same circuit as the forward: the costed backward is executed."""
    rng = np.random.default_rng(T)
    a, b = rng.uniform(0.5, 1.0, (T, 3)), rng.normal(size=(T, 3))
    a[::5] = 1e-9  # near-total forgetting
    dy = rng.normal(size=(T, 3))
    circuit = None if algorithm == "sequential" else prefix_circuit(algorithm, T)
    da, db = linear_scan_backward(a, b, dy, circuit)
    loss_a = lambda x: float(np.sum(dy * linear_scan(x, b)))  # noqa: E731
    loss_b = lambda x: float(np.sum(dy * linear_scan(a, x)))  # noqa: E731
    idx = _entries(rng, a.shape)
    np.testing.assert_allclose([da[i] for i in idx], _finite_difference(loss_a, a, idx), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose([db[i] for i in idx], _finite_difference(loss_b, b, idx), rtol=1e-6, atol=1e-8)


def test_dense_scan_backward_matches_finite_differences():
    rng = np.random.default_rng(1)
    T, d = 20, 3
    A = rng.normal(size=(T, d, d)) / 2
    b, dy = rng.normal(size=(T, d)), rng.normal(size=(T, d))
    dA, db = linear_scan_backward(A, b, dy, prefix_circuit("sklansky", T))
    loss = lambda x: float(np.sum(dy * linear_scan(x, b)))  # noqa: E731
    idx = _entries(rng, A.shape)
    np.testing.assert_allclose([dA[i] for i in idx], _finite_difference(loss, A, idx), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ssd_backward_matches_finite_differences(dtype):
    rng = np.random.default_rng(2)
    B, T, H, K, V = 1, 13, 2, 3, 4
    q, k = rng.normal(size=(2, B, T, H, K))
    v, do = rng.normal(size=(2, B, T, H, V))
    g = np.log(rng.uniform(0.3, 1.0, (B, T, H)))
    grads = ssd_backward(*(x.astype(dtype) for x in (q, k, v, g, do)))
    assert all(x.dtype == dtype for x in grads)
    tol = {np.float32: 2e-4, np.float64: 1e-7}[dtype]
    for x, grad in zip((q, k, v, g), grads):
        def loss(y, x=x):
            args = [y if z is x else z for z in (q, k, v, g)]
            return float(np.sum(do * ssd(*args)))
        idx = _entries(rng, x.shape)
        np.testing.assert_allclose([grad[i] for i in idx], _finite_difference(loss, x, idx),
                                   rtol=tol, atol=tol)


# --------------------------------------------------------------------------- schedules

from hwmodels.loader import load_accelerator  # noqa: E402
from reports.cli import main  # noqa: E402
from simulator import simulate  # noqa: E402
from workloads.catalog import CATALOG, algorithms, get_workload  # noqa: E402
from workloads.backward import FORWARD_ONLY  # noqa: E402
from workloads.dispatch import schedule  # noqa: E402
from workloads.errors import WorkloadError  # noqa: E402


@pytest.mark.parametrize("name", list(CATALOG))
def test_every_family_answers_a_training_step(name):
    w = CATALOG[name]
    if w.family in FORWARD_ONLY:  # a serving step: the training step is refused in one line
        with pytest.raises(WorkloadError, match="serving step .* has no backward"):
            schedule(w, algorithms(w)[0], "bf16", direction="fwd+bwd")
        return
    w = w.with_params(seq_len=min(w.seq_len, 256)) if w.seq_len > 1 else w
    for algo in algorithms(w)[:3]:
        opts = {"iterations": 2} if algo in ("deer", "quasi-deer") else {}
        forward = schedule(w, algo, "bf16", **opts)
        step = schedule(w, algo, "bf16", direction="fwd+bwd", **opts)
        redo = schedule(w, algo, "bf16", direction="fwd+bwd", states="recompute", **opts)
        assert step.stages[:len(forward.stages)] == forward.stages  # the forward comes first
        assert step.work_flops > 1.2 * forward.work_flops and step.dram_bytes > forward.dram_bytes
        assert redo.work_flops >= step.work_flops
        assert step.meta["direction"] == "fwd+bwd" and all(d < i for i, s in enumerate(step.stages) for d in s.deps)


def test_backward_costs_by_hand():
    T = 512
    g = get_workload("gemm-4096").with_params(m=256, n=128, k=64)
    assert schedule(g, "tiled", direction="fwd+bwd").work_flops == 3 * 2 * 256 * 128 * 64  # ∂A, ∂B
    att = get_workload("llama2-7b-attention").with_params(seq_len=T, batch=1, heads=1, state=64, value=32)
    pairs = T * (T + 1) // 2
    step = schedule(att, "blocked", "bf16", direction="fwd+bwd")
    assert step.work_flops == pytest.approx(pairs * ((2 * 64 + 2 * 32) + (6 * 64 + 4 * 32)))  # FA2's five matmuls
    diag = get_workload("diagonal-d64").with_params(seq_len=T)
    fwd = schedule(diag, "kogge-stone")
    step = schedule(diag, "kogge-stone", direction="fwd+bwd")
    levels = [s for s in fwd.stages if s.name.startswith("level")]
    reverse = [s for s in step.stages if s.name.startswith("bwd reverse scan")]
    # the reverse scan is the forward's circuit again: the circuit linear_scan_backward runs
    assert [s.total_ops for s in reverse] == [s.total_ops for s in levels]
    assert sum(s.total_ops for s in levels) == 64 * prefix_circuit("kogge-stone", T).size
    redo = schedule(diag, "kogge-stone", direction="fwd+bwd", states="recompute")
    assert redo.work_flops == pytest.approx(step.work_flops + fwd.work_flops)
    lstm = get_workload("lstm-2048").with_params(seq_len=T, state=8, inputs=4)
    # BPTT: the reverse chain costs the forward chain; ∂W, ∂U, ∂x are GEMMs over all T
    bptt = schedule(lstm, "sequential", direction="fwd+bwd")
    forward = schedule(lstm, "sequential")
    assert bptt.work_flops == forward.work_flops + forward.stages[1].flops + T * 32 * 2 * (8 + 2 * 4)
    with pytest.raises(WorkloadError, match="direction"):
        schedule(diag, "sequential", direction="bwd")


def test_training_step_simulates_slower_than_the_forward_and_cli_says_so(capsys):
    h100 = load_accelerator("h100-sxm5-80gb")
    w = get_workload("mamba2-2.7b").with_params(seq_len=2048)
    fwd = simulate(schedule(w, "chunked", "bf16"), h100)
    step = simulate(schedule(w, "chunked", "bf16", direction="fwd+bwd"), h100)
    assert 2 * fwd.latency_s < step.latency_s <= step.upper_bound_s
    assert main(["simulate", "--hw", "h100-sxm5-80gb", "--workload", "mamba2-2.7b", "--algo", "chunked",
                 "--dtype", "bf16", "--direction", "fwd+bwd", "--states", "recompute", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"direction": "fwd+bwd"' in out and "recompute states" in out
