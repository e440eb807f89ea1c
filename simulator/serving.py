"""An offline batch served as engines serve it: continuous batching of requests whose replies
differ in length.

A static batch (:func:`simulator.model.simulate_generation`) gives every sequence the same
reply.  Real batches do not: when ``requests`` prompts are served with at most ``max_batch``
running at once (vLLM's ``max_num_seqs``), each step decodes one token for every running
sequence, a sequence leaves when its reply ends, and the next waiting request takes its place
(its prefill runs in that step, as vLLM's chunked prefill mixes it in).  Once the queue is
empty the running batch drains, and the last, longest replies run at a small batch whose steps
cost nearly what a full step does — the tail that makes energy per token grow with the longest
reply allowed (TokenPowerBench, Niu et al., AAAI 2026) however short the mean.

Reply lengths: the source states their mean (and often the cap, ``max_tokens``), not their
law.  scansim takes the law of greatest entropy for a length of known mean — the exponential,
or on [0, cap] its truncation, density ∝ e^(−λx) with λ solved so that its mean is the stated
one — and gives the ``requests`` replies its quantiles (i + ½)/N, so the run is
deterministic.  This is an assumption, stated with every result (``reply_law``).

Step costs come from :func:`simulator.model.simulate_model` on a grid of running batches (powers
of two up to ``max_batch``) and contexts, interpolated linearly in both.
"""

from __future__ import annotations

import bisect
import math

from hwmodels.loader import load_accelerator
from hwmodels.spec import Accelerator
from simulator.model import ENERGY_PARTS, simulate_model
from workloads.models import Model, ModelError

__all__ = ["reply_lengths", "simulate_offline"]


def reply_lengths(mean: float, requests: int, cap: int | None = None) -> list[int]:
    """``requests`` reply lengths, the quantiles (i + ½)/N of the law of greatest entropy with
    mean ``mean`` on lengths ≥ 0 (the exponential) or on [0, ``cap``] (its truncation, density
    ∝ e^(−λx), λ solved so that its mean is ``mean``; λ < 0 for a mean above cap/2); every
    length at least 1 and at most ``cap``."""
    if not mean >= 1:
        raise ModelError(f"output: expected a mean reply of at least 1 token, got {mean!r}")
    if requests < 1:
        raise ModelError(f"requests: expected a whole number ≥ 1, got {requests!r}")
    if cap is not None and cap < mean:
        raise ModelError(f"max_output: expected at least the replies' mean ({mean:g} tokens), got {cap}")
    quantiles = [(i + 0.5) / requests for i in range(requests)]
    if cap is None:
        return [max(1, round(-mean * math.log1p(-q))) for q in quantiles]
    u = _rate(mean / cap)  # λ · cap
    return [min(cap, max(1, round(cap * _quantile(q, u)))) for q in quantiles]


def _mean(u: float) -> float:
    """Mean over the cap of the law ∝ e^(−u·y) on [0, 1]."""
    if abs(u) < 1e-6:
        return 0.5 - u / 12
    return 1 / u if u > 700 else 1 / u - 1 / math.expm1(u)


def _rate(share: float) -> float:
    """The u (λ · cap) whose law has mean ``share`` of the cap: ``_mean`` falls from 1 to 0."""
    if share >= 1 - 1e-9:
        return -1e9
    low, high = -1e6, 1e6
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if _mean(mid) > share else (low, mid)
    return (low + high) / 2


def _quantile(q: float, u: float) -> float:
    """The q-quantile over the cap of the law ∝ e^(−u·y) on [0, 1]."""
    if abs(u) < 1e-9:
        return q
    if u > 0:
        return -math.log1p(q * math.expm1(-u)) / u
    return 1 - math.log(q + (1 - q) * math.exp(u)) / u


def _grid(limit: int) -> list[int]:
    """Running batches to cost: powers of two below ``limit``, and ``limit``."""
    return sorted({*(1 << i for i in range(max(1, limit).bit_length()) if 1 << i < limit), limit})


def _interpolate(points: list[int], values: list[float], x: float) -> float:
    i = min(max(1, bisect.bisect_left(points, x)), len(points) - 1)
    x0, x1 = points[i - 1], points[i]
    t = 0.0 if x1 == x0 else (x - x0) / (x1 - x0)
    return values[i - 1] + t * (values[i] - values[i - 1])


def simulate_offline(m: Model, accelerator: Accelerator | str, prompt: int, mean_output: float, requests: int,
                     max_batch: int, max_output: int | None = None, dtype: str = "bf16", **layout) -> dict:
    """Serve ``requests`` prompts of ``prompt`` tokens whose replies average ``mean_output``
    tokens (at most ``max_output``), ``max_batch`` at a time (see the module's doc).  Returns
    the run's time, energy (total, by component, per output token and per token), the average
    running batch, the steps, one chip's average power, and the reply lengths' law.
    ``layout``: what :func:`simulate_model` takes besides (chips, data_parallel, …); every
    replica serves its own ``requests``."""
    acc = accelerator if isinstance(accelerator, Accelerator) else load_accelerator(accelerator)
    for name, value in (("requests", requests), ("max_batch", max_batch), ("prompt", prompt)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelError(f"{name}: expected a whole number ≥ 1, got {value!r}")
    lengths = reply_lengths(mean_output, requests, max_output)
    running_max = min(max_batch, requests)
    batches = _grid(running_max)
    longest = prompt + max(lengths)
    contexts = sorted({prompt, prompt + max(1, longest - prompt) // 2, longest})
    keys = ("latency_s", "energy_j", *ENERGY_PARTS)
    step = {c: [simulate_model(m, acc, "decode", c, b, dtype, **layout)[1] for b in batches] for c in contexts}
    _, wave = simulate_model(m, acc, "prefill", prompt, running_max, dtype, **layout)
    prefill = {k: wave[k] / running_max for k in keys}  # one request's prefill, in a full wave's company

    def decode(b: int, context: float) -> dict[str, float]:
        at = {c: {k: _interpolate(batches, [s[k] for s in step[c]], b) for k in keys} for c in contexts}
        return {k: _interpolate(contexts, [at[c][k] for c in contexts], context) for k in keys}

    total = dict.fromkeys(keys, 0.0)
    queue = iter(lengths)
    running = [next(queue) for _ in range(running_max)]  # tokens each running reply still needs
    made = [0] * running_max  # tokens each has made
    admitted, steps, occupancy = running_max, 0, 0
    for k in keys:
        total[k] += prefill[k] * running_max
    while running:  # from one reply's end to the next: b is steady, the context grows a token a step
        b, n = len(running), min(running)
        cost = decode(b, prompt + sum(made) / b + (n - 1) / 2)  # linear in the context between grid points
        steps, occupancy = steps + n, occupancy + n * b
        keep_left, keep_made, joined = [], [], 0
        for left, done in zip(running, made):
            if left > n:
                keep_left.append(left - n)
                keep_made.append(done + n)
            elif admitted < requests:  # a finished reply's place goes to the next request
                keep_left.append(next(queue))
                keep_made.append(0)
                admitted, joined = admitted + 1, joined + 1
        for k in keys:
            total[k] += n * cost[k] + joined * prefill[k]
        running, made = keep_left, keep_made
    replicas = layout.get("data_parallel", 1)  # simulate_model's energy is every chip's, replicas' too
    chips, energy = wave["chips"], total["energy_j"]
    generated = replicas * sum(lengths)
    return {"model": m.name, "accelerator": acc.name, "chips": chips, "requests": requests, "max_batch": max_batch,
            "prompt_tokens": prompt, "mean_output_tokens": sum(lengths) / requests, "max_output_tokens": max(lengths),
            "reply_law": "exponential" + (f" truncated at {max_output}" if max_output else ""),
            "steps": steps, "mean_running_batch": occupancy / steps, "total_s": total["latency_s"],
            "energy_j": energy, **{k: total[k] for k in ENERGY_PARTS},
            "energy_per_output_token_j": energy / generated,
            "energy_per_token_j": energy / (replicas * requests * prompt + generated),
            "average_power_w": energy / total["latency_s"] / chips}
