"""Numba kernels for every recurrence family: sequential oracles and their parallel forms.

Public API (called by tools outside the project):

* :func:`linear_scan` — diagonal or dense linear recurrences, sequential or any circuit;
* :func:`diagonal_scan_chunked` — reduce-then-scan over time chunks;
* :func:`permutation_diagonal_scan` — permutation-diagonal LRNNs, any circuit;
* :func:`matrix_product_scan` — exact iterated integer matrix products mod p, any circuit.
"""

from workloads.kernels.affine import (
    diagonal_scan_chunked,
    linear_scan,
    matrix_product_scan,
    permutation_diagonal_scan,
)

__all__ = ["linear_scan", "diagonal_scan_chunked", "permutation_diagonal_scan", "matrix_product_scan"]
