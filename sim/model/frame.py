"""The simulated territory: which kab/kota, how many households, and the sampling fraction.

A scenario simulates one kab/kota, some provinces or the whole country, at a sampling *fraction*
of its households (`sim.registry.population.generate` places them over the territory's desa, rows
in desa
code order). Queues must see a real unit's load, so below fraction 0.5 registry rows are grouped
into *virtual* desa, kecamatan and kab/kota: as many units as the real territory has times the
fraction, each a run of consecutive rows of equal size, so a virtual desa holds about a real
desa's households and a virtual kab/kota a real kab/kota's, and each gets a real unit's staff.
At fraction >= 0.5 the real units are used. The national pools (Kemensos, the card printer)
serve the whole country, so they are scaled by the simulated share of the country's households
(`national_share`, `context.Stage`): one kab/kota competes with everyone else's proposals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kks_emulator.errors import ConfigError, InputError
from sim.registry import population, regions
from sim.registry.table import Registry
from sim.scenario.loader import Scenario


@dataclass
class Frame:
    """Territory, scale and the row -> virtual desa map of one run."""

    kab_rows: np.ndarray       # kab/kota rows of the territory
    real_households: int       # households in the territory at full scale
    households: int            # registry rows simulated
    fraction: float            # households / real_households (the scenario's fraction)
    weight: float              # real households per simulated one
    national_share: float      # simulated households / households of the whole country
    vdesa: np.ndarray          # int32 per registry row: virtual desa
    n_vdesa: int
    vkec: np.ndarray           # int32 per registry row: virtual kecamatan
    n_vkec: int
    vkab: np.ndarray           # int32 per registry row: virtual kab/kota
    n_vkab: int
    #: float32 per row: the PMT error of the generated score (score - log consumption), before
    #: the DTKS-era drift; the DTSEN ranking of the backtest's target groups (sim.calibration)
    pmt_error: np.ndarray | None = None
    #: ``territory.context = "national"``: bool per kab/kota, the territory inside the national
    #: registry (`sim.model.nation`); None for a territory alone or a national run
    territory: np.ndarray | None = None
    #: per kab/kota: its weight relative to the territory's (`weight`), when the rest of the
    #: country is sampled at another fraction than the territory; None at one fraction
    kab_rel: np.ndarray | None = None

    def row_rel(self, kabkota: np.ndarray) -> np.ndarray | None:
        """Relative weight per registry row of kab/kota *kabkota* (None at one fraction)."""
        return None if self.kab_rel is None else self.kab_rel[kabkota.astype(np.int64)]


def _codes(scen: Scenario) -> list[str] | None:
    t = scen["territory"]
    return None if t["scope"] == "national" else list(t["codes"])


def check_territory(scen: Scenario) -> np.ndarray:
    """Kab/kota rows of the territory; `ConfigError` naming the key if a code is unknown."""
    regs = regions.load()
    try:
        rows = regs.territory_kabkota(_codes(scen))
    except InputError as exc:
        where = scen.origins.get("territory.codes", str(scen.path))
        raise ConfigError(where, "territory.codes", f"known region codes ({exc})") from None
    t = scen["territory"]
    real = int(regs.kabkota_population[rows].sum() / t["household_size"])
    if max(1, round(real * t["fraction"])) < 50:
        where = scen.origins.get("territory.fraction", str(scen.path))
        raise ConfigError(where, "territory.fraction",
                          f"a fraction giving at least 50 households (territory has {real:,})")
    return rows


def build(scen: Scenario) -> tuple[Frame, Registry]:
    """The frame and the synthetic registry of *scen* (seeded from the `population` stream key)."""
    rows = check_territory(scen)
    if scen["territory"]["context"] == "national":
        return _build_national_context(scen, rows)
    return _build(scen, rows)


def _registry_seed(scen: Scenario) -> int:
    # the registry generator has its own seed-addressed streams; derive its seed from the run seed
    return int(np.random.SeedSequence(scen["scenario"]["seed"],
                                      spawn_key=(2,)).generate_state(1, np.uint64)[0] >> 1)


def _build_national_context(scen: Scenario, rows: np.ndarray) -> tuple[Frame, Registry]:
    """A territory inside the whole country (`sim.model.nation`): the national registry, the
    territory's kab/kota at ``territory.fraction`` and the rest at ``context_fraction``."""
    from sim.model import nation

    regs = regions.load()
    t = scen["territory"]
    terr = nation.territory_mask(rows)
    if t["context_fraction"] == t["fraction"]:  # one fraction: the national run itself
        fr, registry = _build(scen, np.arange(regs.n_kabkota), national=True)
        fr.territory = terr
        return fr, registry
    res = nation.resolution(rows, t["household_size"], t["fraction"], t["context_fraction"])
    households = int(res.counts.sum())
    registry = population.generate(households, _registry_seed(scen),
                                   params=register_params(scen), per_kab_counts=res.counts,
                                   kab_weight=res.kab_weight)
    pmt_error = _pmt_error(registry)
    age_scores(registry, scen["register"]["stale_score_sd"], scen["scenario"]["seed"])
    kab = registry["kabkota"].astype(np.int64)
    prov = registry["province"].astype(np.int64)
    group = terr[kab]
    frac = np.where(terr, t["fraction"], t["context_fraction"])
    desa = registry["desa"].astype(np.int64)
    vdesa, n_vdesa = _virtual_mixed(desa, kab, prov, group, frac,
                                    np.bincount(regs.desa_kabkota, minlength=regs.n_kabkota))
    kec = regs.desa_kecamatan[desa].astype(np.int64)
    vkec, n_vkec = _virtual_mixed(kec, kab, prov, group, frac,
                                  np.bincount(regs.kecamatan_kabkota, minlength=regs.n_kabkota))
    vkab, n_vkab = _virtual_mixed(kab, kab, prov, group, frac,
                                  np.ones(regs.n_kabkota, dtype=np.int64))
    weight = res.real_territory / res.households_territory
    kab_rel = res.kab_weight / weight
    kab_rel[terr] = 1.0
    real_all = int(regs.kabkota_population.sum() / t["household_size"])
    frame = Frame(kab_rows=np.arange(regs.n_kabkota), real_households=real_all,
                  households=households, fraction=res.households_territory / res.real_territory,
                  weight=weight,
                  # the simulated share of the country in the territory's weight
                  national_share=float(np.dot(res.counts, kab_rel)) / real_all,
                  vdesa=vdesa, n_vdesa=n_vdesa, vkec=vkec, n_vkec=n_vkec, vkab=vkab, n_vkab=n_vkab,
                  pmt_error=pmt_error, territory=terr, kab_rel=kab_rel)
    return frame, registry


def _pmt_error(registry: Registry) -> np.ndarray:
    return (registry["pmt_score"].astype(np.float64) - np.log(
        np.maximum(registry["consumption"].astype(np.float64), 1.0))).astype(np.float32)


def _build(scen: Scenario, rows: np.ndarray, national: bool = False) -> tuple[Frame, Registry]:
    """The frame of *scen*'s territory (kab/kota *rows*) at one fraction (*national*: the
    whole country, whatever the scope)."""
    regs = regions.load()
    t = scen["territory"]
    real = int(regs.kabkota_population[rows].sum() / t["household_size"])
    households = max(1, round(real * t["fraction"]))
    registry = population.generate(households, _registry_seed(scen),
                                   params=register_params(scen),
                                   territory=None if national else _codes(scen))
    pmt_error = _pmt_error(registry)
    age_scores(registry, scen["register"]["stale_score_sd"], scen["scenario"]["seed"])
    desa = registry["desa"].astype(np.int64)
    prov = registry["province"].astype(np.int64)
    in_t = np.isin(regs.desa_kabkota, rows)
    desa_p = np.bincount(regs.desa_province[in_t].astype(np.int64), minlength=regs.n_province)
    kec_in = np.isin(regs.kecamatan_kabkota, rows)
    kec_p = np.bincount(regs.kabkota_province[regs.kecamatan_kabkota[kec_in]].astype(np.int64),
                        minlength=regs.n_province)
    kab_p = np.bincount(regs.kabkota_province[rows].astype(np.int64), minlength=regs.n_province)
    vdesa, n_vdesa = _virtual(desa, prov, desa_p, t["fraction"])
    kec = regs.desa_kecamatan[desa].astype(np.int64)
    vkec, n_vkec = _virtual(kec, prov, kec_p, t["fraction"])
    kab = registry["kabkota"].astype(np.int64)
    vkab, n_vkab = _virtual(kab, prov, kab_p, t["fraction"])
    frame = Frame(kab_rows=rows, real_households=real, households=households,
                  fraction=households / real, weight=real / households,
                  national_share=households / (int(regs.kabkota_population.sum())
                                               / t["household_size"]),
                  vdesa=vdesa, n_vdesa=n_vdesa, vkec=vkec, n_vkec=n_vkec, vkab=vkab, n_vkab=n_vkab,
                  pmt_error=pmt_error)
    return frame, registry


def register_share(scen: Scenario) -> float:
    """Share of households in the register (DTKS / DTSEN) at the start.

    DTKS era (``register.ranking = "register"``): ``register.initial_share`` of the households,
    so its deciles rank the register only. DTSEN era (``"population"``): every household except
    the ``register.unranked_share`` not yet ranked (desil 0), so its deciles are deciles of the
    population [DTSEN-2025-07] [DESIL-METHOD] (docs/calibration.md).
    """
    r = scen["register"]
    return 1.0 - r["unranked_share"] if r["ranking"] == "population" else r["initial_share"]


def age_scores(registry: Registry, sd: float, seed: int) -> None:
    """Add the drift of old data to every household's PMT score in the starting register.

    The DTKS-era scores were collected years before they were used (the register was decreed
    monthly but re-enumerated rarely), so a household's score has drifted from its welfare by a
    normal error of sd ``register.stale_score_sd`` (EST, tuned to the DTKS-era BPNT inclusion
    share [KEMENSOS-ERR-2026]; docs/calibration.md §11). Proposals are assessed afresh by verval.
    Its own stream (``register.age`` of `sim.scenario.streams`), so other draws do not move.
    """
    from sim.scenario.streams import Streams

    if sd <= 0:
        return
    rng = Streams(seed).get("register.age")
    score = registry["pmt_score"]
    score += (sd * rng.standard_normal(len(score))).astype(score.dtype)


def register_params(scen: Scenario) -> population.PopulationParams:
    """The registry generator's parameters for *scen* (who is in the starting register)."""
    return population.PopulationParams(dtks_share=register_share(scen),
                                       dtks_noise_sd=scen["register"]["dtks_noise_sd"],
                                       umr_intercept=scen["register"]["umr_intercept"],
                                       pbi_other_share=scen["register"]["pbi_other_share"])


def rows_of(parent_of_unit: np.ndarray, kab_rows: np.ndarray) -> int:
    """Number of units (desa or kecamatan) whose kab/kota is in *kab_rows*."""
    return int(np.isin(parent_of_unit, kab_rows).sum())


def _virtual(real: np.ndarray, province: np.ndarray, n_real: np.ndarray,
             fraction: float) -> tuple[np.ndarray, int]:
    """Virtual unit per row: the real unit at fraction >= 0.5, else equal runs of rows.

    The runs are cut within each province (rows are in desa code order, so a province's rows
    are consecutive): province p's rows form ``max(1, round(n_real[p] * fraction))`` units, so
    no virtual unit mixes provinces and a province's own settings (`[regions]`) apply to whole
    units.
    """
    n = len(real)
    if fraction >= 0.5:
        uniq, inv = np.unique(real, return_inverse=True)
        return inv.astype(np.int32), len(uniq)
    ids = np.zeros(n, dtype=np.int64)
    bounds = np.flatnonzero(np.diff(province)) + 1
    next_id = 0
    for lo, hi in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [n]]), strict=True):
        size = int(hi - lo)
        k = max(1, round(int(n_real[province[lo]]) * fraction))
        ids[lo:hi] = next_id + (np.arange(size, dtype=np.int64) * k) // max(size, 1)
        next_id += k
    return ids.astype(np.int32), max(next_id, 1)


def _virtual_mixed(real: np.ndarray, kab: np.ndarray, province: np.ndarray, group: np.ndarray,
                   kab_fraction: np.ndarray, units_of_kab: np.ndarray) -> tuple[np.ndarray, int]:
    """`_virtual` for rows sampled at different fractions: runs of consecutive rows of one
    province and one fraction group are cut alone, each into ``max(1, round(units * f))``
    units of its kab/kota's real units (*units_of_kab*: real units per kab/kota), or into its
    real units at a fraction >= 0.5; ids increase with the rows."""
    n = len(real)
    ids = np.zeros(n, dtype=np.int64)
    change = (np.diff(province) != 0) | (np.diff(group.astype(np.int8)) != 0)
    bounds = np.flatnonzero(change) + 1
    next_id = 0
    for lo, hi in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [n]]), strict=True):
        lo, hi = int(lo), int(hi)
        f = float(kab_fraction[kab[lo]])
        if f >= 0.5:
            uniq, inv = np.unique(real[lo:hi], return_inverse=True)
            ids[lo:hi] = next_id + inv
            next_id += len(uniq)
            continue
        size = hi - lo
        n_real = int(units_of_kab[kab[lo]:kab[hi - 1] + 1].sum())
        k = max(1, round(n_real * f))
        ids[lo:hi] = next_id + (np.arange(size, dtype=np.int64) * k) // size
        next_id += k
    return ids.astype(np.int32), max(next_id, 1)
