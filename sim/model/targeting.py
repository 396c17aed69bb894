"""Targeting errors of the moment, snapshotted after every decree (for time averages)."""

from __future__ import annotations

import numpy as np

from sim.model.context import Context
from sim.registry.table import PROG_BPNT, PROG_PBI, PROG_PKH

_PROGS = (("bpnt", PROG_BPNT), ("pkh", PROG_PKH), ("pbi", PROG_PBI))


#: the two families of targeting errors, named apart everywhere (docs/calibration.md §6)
FAMILIES = ("kemensos_inclusion_share", "kemensos_exclusion_share", "alatas_inclusion_rate",
            "alatas_exclusion_rate")


def target_groups(log_c: np.ndarray, shares: dict[str, float],
                  lines: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """The two ground-truth groups: ``kemensos`` (the target group of the Kemensos shares) and
    ``alatas`` (the poor of the Alatas rates), each the poorest *shares* of *log_c*, or, with
    poverty *lines*, the households at or below the line."""
    if lines is not None:
        return {name: log_c <= lines[name] for name in ("kemensos", "alatas")}
    n = len(log_c)
    return {name: poorest(log_c, round(shares[name] * n)) for name in ("kemensos", "alatas")}


def poorest(values: np.ndarray, k: int) -> np.ndarray:
    """Mask of the *k* rows first in the stable ascending order of *values* (ties by row).

    The same rows as the first *k* of ``argsort(values, kind="stable")``, found by selection
    instead of a sort (`numpy.partition`: linear time; a decree's snapshot takes two, on
    every household of the run, in the national barrier): every row below the *k*-th smallest
    value, then the rows equal to it in row order until there are *k*.
    """
    n = len(values)
    k = min(max(int(k), 0), n)
    out = np.zeros(n, dtype=bool)
    if k == 0:
        return out
    if k == n:
        out[:] = True
        return out
    if np.isnan(values).any():  # NaNs sort last; the selection below assumes none
        out[np.argsort(values, kind="stable")[:k]] = True
        return out
    kth = np.partition(values, k - 1)[k - 1]
    np.less(values, kth, out=out)
    ties = np.flatnonzero(values == kth)[:k - int(np.count_nonzero(out))]
    out[ties] = True
    return out


def shares_of(p: dict) -> dict[str, float]:
    """The group shares of scenario tables *p* (``[targeting]``)."""
    t = p["targeting"]
    return {"kemensos": t["kemensos_target_share"], "alatas": t["alatas_poor_share"]}


def of(ctx: Context) -> dict[str, np.ndarray]:
    """The target groups of the run now: over the whole registry, weighted when the rest of the
    country is sampled at another fraction than the territory (`sim.model.nation`); a
    territory's view (`sim.model.view`) holds the national groups cut to its rows."""
    if isinstance(getattr(ctx, "nation", None), dict):
        return ctx.nation
    rel = ctx.frame.row_rel(ctx.registry["kabkota"]) if hasattr(ctx.frame, "row_rel") else None
    if rel is not None:
        from sim.model.nation import weighted_groups

        return weighted_groups(ctx.log_c, shares_of(ctx.p), rel)
    return target_groups(ctx.log_c, shares_of(ctx.p))


def true_deciles(ctx: Context) -> np.ndarray:
    """True consumption decile (1..10) of every row: of the run's registry, weighted when the
    rest of the country is sampled at another fraction; a territory's view (`sim.model.view`)
    holds the national deciles cut to its rows."""
    nation = getattr(ctx, "nation", None)
    if isinstance(nation, dict):
        return nation["true_decile"]
    rel = ctx.frame.row_rel(ctx.registry["kabkota"]) if hasattr(ctx.frame, "row_rel") else None
    return deciles(ctx.log_c, rel)


def deciles(values: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """Decile (1..10, int8: a byte per row, on every household of the run) of every row in the
    stable ascending order of *values* (lower = poorer, ties by row).

    Without *weight* the row at rank r (0-based) is in decile ``10 r // n + 1``, found by
    selection, not a sort: a row is above decile j exactly when it is not among the `poorest`
    ``ceil(j n / 10)`` rows, so nine selections (linear time each) give every row's decile, the
    same as ranking a stable `argsort` (`tests/sim/model/test_poorest.py`). With *weight* (per
    row: persons, or a sampled row's real households) each decile holds a tenth of the total
    weight: a row's decile is where the weight ranked before it falls.
    """
    n = len(values)
    if weight is None:
        out = np.full(n, 10, dtype=np.int8)
        for j in range(1, 10):
            out -= poorest(values, -(-j * n // 10))
        return out
    out = np.empty(n, dtype=np.int8)
    if n == 0:
        return out
    order = np.argsort(values, kind="stable")
    w = np.asarray(weight, dtype=np.float64)[order]
    before = np.cumsum(w) - w
    out[order] = np.minimum(1 + np.floor(10.0 * before / w.sum()).astype(np.int64), 10)
    return out


def error_families(rec: np.ndarray, target: np.ndarray, poor: np.ndarray) -> dict[str, float]:
    """Both families of targeting errors of the recipients *rec* (docs/calibration.md §6).

    Kemensos shares: ``kemensos_inclusion_share`` = recipients outside the *target* group /
    recipients; ``kemensos_exclusion_share`` = target group not receiving / target group.
    Alatas rates (Alatas et al. 2012): ``alatas_inclusion_rate`` = non-*poor* receiving /
    non-poor; ``alatas_exclusion_rate`` = poor not receiving / poor.
    """
    n_rec, n_tgt = int(rec.sum()), int(target.sum())
    n_poor, n_rich = int(poor.sum()), int((~poor).sum())
    return {
        "kemensos_inclusion_share": float((rec & ~target).sum() / n_rec) if n_rec else 0.0,
        "kemensos_exclusion_share": float((target & ~rec).sum() / n_tgt) if n_tgt else 0.0,
        "alatas_inclusion_rate": float((rec & ~poor).sum() / n_rich) if n_rich else 0.0,
        "alatas_exclusion_rate": float((poor & ~rec).sum() / n_poor) if n_poor else 0.0,
    }


def targeting_errors(programmes: np.ndarray, groups: dict[str, np.ndarray]) -> dict[str, float]:
    """Both error families per programme, as ``<family>_<programme>``."""
    out = {}
    for name, bit in _PROGS:
        rec = (programmes & bit) != 0
        for fam, value in error_families(rec, groups["kemensos"], groups["alatas"]).items():
            out[f"{fam}_{name}"] = value
    return out


def record(ctx: Context, period: int, rows: np.ndarray | None = None,
           into: list | None = None) -> None:
    """Append the targeting errors right now (after a decree) to ``ctx.mon.targeting`` (or
    *into*), of every row or of the rows where *rows* (bool) is true, against the run's groups."""
    row = {"period": period, "t": float(ctx.env.now),
           "date": ctx.cal.date(float(ctx.env.now)).isoformat()}
    groups = of(ctx)
    prog = ctx.registry["programmes"]
    if rows is not None:
        prog = prog[rows]
        groups = {k: v[rows] for k, v in groups.items()}
    # rounded like the KPIs: stable text, and no long digit runs in the outputs
    row.update({k: round(v, 6) for k, v in targeting_errors(prog, groups).items()})
    (ctx.mon.targeting if into is None else into).append(row)
