"""A whole model's forward pass on an accelerator: each component of
:func:`workloads.models.components` simulated once (a block's pieces are the same in every
layer) and counted as many times as the pass runs it, one after another; and what the model
keeps in memory — weights, KV cache or recurrent state — against the chip's DRAM."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd

from hwmodels import cost, power
from hwmodels.loader import load_accelerator
from hwmodels.spec import Accelerator
from simulator.energy import COMPONENTS
from simulator.engine import simulate
from simulator.multichip import (all_to_all_s, carry_exchange, carry_hop_s, link_energy_per_byte_j, ring_collective_s,
                                 spans_nodes)
from workloads.catalog import WorkloadError
from workloads.dispatch import schedule
from workloads.families import carry_element
from workloads.models import (Model, ModelError, all_reduces, all_to_alls, checkpointed_layers, components,
                              expert_sharded, parameters, recompute_mode, sharded)
from workloads.models.parameters import widths
from workloads.models.fp8 import DEFAULT_FP8_RECIPE, FP8_RECIPES, fp8_casts
from workloads.schedule import DTYPE_BYTES

__all__ = ["simulate_model", "simulate_generation", "memory_bytes", "memory_per_chip", "all_reduce_s",
           "usd_per_million_tokens",
           "largest_fit", "activation_dtype", "model_flops", "ZERO_STAGES", "DDP_BUCKET_BYTES"]

#: ZeRO stages (Rajbhandari et al., "ZeRO: Memory Optimizations Toward Training Trillion
#: Parameter Models", SC 2020, §5.1): 0 plain data parallelism (PyTorch DDP); 1 the optimizer
#: states partitioned over the data-parallel chips; 2 and the gradients; 3 and the parameters
#: (PyTorch FSDP's FULL_SHARD is stage 3)
ZERO_STAGES = (0, 1, 2, 3)
#: PyTorch DDP's gradient bucket: ``bucket_cap_mb=25`` (torch.nn.parallel.DistributedDataParallel)
DDP_BUCKET_BYTES = 25 * 2**20
#: K, the bytes of optimizer state per parameter of mixed-precision Adam: an fp32 master copy,
#: momentum and variance (ZeRO, §3.1)
ADAM_STATE_BYTES = 12


def activation_dtype(acc: Accelerator, dtype: str) -> str:
    """The format of everything but the weight GEMMs in a model whose GEMMs run in ``dtype``:
    ``dtype`` itself, but for an 8-bit model bf16 (or the first 16-bit format the vector unit
    has) — Transformer Engine runs only its Linear layers' GEMMs in fp8 and keeps norms,
    softmax, activations and attention in the higher precision (``fp8_autocast``;
    ``DelayedScaling(fp8_dpa=False)``, the default: dot-product attention not in fp8), as
    serving engines do for fp8 weights (vLLM's ``Fp8LinearMethod`` quantises linear layers
    only)."""
    if DTYPE_BYTES[dtype] > 1:
        return dtype
    rates = acc.vector.flops_per_lane_per_cycle
    return next((d for d in ("bf16", "fp16") if d in rates), "fp32")


def _weight_bytes(dtype: str, phase: str) -> int:
    """Bytes per weight held: the model's format serving; training in fp8, 16-bit weights and
    gradients (Transformer Engine keeps the parameters in higher precision and casts them to fp8
    per GEMM; the optimizer's fp32 master copy is part of K)."""
    return 2 if phase == "train" and DTYPE_BYTES[dtype] == 1 else DTYPE_BYTES[dtype]


def memory_bytes(m: Model, seq_len: int, batch: int, dtype: str, phase: str = "decode",
                 recompute: bool | str | float = False, kv_dtype: str | None = None) -> dict[str, float]:
    """What the model holds in DRAM: serving ``batch`` sequences of context ``seq_len``, its
    weights and its KV cache (attention layers) and recurrent and convolution states (the
    others); training, its weights, gradients, fp32 Adam states (master weights and two
    moments) and activations — s·b·h·34 bytes per layer in 16-bit (Korthikanti et al., arXiv
    2205.05198, Eq. 1, without its 5·a·s/h term: that is the a·s² attention scores, softmax
    and dropout mask, which FlashAttention — how scansim costs attention — never stores;
    it keeps each row's fp32 log-sum-exp instead, Dao, arXiv 2307.08691, Algorithm 1), the
    same 34 for a recurrent layer (an assumption); only each layer's input (2·s·b·h) when
    activations are recomputed (``recompute`` full; a fraction of the layers so), or that input
    and the outputs torchtitan's per-op policy saves (``selective``: q, v, attention's output
    and log-sum-exp, the MLP's gate and down outputs — :func:`workloads.models.phases.
    components`).  In an 8-bit model, weights take its format (16-bit in training,
    see :func:`_weight_bytes`), activations and recurrent states 16 bits, the KV cache
    ``kv_dtype`` (default: 16-bit, else the model's)."""
    e = _weight_bytes(dtype, phase)
    a = DTYPE_BYTES[dtype] if DTYPE_BYTES[dtype] > 1 else 2  # activations' bytes (activation_dtype)
    kv = DTYPE_BYTES[kv_dtype] if kv_dtype else a
    if phase == "train":
        s, b, h = seq_len, batch, m.d_model
        if recompute_mode(recompute) == "selective":  # the layer's input and the outputs the per-op policy saves
            w = widths(m)
            saved = h + w["q"] + w["kv"] // 2 + m.heads * m.head_dim + m.d_ff + (h if m.mlp_gated else 0)
            activations = m.layers * s * b * (saved * a + m.heads * 4)  # and attention's fp32 log-sum-exp
        else:  # checkpointed layers keep their input, the others everything their backward reads
            kept = checkpointed_layers(m.layers, recompute)
            log_sum_exp = m.count("attention") * m.heads * s * b * 4 * (m.layers - kept) / m.layers
            activations = kept * 2 * s * b * h + s * b * h * 34 * (m.layers - kept) * a / 2 + log_sum_exp
        return {"weights": parameters(m) * e, "gradients": parameters(m) * e,
                "optimizer states": parameters(m) * ADAM_STATE_BYTES, "activations": activations}
    held = {"weights": parameters(m) * e}
    if m.count("attention"):
        held["KV cache"] = batch * m.count("attention") * 2 * seq_len * m.kv_heads * m.head_dim * kv
    states = {"mamba": m.d_inner * m.d_state + m.d_inner * m.d_conv,
              "mamba2": m.d_inner * m.d_state + (m.d_inner + 2 * m.groups * m.d_state) * m.d_conv,
              "gated-deltanet": m.linear_heads * m.linear_key_dim * m.linear_value_dim
              + (2 * m.linear_key_heads * m.linear_key_dim + m.linear_heads * m.linear_value_dim) * m.d_conv,
              # its heads' states and the two token shifts (time and channel mixing)
              "rwkv7": m.linear_heads * m.linear_key_dim * m.linear_value_dim + 2 * m.d_model}
    recurrent = sum(m.count(kind) * size for kind, size in states.items())
    if recurrent:
        held["recurrent state"] = batch * recurrent * a
    return held


def all_reduce_s(acc: Accelerator, nbytes: float, chips: int, stride: int = 1) -> float:
    """A ring all-reduce of ``nbytes`` over ``chips`` chips: 2(p − 1)/p of the bytes over each
    chip's link to its neighbour, in 2(p − 1) dependent steps of one link latency each
    (Patarasuk & Yuan, J. Parallel Distrib. Comput. 69, 2009); at the scale-out network's pace
    when the group, ``stride`` chips apart, spans nodes
    (:func:`simulator.multichip.ring_collective_s`)."""
    if chips == 1:
        return 0.0
    if acc.link is None:
        raise ModelError(f"{acc.name} has no link block: it cannot be one of {chips} chips")
    return ring_collective_s(acc, nbytes, chips, "all-reduce", stride)


def simulate_model(m: Model, accelerator: Accelerator | str, phase: str, seq_len: int, batch: int = 1,
                   dtype: str = "bf16", fidelity: str = "analytic", recompute: bool | str | float = False,
                   chips: int = 1, pipeline: int = 1, microbatches: int | None = None, sequence: int = 1,
                   data_parallel: int = 1, zero: int = 0, kv_dtype: str | None = None,
                   expert_parallel: int = 1, shard_group: int | None = None,
                   fp8_scaling: str = DEFAULT_FP8_RECIPE, attention: str | None = None
                   ) -> tuple[pd.DataFrame, dict]:
    """``(per component, totals)`` of one pass: the prefill of ``seq_len`` tokens per sequence,
    one decode step at context ``seq_len``, or a training step, for ``batch`` sequences.  Per
    component: how many times it runs, its latency, energy, DRAM bytes and flops in all, and
    its share of the pass.  :class:`ModelError` when the model and its cache do not fit.

    ``dtype`` is the format of the weights and of the GEMMs with them; an 8-bit model runs
    everything else in 16 bits (:func:`activation_dtype`) and keeps its KV cache in
    ``kv_dtype`` (default: that 16-bit format; else the model's dtype).  Training in 8 bits
    pays its recipe's scaling and cast kernels beside the GEMMs (``fp8_scaling``, one of
    :data:`workloads.models.fp8.FP8_RECIPES`: Transformer Engine's delayed or current scaling,
    torchao's tensorwise).  A prompt's attention runs as the attention family's blocked
    schedule, or as the shipped kernel ``attention`` names (``flash-attention-2``: what
    PyTorch's scaled_dot_product_attention runs; ``flash-attention-3``).

    Over several chips (``chips × pipeline × sequence × data_parallel`` in all):

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
      (:func:`simulator.multichip.carry_exchange`); in training the ranks hold the same
      weights and reduce their gradients with the data-parallel replicas';
    * ``data_parallel``: that many replicas, each running ``batch`` sequences (the step's
      tokens are all replicas'); serving, they never talk; training, they (and their
      context-parallel ranks) synchronise the gradients as ZeRO stage ``zero`` lays out the
      model over them (:func:`memory_per_chip`,
      :func:`_data_parallel_rows`); ``shard_group``: with ZeRO-3, partition over groups of that
      many chips only and replicate across the groups (HSDP, FSDP's ``HYBRID_SHARD``: shard in
      a node, replicate across nodes), the gradients' shards then all-reduced across replicas;
    * ``expert_parallel``: each mixture-of-experts layer's routed experts split that many ways
      over the data-parallel replicas (:func:`workloads.models.expert_sharded`; it divides
      ``data_parallel``): a chip holds and computes its experts for every replica's tokens
      routed there, after an all-to-all that dispatches them and before one that brings the
      results back (:func:`simulator.multichip.all_to_all_s`).  In training the expert
      gradients are reduced with the rest over all the replicas (their group is only
      ``data_parallel / expert_parallel``: pessimistic).
    """
    acc = accelerator if isinstance(accelerator, Accelerator) else load_accelerator(accelerator)
    for name, value in (("chips", chips), ("pipeline", pipeline), ("sequence", sequence),
                        ("data_parallel", data_parallel), ("expert_parallel", expert_parallel)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelError(f"{name}: expected a whole number ≥ 1, got {value!r}")
    if data_parallel % expert_parallel:
        raise ModelError(f"expert_parallel: the experts split over data-parallel replicas; expected a divisor of "
                         f"data_parallel ({data_parallel}), got {expert_parallel}")
    if zero not in ZERO_STAGES or isinstance(zero, bool):
        raise ModelError(f"zero: expected a ZeRO stage 0, 1, 2 or 3, got {zero!r}")
    if shard_group is not None:
        if isinstance(shard_group, bool) or not isinstance(shard_group, int) or shard_group < 1 \
                or (data_parallel * sequence) % shard_group:
            raise ModelError(f"shard_group: expected a whole number dividing the data-parallel group "
                             f"({data_parallel * sequence} chips), got {shard_group!r}")
        if zero != 3:
            raise ModelError("shard_group: hybrid sharding (HSDP) shards parameters, gradients and optimizer states "
                             "like ZeRO-3 inside each group; expected zero 3")
    if fp8_scaling not in FP8_RECIPES:
        raise ModelError(f"fp8_scaling: expected one of {', '.join(FP8_RECIPES)}, got {fp8_scaling!r}")
    if zero and phase != "train":
        raise ModelError("zero: partitions training state (optimizer states, gradients, parameters); "
                         "a prefill or decode step has none")
    formats = _formats(acc, dtype, kv_dtype)
    microbatches = min(pipeline, batch) if microbatches is None else microbatches
    if isinstance(microbatches, bool) or not isinstance(microbatches, int) or not 1 <= microbatches <= batch:
        raise ModelError(f"microbatches: expected a whole number from 1 to the batch ({batch}), got {microbatches!r}")
    if sequence > 1 and phase == "decode":
        raise ModelError("sequence: context parallelism splits a prompt (prefill or training); a decode step "
                         "has one token per sequence")
    if pipeline > m.layers:
        raise ModelError(f"pipeline: {pipeline} stages for {m.layers} layers: expected at most one stage per layer")
    share = chips * pipeline * sequence * data_parallel
    if share > 1 and acc.link is None:
        raise ModelError(f"{acc.name} has no link block: it cannot be one of {share} chips")
    whole, m = m, expert_sharded(sharded(m, chips), expert_parallel)  # one chip's share
    micro = math.ceil(batch / microbatches)  # sequences per micro-batch
    # accumulating gradients, one micro-batch's activations are live at a time; a training
    # pipeline runs 1F1B, whose first stage holds at most ``pipeline`` micro-batches' until their
    # backward (Narayanan et al., SC 2021, §2.2.1; GPipe would hold all of them)
    live = (micro * min(microbatches, pipeline) if pipeline > 1 else micro) if phase == "train" else batch
    held = memory_per_chip(m, seq_len, live, dtype, phase, recompute, pipeline, sequence, data_parallel, zero,
                           kv_dtype, chips, shard_group)
    if sum(held.values()) > acc.dram.capacity_bytes:
        parts = " + ".join(f"{k} {v / 1e9:.3g} GB" for k, v in held.items())
        raise ModelError(f"{m.name} at batch {batch} and context {seq_len:,} does not fit "
                         f"{acc.name}{f' (a {share}-way share)' if share > 1 else ''}: {parts} "
                         f"> {acc.dram.capacity_bytes / 1e9:.3g} GB of '{acc.dram.name}'")
    local = math.ceil(seq_len / sequence) if phase != "decode" else seq_len  # tokens per chip
    rows = []
    # a training step's weights are replicated over the data-parallel replicas and the context-
    # parallel ranks alike, whose gradients are partial sums over their tokens: that group of
    # ``data_parallel × sequence`` chips synchronises them, and ZeRO partitions over it (Megatron's
    # data-parallel group with context parallelism; torchtitan's FSDP mesh over dp_shard × cp)
    group = data_parallel * sequence
    shards = (shard_group or group) if zero else 1  # ZeRO: each chip updates its 1/D of the weights
    parts = components(m, phase, local, micro, recompute, optimizer_shards=shards, attention=attention)
    if phase == "train" and DTYPE_BYTES[dtype] == 1:  # the casts before the optimizer's update, the step's last
        parts = parts[:-1] + fp8_casts(parts, fp8_scaling) + parts[-1:]
    for part in parts:
        part = _formatted(part, formats)
        row = _row(part, acc, part.dtype, fidelity)
        rows += _context_parallel(row, part, acc, part.dtype, fidelity, sequence, seq_len, chips) \
            if sequence > 1 else [row]
    if chips > 1:
        elements, count = all_reduces(whole, phase, local, micro)
        nbytes = elements * DTYPE_BYTES[formats["activations"]]
        seconds = all_reduce_s(acc, nbytes, chips)
        rows.append(_waiting_row(f"all-reduce over {chips} chips (tensor parallel)", count, count * seconds,
                                 count * 2 * nbytes * link_energy_per_byte_j(acc, chips), acc))
    if phase == "train" and acc.host_bytes_per_s:
        # the data loader's worker processes prepare the next batch while the step runs (PyTorch's
        # DataLoader prefetches, num_workers · prefetch_factor batches ahead), so what the chip
        # waits for is the copy of its micro-batch: token ids and labels, int64
        nbytes = 2 * 8 * micro * local
        rows.insert(0, _waiting_row("the micro-batch to the chip (token ids and labels, int64, over the host link; "
                                    "loaded ahead by the data loader's workers)", 1, nbytes / acc.host_bytes_per_s,
                                    0.0, acc))
    if expert_parallel > 1:
        elements, count = all_to_alls(m, phase, local, micro)
        nbytes, stride = elements * DTYPE_BYTES[formats["activations"]], chips * sequence
        seconds = all_to_all_s(acc, nbytes, expert_parallel, stride)
        sent = (expert_parallel - 1) / expert_parallel * nbytes
        rows.append(_waiting_row(f"all-to-all over {expert_parallel} chips (expert parallel: dispatch and combine)",
                                 count, count * seconds,
                                 count * sent * link_energy_per_byte_j(acc, expert_parallel, stride), acc))
    table = pd.DataFrame(rows)
    table[list(ENERGY_PARTS)] = table[list(ENERGY_PARTS)].fillna(0.0)
    if phase == "train" and group > 1:
        dp_rows = _data_parallel_rows(table, acc, m, dtype, pipeline, microbatches, group, zero, stride=chips,
                                      shard_group=shard_group)
    if pipeline > 1:
        activations = micro * (1 if phase == "decode" else local) * m.d_model * DTYPE_BYTES[formats["activations"]]
        across = spans_nodes(acc, pipeline, chips * sequence * data_parallel)
        table = _pipelined(table, acc, pipeline, microbatches, activations * (2 if phase == "train" else 1), across)
    elif microbatches > 1:  # one after another on the same chips (gradient accumulation): one optimizer step
        table = _repeated(table, microbatches)
    table = table.drop(columns="per_step")
    if phase == "train" and group > 1:
        table = pd.concat([table, pd.DataFrame(dp_rows)], ignore_index=True)
    table["share"] = table["latency_s"] / table["latency_s"].sum()
    tokens = data_parallel * batch * (1 if phase == "decode" else seq_len)
    total = float(table["latency_s"].sum())
    # energy: the rows are one chip's (a tensor shard of one stage, one sequence chunk, one replica)
    energy = share * float(table["energy_j"].sum())
    parts = {k: share * float(table[k].sum()) for k in ENERGY_PARTS}
    flops = model_flops(whole, phase, seq_len, data_parallel * batch)
    peak = _peak_flops_per_s(acc, dtype)
    totals = {"model": m.name, "accelerator": acc.name, "chips": share,
              "tensor_parallel": chips, "pipeline_stages": pipeline, "microbatches": microbatches,
              "sequence_parallel": sequence, "data_parallel": data_parallel, "expert_parallel": expert_parallel,
              "zero": zero, "phase": phase,
              "seq_len": seq_len, "batch": batch, "dtype": dtype, "activation_dtype": formats["activations"],
              **({"kv_dtype": formats["kv cache"]} if phase != "train" and whole.count("attention") else {}),
              "latency_s": total, "tokens": tokens, "tokens_per_s": tokens / total,
              "model_flops": flops, "mfu": flops / total / (share * peak),
              "hfu": float(table["flops"].sum()) / total / peak,
              "energy_j": energy, "energy_per_token_j": energy / tokens, **parts,
              "average_power_w": energy / total / share, "peak_power_w": float(table["peak_power_w"].max()),
              "usd_per_million_tokens": usd_per_million_tokens(acc, share, total, energy, tokens),
              "parameters": parameters(whole), **{f"memory_{k.replace(' ', '_')}_bytes": v for k, v in held.items()}}
    return table, totals


def simulate_generation(m: Model, accelerator: Accelerator | str, prompt: int, output: int, batch: int = 1,
                        dtype: str = "bf16", **layout) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """``(prefill table, decode table, totals)`` of serving ``batch`` sequences of ``prompt``
    tokens that each generate ``output`` more: the prefill, then ``output`` decode steps, each
    costed as the step at the middle of the generation (context ``prompt + output // 2``).
    ``layout``: what :func:`simulate_model` takes besides (chips, pipeline, data_parallel, …).

    The totals give time to first token, time per output token, the energy of the whole run by
    component, per token (prompt and output) and per output token — the figure serving
    benchmarks report (ML.ENERGY: "energy per output token", prefill included) — and one
    chip's average power over the run."""
    prefill, first = simulate_model(m, accelerator, "prefill", prompt, batch, dtype, **layout)
    context = prompt + output // 2
    decode, step = simulate_model(m, accelerator, "decode", context, batch, dtype, **layout)
    replicas = layout.get("data_parallel", 1)
    total_s = first["latency_s"] + output * step["latency_s"]
    parts = {k: first[k] + output * step[k] for k in ENERGY_PARTS}
    energy = first["energy_j"] + output * step["energy_j"]
    generated = replicas * batch * output
    totals = {"model": m.name, "accelerator": first["accelerator"], "chips": first["chips"], "batch": batch,
              "prompt_tokens": prompt, "output_tokens": output, "dtype": dtype, "decode_context": context,
              "time_to_first_token_s": first["latency_s"], "time_per_output_token_s": step["latency_s"],
              "decode_tokens_per_s": generated / (output * step["latency_s"]) if output else 0.0,
              "total_s": total_s, "energy_j": energy, **parts,
              "energy_per_token_j": energy / (replicas * batch * (prompt + output)),
              "energy_per_output_token_j": energy / generated if output else float("nan"),
              "average_power_w": energy / total_s / first["chips"],
              "peak_power_w": max(first["peak_power_w"], step["peak_power_w"]),
              "prefill": first, "decode": step}
    return prefill, decode, totals


def _formats(acc: Accelerator, dtype: str, kv_dtype: str | None) -> dict[str, str]:
    """The format of each kind of operand (:attr:`Component.operands`): ``dtype`` for the
    weight GEMMs, refused in one line where the matrix unit has no rate for an 8-bit format."""
    for name, value in (("dtype", dtype), ("kv_dtype", kv_dtype)):
        if value is not None and value not in DTYPE_BYTES:
            raise ModelError(f"{name}: expected one of {', '.join(DTYPE_BYTES)}, got {value!r}")
    if DTYPE_BYTES[dtype] == 1 and acc.matrix_peak_flops_per_s(dtype) is None:
        listed = ", ".join(acc.matrix.macs_per_cycle) if acc.matrix else "none: it has no matrix unit"
        raise ModelError(f"dtype: {acc.name} has no {dtype} matrix rate for the model's GEMMs (it lists {listed})")
    activations = activation_dtype(acc, dtype)
    return {"weights": dtype, "activations": activations, "kv cache": kv_dtype or activations}


def _formatted(part, formats: dict[str, str]):
    """``part`` with its format set: its own (the optimizer's fp32), else its operands'.  A KV
    cache in a format narrower than the activations is read as such and dequantised to them in
    the kernel (vLLM's fp8 KV cache): the read is costed at the activations' format over the
    cache's bytes (as the positions that many bytes hold in the activations' format; the
    arithmetic a decode step does per position is negligible beside its reads)."""
    if part.dtype is not None:
        return part
    fmt = formats[part.operands]
    if part.operands == "kv cache" and fmt != formats["activations"]:
        act, w = formats["activations"], part.workload
        positions = math.ceil(w.seq_len * DTYPE_BYTES[fmt] / DTYPE_BYTES[act])
        return dataclasses.replace(part, workload=w.with_params(seq_len=positions), dtype=act)
    return dataclasses.replace(part, dtype=fmt)


def _peak_flops_per_s(acc: Accelerator, dtype: str) -> float:
    """One chip's peak for the model's GEMMs: the matrix unit's at ``dtype`` (TF32 for fp32),
    else the vector unit's."""
    return (acc.matrix_peak_flops_per_s(dtype) or acc.matrix_peak_flops_per_s("tf32" if dtype == "fp32" else dtype)
            or acc.peak_flops_per_s(dtype))


def model_flops(m: Model, phase: str, seq_len: int, batch: int) -> float:
    """The flops a pass must do by the model's arithmetic, whatever the hardware recomputes
    (MFU's numerator; Chowdhery et al., PaLM, arXiv 2204.02311, Appendix B): per token 6N for a
    training step's forward and backward (Kaplan et al., arXiv 2001.08361, §2.1) and 2N for a
    forward, N the parameters that multiply (those a token's experts use; the LM head but not
    the embedding lookup), plus attention's 12·L·H·Q·T in training (4·L·H·Q·T forward) — L
    attention layers, H heads of dimension Q, T the context (PaLM counts every key, causal or
    not).  Recurrent mixers' state updates are left out, as PaLM's formula has none."""
    n = parameters(m, active=True) - (0 if m.tied_embeddings else m.vocab * m.d_model)
    per_token, attention = (6, 12) if phase == "train" else (2, 4)
    tokens = batch * (1 if phase == "decode" else seq_len)
    return float(tokens * (per_token * n + attention * m.count("attention") * m.heads * m.head_dim * seq_len))


def _data_parallel_rows(table: pd.DataFrame, acc: Accelerator, m: Model, dtype: str, pipeline: int,
                        microbatches: int, replicas: int, zero: int, stride: int,
                        shard_group: int | None = None) -> list[dict]:
    """What synchronising ``replicas`` data-parallel replicas adds to one chip's training step
    (``table``: one micro-batch's pass on this chip's tensor shard, ``m``), as the time it
    leaves exposed after the compute it overlaps.  Ψ is the chip's share of the parameters
    (of its pipeline stage), its gradients in 16 bits; ring collectives over the group — the
    data-parallel replicas and, inside each, the context-parallel ranks — ``stride`` chips
    apart (the tensor-parallel group inside it).  The
    backward takes 2/3 of a micro-batch's layers' time (twice the forward's flops, Kaplan et
    al., §2.1), recomputation included in it.  While a collective runs it holds the link's
    ``collective_cores`` (NCCL's thread blocks, one per channel, never sharing an SM with a
    compute kernel), so the compute it overlaps runs on the other cores: compute of b seconds
    overlapped by c seconds of collectives ends after max(c, b + k·min(b, c)) instead of
    max(c, b), k the share of the cores taken — a row of its own (:func:`_overlap_slowdown_s`).

    * ZeRO 0 (PyTorch DDP): the gradients all-reduced once per step (``no_sync`` while
      accumulating) in 25 MB buckets as the last micro-batch's backward produces them, one
      after another on the link: with n buckets of a seconds each, ready every b = B/n seconds
      of a backward of B, the last finishes max(B + a, b + n·a) after the backward starts —
      exposed max(a, b + n·a − B);
    * ZeRO 1: the same buckets reduce-scattered (half an all-reduce each); after the optimizer
      step the updated parameters all-gathered, exposed (DeepSpeed's stage 1 and 2);
    * ZeRO 2: as 1, but the reduce-scatter in every micro-batch's backward (no full gradient
      is kept to accumulate into);
    * ZeRO 3 / FSDP: per layer, every micro-batch, its parameters all-gathered before its
      forward and again before its backward, and its gradients reduce-scattered after it
      (3Ψ in all, ZeRO §7.2.2); each gather prefetched during the previous layer's compute,
      so a layer exposes only what its collectives take beyond its compute, and the first
      gather and the last reduce-scatter are exposed whole;
    * HSDP (ZeRO-3 over ``shard_group`` chips, replicated across the groups): the gathers and
      reduce-scatters over the shard group, and each layer's gradient shard all-reduced across
      the replicas (chips ``shard_group × stride`` apart) after its reduce-scatter, in the same
      backward (FSDP's ``HYBRID_SHARD``)."""
    per_step = table["per_step"].eq(True)
    layers_s = float(table["latency_s"][~per_step].sum()) / pipeline  # one micro-batch, this stage
    recomputed = table["component"].str.startswith("recompute: ")
    forward_s = float(table["latency_s"][~per_step & ~recomputed].sum()) / pipeline / 3
    backward_s = layers_s - forward_s
    psi = parameters(m) / pipeline
    grad_bytes = psi * 2
    d = replicas
    energy_per_byte = link_energy_per_byte_j(acc, d, stride)
    rows = []

    def row(name: str, count: int, seconds: float, sent_bytes: float) -> dict:
        return _waiting_row(name, count, seconds, sent_bytes * energy_per_byte, acc)

    ring = lambda nbytes, kind: ring_collective_s(acc, nbytes, d, kind, stride)  # noqa: E731
    sent = (d - 1) / d  # of a collective's buffer, each chip sends per all-gather or reduce-scatter
    if zero in (0, 1, 2):
        n = max(1, math.ceil(grad_bytes / DDP_BUCKET_BYTES))
        kind = "all-reduce" if zero == 0 else "reduce-scatter"
        a = ring(grad_bytes / n, kind)
        exposed = max(a, backward_s / n + n * a - backward_s)
        times = microbatches if zero == 2 else 1
        rows.append(row(f"gradient {kind} over {d} data-parallel chips ({n} buckets of ≤ 25 MB, overlapped with the "
                        f"backward; exposed)", times, times * exposed,
                        times * grad_bytes * sent * (2 if zero == 0 else 1)))
        # the buckets run from the first's readiness to the end of their traffic, over the backward's rest
        rows += _overlap_slowdown(acc, times, [(backward_s - backward_s / n, min(n * a, backward_s - backward_s / n))])
        if zero:
            rows.append(row(f"parameter all-gather over {d} data-parallel chips after the optimizer step (ZeRO-{zero})", 1,
                            ring(psi * 2, "all-gather"), psi * 2 * sent))
        return rows
    layers = math.ceil(m.layers / pipeline)
    layer_bytes = psi * 2 / layers
    shard = shard_group or d
    across = d // shard  # HSDP's replicas (1: FSDP over the whole group)
    if shard < d:
        d, sent = shard, (shard - 1) / shard
        energy_per_byte = link_energy_per_byte_j(acc, shard, stride)
    gather, scatter = ring(layer_bytes, "all-gather"), ring(layer_bytes, "reduce-scatter")
    # HSDP: the layer's gradient shard all-reduced across the replicas, one group apart
    replicate = ring_collective_s(acc, layer_bytes / shard, across, "all-reduce", stride * shard) if across > 1 else 0.0
    f, b = forward_s / layers, backward_s / layers
    forward = gather + (layers - 1) * max(0.0, gather - f)
    backward = layers * max(0.0, gather + scatter + replicate - b) + scatter + replicate
    how = f"HSDP: sharded over {shard}, replicated {across} times" if across > 1 else "ZeRO-3/FSDP"
    rows.append(row(f"parameter all-gathers over {d} data-parallel chips, forward ({how}, per layer, prefetched; "
                    "exposed)", microbatches * layers, microbatches * forward, microbatches * psi * 2 * sent))
    replicated_bytes = 2 * (across - 1) / across * psi * 2 / shard if across > 1 else 0.0
    rows.append(_waiting_row(
        f"parameter all-gathers and gradient reduce-scatters over {d} data-parallel chips"
        + (f", and the gradient shards all-reduced across {across} replicas" if across > 1 else "")
        + f", backward ({how}, per layer; exposed)", microbatches * layers, microbatches * backward,
        microbatches * (2 * psi * 2 * sent * energy_per_byte
                        + replicated_bytes * link_energy_per_byte_j(acc, across, stride * shard)), acc))
    # each layer's compute overlapped by the next layer's gather (forward), and by its own
    # gathers, reduce-scatter and replication (backward)
    rows += _overlap_slowdown(acc, microbatches, [(f, gather)] * (layers - 1)
                              + [(b, gather + scatter + replicate)] * layers)
    return rows


def _overlap_slowdown_s(acc: Accelerator, spans: list[tuple[float, float]]) -> float:
    """Seconds the compute spans ``(b, c)`` — b seconds of compute overlapped by c seconds of
    collectives — take beyond max(b, c) when the collectives hold the link's ``collective_cores``
    of the chip's cores (see :func:`_data_parallel_rows`)."""
    k = acc.link.collective_cores / acc.cores if acc.link is not None else 0.0
    return sum(max(c, b + k * min(b, c)) - max(c, b) for b, c in spans) if k else 0.0


def _overlap_slowdown(acc: Accelerator, times: int, spans: list[tuple[float, float]]) -> list[dict]:
    """The row of :func:`_overlap_slowdown_s` (none where the collectives take no cores)."""
    seconds = _overlap_slowdown_s(acc, spans)
    if not seconds:
        return []
    held = acc.link.collective_cores
    return [_waiting_row(f"compute overlapped by those collectives, on {acc.cores - held} of {acc.cores} cores "
                         f"(the collectives' kernels hold {held})", times, times * seconds, 0.0, acc,
                         bound="compute")]


#: what context parallelism splits along the sequence (each chip holds its own tokens')
_SPLIT_BY_SEQUENCE = ("KV cache", "activations")


def memory_per_chip(m: Model, seq_len: int, batch: int, dtype: str, phase: str,
                    recompute: bool | str | float = False, pipeline: int = 1, sequence: int = 1,
                    data_parallel: int = 1, zero: int = 0, kv_dtype: str | None = None, chips: int = 1,
                    shard_group: int | None = None) -> dict[str, float]:
    """One chip's memory, by kind (``m`` already its tensor-parallel share): its stage's
    layers, its part of the sequence, and under ZeRO its 1/D of what the stage partitions
    over the D = ``data_parallel × sequence`` chips that hold the same weights (Rajbhandari et al., SC 2020, §5.1, with Ψ this
    chip's parameters and K = 12): stage 1 the optimizer states, (2 + 2 + K/D)Ψ; stage 2 and
    the gradients, (2 + (2 + K)/D)Ψ; stage 3 and the parameters, (2 + 2 + K)Ψ/D — plus, at
    stage 3, the whole parameters of the layer being computed and of the next, prefetched
    (FSDP's ``limit_all_gathers`` keeps two in flight).  A training step's activations are
    also split over the ``chips`` of its tensor-parallel group: with tensor parallelism the
    frameworks shard the layer norms' and dropouts' activations along the sequence too
    (sequence parallelism, Korthikanti et al., arXiv 2205.05198, §4.2.2 and Eq. 4: 34·s·b·h/t
    per layer; Megatron-LM's ``--sequence-parallel``, torchtitan's ``SequenceParallel``)."""
    held = {k: v / pipeline / (sequence if k in _SPLIT_BY_SEQUENCE else 1)
              / (chips if phase == "train" and k == "activations" else 1)
            for k, v in memory_bytes(m, seq_len, batch, dtype, phase, recompute, kv_dtype).items()}
    group = data_parallel * sequence
    if phase != "train" or group == 1 or zero == 0:
        return held
    partitioned = ("optimizer states", "gradients", "weights")[:zero]
    over = shard_group or group  # HSDP partitions over its shard group only
    out = {k: v / over if k in partitioned else v for k, v in held.items()}
    if zero == 3:
        out["gathered layer weights (ZeRO-3)"] = 2 * held["weights"] / math.ceil(m.layers / pipeline)
    return out


def largest_fit(m: Model, accelerator: Accelerator | str, phase: str, seq_len: int, batch: int = 1,
                dtype: str = "bf16", recompute: bool | str | float = False, chips: int = 1, pipeline: int = 1,
                sequence: int = 1, data_parallel: int = 1, zero: int = 0,
                kv_dtype: str | None = None, expert_parallel: int = 1,
                shard_group: int | None = None) -> dict[str, int | None]:
    """The largest batch that fits the chips' DRAM at context ``seq_len``, and the longest
    context that fits at ``batch`` (None: no limit — a recurrent model's state does not grow;
    0: not even one), as :func:`simulate_model` lays the model out."""
    acc = accelerator if isinstance(accelerator, Accelerator) else load_accelerator(accelerator)
    share = expert_sharded(sharded(m, chips), expert_parallel)
    room = acc.dram.capacity_bytes

    def fits(t: int, b: int) -> bool:
        return sum(memory_per_chip(share, t, b, dtype, phase, recompute, pipeline, sequence, data_parallel, zero,
                                   kv_dtype, chips, shard_group).values()) <= room

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


#: a pass's energy by component (one chip's, summed over its rows): what its kernels' actions
#: draw (:mod:`simulator.energy`), the links, and the baseline and static power over all of it —
#: links and pipeline bubbles included, as the chips keep drawing while they wait
ENERGY_PARTS = tuple(COMPONENTS.values())


def _waiting_row(name: str, count: int, seconds: float, link_j: float, acc: Accelerator, bound: str = "link") -> dict:
    """A row in which the chip waits on a link (or a pipeline bubble) for ``seconds``: the
    link's ``link_j``, and the chip's baseline and static power meanwhile."""
    static, busy = acc.static_power_w, power.baseline_w(acc)
    parts = {"energy_compute_j": 0.0, "energy_onchip_j": 0.0, "energy_dram_j": 0.0, "energy_link_j": link_j,
             "energy_baseline_j": (busy - static) * seconds, "static_energy_j": static * seconds}
    return {"component": name, "count": count, "latency_s": seconds, "energy_j": sum(parts.values()), **parts,
            "peak_power_w": busy, "dram_bytes": 0.0, "flops": 0.0, "bound": bound}


def _row(part, acc: Accelerator, dtype: str, fidelity: str) -> dict:
    planned = schedule(part.workload, part.algorithm, part.dtype or dtype, impl=part.impl, direction=part.direction)
    result = simulate(planned, acc, fidelity=fidelity)
    n = part.count
    return {"component": part.name, "count": n, "latency_s": n * result.latency_s, "energy_j": n * result.energy_j,
            **{k: n * getattr(result, k) for k in ENERGY_PARTS if k != "energy_link_j"}, "energy_link_j": 0.0,
            "peak_power_w": result.peak_power_w, "dram_bytes": n * result.dram_bytes,
            "flops": n * result.flops, "bound": _bound(result), "per_step": part.per_step}


def _context_parallel(row: dict, part, acc: Accelerator, dtype: str, fidelity: str, chips: int,
                      seq_len: int, stride: int = 1) -> list[dict]:
    """A component's row under context parallelism over ``chips`` (its row at the local
    length given; the group ``stride`` chips apart, the tensor-parallel group inside it):
    attention becomes ring attention over the whole sequence; a recurrent mixer adds its
    carries' scan across chips; other pieces are per token, as they are."""
    w = part.workload
    across = spans_nodes(acc, chips, stride)
    if w.family == "attention":
        whole = _row(dataclasses.replace(part, workload=w.with_params(seq_len=seq_len)), acc, dtype, fidelity)
        e = DTYPE_BYTES[part.dtype or dtype]
        block = w.batch * w.seq_len * 2 * w.heads * w.state * e * (2 if part.direction != "fwd" else 1)
        compute, passing = whole["latency_s"] / chips, chips * part.count * carry_hop_s(acc, block, across)
        link_j = (chips - 1) * part.count * block * link_energy_per_byte_j(acc, chips, stride)
        return [{**whole, **{k: whole[k] / chips for k in ENERGY_PARTS}, "energy_link_j": link_j,
                 "component": f"{part.name}, ring over {chips} chips", "latency_s": max(compute, passing),
                 "energy_j": whole["energy_j"] / chips + link_j,
                 "dram_bytes": whole["dram_bytes"] / chips, "flops": whole["flops"] / chips,
                 "bound": "link" if passing > compute else whole["bound"]}]
    try:
        carry_element(w, dtype)
    except WorkloadError:
        return [row]  # a per-token piece
    exchange = carry_exchange(w.with_params(seq_len=seq_len), acc, chips, dtype=part.dtype or dtype,
                              outputs_only=True)
    passes = part.count * (2 if part.direction != "fwd" else 1)  # the backward scans in reverse
    waiting = _waiting_row(f"{part.name}: carries across {chips} chips", passes, passes * exchange.carry_s,
                           passes * exchange.link_bytes * acc.link.energy_per_byte_j / chips, acc)
    fixups = passes * exchange.fixup_energy_j  # the fix-up kernel's own energy, all of it counted as compute
    return [row, {**waiting, "latency_s": passes * (exchange.carry_s + exchange.fixup_s),
                  "energy_j": waiting["energy_j"] + fixups,
                  "energy_compute_j": waiting["energy_compute_j"] + fixups}]


def _pipelined(table: pd.DataFrame, acc: Accelerator, stages: int, microbatches: int,
               activation_bytes: float, across_nodes: bool = False) -> pd.DataFrame:
    """One micro-batch's pass through the whole model (``table``) as a pipeline: each chip
    runs its stage's share for every micro-batch, plus the fill and drain of
    ``stages − 1`` slots and the activations handed between stages (over the scale-out
    network when the stages are in different nodes: ``across_nodes``)."""
    hop = carry_hop_s(acc, activation_bytes, across_nodes)
    energy_per_byte = acc.link.inter_node.energy_per_byte_j if across_nodes else acc.link.energy_per_byte_j
    per_step = table["per_step"].eq(True)
    slot = float(table["latency_s"][~per_step].sum()) / stages + hop
    scaled = _repeated(table, microbatches, share=1 / stages)
    extra = pd.DataFrame([
        _waiting_row(f"activations between {stages} pipeline stages (point to point)", microbatches,
                     microbatches * hop, microbatches * activation_bytes * energy_per_byte, acc),
        _waiting_row(f"pipeline fill and drain ({stages - 1} stage slots)", stages - 1, (stages - 1) * slot, 0.0,
                     acc, bound="depth")])
    return pd.concat([scaled, extra], ignore_index=True)


_SUMMED = ("latency_s", "energy_j", "dram_bytes", "flops", *ENERGY_PARTS)


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
