"""``territory.context = "national"``: a region simulated inside the whole country.

A territory run alone (``context = "alone"``, the default) re-bases everything on itself: the
programme quotas are the national shares of *its* households split over its kab/kota, and the
target group of the targeting errors is the poorest share of *its* households. With
``context = "national"`` the rest of the country is represented by a national sample of
``territory.context_fraction`` of all households (generated from the run seed, never
simulated): its DTKS per kab/kota sets the territory's quotas as they would be in a national
run (national share x national households, split over every kab/kota of the country by its DTKS,
then the territory's part at the territory's fraction), and its consumption sets the national
poverty lines of the target groups. National pools are scaled by the territory's share of the
country either way (`sim.model.frame`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.params import N_KABKOTA
from sim.registry import population, regions
from sim.registry.table import STATUS_IN_DTKS


@dataclass(frozen=True)
class NationalContext:
    """What the rest of the country contributes to a territory run."""

    dtks_share: np.ndarray       # (514,) share of the country's DTKS in each kab/kota
    real_households: int         # households of the whole country
    log_c_line: dict[str, float]  # group (kemensos, alatas) -> national log-consumption line


def build(p: dict, seed: int) -> NationalContext:
    """The national sample of *p* (``territory.context_fraction``), summarised."""
    regs = regions.load()
    t = p["territory"]
    real = int(regs.kabkota_population.sum() / t["household_size"])
    n = max(1000, round(real * t["context_fraction"]))
    sample = population.generate(n, seed)
    kab = sample["kabkota"].astype(np.int64)
    dtks = np.bincount(kab[sample["status"] == STATUS_IN_DTKS], minlength=N_KABKOTA)
    share = dtks / max(int(dtks.sum()), 1)
    log_c = np.sort(np.log(np.maximum(sample["consumption"].astype(np.float64), 1.0)))
    from sim.model.targeting import shares_of

    lines = {}
    for name, group_share in shares_of(p).items():
        k = round(group_share * n)
        lines[name] = float(log_c[k - 1]) if k > 0 else float("-inf")
    return NationalContext(dtks_share=share.astype(np.float64), real_households=real,
                           log_c_line=lines)


def quotas(nc: NationalContext, p: dict, fraction: float, mult: np.ndarray) -> np.ndarray:
    """Quotas (3, 514) in simulated households: each kab/kota's part of the national quota."""
    prog = p["programmes"]
    out = np.zeros((3, N_KABKOTA), dtype=np.int64)
    for j, name in enumerate(("bpnt", "pkh", "pbi")):
        real_q = nc.dtks_share * prog[f"{name}_share"] * nc.real_households * mult
        out[j] = np.floor(real_q * fraction).astype(np.int64)
    return out


def pbi_persons(nc: NationalContext, p: dict, fraction: float, mult: np.ndarray) -> np.ndarray:
    """PBI-JK quota (514) in simulated persons: each kab/kota's part of the national person
    quota (``pbi_share`` of the persons, its source's unit [PROG-2022])."""
    persons = nc.real_households * p["territory"]["household_size"]
    return nc.dtks_share * p["programmes"]["pbi_share"] * persons * mult * fraction
