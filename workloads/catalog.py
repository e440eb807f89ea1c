"""Named workloads with published model dimensions, and the schedule of each algorithm.

A :class:`Workload` is a recurrence family plus its dimensions: one layer's forward pass over
``batch`` sequences of ``seq_len`` steps.  :func:`schedule` turns a workload, an algorithm and
a dtype into the :class:`Schedule` the simulator costs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

from workloads.backward import DIRECTIONS, STATES, backward_stages
from workloads.errors import WorkloadError
from workloads.families import DIMENSIONS, FAMILIES, measured_iterations
from workloads.implementations import IMPLEMENTATIONS, LAUNCHES
from workloads.schedule import DTYPE_BYTES, Schedule

__all__ = ["Workload", "WorkloadError", "CATALOG", "PARAMS", "get_workload", "schedule", "algorithms"]


#: integer dimensions a user may override with ``-p KEY=VALUE``
PARAMS = ("seq_len", "batch", "heads", "state", "value", "householders", "inputs",
          "m", "n", "k", "elements", "flops_per_element")


@dataclass(frozen=True)
class Workload:
    """One layer of a model (or one primitive operation).

    ``state`` is the per-head state or key size (K, d, or the channels of a diagonal head),
    ``value`` the value size V of matrix-state families; ``householders`` is DeltaProduct's
    n_h; ``inputs`` a nonlinear cell's input width (0: equal to ``state``) or an elementwise
    op's operand count; ``m, n, k`` a GEMM's shape; ``elements`` an elementwise op's or a
    reduction's length.
    """

    name: str
    family: str
    seq_len: int = 1
    batch: int = 1
    heads: int = 1
    state: int = 1
    value: int = 1
    householders: int = 1
    inputs: int = 0
    m: int = 1
    n: int = 1
    k: int = 1
    elements: int = 1
    flops_per_element: int = 1
    description: str = ""
    source: str = ""

    def with_params(self, **params: int) -> Workload:
        """A copy with integer dimensions overridden (names in :data:`PARAMS`)."""
        dims = DIMENSIONS.get(self.family, PARAMS)
        for key, value in params.items():
            if key not in PARAMS:
                raise WorkloadError(
                    f"workload {self.name!r}: unknown parameter {key!r}, expected one of {', '.join(PARAMS)}")
            if key not in dims and key != "seq_len":  # T: swept across mixed workloads
                raise WorkloadError(
                    f"workload {self.name!r}: parameter {key!r} is not a dimension of family "
                    f"{self.family!r}, expected one of {', '.join(dims)}")
            low = 0 if key == "inputs" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise WorkloadError(
                    f"workload {self.name!r}: {key} must be an integer ≥ {low}, got {value!r}")
        return dataclasses.replace(self, **params)


_MAMBA = "Gu & Dao, arXiv 2312.00752, and state-spaces/mamba pretrained configs: "

CATALOG: dict[str, Workload] = {w.name: w for w in (
    Workload("mamba-130m", "diagonal", seq_len=2048, heads=1536, state=16,
             description="Mamba-1 130M layer: d_inner 2·768 channels × N = 16, a and b from DRAM",
             source=_MAMBA + "d_model 768, 24 layers, expand 2, d_state 16"),
    Workload("mamba-1.4b", "diagonal", seq_len=2048, heads=4096, state=16,
             description="Mamba-1 1.4B layer: d_inner 2·2048 × N = 16",
             source=_MAMBA + "d_model 2048, 48 layers, expand 2, d_state 16"),
    Workload("mamba-2.8b", "diagonal", seq_len=2048, heads=5120, state=16,
             description="Mamba-1 2.8B layer: d_inner 2·2560 × N = 16",
             source=_MAMBA + "d_model 2560, 64 layers, expand 2, d_state 16"),
    Workload("mamba2-2.7b", "ssd", seq_len=2048, heads=80, state=128, value=64,
             description="Mamba-2 2.7B layer: 80 heads of P = 64, d_state N = 128",
             source="Dao & Gu, arXiv 2405.21060; state-spaces/mamba mamba2-2.7b config: "
                    "d_model 2560, 64 layers, expand 2, headdim 64, d_state 128"),
    Workload("gla-1.3b", "gla", seq_len=2048, heads=4, state=256, value=512,
             description="GLA 1.3B layer: 4 heads, K = 256, V = 512, a gate per key channel",
             source="Yang et al., arXiv 2312.06635 (1.3B: d_model 2048, 24 layers, 4 heads, "
                    "expand_k 0.5, expand_v 1)"),
    Workload("retnet-1.3b", "ssd", seq_len=2048, heads=8, state=256, value=512,
             description="RetNet 1.3B retention layer: 8 heads, K = 256, V = 512, a fixed decay "
                         "per head (costed as the scalar-decay scan, reading the decay per step)",
             source="Sun et al., arXiv 2307.08621 (1.3B: d_model 2048, 24 layers, 8 heads, "
                    "value dim 2·d_model)"),
    Workload("linear-attention-1.3b", "ssd", seq_len=2048, heads=16, state=128, value=128,
             description="causal linear attention (no decay: α = 1) at DeltaNet-1.3B's head sizes",
             source="Katharopoulos et al., arXiv 2006.16236; head sizes of DeltaNet 1.3B"),
    Workload("deltanet-1.3b", "deltanet", seq_len=2048, heads=16, state=128, value=128,
             description="DeltaNet 1.3B layer: 16 heads, K = V = 128",
             source="Yang et al., arXiv 2406.06484 (1.3B: d_model 2048, 24 layers, 16 heads)"),
    Workload("gated-deltanet-1.3b", "gated-deltanet", seq_len=2048, heads=6, state=256, value=512,
             description="Gated DeltaNet 1.3B layer: 6 heads, K = 256, V = 512",
             source="Yang, Kautz & Hatamizadeh, arXiv 2412.06464; fla-org/flash-linear-attention "
                    "GatedDeltaNet layer defaults (head_dim 256, num_heads 6, expand_v 2) at d_model 2048"),
    Workload("deltaproduct-1.3b", "deltaproduct", seq_len=2048, heads=16, state=128, value=128,
             householders=2,
             description="DeltaProduct with n_h = 2 Householders per token at DeltaNet-1.3B's head sizes",
             source="Siems et al., arXiv 2502.10297 (n_h ∈ {1, 2, 3}); head sizes of DeltaNet 1.3B"),
    Workload("rwkv7-1.5b", "rwkv7", seq_len=2048, heads=32, state=64, value=64,
             description="RWKV-7 1.5B layer: 32 heads of size 64",
             source="Peng et al., arXiv 2503.14456 (RWKV-7 1.5B: 24 layers, d_model 2048, head size 64)"),
    Workload("xlstm-7b", "mlstm", seq_len=8192, heads=8, state=256, value=512,
             description="xLSTM 7B mLSTM layer: 8 heads, K = 256, V = 512, exponential input gate",
             source="Beck et al., arXiv 2503.14376; NX-AI/xLSTM-7b config: embedding_dim 4096, "
                    "num_heads 8, qk_dim_factor 0.5, v_dim_factor 1.0, chunk_size 64"),
    Workload("long-conv-d1024", "long-conv", seq_len=8192, heads=1024,
             description="one long convolution over 1024 channels, a filter of the sequence's "
                         "length each: a Hyena operator's convolution at d_model 1024",
             source="synthetic shape; operator of Poli et al., arXiv 2302.10866; FlashFFTConv "
                    "(Fu et al., arXiv 2311.05908) for the monarch algorithm"),
    Workload("s5-pd", "permutation-diagonal", seq_len=4096, heads=1024, state=5,
             description="permutation-diagonal LRNN on 5 states: the S5 word problem, 1024 copies",
             source="Merrill et al., arXiv 2603.03612 (PD LRNNs are NC¹-complete)"),
    Workload("iterated-3x3", "dense", seq_len=4096, heads=1024, state=3,
             description="iterated products of 3×3 matrices, 1024 copies: the PNC¹-complete core of DPLR LRNNs",
             source="Merrill et al., arXiv 2603.03612"),
    Workload("diagonal-d64", "diagonal", seq_len=4096, state=64,
             description="one narrow diagonal head (64 channels, batch 1): the step chain, "
                         "not bandwidth, binds a sequential scan",
             source="synthetic shape"),
    Workload("lstm-2048", "lstm", seq_len=2048, state=2048, inputs=2048,
             description="LSTM layer of width 2048, comparable to the 1.3B linear RNNs' d_model",
             source="synthetic shape; cell of Hochreiter & Schmidhuber (1997)"),
    Workload("gru-2048", "gru", seq_len=2048, state=2048, inputs=2048,
             description="GRU layer of width 2048", source="synthetic shape; cell of Cho et al. (2014)"),
    Workload("elman-2048", "elman", seq_len=2048, state=2048, inputs=2048,
             description="Elman (tanh) RNN layer of width 2048", source="synthetic shape"),
    Workload("llama2-7b-attention", "attention", seq_len=4096, heads=32, state=128, value=128,
             description="Llama-2-7B attention layer: 32 heads of 128",
             source="Touvron et al., arXiv 2307.09288 (d_model 4096, 32 heads, context 4096)"),
    Workload("gemm-4096", "gemm", m=4096, n=4096, k=4096, description="square GEMM 4096³",
             source="primitive"),
    Workload("elementwise-256m", "elementwise", elements=1 << 28, inputs=2, flops_per_element=2,
             description="a·x + y over 2^28 elements (stream triad)", source="primitive"),
    Workload("reduction-256m", "reduction", elements=1 << 28, description="sum of 2^28 elements",
             source="primitive"),
)}


def get_workload(name: str) -> Workload:
    try:
        return CATALOG[name]
    except KeyError:
        raise WorkloadError(f"unknown workload {name!r}: expected one of {', '.join(CATALOG)}") from None


def algorithms(workload: Workload) -> tuple[str, ...]:
    """The algorithms the workload's family can run."""
    return FAMILIES[workload.family].algorithms


def schedule(workload: Workload, algorithm: str | None = "sequential", dtype: str = "fp32", *,
             direction: str = "fwd", states: str = "store", impl: str | None = None,
             launch: str = "eager", tf32: bool = False, **options) -> Schedule:
    """The schedule of ``workload`` under ``algorithm`` at ``dtype``: its forward pass, or
    with ``direction="fwd+bwd"`` a training step's forward and backward (see
    :mod:`workloads.backward`; ``states`` says whether the backward reads the states the
    forward stored or recomputes them).

    ``options``: ``chunk``, ``inner``, ``outer`` for the chunked circuit; ``chunk`` for the
    chunked matmul forms; ``block`` and ``causal`` for attention; ``gated`` and ``circular`` for
    long convolutions; ``tile`` for GEMM; ``circuit`` and
    ``iterations`` for DEER / quasi-DEER (iterations default to the count measured by running
    the kernel with recurrent weights of ``weight_scale``, see
    :func:`workloads.families.measured_iterations`; the schedule's meta says how it was found).

    ``impl`` costs the workload as a shipped kernel runs it; ``launch`` (``eager`` or
    ``graph``) says whether each call's host side is paid, as an eager loop pays it, or hidden
    by a CUDA graph (see :mod:`workloads.implementations`).

    ``tf32`` lets an fp32 schedule's matrix stages multiply on the matrix unit in TF32 (as
    cuBLAS does under PyTorch's ``torch.backends.cuda.matmul.allow_tf32`` and cuDNN under
    ``torch.backends.cudnn.allow_tf32``, the latter on by default); without it they run at the
    unit's fp32 rate, or on the vector unit where it has none.
    """
    if workload.family not in FAMILIES:
        raise WorkloadError(f"workload {workload.name!r}: unknown family {workload.family!r}, "
                            f"expected one of {', '.join(FAMILIES)}")
    if dtype not in DTYPE_BYTES:
        raise WorkloadError(f"dtype: expected one of {', '.join(DTYPE_BYTES)}, got {dtype!r}")
    if direction not in DIRECTIONS:
        raise WorkloadError(f"direction: expected one of {', '.join(DIRECTIONS)}, got {direction!r}")
    if states not in STATES:
        raise WorkloadError(f"states: expected one of {', '.join(STATES)}, got {states!r}")
    if launch not in LAUNCHES:
        raise WorkloadError(f"launch: expected one of {', '.join(LAUNCHES)}, got {launch!r}")
    if tf32 and dtype != "fp32":
        raise WorkloadError(f"tf32: applies to fp32 operands, not dtype {dtype!r}")
    if tf32:
        return _in_tf32(schedule(workload, algorithm, dtype, direction=direction, states=states, impl=impl,
                                 launch=launch, **options))
    if impl is not None:
        return _implementation(workload, impl, algorithm, dtype, direction, launch, options)
    family = FAMILIES[workload.family]
    if algorithm not in family.algorithms:
        raise WorkloadError(f"algorithm: family {family.name!r} runs {', '.join(family.algorithms)}; "
                            f"got {algorithm!r}")
    if algorithm in ("deer", "quasi-deer") and "iterations" not in options:
        scale = options.pop("weight_scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale < 1e3:
            raise WorkloadError(f"weight_scale: expected a number in (0, 1000), got {scale!r}")
        options["iterations"], options["iterations_how"] = measured_iterations(workload, algorithm, float(scale))
    return _schedule(workload, algorithm, dtype, direction, states, tuple(sorted(options.items())))


def _in_tf32(sched: Schedule) -> Schedule:
    """``sched`` with its matrix stages allowed to multiply fp32 operands in TF32."""
    stages = tuple(dataclasses.replace(s, tf32=True) if s.unit == "matrix" else s for s in sched.stages)
    return dataclasses.replace(sched, name=sched.name + " tf32", stages=stages, meta={**sched.meta, "tf32": True})


def _implementation(workload: Workload, impl: str, algorithm: str | None, dtype: str,
                    direction: str, launch: str, options: dict) -> Schedule:
    """The schedule of one shipped kernel (see :mod:`workloads.implementations`)."""
    if impl not in IMPLEMENTATIONS:
        raise WorkloadError(f"impl: unknown implementation {impl!r}, expected one of {', '.join(IMPLEMENTATIONS)}")
    kernel = IMPLEMENTATIONS[impl]
    if workload.family not in kernel.families:
        raise WorkloadError(f"impl: {impl!r} implements {', '.join(kernel.families)}, "
                            f"not workload {workload.name!r} of family {workload.family!r}")
    if algorithm not in (None, "sequential", kernel.algorithm):  # "sequential": the default
        raise WorkloadError(f"algorithm: {impl!r} runs {kernel.algorithm!r}, got {algorithm!r}")
    unknown = sorted(set(options) - set(kernel.options))
    if unknown:
        raise WorkloadError(f"{unknown[0]}: not an option of implementation {impl!r} "
                            f"(it takes {', '.join(kernel.options) or 'none'})")
    label = f"{workload.name} T={workload.seq_len} {impl} {dtype}" + (" fwd+bwd" if direction != "fwd" else "")
    meta = {"family": workload.family, "algorithm": kernel.algorithm, "impl": impl, "direction": direction,
            "launch": launch, "host_s": kernel.host_time_s(direction, launch)}
    return Schedule(name=label, dtype=dtype, stages=kernel.build(workload, dtype, direction, **options),
                    meta={**meta, **options})


@lru_cache(maxsize=256)
def _schedule(workload: Workload, algorithm: str, dtype: str, direction: str, states: str,
              options: tuple) -> Schedule:
    # Cached: schedules are immutable and small, while the circuit behind one can be large.
    stages = FAMILIES[workload.family].build(workload, algorithm, dtype, dict(options))
    label = f"{workload.name} T={workload.seq_len} {algorithm} {dtype}"
    meta = {"family": workload.family, "algorithm": algorithm, "direction": direction, **dict(options)}
    if direction == "fwd+bwd":
        stages = backward_stages(workload, algorithm, dtype, stages, states)
        label += f" fwd+bwd ({states} states)"
        meta["states"] = states
    return Schedule(name=label, dtype=dtype, stages=stages, meta=meta)
