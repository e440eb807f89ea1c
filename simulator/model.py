"""A whole model's forward pass on an accelerator: each component of
:func:`workloads.models.components` simulated once (a block's pieces are the same in every
layer) and counted as many times as the pass runs it, one after another; and what the model
keeps in memory — weights, KV cache or recurrent state — against the chip's DRAM."""

from __future__ import annotations

import pandas as pd

from hwmodels.loader import load_accelerator
from hwmodels.spec import Accelerator
from simulator.engine import simulate
from simulator.multichip import hop_bandwidth_bytes_per_s
from workloads.catalog import schedule
from workloads.models import Model, ModelError, all_reduces, components, parameters, sharded
from workloads.schedule import DTYPE_BYTES

__all__ = ["simulate_model", "memory_bytes", "all_reduce_s"]


def memory_bytes(m: Model, seq_len: int, batch: int, dtype: str, phase: str = "decode",
                 recompute: bool = False) -> dict[str, float]:
    """What the model holds in DRAM: serving ``batch`` sequences of context ``seq_len``, its
    weights and its KV cache (attention layers) and recurrent and convolution states (the
    others); training, its weights, gradients, fp32 Adam states (master weights and two
    moments) and activations — s·b·h·(34 + 5·a·s/h) bytes per transformer layer in 16-bit
    (Korthikanti et al., arXiv 2205.05198, Eq. 1), the 34 term alone for a recurrent layer (an
    assumption), or only each layer's input (2·s·b·h) when activations are recomputed."""
    e = DTYPE_BYTES[dtype]
    if phase == "train":
        s, b, h = seq_len, batch, m.d_model
        if recompute:
            activations = m.layers * 2 * s * b * h
        else:
            attention = m.count("attention") * 5 * m.heads * s / h
            activations = s * b * h * (34 * m.layers + attention) * e / 2
        return {"weights": parameters(m) * e, "gradients": parameters(m) * e,
                "optimizer states": parameters(m) * 12, "activations": activations}
    held = {"weights": parameters(m) * e}
    if m.count("attention"):
        held["KV cache"] = batch * m.count("attention") * 2 * seq_len * m.kv_heads * m.head_dim * e
    states = {"mamba": m.d_inner * m.d_state + m.d_inner * m.d_conv,
              "mamba2": m.d_inner * m.d_state + (m.d_inner + 2 * m.groups * m.d_state) * m.d_conv,
              "gated-deltanet": m.linear_heads * m.linear_key_dim * m.linear_value_dim
              + (2 * m.linear_key_heads * m.linear_key_dim + m.linear_heads * m.linear_value_dim) * m.d_conv}
    recurrent = sum(m.count(kind) * size for kind, size in states.items())
    if recurrent:
        held["recurrent state"] = batch * recurrent * e
    return held


def all_reduce_s(acc: Accelerator, nbytes: float, chips: int) -> float:
    """A ring all-reduce of ``nbytes`` over ``chips`` chips: 2(p − 1)/p of the bytes over each
    chip's link to its neighbour, in 2(p − 1) dependent steps of one link latency each
    (Patarasuk & Yuan, J. Parallel Distrib. Comput. 69, 2009)."""
    if chips == 1:
        return 0.0
    if acc.link is None:
        raise ModelError(f"{acc.name} has no link block: it cannot be one of {chips} chips")
    return 2 * (chips - 1) / chips * nbytes / hop_bandwidth_bytes_per_s(acc) + 2 * (chips - 1) * acc.link.latency_s


def simulate_model(m: Model, accelerator: Accelerator | str, phase: str, seq_len: int, batch: int = 1,
                   dtype: str = "bf16", fidelity: str = "analytic", recompute: bool = False, chips: int = 1
                   ) -> tuple[pd.DataFrame, dict]:
    """``(per component, totals)`` of one forward pass: the prefill of ``seq_len`` tokens per
    sequence or one decode step at context ``seq_len``, for ``batch`` sequences.  Per
    component: how many times it runs, its latency, energy, DRAM bytes and flops in all, and
    its share of the pass.  :class:`ModelError` when the model and its cache do not fit."""
    acc = accelerator if isinstance(accelerator, Accelerator) else load_accelerator(accelerator)
    whole, m = m, sharded(m, chips)  # one chip's share under tensor parallelism
    held = memory_bytes(m, seq_len, batch, dtype, phase, recompute)
    if sum(held.values()) > acc.dram.capacity_bytes:
        parts = " + ".join(f"{k} {v / 1e9:.3g} GB" for k, v in held.items())
        raise ModelError(f"{m.name} at batch {batch} and context {seq_len:,} does not fit "
                         f"{acc.name}{f' (a {chips}-way share)' if chips > 1 else ''}: {parts} "
                         f"> {acc.dram.capacity_bytes / 1e9:.3g} GB of '{acc.dram.name}'")
    rows = []
    for part in components(m, phase, seq_len, batch, recompute):
        planned = schedule(part.workload, part.algorithm, part.dtype or dtype, impl=part.impl, direction=part.direction)
        result = simulate(planned, acc, fidelity=fidelity)
        rows.append({"component": part.name, "count": part.count, "latency_s": part.count * result.latency_s,
                     "energy_j": part.count * result.energy_j, "dram_bytes": part.count * result.dram_bytes,
                     "flops": part.count * result.flops, "bound": _bound(result)})
    if chips > 1:
        elements, count = all_reduces(whole, phase, seq_len, batch)
        nbytes = elements * DTYPE_BYTES[dtype]
        seconds = all_reduce_s(acc, nbytes, chips)
        rows.append({"component": f"all-reduce over {chips} chips (tensor parallel)", "count": count,
                     "latency_s": count * seconds, "energy_j": count * 2 * nbytes * acc.link.energy_per_byte_j,
                     "dram_bytes": 0.0, "flops": 0.0, "bound": "link"})
    table = pd.DataFrame(rows)
    table["share"] = table["latency_s"] / table["latency_s"].sum()
    tokens = batch * (1 if phase == "decode" else seq_len)
    total = float(table["latency_s"].sum())
    totals = {"model": m.name, "accelerator": acc.name, "chips": chips, "phase": phase, "seq_len": seq_len,
              "batch": batch,
              "dtype": dtype, "latency_s": total, "tokens": tokens, "tokens_per_s": tokens / total,
              "energy_j": chips * float(table["energy_j"].sum()),
              "energy_per_token_j": chips * float(table["energy_j"].sum()) / tokens,
              "parameters": parameters(whole), **{f"memory_{k.replace(' ', '_')}_bytes": v for k, v in held.items()}}
    return table, totals


def _bound(result) -> str:
    bounds = {"compute": result.compute_bound_s, "memory": result.memory_bound_s, "depth": result.depth_bound_s}
    return max(bounds, key=bounds.get)
