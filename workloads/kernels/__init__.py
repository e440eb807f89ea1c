"""Numba kernels for every recurrence family: sequential oracles and their parallel forms.

Public API (tools outside the project call exactly these):

* :func:`linear_scan` — diagonal or dense linear recurrences, sequential or any circuit;
* :func:`diagonal_scan_chunked` — reduce-then-scan over time chunks;
* :func:`permutation_diagonal_scan` — permutation-diagonal LRNNs, any circuit;
* :func:`matrix_product_scan` — exact iterated integer matrix products mod p, any circuit;
* :func:`delta_rule` — DeltaNet / Gated DeltaNet: sequential, chunked WY/UT, any circuit;
* :func:`dplr_scan`, :func:`delta_product`, :func:`matrix_state_scan` — RWKV-7-style DPLR,
  DeltaProduct, and the generic matrix-state affine scan beneath them;
* :func:`ssd` — Mamba-2 / RetNet scalar-decay scan: sequential and chunked (SSD);
* :func:`gla` — gated linear attention (a decay per key channel): sequential and chunked;
* :func:`mlstm` — xLSTM's mLSTM (normaliser, exponential gate, stabiliser): sequential and chunked;
* :func:`long_conv` — long convolutions: direct, radix-2 FFT, FlashFFTConv's Monarch transform;
* :func:`rnn` — Elman, GRU, LSTM: sequential, DEER, quasi-DEER, with the iteration count;
* :func:`attention` — causal softmax attention: naive and blocked online softmax.
"""

from workloads.kernels.affine import (
    diagonal_scan_chunked,
    linear_scan,
    matrix_product_scan,
    permutation_diagonal_scan,
)
from workloads.kernels.attention import attention
from workloads.kernels.delta import delta_product, delta_rule, dplr_scan, matrix_state_scan
from workloads.kernels.gla import gla
from workloads.kernels.longconv import long_conv
from workloads.kernels.mlstm import mlstm
from workloads.kernels.rnn import CELLS, init_params, rnn
from workloads.kernels.ssd import ssd

__all__ = [
    "linear_scan", "diagonal_scan_chunked", "permutation_diagonal_scan", "matrix_product_scan",
    "delta_rule", "dplr_scan", "delta_product", "matrix_state_scan", "ssd", "gla", "mlstm", "long_conv", "rnn", "CELLS",
    "init_params", "attention",
]
