"""A whole model's forward pass on an accelerator: each component of
:func:`workloads.models.components` simulated once (a block's pieces are the same in every
layer) and counted as many times as the pass runs it, one after another; and what the model
keeps in memory — weights, KV cache or recurrent state — against the chip's DRAM."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd

from hwmodels import cost
from hwmodels.loader import load_accelerator
from hwmodels.spec import Accelerator
from simulator.engine import simulate
from simulator.multichip import carry_exchange, carry_hop_s, hop_bandwidth_bytes_per_s
from workloads.catalog import WorkloadError
from workloads.dispatch import schedule
from workloads.families import carry_element
from workloads.models import Model, ModelError, all_reduces, components, parameters, sharded
from workloads.schedule import DTYPE_BYTES

__all__ = ["simulate_model", "memory_bytes", "all_reduce_s", "usd_per_million_tokens", "largest_fit"]


def memory_bytes(m: Model, seq_len: int, batch: int, dtype: str, phase: str = "decode",
                 recompute: bool = False) -> dict[str, float]:
    """What the model holds in DRAM: serving ``batch`` sequences of context ``seq_len``, its
    weights and its KV cache (attention layers) and recurrent and convolution states (the
    others); training, its weights, gradients, fp32 Adam states (master weights and two
    moments) and activations — s·b·h·34 bytes per layer in 16-bit (Korthikanti et al., arXiv
    2205.05198, Eq. 1, without its 5·a·s/h term: that is the a·s² attention scores, softmax
    and dropout mask, which FlashAttention — how scansim costs attention — never stores;
    it keeps each row's fp32 log-sum-exp instead, Dao, arXiv 2307.08691, Algorithm 1), the
    same 34 for a recurrent layer (an assumption), or only each layer's input (2·s·b·h) when
    activations are recomputed."""
    e = DTYPE_BYTES[dtype]
    if phase == "train":
        s, b, h = seq_len, batch, m.d_model
        if recompute:
            activations = m.layers * 2 * s * b * h
        else:
            log_sum_exp = m.count("attention") * m.heads * s * b * 4  # fp32, one per query row and head
            activations = s * b * h * 34 * m.layers * e / 2 + log_sum_exp
        return {"weights": parameters(m) * e, "gradients": parameters(m) * e,
                "optimizer states": parameters(m) * 12, "activations": activations}
    held = {"weights": parameters(m) * e}
    if m.count("attention"):
        held["KV cache"] = batch * m.count("attention") * 2 * seq_len * m.kv_heads * m.head_dim * e
    states = {"mamba": m.d_inner * m.d_state + m.d_inner * m.d_conv,
              "mamba2": m.d_inner * m.d_state + (m.d_inner + 2 * m.groups * m.d_state) * m.d_conv,
              "gated-deltanet": m.linear_heads * m.linear_key_dim * m.linear_value_dim
              + (2 * m.linear_key_heads * m.linear_key_dim + m.linear_heads * m.linear_value_dim) * m.d_conv,
              # its heads' states and the two token shifts (time and channel mixing)
              "rwkv7": m.linear_heads * m.linear_key_dim * m.linear_value_dim + 2 * m.d_model}
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
                   dtype: str = "bf16", fidelity: str = "analytic", recompute: bool = False, chips: int = 1,
                   pipeline: int = 1, microbatches: int | None = None, sequence: int = 1
                   ) -> tuple[pd.DataFrame, dict]:
    """``(per component, totals)`` of one pass: the prefill of ``seq_len`` tokens per sequence,
    one decode step at context ``seq_len``, or a training step, for ``batch`` sequences.  Per
    component: how many times it runs, its latency, energy, DRAM bytes and flops in all, and
    its share of the pass.  :class:`ModelError` when the model and its cache do not fit.

    Over several chips (``chips × pipeline × sequence`` in all):

    * ``chips``: tensor parallelism (:func:`workloads.models.sharded`), a ring all-reduce
      after every row-parallel projection;
    * ``pipeline``: the layers split into that many stages (GPipe, Huang et al., arXiv
      1811.06965; 1F1B in training has the same bubble): the batch runs as ``microbatches``
      micro-batches (default: one per stage, at most one per sequence) through
      ``microbatches + pipeline − 1`` stage slots, each a stage's share of the model plus one
      point-to-point transfer of the micro-batch's activations; weights and cache split over
      the stages; without a pipeline, ``microbatches`` run one after another on the same
      chips (gradient accumulation in a training step), one micro-batch's activations live;
      either way the optimizer updates the weights once per step;
    * ``sequence``: context parallelism over the prompt (prefill and training): every chip
      runs its T/``sequence`` tokens through the projections and MLPs; attention as ring
      attention (Liu et al., arXiv 2310.01889 — each chip's queries against every key block
      as the blocks circle the ring, transfers overlapped with compute); a recurrent mixer
      scans its own chunk and the chunks' carries are scanned across chips
      (:func:`simulator.multichip.carry_exchange`).
    """
    acc = accelerator if isinstance(accelerator, Accelerator) else load_accelerator(accelerator)
    for name, value in (("chips", chips), ("pipeline", pipeline), ("sequence", sequence)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelError(f"{name}: expected a whole number ≥ 1, got {value!r}")
    microbatches = min(pipeline, batch) if microbatches is None else microbatches
    if isinstance(microbatches, bool) or not isinstance(microbatches, int) or not 1 <= microbatches <= batch:
        raise ModelError(f"microbatches: expected a whole number from 1 to the batch ({batch}), got {microbatches!r}")
    if sequence > 1 and phase == "decode":
        raise ModelError("sequence: context parallelism splits a prompt (prefill or training); a decode step "
                         "has one token per sequence")
    if pipeline > m.layers:
        raise ModelError(f"pipeline: {pipeline} stages for {m.layers} layers: expected at most one stage per layer")
    if chips * pipeline * sequence > 1 and acc.link is None:
        raise ModelError(f"{acc.name} has no link block: it cannot be one of {chips * pipeline * sequence} chips")
    whole, m = m, sharded(m, chips)  # one chip's share under tensor parallelism
    micro = math.ceil(batch / microbatches)  # sequences per micro-batch
    # accumulating gradients, one micro-batch's activations are live at a time; a pipeline
    # (GPipe) keeps every micro-batch's until its backward
    live = micro if phase == "train" and pipeline == 1 else batch
    held = _held(m, seq_len, live, dtype, phase, recompute, pipeline, sequence)
    if sum(held.values()) > acc.dram.capacity_bytes:
        parts = " + ".join(f"{k} {v / 1e9:.3g} GB" for k, v in held.items())
        share = chips * pipeline * sequence
        raise ModelError(f"{m.name} at batch {batch} and context {seq_len:,} does not fit "
                         f"{acc.name}{f' (a {share}-way share)' if share > 1 else ''}: {parts} "
                         f"> {acc.dram.capacity_bytes / 1e9:.3g} GB of '{acc.dram.name}'")
    local = math.ceil(seq_len / sequence) if phase != "decode" else seq_len  # tokens per chip
    rows = []
    for part in components(m, phase, local, micro, recompute):
        row = _row(part, acc, dtype, fidelity)
        rows += _context_parallel(row, part, acc, dtype, fidelity, sequence, seq_len) if sequence > 1 else [row]
    if chips > 1:
        elements, count = all_reduces(whole, phase, local, micro)
        nbytes = elements * DTYPE_BYTES[dtype]
        seconds = all_reduce_s(acc, nbytes, chips)
        rows.append({"component": f"all-reduce over {chips} chips (tensor parallel)", "count": count,
                     "latency_s": count * seconds, "energy_j": count * 2 * nbytes * acc.link.energy_per_byte_j,
                     "dram_bytes": 0.0, "flops": 0.0, "bound": "link"})
    table = pd.DataFrame(rows)
    if pipeline > 1:
        activations = micro * (1 if phase == "decode" else local) * m.d_model * DTYPE_BYTES[dtype]
        table = _pipelined(table, acc, pipeline, microbatches, activations * (2 if phase == "train" else 1))
    elif microbatches > 1:  # one after another on the same chips (gradient accumulation): one optimizer step
        table = _repeated(table, microbatches)
    table = table.drop(columns="per_step")
    table["share"] = table["latency_s"] / table["latency_s"].sum()
    tokens = batch * (1 if phase == "decode" else seq_len)
    total = float(table["latency_s"].sum())
    # energy: the rows are one chip's (a tensor shard of one stage and one sequence chunk)
    energy = chips * pipeline * sequence * float(table["energy_j"].sum())
    totals = {"model": m.name, "accelerator": acc.name, "chips": chips * pipeline * sequence,
              "tensor_parallel": chips, "pipeline_stages": pipeline, "microbatches": microbatches,
              "sequence_parallel": sequence, "phase": phase, "seq_len": seq_len, "batch": batch,
              "dtype": dtype, "latency_s": total, "tokens": tokens, "tokens_per_s": tokens / total,
              "energy_j": energy, "energy_per_token_j": energy / tokens,
              "usd_per_million_tokens": usd_per_million_tokens(acc, chips * pipeline * sequence, total, energy, tokens),
              "parameters": parameters(whole), **{f"memory_{k.replace(' ', '_')}_bytes": v for k, v in held.items()}}
    return table, totals


#: what context parallelism splits along the sequence (each chip holds its own tokens')
_SPLIT_BY_SEQUENCE = ("KV cache", "activations")


def _held(m: Model, seq_len: int, batch: int, dtype: str, phase: str, recompute: bool, pipeline: int,
          sequence: int) -> dict[str, float]:
    """One chip's memory (``m`` already its tensor-parallel share): its stage's layers, its
    part of the sequence."""
    return {k: v / pipeline / (sequence if k in _SPLIT_BY_SEQUENCE else 1)
            for k, v in memory_bytes(m, seq_len, batch, dtype, phase, recompute).items()}


def largest_fit(m: Model, accelerator: Accelerator | str, phase: str, seq_len: int, batch: int = 1,
                dtype: str = "bf16", recompute: bool = False, chips: int = 1, pipeline: int = 1,
                sequence: int = 1) -> dict[str, int | None]:
    """The largest batch that fits the chips' DRAM at context ``seq_len``, and the longest
    context that fits at ``batch`` (None: no limit — a recurrent model's state does not grow;
    0: not even one), as :func:`simulate_model` lays the model out."""
    acc = accelerator if isinstance(accelerator, Accelerator) else load_accelerator(accelerator)
    share = sharded(m, chips)
    room = acc.dram.capacity_bytes

    def fits(t: int, b: int) -> bool:
        return sum(_held(share, t, b, dtype, phase, recompute, pipeline, sequence).values()) <= room

    def largest(test, limit: int) -> int | None:
        if not test(1):
            return 0
        if test(limit):
            return None
        low, high = 1, limit  # test(low) holds, test(high) does not
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if test(mid) else (low, mid)
        return low

    return {"max_batch": largest(lambda b: fits(seq_len, b), 1 << 24),
            "max_context": largest(lambda t: fits(t, batch), 1 << 30)}


def usd_per_million_tokens(acc: Accelerator, chips: int, latency_s: float, energy_j: float, tokens: int) -> float:
    """Dollars per million tokens of ``chips`` chips busy ``latency_s`` drawing ``energy_j``
    (see :func:`hwmodels.cost.usd_per_million_tokens`); nan for a spec without area or cost."""
    if not (acc.area and acc.cost):
        return float("nan")
    return chips * cost.usd_per_million_tokens(acc, latency_s, energy_j / chips, tokens)


def _row(part, acc: Accelerator, dtype: str, fidelity: str) -> dict:
    planned = schedule(part.workload, part.algorithm, part.dtype or dtype, impl=part.impl, direction=part.direction)
    result = simulate(planned, acc, fidelity=fidelity)
    return {"component": part.name, "count": part.count, "latency_s": part.count * result.latency_s,
            "energy_j": part.count * result.energy_j, "dram_bytes": part.count * result.dram_bytes,
            "flops": part.count * result.flops, "bound": _bound(result), "per_step": part.per_step}


def _context_parallel(row: dict, part, acc: Accelerator, dtype: str, fidelity: str, chips: int,
                      seq_len: int) -> list[dict]:
    """A component's row under context parallelism over ``chips`` (its row at the local
    length given): attention becomes ring attention over the whole sequence; a recurrent
    mixer adds its carries' scan across chips; other pieces are per token, as they are."""
    w = part.workload
    if w.family == "attention":
        whole = _row(dataclasses.replace(part, workload=w.with_params(seq_len=seq_len)), acc, dtype, fidelity)
        e = DTYPE_BYTES[part.dtype or dtype]
        block = w.batch * w.seq_len * 2 * w.heads * w.state * e * (2 if part.direction != "fwd" else 1)
        compute, passing = whole["latency_s"] / chips, chips * part.count * carry_hop_s(acc, block)
        return [{**whole, "component": f"{part.name}, ring over {chips} chips", "latency_s": max(compute, passing),
                 "energy_j": whole["energy_j"] / chips + (chips - 1) * part.count * block * acc.link.energy_per_byte_j,
                 "dram_bytes": whole["dram_bytes"] / chips, "flops": whole["flops"] / chips,
                 "bound": "link" if passing > compute else whole["bound"]}]
    try:
        carry_element(w, dtype)
    except WorkloadError:
        return [row]  # a per-token piece
    exchange = carry_exchange(w.with_params(seq_len=seq_len), acc, chips, dtype=part.dtype or dtype,
                              outputs_only=True)
    passes = part.count * (2 if part.direction != "fwd" else 1)  # the backward scans in reverse
    return [row, {"component": f"{part.name}: carries across {chips} chips", "count": passes,
                  "latency_s": passes * (exchange.carry_s + exchange.fixup_s),
                  "energy_j": passes * exchange.energy_j / chips, "dram_bytes": 0.0, "flops": 0.0, "bound": "link"}]


def _pipelined(table: pd.DataFrame, acc: Accelerator, stages: int, microbatches: int,
               activation_bytes: float) -> pd.DataFrame:
    """One micro-batch's pass through the whole model (``table``) as a pipeline: each chip
    runs its stage's share for every micro-batch, plus the fill and drain of
    ``stages − 1`` slots and the activations handed between stages."""
    hop = carry_hop_s(acc, activation_bytes)
    per_step = table["per_step"].eq(True)
    slot = float(table["latency_s"][~per_step].sum()) / stages + hop
    scaled = _repeated(table, microbatches, share=1 / stages)
    extra = pd.DataFrame([
        {"component": f"activations between {stages} pipeline stages (point to point)", "count": microbatches,
         "latency_s": microbatches * hop, "energy_j": microbatches * activation_bytes * acc.link.energy_per_byte_j,
         "dram_bytes": 0.0, "flops": 0.0, "bound": "link"},
        {"component": f"pipeline fill and drain ({stages - 1} stage slots)", "count": stages - 1,
         "latency_s": (stages - 1) * slot, "energy_j": (stages - 1) * slot * acc.static_power_w,
         "dram_bytes": 0.0, "flops": 0.0, "bound": "depth"}])
    return pd.concat([scaled, extra], ignore_index=True)


_SUMMED = ("latency_s", "energy_j", "dram_bytes", "flops")


def _repeated(table: pd.DataFrame, microbatches: int, share: float = 1.0) -> pd.DataFrame:
    """``table`` (one micro-batch's pass) for ``microbatches`` micro-batches: every row that
    runs per micro-batch that many times, a row that runs once per step (the optimizer
    update) once; all of it ``share`` (a pipeline stage's part of the layers)."""
    per_step = table["per_step"].eq(True)
    times = per_step.map({True: 1, False: microbatches}) * share
    return table.assign(**{k: table[k] * times for k in _SUMMED})


def _bound(result) -> str:
    bounds = {"compute": result.compute_bound_s, "memory": result.memory_bound_s, "depth": result.depth_bound_s}
    return max(bounds, key=bounds.get)
