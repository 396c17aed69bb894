"""Objections and churn: usul/sanggah, removals per reason, graduation, KIS PBI reactivation.

docs/glossary.md flows 7, 8 and 9:

* *sanggah*: a citizen objects to a KPM through Cek Bansos (or the village, Dinsos, LAPOR); the
  kab/kota verifies it on the same Dinsos pool that checks proposals. Not verified within
  ``sanggah_deadline_days`` the objection is declared *tidak layak* (dismissed); verified and
  the KPM truly not poor, it is upheld and the KPM is removed at the next decree
  (``SANGGAH_UPHELD``);
* *removals per reason* (died, moved, civil-registry change not reported, resigned, declared
  ineligible by the local government) become REMOVE records of the next decree; in the DTSEN era
  (``register.ranking = "population"``) a family removed for any reason but death stays ranked in
  the population's deciles, barred from every programme until proposed again (DTSEN ranks every
  family of the population [DTSEN-2025-07]; docs/monthly.md §2.5); *PKH family
  without a qualifying member* and *a member earns the UMR* become UPDATE records the engine's
  eligibility rules act on;
* *graduation*: a household's welfare improves (consumption times ``graduation_factor``); one in
  DTKS reports it (an UPDATE with its new score) and the ranking moves it;
* *KIS PBI reactivation*: a PBI card lapses; when the holder needs care, a lapse shorter than
  ``pbi_window_months`` is reactivated in ``pbi_quick_working_days`` working days (SKTM from the
  village head countersigned by the camat, documents to Dinsos); a longer one is proposed again
  through the village (a new proposal of source ``pbi``).
"""

from __future__ import annotations

import math

import numpy as np

from sim.hotpath import changes as ch
from sim.model import lean
from sim.model.context import Context
from sim.model.registration import entity_draws, repropose
from sim.registry.table import PROG_BPNT, PROG_PBI, PROG_PKH, STATUS_IN_DTKS
from sim.scenario.streams import SOURCE_KEYS

#: scenario removal reason -> (record kind, engine reason or None for UPDATE records)
REASONS: dict[str, tuple[int, int]] = {
    "died": (ch.REMOVE, ch.DIED),  # leaves the population: unranked in either era
    "moved": (ch.REMOVE, ch.OUT_OF_DTKS),
    "dukcapil_unreported": (ch.REMOVE, ch.CIVIL_UNREPORTED),
    "resigned": (ch.REMOVE, ch.RESIGNED),
    "ineligible_local": (ch.REMOVE, ch.DECLARED_INELIGIBLE),
    "pkh_no_member": (ch.UPDATE, 0),
    "earns_umr": (ch.UPDATE, 0),
}
_KPM = int(PROG_BPNT | PROG_PKH)


def region_changes(ctx: Context, period: int, months: int, row0: int) -> dict[str, np.ndarray]:
    """Removal requests and data updates of one region accumulated over *months* before a decree.

    Returns global rows (``row0`` + local row) per category: each removal reason of `REASONS`
    (PKH families without a qualifying member only among PKH holders), ``graduation`` (DTKS
    households reporting a welfare improvement: the national stage writes their new score) and
    ``sanggah`` (upheld objections). Rows are drawn in row order from the region's
    ``churn``/``graduation`` streams keyed by *period*; the national stage concatenates the
    regions in region order, category by category (`sim.model.national`).
    """
    reg = ctx.registry
    c = ctx.p["churn"]
    dtks = np.flatnonzero(reg["status"] == STATUS_IN_DTKS)
    out: dict[str, np.ndarray] = {}
    rng = ctx.streams.get("churn", period)
    # one reason's uniforms at a time: the rows of the (reasons x DTKS rows) draw, in order
    for name in sorted(REASONS):
        rate = c["removals_per_year"].get(name, 0.0)
        p = 1.0 - (1.0 - rate) ** (months / 12.0)
        hit = dtks[rng.random(len(dtks)) < p]
        if name == "pkh_no_member":
            hit = hit[(reg["programmes"][hit] & PROG_PKH) > 0]
        out[name] = (hit + row0).astype(np.int64)
        ctx.mon.count(f"removal_{name}", len(hit))
    # graduation: welfare improves anywhere; DTKS households report it
    g = ctx.streams.get("graduation", period)
    pg = 1.0 - (1.0 - c["graduation_per_year"]) ** (months / 12.0)
    grad = lean.below(g, len(reg), pg)
    factor = c["graduation_factor"]
    if len(grad):
        reg["consumption"][grad] = np.minimum(
            reg["consumption"][grad].astype(np.float64) * factor, 2**31 - 1).astype(np.int32)
        ctx.log_c[grad] += math.log(factor)
        ctx.log_c_changed.extend(grad.tolist())
    reported = grad[reg["status"][grad] == STATUS_IN_DTKS]
    report_prob = c.get("graduation_report_prob", 1.0)
    if report_prob < 1.0 and len(reported):  # only some households report their improvement
        u_rep = ctx.streams.get("graduation.report", period).random(len(reported))
        ctx.mon.count("graduations_unreported", int(np.count_nonzero(u_rep >= report_prob)))
        reported = reported[u_rep < report_prob]
    out["graduation"] = (reported + row0).astype(np.int64)
    ctx.mon.count("graduations", len(grad))
    out["sanggah"] = np.asarray(ctx.sanggah_upheld, dtype=np.int64) + row0
    ctx.sanggah_upheld = []
    return out


def batch_lists(regions: list[dict[str, np.ndarray]], pmt_score: np.ndarray,
                factor: float) -> tuple[list, list]:
    """The decree's ``(removes, updates)`` from every region's `region_changes`, in region order.

    Removes are ``(row, reason)``, updates ``(row, column, value)``, as `penetapan` batches
    them: reason by reason in `REASONS` order, then graduation updates (the new score is the
    national registry's score plus the log of the graduation factor), then upheld sanggah.
    """
    removes: list[tuple[int, int]] = []
    updates: list[tuple[int, str, object]] = []
    for name in sorted(REASONS):
        hit = np.concatenate([r[name] for r in regions]) if regions else np.zeros(0, np.int64)
        _, reason = REASONS[name]
        if name == "pkh_no_member":
            updates += [(int(r), "members", 0) for r in hit]
        elif name == "earns_umr":
            updates += [(int(r), "earns_umr", True) for r in hit]
        else:
            removes += [(int(r), reason) for r in hit]
    step = math.log(factor)
    for r in regions:
        updates += [(int(row), "pmt_score", float(pmt_score[row]) + step)
                    for row in r["graduation"]]
    for r in regions:
        removes += [(int(row), ch.SANGGAH_UPHELD) for row in r["sanggah"]]
    return removes, updates


def rerank_updates(ctx: Context, period: int) -> list:
    """Data collected afresh at a full re-ranking: a ``rerank_refresh`` share of DTKS rows get
    a new score (today's log consumption plus the verval assessment error), as UPDATE records."""
    share = ctx.p["penetapan"]["rerank_refresh"]
    reg = ctx.registry
    dtks = np.flatnonzero(reg["status"] == STATUS_IN_DTKS)
    if share <= 0 or not len(dtks):
        return []
    rng = ctx.streams.get("rerank", period)
    u = rng.random(len(dtks))
    err = rng.standard_normal(len(dtks))
    hit = np.flatnonzero(u < share)
    noise = ctx.p["verification"]["verval_noise"]
    ctx.mon.count("rerank_refreshed", len(hit))
    return [(int(dtks[j]), "pmt_score", float(ctx.log_c[dtks[j]] + noise * err[j])) for j in hit]


def _kpm_rows(ctx: Context) -> np.ndarray:
    return np.flatnonzero((ctx.registry["programmes"] & _KPM) > 0)


def sanggah(ctx: Context):
    """Process: objections against KPM, verified by Dinsos within the deadline."""
    env = ctx.env
    c = ctx.p["churn"]
    rng = ctx.streams.get("sanggah")
    n_kpm = max(len(_kpm_rows(ctx)), 1)
    rate_day = c["sanggah_per_1000_kpm"] / 1000.0 * n_kpm / 365.25
    if rate_day <= 0:
        return
    t = 0.0
    while True:
        t += float(rng.exponential(1.0 / rate_day))
        u_target, u_pick = rng.random(2)
        if t >= ctx.cal.days:
            return
        yield env.timeout(t - env.now)
        row = _objected(ctx, u_target, u_pick)
        if row < 0:
            continue
        ctx.mon.count("sanggah_received")
        env.process(_verify(ctx, row))


def _objected(ctx: Context, u_target: float, u_pick: float) -> int:
    """The KPM row an objection targets (-1 when there is no KPM): a non-poor one with
    ``sanggah_true_share``, else any. A function of its own so that the KPM columns it builds
    are freed at once, not held by the `sanggah` process until the next objection."""
    kpm = _kpm_rows(ctx)
    if not len(kpm):
        return -1
    nonpoor = ctx.log_c[kpm] > ctx.pass_log_c
    pool = kpm[nonpoor] if (u_target < ctx.p["churn"]["sanggah_true_share"]
                            and nonpoor.any()) else kpm
    return int(pool[min(int(u_pick * len(pool)), len(pool) - 1)])


def _verify(ctx: Context, row: int):
    env = ctx.env
    c = ctx.p["churn"]
    t0 = env.now
    kab = int(ctx.frame.vkab[row])
    dinsos = ctx.kab_stage("dinsos", kab, ctx.p["capacity"]["dinsos_per_kabkota"])
    yield from dinsos.serve(c["sanggah_verify_days"])
    if env.now - t0 > c["sanggah_deadline_days"]:
        ctx.mon.count("sanggah_dismissed_late")
    elif ctx.log_c[row] > ctx.pass_log_c:
        ctx.mon.count("sanggah_upheld")
        ctx.sanggah_upheld.append(row)
    else:
        ctx.mon.count("sanggah_rejected")


def pbi_lapses(ctx: Context, flow):
    """Process: KIS PBI cards lapse; holders needing care are reactivated or proposed again."""
    env, cal = ctx.env, ctx.cal
    c = ctx.p["churn"]
    rng = ctx.streams.get("pbi")
    pbi = np.flatnonzero((ctx.registry["programmes"] & PROG_PBI) > 0)
    years = cal.days / 365.25
    n = int(rng.poisson(c["pbi_lapse_per_1000"] / 1000.0 * len(pbi) * years)) if len(pbi) else 0
    t_lapse = np.sort(rng.uniform(0.0, cal.days, n))
    rows = pbi[rng.integers(0, len(pbi), n)] if n else np.zeros(0, dtype=np.int64)
    del pbi  # not held by the process for the whole run
    # months until care is needed, EST: exponential with the window as its mean
    gap = rng.exponential(max(c["pbi_window_months"], 1e-9), n) * 30.44
    draws = entity_draws(ctx, SOURCE_KEYS["pbi"], n)
    order = np.argsort(t_lapse + gap, kind="stable")
    window = c["pbi_window_months"] * 30.44
    for j in order.tolist():
        t_need = float(t_lapse[j] + gap[j])
        if t_need >= cal.days:
            break
        yield env.timeout(max(0.0, t_need - env.now))
        ctx.mon.count("pbi_needs_care")
        if gap[j] < window:
            done = cal.add_working(env.now, c["pbi_quick_working_days"])
            ctx.pbi_quick_days.append(done - env.now)
            ctx.mon.count("pbi_reactivated_quick")
        else:
            ctx.mon.count("pbi_reproposed")
            repropose(ctx, int(rows[j]), flow, draws, j)
