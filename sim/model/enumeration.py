"""The switch from a register ranking (DTKS) to a population ranking (DTSEN) during a run.

DTKS ranked only the households in its register (about 40-50% of all), so its deciles are deciles
of the register. DTSEN enumerates and ranks **every** family of the population (DTSEN-2025-07: all
94.2 M families ranked; DESIL-METHOD: desil 1 = the poorest 10% of the population), so its deciles
are deciles of the population (docs/calibration.md §7). A scenario that starts in the DTKS era
(``register.ranking = "register"``) and switches with a dated event to
``register.ranking = "population"`` has, at the first decree on or after the event, every household
not in the register entered into it (one PROPOSE record each) and every household of the register
given a score collected afresh (one UPDATE record each): DTSEN is built from the Regsosek 2022
enumeration of every family matched with DTKS and other data (DTSEN-2025-02), so its scores are
fresh for all, not the drifted scores of the old register (``register.stale_score_sd``). A fresh
score is today's log consumption plus the verval assessment error, as a re-ranking refreshes a
score (`churn.rerank_updates`). The engine validates
these records like any other: a household whose NIK does not match Dukcapil stays out, unranked
(desil 0, DESIL-0). From that decree on the engine's deciles are population deciles, and every rule
that reads a decile (the programmes' ``*_max_desil``, one-off rounds, the PBI-JK deactivation)
reads population deciles.

Households removed from the register before the switch (died, moved, duplicates, ...) stay out, as
do the households whose proposal is in the same decree (their verval-assessed record goes in): the
DTKS-era register kept no removal reason, so the dead cannot be told apart from the rest. From the
switch on the engine ranks the population (`Params.ranks_population`): a family removed for any
reason but death stays ranked, barred from programmes until proposed again (docs/monthly.md §2.5).
A run that starts with ``ranking = "population"`` is enumerated from the start (`frame`) and never
enters here. Its own random stream (``register.enumerate``), so no other draw moves.
"""

from __future__ import annotations

import numpy as np

from sim.hotpath.validity import records_valid
from sim.model.context import Context
from sim.registry.table import STATUS_IN_DTKS, STATUS_NOT_IN_DTKS


def due(ctx: Context) -> bool:
    """True when the run's ranking is the population's and the register has not been enumerated
    yet (the run started with a register ranking)."""
    return ctx.p["register"]["ranking"] == "population" and not ctx.enumerated


def enumerate_rows(ctx: Context, period: int, proposed: np.ndarray) -> tuple[
        tuple[np.ndarray, np.ndarray], list[tuple[int, str, float]]]:
    """The population enumeration at the decree of *period*; marks the run as enumerated.

    Returns ``((rows, scores), refreshed)``: the households not in the register that it enters
    (PROPOSE records with their fresh scores; not those with a proposal of their own in the
    decree, *proposed*), and the register's households with their score collected afresh
    (UPDATE records ``(row, "pmt_score", score)``, appended after any re-ranking's, so they win).
    """
    reg = ctx.registry
    status = reg["status"]
    rng = ctx.streams.get("register.enumerate", period)
    err = rng.standard_normal(len(reg))  # one draw per registry row: stable per household
    noise = ctx.p["verification"]["verval_noise"]
    fresh = (ctx.log_c + noise * err).astype(reg["pmt_score"].dtype)
    rows = np.flatnonzero(status == STATUS_NOT_IN_DTKS)
    rows = rows[~np.isin(rows, proposed)]
    inside = np.flatnonzero(status == STATUS_IN_DTKS)
    ctx.enumerated = True
    ctx.mon.count("enumerated", len(rows))
    ctx.mon.count("enumeration_refreshed", len(inside))
    refreshed = list(zip(inside.tolist(), ["pmt_score"] * len(inside),
                         fresh[inside].astype(np.float64).tolist(), strict=True))
    return (rows, fresh[rows]), refreshed


def register_after(registry, proposals: list[tuple[int, float, bool]]) -> np.ndarray:
    """The register as the enumeration decree leaves it (a bool per row), for the split of the
    programmes' quotas over kab/kota (`sim.model.engine.quotas`): the rows in it now and the
    rows the decree's *proposals* ``(row, score, _)`` enter whose record passes the checks of
    docs/monthly.md §2.1 (a NIK Dukcapil does not match stays out). Duplicates the decree will
    drop and this decree's removals are not foreseen: the split is by kab/kota size, which they
    move by a fraction of a percent."""
    out = registry["status"] == STATUS_IN_DTKS
    if not proposals:
        return out
    rows = np.fromiter((r for r, _, _ in proposals), dtype=np.int64, count=len(proposals))
    scores = np.fromiter((s for _, s, _ in proposals), dtype=np.float64, count=len(proposals))
    ok = records_valid(registry["nik"][rows], registry["kk"][rows],
                       registry["dukcapil_match"][rows], scores)
    out[rows[ok]] = True
    return out
