"""``territory.context = "national"``: a territory simulated inside the whole, simulated country.

A territory run alone (``context = "alone"``, the default) re-bases everything on itself: the
programme quotas are the national shares of *its* households split over its kab/kota, the
target group of the targeting errors is the poorest share of *its* households and the national
pools are scaled to its share of the country. With ``context = "national"`` the run is a national
run at two resolutions: the territory's kab/kota at ``territory.fraction`` and every other
kab/kota of the country at ``territory.context_fraction``, all simulated (proposals, verval,
decrees, cards, redemption). The registry is generated with those households per kab/kota
(`sim.registry.population.generate`), virtual units are cut per run of rows of one province and
one fraction (`sim.model.frame`), each region carries its own weight, and the national stages
see the whole country:

* the quotas of every kab/kota are its part of the national quota at its own fraction (the
  national register weighted, `sim.model.engine.quotas`);
* a job at a national pool (a proposal at Kemensos, a card at the printer) weighs its region's
  weight relative to the territory's (`sim.model.national`);
* the national deciles rank each household as the real households it stands for
  (`desil_weight`, `sim.params.Params.desil_weight`, in both twins of the engine);
* the verval threshold and the target groups of the targeting errors are weighted national
  quantiles (`weighted_quantile`, `weighted_groups`).

With ``context_fraction == fraction`` the run *is* the national run at that fraction (same
registry, same draws); only the outputs differ: they report the territory (`sim.model.view`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.registry import population, regions


@dataclass(frozen=True)
class Resolution:
    """Households per kab/kota of a two-fraction national registry, and their weights."""

    territory: np.ndarray   # bool per kab/kota: in the territory
    counts: np.ndarray      # int64 per kab/kota: households generated
    kab_weight: np.ndarray  # float64 per kab/kota: real households per generated one
    real_territory: int     # real households of the territory
    households_territory: int


def territory_mask(kab_rows: np.ndarray) -> np.ndarray:
    """bool per kab/kota: the kab/kota rows *kab_rows*."""
    regs = regions.load()
    out = np.zeros(regs.n_kabkota, dtype=bool)
    out[kab_rows] = True
    return out


def resolution(kab_rows: np.ndarray, household_size: float, fraction: float,
               context_fraction: float) -> Resolution:
    """The territory (*kab_rows*) at *fraction*, every other kab/kota at *context_fraction*.

    Each part gets ``max(1, round(real * its fraction))`` households, split over its kab/kota
    in proportion to their population (largest remainder, as a national registry is); its weight
    is its real households over those generated.
    """
    regs = regions.load()
    terr = territory_mask(kab_rows)
    pop = regs.kabkota_population.astype(np.float64)
    real_all = int(pop.sum() / household_size)
    real_t = int(pop[terr].sum() / household_size)
    real_r = real_all - real_t
    n_t = max(1, round(real_t * fraction))
    n_r = max(1, round(real_r * context_fraction))
    counts = np.zeros(regs.n_kabkota, dtype=np.int64)
    counts[terr] = population.allocate(n_t, pop[terr])
    counts[~terr] = population.allocate(n_r, pop[~terr])
    weight = np.where(terr, real_t / n_t, real_r / n_r)
    return Resolution(territory=terr, counts=counts, kab_weight=weight.astype(np.float64),
                      real_territory=real_t, households_territory=n_t)


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """The smallest value of *x* at which the weights *w* of the values up to it reach *q* of
    the total (the inverse of the weighted empirical distribution)."""
    order = np.argsort(x, kind="stable")
    cum = np.cumsum(w[order])
    k = int(np.searchsorted(cum, q * cum[-1], side="left"))
    return float(x[order[min(k, len(x) - 1)]])


def weighted_groups(log_c: np.ndarray, shares: dict[str, float],
                    rel: np.ndarray) -> dict[str, np.ndarray]:
    """The target groups (`sim.model.targeting.target_groups`) of a weighted registry: the
    poorest households until their weights *rel* reach each share of the total."""
    order = np.argsort(log_c, kind="stable")
    w = rel[order]
    before = np.cumsum(w) - w  # weight of the poorer households
    total = float(w.sum())
    out = {}
    for name in ("kemensos", "alatas"):
        m = np.zeros(len(log_c), dtype=bool)
        m[order] = before < shares[name] * total
        out[name] = m
    return out


#: integer units of the deciles' weights: the territory's households weigh this much
DESIL_UNIT = 1000


def desil_weight(kab_rel: np.ndarray | None) -> np.ndarray | None:
    """Per kab/kota, the integer weight of a household in the national deciles: its weight
    relative to the territory's in thousandths (None at one fraction: every household 1)."""
    if kab_rel is None:
        return None
    return np.maximum(1, np.rint(kab_rel * DESIL_UNIT)).astype(np.int64)
