"""Human units for what a person reads: tables and axes in µs, GB/s, TFLOP/s, mJ, $.

Results keep SI floats (parquet, CSV, ``--json``); a report shows each column in the one unit
that suits its values (chosen from the column's median magnitude, so a column reads in one
unit throughout) under a label that names the quantity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["count", "human", "human_table", "plain", "scaled", "unit", "usd_per_tokens"]

#: a column's quantity and its units, smallest first: (name, factor from SI)
_TIME = [("ns", 1e9), ("µs", 1e6), ("ms", 1e3), ("s", 1.0)]
_ENERGY = [("pJ", 1e12), ("nJ", 1e9), ("µJ", 1e6), ("mJ", 1e3), ("J", 1.0)]
_BYTES = [("KB", 1e-3), ("MB", 1e-6), ("GB", 1e-9), ("TB", 1e-12)]
_RATE = [("GB/s", 1e-9), ("TB/s", 1e-12)]
_FLOPS = [("MFLOP", 1e-6), ("GFLOP", 1e-9), ("TFLOP", 1e-12), ("PFLOP", 1e-15)]
_USD = [("$", 1.0)]
_POWER = [("mW", 1e3), ("W", 1.0), ("kW", 1e-3)]


def _quantity(column: str) -> tuple[str, list] | None:
    """``(label, units)`` of a result column, None for a column without a unit."""
    base = column.rsplit(".", 1)[-1]
    if base.endswith("bandwidth_bytes_per_s"):
        return base.removesuffix("_bytes_per_s").replace("_", " "), _RATE
    if base == "usd_per_million_tokens":
        return "cost per million tokens", _USD
    if base.endswith("tokens_per_s"):
        return (base.removesuffix("tokens_per_s").replace("_", " ") + "throughput").strip(), [("tokens/s", 1.0)]
    if base in ("dram_bytes", "onchip_bytes"):
        return {"dram_bytes": "DRAM traffic", "onchip_bytes": "on-chip traffic"}[base], _BYTES
    for suffix, units in (("_s", _TIME), ("_j", _ENERGY), ("_bytes", _BYTES), ("_usd", _USD), ("_w", _POWER)):
        if base.endswith(suffix):
            return base.removesuffix(suffix).replace("_", " "), units
    if base == "flops":
        return "work", _FLOPS
    if base == "area_mm2":
        return "area", [("mm²", 1.0)]
    return None


def _unit_for(values: pd.Series, units: list) -> tuple[str, float]:
    finite = pd.to_numeric(values, errors="coerce").abs()
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if finite.empty:
        return units[-1]
    typical = float(finite.median())
    for name, factor in units:  # the first unit that shows the typical value below 1000
        if typical * factor < 1000:
            return name, factor
    return units[-1]


def unit(values: pd.Series, column: str) -> tuple[float, str]:
    """``(factor from SI, axis label)`` of the column's human unit (1 and the column's name,
    spaced, for a column without a unit)."""
    quantity = _quantity(column)
    if quantity is None:
        return 1.0, column.replace("_", " ")
    label, units = quantity
    name, factor = _unit_for(values, units)
    prefix = column.rsplit(".", 1)[0] + "." if column.startswith("accelerator.") else ""
    return factor, f"{prefix}{label} ({name})"


def scaled(values: pd.Series, column: str) -> tuple[pd.Series, str]:
    """``(values in the column's human unit, axis label)``; unchanged for unitless columns."""
    factor, label = unit(values, column)
    return pd.to_numeric(values, errors="coerce") * factor, label


def human_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` for reading: every column with a unit scaled into its human unit and
    renamed to say it (``latency_s`` → ``latency (µs)``); other columns as they are."""
    out = {}
    for column in frame.columns:
        if (_quantity(column) and pd.api.types.is_numeric_dtype(frame[column])
                and not pd.api.types.is_bool_dtype(frame[column])):
            values, label = scaled(frame[column], column)
            out[label] = values
        else:
            out[column] = frame[column]
    return pd.DataFrame(out, index=frame.index)


def plain(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant figures as people write numbers: thousands separated,
    never in e-notation (``292,122`` → ``292,000``, ``3.85e-9`` → ``0.00000000385``)."""
    if not np.isfinite(x) or x == 0:
        return "0" if x == 0 else str(x)
    decimals = digits - 1 - int(np.floor(np.log10(abs(x))))  # of the last significant figure
    if decimals <= 0:  # a whole number: round to the significant figures
        return f"{round(x, decimals):,.0f}"
    return f"{x:,.{decimals}f}".rstrip("0").rstrip(".")


def human(value: float, column: str) -> str:
    """One value of ``column`` in words: ``2.1e-4`` latency → ``210 µs``; never in e-notation."""
    factor, label = unit(pd.Series([value]), column)
    shown = plain(value * factor)
    return f"{shown} {label[label.rfind('(') + 1:-1]}" if label.endswith(")") else plain(value, 4)


def count(n: float) -> str:
    """A large count in words: ``8,030,261,248`` → ``8.03 billion``, ``129,000,000`` → ``129 million``."""
    for name, size in (("trillion", 1e12), ("billion", 1e9), ("million", 1e6)):
        if abs(n) >= size:
            return f"{plain(n / size)} {name}"
    return plain(n)


def usd_per_tokens(usd_per_million_tokens: float) -> str:
    """A price per token in a unit that reads: dollars per million tokens, or per billion or per
    trillion where a million cost under a cent (``3.85e-9`` per million → ``$0.00385 per
    trillion tokens``)."""
    for scale, per in ((1.0, "million"), (1e3, "billion"), (1e6, "trillion")):
        usd = usd_per_million_tokens * scale
        if usd >= 0.01:
            break
    return f"${plain(usd)} per {per} tokens"
