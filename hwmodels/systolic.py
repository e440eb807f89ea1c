"""Compute cycles of a GEMM on one systolic array, as SCALE-Sim v2 counts them.

An m×n×k GEMM (C = A·B, A of m×k, B of k×n) maps onto a ``rows × cols`` array as two spatial
dimensions ``(S_r, S_c)`` and one temporal dimension ``T``:

=========  =====  =====  ====
dataflow   S_r    S_c    T
=========  =====  =====  ====
``os``     m      n      k    (each PE keeps one output and accumulates over k)
``ws``     k      n      m    (each PE holds one weight; inputs stream through)
``is``     k      m      n    (each PE holds one input; weights stream through)
=========  =====  =====  ====

The array folds ``⌈S_r/rows⌉ · ⌈S_c/cols⌉`` times, and every fold is filled, computed and
drained before the next starts:

* output stationary: ``rows + cols + T − 2`` cycles per fold (operands skew in over
  ``rows − 1`` and ``cols − 1`` cycles, ``T`` cycles of MACs);
* weight / input stationary: ``2·rows + cols + T − 2`` — ``rows`` more to preload the
  stationary operand.

This is our reading of SCALE-Sim v2's demand matrices (``scalesim/compute/systolic_compute_
{os,ws,is}.py``: per fold, the operand demand rows plus the skew of ``skew_matrix``).
Worked by hand: a 4×4 OS array on 4×4×4 is one fold of 4 + 4 + 4 − 2 = 10 cycles; on 8×4×16
it is 2 folds of 4 + 4 + 16 − 2 = 22, i.e. 44; the same 4×4×4 WS is 4·2 + 4 + 4 − 2 = 14.
A pipelined array (SCALE-Sim has none; GPU tensor cores are) overlaps a fold's fill and
drain with its neighbours': the 8×4×16 OS GEMM then takes 2·16 + 4 + 4 − 2 = 38 cycles.
"""

from __future__ import annotations

import math

__all__ = ["gemm_cycles", "mapping"]

_MAPS = {"os": ("m", "n", "k"), "ws": ("k", "n", "m"), "is": ("k", "m", "n")}


def mapping(dataflow: str, m: int, n: int, k: int) -> tuple[int, int, int]:
    """``(S_r, S_c, T)`` of a GEMM under ``dataflow``."""
    try:
        names = _MAPS[dataflow]
    except KeyError:
        raise ValueError(f"dataflow: expected one of {', '.join(_MAPS)}, got {dataflow!r}") from None
    dims = {"m": m, "n": n, "k": k}
    return tuple(dims[x] for x in names)


def gemm_cycles(rows: int, cols: int, dataflow: str, m: int, n: int, k: int,
                pipelined: bool = False) -> int:
    """Compute cycles of an m×n×k GEMM on one ``rows × cols`` array, fill and drain included
    (once for the whole GEMM when ``pipelined``: each fold starts as the previous drains)."""
    for name, value in (("rows", rows), ("cols", cols), ("m", m), ("n", n), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected an integer ≥ 1, got {value!r}")
    s_r, s_c, t = mapping(dataflow, m, n, k)
    folds = math.ceil(s_r / rows) * math.ceil(s_c / cols)
    preload = 0 if dataflow == "os" else rows
    fill = preload + rows + cols - 2
    return folds * t + fill if pipelined else folds * (fill + t)
