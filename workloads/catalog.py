"""The catalog: named workloads with published model dimensions.

A :class:`Workload` is a recurrence family plus its dimensions: one layer's forward pass over
``batch`` sequences of ``seq_len`` steps.  How a workload becomes a schedule is
:mod:`workloads.dispatch`'s concern.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from workloads.errors import WorkloadError
from workloads.families import DIMENSIONS, FAMILIES

__all__ = ["Workload", "WorkloadError", "CATALOG", "PARAMS", "get_workload", "algorithms"]


#: integer dimensions a user may override with ``-p KEY=VALUE``
PARAMS = ("seq_len", "batch", "heads", "state", "value", "groups", "householders", "inputs",
          "m", "n", "k", "elements", "flops_per_element")


@dataclass(frozen=True)
class Workload:
    """One layer of a model (or one primitive operation).

    ``state`` is the per-head state or key size (K, d, or the channels of a diagonal head),
    ``value`` the value size V of matrix-state families; ``groups`` how many key/query groups
    the heads share (Mamba-2's ``ngroups``: B and C shared by heads / groups heads; 0: every
    head its own); ``householders`` is DeltaProduct's
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
    groups: int = 0
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
            low = 0 if key in ("inputs", "groups") else 1
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
    Workload("mamba2-2.7b", "ssd", seq_len=2048, heads=80, state=128, value=64, groups=1,
             description="Mamba-2 2.7B layer: 80 heads of P = 64, d_state N = 128, B and C in one group",
             source="Dao & Gu, arXiv 2405.21060; state-spaces/mamba mamba2-2.7b config: "
                    "d_model 2560, 64 layers, expand 2, headdim 64, d_state 128, ngroups 1"),
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
    Workload("llama3-8b-decode-attention", "attention-decode", seq_len=4096, heads=32, groups=8, state=128,
             value=128, description="Llama-3-8B decode attention: 32 query heads sharing 8 KV heads of 128",
             source="Llama Team, arXiv 2407.21783 (d_model 4096, 32 heads, 8 KV heads)"),
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
