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

Households removed from the register before the switch are families of the population too, and
DTSEN (built from the Regsosek enumeration of every family, DTKS and P3KE: DTSEN-2025-02,
DTSEN-SOURCES) ranks them: at the switch every one of them but the dead (`STATUS_DIED`) is ranked
with a fresh score and stays barred from programmes until proposed again (`STATUS_BARRED`), as a
family removed in the DTSEN era is (docs/monthly.md §2.5; that the bar carried over is the
model's reading: the sources do not say). A barred record that fails the checks (a NIK Dukcapil
does not match, DESIL-0) leaves the ranking at that decree. The households whose proposal is in
the same decree stay out of both (their verval-assessed record goes in). From the switch on the
engine ranks the population (`Params.ranks_population`).
A run that starts with ``ranking = "population"`` is enumerated from the start (`frame`) and never
enters here. Its own random stream (``register.enumerate``), so no other draw moves.
"""

from __future__ import annotations

import numpy as np

from sim.hotpath.validity import records_valid
from sim.model.context import Context
from sim.registry.table import STATUS_BARRED, STATUS_IN_DTKS, STATUS_NOT_IN_DTKS, STATUS_REMOVED


def due(ctx: Context) -> bool:
    """True when the run's ranking is the population's and the register has not been enumerated
    yet (the run started with a register ranking)."""
    return ctx.p["register"]["ranking"] == "population" and not ctx.enumerated


def enumerate_rows(ctx: Context, period: int, proposed: np.ndarray) -> tuple[
        tuple[np.ndarray, np.ndarray], list[tuple[int, str, float]],
        tuple[np.ndarray, np.ndarray]]:
    """The population enumeration at the decree of *period*; marks the run as enumerated.

    Returns ``((rows, scores), refreshed, (removed, removed_scores))``: the households not in the
    register that it enters (PROPOSE records with their fresh scores; not those with a proposal
    of their own in the decree, *proposed*), the register's households with their score
    collected afresh (UPDATE records ``(row, "pmt_score", score)``, appended after any
    re-ranking's, so they win), and the households removed from the register before, not dead
    and without a proposal in the decree, with their fresh scores, for `bar`.
    """
    reg = ctx.registry
    status = reg["status"]
    rng = ctx.streams.get("register.enumerate", period)
    err = rng.standard_normal(len(reg))  # one draw per registry row: stable per household
    noise = ctx.p["verification"]["verval_noise"]
    fresh = (ctx.log_c + noise * err).astype(reg["pmt_score"].dtype)
    rows = np.flatnonzero(status == STATUS_NOT_IN_DTKS)
    rows = rows[~np.isin(rows, proposed)]
    removed = np.flatnonzero(status == STATUS_REMOVED)
    removed = removed[~np.isin(removed, proposed)]
    inside = np.flatnonzero(status == STATUS_IN_DTKS)
    ctx.enumerated = True
    ctx.mon.count("enumerated", len(rows))
    ctx.mon.count("enumeration_refreshed", len(inside))
    ctx.mon.count("enumeration_barred", len(removed))
    refreshed = list(zip(inside.tolist(), ["pmt_score"] * len(inside),
                         fresh[inside].astype(np.float64).tolist(), strict=True))
    return (rows, fresh[rows]), refreshed, (removed, fresh[removed])


def bar(registry, rows: np.ndarray, scores: np.ndarray) -> None:
    """Rank the households removed before the switch (`enumerate_rows`), barred from programmes:
    their fresh *scores* and `STATUS_BARRED`, written to the columns directly, so the engine
    must take its full path at this decree (the caller invalidated it)."""
    registry["pmt_score"][rows] = scores
    registry["status"][rows] = STATUS_BARRED


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
