"""Silicon area, dollars and energy: what a design costs to build and to run.

Dies per wafer uses the usual gross-die estimate (wafer area over die area, less the partial
dies lost along the edge; Hennessy & Patterson, *Computer Architecture*, ch. 1):
``π (d/2)² / A − π d / √(2A)``.  Yield is Poisson, ``exp(−A·D₀)``, or Murphy,
``((1 − exp(−A·D₀)) / (A·D₀))²``, with A in cm² and D₀ defects per cm².
"""

from __future__ import annotations

import math

from hwmodels.spec import Accelerator

__all__ = ["dies_per_wafer", "die_yield", "cost_per_good_die_usd", "chip_cost_usd", "area_mm2",
           "energy_per_token_j", "usd_per_million_tokens"]

SECONDS_PER_YEAR = 365.25 * 24 * 3600


def dies_per_wafer(die_area_mm2: float, wafer_diameter_mm: float = 300.0) -> int:
    """Whole dies of ``die_area_mm2`` on a round wafer, edge losses included.

    A die of at least a third of the wafer's area is taken as wafer-scale: one per wafer (the
    gross-die formula, meant for small dies, goes negative there).
    """
    if die_area_mm2 <= 0 or wafer_diameter_mm <= 0:
        raise ValueError("die_area_mm2 and wafer_diameter_mm must be positive")
    radius = wafer_diameter_mm / 2
    if die_area_mm2 >= math.pi * radius**2 / 3:
        return 1
    gross = math.pi * radius**2 / die_area_mm2 - math.pi * wafer_diameter_mm / math.sqrt(2 * die_area_mm2)
    return max(0, math.floor(gross))


def die_yield(die_area_mm2: float, defect_density_per_cm2: float, model: str = "murphy") -> float:
    """Fraction of dies without a killing defect."""
    ad = die_area_mm2 / 100.0 * defect_density_per_cm2
    if model == "poisson":
        return math.exp(-ad)
    if model == "murphy":
        return 1.0 if ad == 0 else ((1 - math.exp(-ad)) / ad) ** 2
    raise ValueError(f"yield model: expected 'murphy' or 'poisson', got {model!r}")


def cost_per_good_die_usd(acc: Accelerator) -> float:
    area, cost = _area_and_cost(acc)
    per_wafer = dies_per_wafer(area.die_area_mm2, cost.wafer_diameter_mm)
    if per_wafer == 0:
        raise ValueError(f"{acc.name}: a {area.die_area_mm2:g} mm² die does not fit a "
                         f"{cost.wafer_diameter_mm:g} mm wafer")
    good = per_wafer * die_yield(area.die_area_mm2, cost.defect_density_per_cm2, cost.yield_model)
    return cost.wafer_cost_usd / good


def chip_cost_usd(acc: Accelerator) -> float:
    """Dies, plus the outermost memory at its price per GB, plus packaging — for one chip."""
    area, cost = _area_and_cost(acc)
    dram_gb = acc.dram.capacity_bytes / 1e9 if acc.dram.scope == "chip" and len(acc.memory) > 1 else 0.0
    return area.dies * cost_per_good_die_usd(acc) + dram_gb * cost.memory_cost_usd_per_gb + cost.packaging_cost_usd


def area_mm2(acc: Accelerator) -> float:
    """Silicon area of one chip (all its dies)."""
    area, _ = _area_and_cost(acc, need_cost=False)
    return area.dies * area.die_area_mm2


def energy_per_token_j(energy_j: float, tokens: int) -> float:
    return energy_j / tokens


def usd_per_million_tokens(acc: Accelerator, latency_s: float, energy_j: float, tokens: int, *,
                           utilisation: float = 0.5, lifetime_years: float = 4.0,
                           electricity_usd_per_kwh: float = 0.10) -> float:
    """Amortised chip cost over its busy lifetime plus electricity, per million tokens.

    A run of ``latency_s`` producing ``tokens`` occupies ``latency_s / (lifetime · utilisation)``
    of the chips' (``acc.chips``) useful life and draws ``energy_j``.
    """
    if not 0 < utilisation <= 1:
        raise ValueError(f"utilisation: expected a fraction in (0, 1], got {utilisation}")
    capex = acc.chips * chip_cost_usd(acc) * latency_s / (lifetime_years * SECONDS_PER_YEAR * utilisation)
    power = energy_j / 3.6e6 * electricity_usd_per_kwh
    return (capex + power) / tokens * 1e6


def _area_and_cost(acc: Accelerator, need_cost: bool = True):
    if acc.area is None or (need_cost and acc.cost is None):
        missing = "area" if acc.area is None else "cost"
        raise ValueError(f"accelerator {acc.name!r} has no {missing} block: add one to its spec")
    return acc.area, acc.cost
