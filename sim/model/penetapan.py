"""Penetapan: the Minister's decree (monthly or quarterly) and the credit day.

On the decree's working day of every month the process gathers the proposals that finished
Kemensos processing, the month's data updates and removal requests (`churn`), and hands them to
the vectorized engine as one change batch (`sim.model.engine`). The engine decides; this module
then moves every proposal of the batch on: in DTKS with a BPNT/PKH programme -> issuance (or
straight to awaiting credit if the household already holds an active KKS), PBI-JK only or no
programme -> done, rejected by the engine -> done. Households of the stock who newly enter a
programme without a KKS also start issuance. In a month that is not a decree period the batch is
kept for the next one (the last decree stands).

On the credit working day of every month the engine credits and settles the period; first
credits of proposals are stamped and the period's redemptions become visits (`redemption`).
Before that, the redemptions of the previous period that KPM gave up on (balked, reneged, sent
home at closing, out of visits) are forfeited in the engine (`settle_giveups`), so queues move
money: the month's record then holds what was really collected.
"""

from __future__ import annotations

import numpy as np

from sim.hotpath import changes as ch
from sim.model import (
    ceiling,
    churn,
    enumeration,
    issuance,
    programme_decrees,
    redemption,
    targeting,
)
from sim.model import engine as _engine
from sim.model.context import Context, S
from sim.registry import regions
from sim.registry.table import PROG_BPNT, PROG_PBI, PROG_PKH, STATUS_IN_DTKS

_KPM = int(PROG_BPNT | PROG_PKH)


def period_of(year: int, month: int) -> int:
    """The engine's period number: months since January 2000."""
    return 12 * (year - 2000) + month - 1


def _batch(ctx: Context, proposals: list[int], updates: list, removes: list,
           enumerated: tuple[np.ndarray, np.ndarray] | None = None) -> ch.ChangeBatch:
    reg = ctx.registry
    rows_p = np.array([ctx.props.row[i] for i in proposals], dtype=np.int64)
    n_props = len(rows_p)
    if enumerated is not None:  # a population enumeration: more PROPOSE records (`enumeration`)
        rows_p = np.concatenate([rows_p, enumerated[0]])
    rows_u = np.array([u[0] for u in updates], dtype=np.int64)
    rows_r = np.array([r[0] for r in removes], dtype=np.int64)
    rows = np.concatenate([rows_p, rows_u, rows_r])
    kind = np.concatenate([np.full(len(rows_p), ch.PROPOSE), np.full(len(rows_u), ch.UPDATE),
                           np.full(len(rows_r), ch.REMOVE)]).astype(np.int8)
    cols: dict[str, np.ndarray] = {"kind": kind, "row": rows,
                                   "reason": np.zeros(len(rows), dtype=np.int8)}
    data_rows = np.concatenate([rows_p, rows_u])
    for name in ch.DATA_COLUMNS:
        vals = np.zeros(len(rows), dtype=reg[name].dtype)
        vals[: len(data_rows)] = reg[name][data_rows]
        cols[name] = vals
    if enumerated is not None:
        cols["pmt_score"][n_props:len(rows_p)] = enumerated[1]
    for j, row in enumerate(rows_p[:n_props].tolist()):
        if row in ctx.assessed:
            cols["pmt_score"][j] = ctx.assessed.pop(row)
        if row in ctx.dukcapil_fixed:
            cols["dukcapil_match"][j] = True
            ctx.dukcapil_fixed.discard(row)
    off = len(rows_p)
    for j, (_, column, value) in enumerate(updates):
        if column == "members":
            for m in ch.MEMBER_COLUMNS:
                cols[m][off + j] = 0
        else:
            cols[column][off + j] = value
    cols["reason"][off + len(rows_u):] = [r[1] for r in removes]
    return ch.ChangeBatch.from_columns(cols)


def initial_decree(ctx: Context, period: int) -> None:
    """Rank the starting DTKS and pick the stock of recipients, who already hold active KKS."""
    # the stock is set up by one decree whatever the scenario's cadence
    cadence = ctx.engine.params.cadence_months
    built = ctx.engine.params.quota
    ctx.engine.with_params(cadence_months=1)
    res = ctx.engine.decree(ch.ChangeBatch.empty(), period)
    if ceiling.any_set(ctx.p):  # the stock too is what the first year's budget lines can pay:
        ceiling.cap_quotas(ctx, period + 1, True)  # costed on the stock just picked
        if ctx.engine.params.quota is not built:
            res = ctx.engine.decree(ch.ChangeBatch.empty(), period)
    ctx.engine.with_params(cadence_months=cadence, quota=built)
    reg = ctx.registry
    kpm = np.flatnonzero((reg["programmes"] & _KPM) != 0)
    reg["bank"][kpm] = issuance.bank_of(ctx, kpm)
    ctx.card_active[kpm] = True
    ctx.mon.counts["initial_dtks"] = int(res.dtks) if hasattr(res, "dtks") else int(
        np.count_nonzero(reg["status"] == STATUS_IN_DTKS))
    ctx.agents.size_ewarong(np.flatnonzero((reg["programmes"] & PROG_BPNT) != 0))
    targeting.record(ctx, period)


def decrees(ctx: Context):
    """Process: the decree of every month (applied by the engine in decree periods)."""
    env, cal = ctx.env, ctx.cal
    pen = ctx.p["penetapan"]  # read every month: dated events may change day and cadence
    last = 0.0
    for y, m in cal.months():
        day = cal.working_day_of_month(y, m, pen["decree_working_day"])
        yield env.timeout(max(0.0, day + 0.7 - env.now))
        period = period_of(y, m)
        cadence = 3 if pen["cadence"] == "quarterly" else 1
        forced = period in ctx.forced_decrees  # an event called for a decree this month
        if period % cadence and not forced:
            ctx.mon.count("months_without_decree")
            continue
        months = max(1, round((env.now - last) / 30.44))
        last = env.now
        proposals, ctx.pending = ctx.pending, []
        removes, updates = churn.monthly_changes(ctx, period, months)
        rerank = pen["rerank_every_months"]
        if rerank and period % rerank == 0:  # DTSEN update: every household re-ranked
            updates += churn.rerank_updates(ctx, period)
            ctx.engine.invalidate()  # the full decree path: every row re-checked and re-ranked
            ctx.mon.count("reranks")
        entered = None
        if enumeration.due(ctx):  # DTKS -> DTSEN: every household enters the register
            entered, refreshed = enumeration.enumerate_rows(
                ctx, period, np.array([ctx.props.row[i] for i in proposals], dtype=np.int64))
            updates += refreshed
            ctx.engine.invalidate()
        batch = _batch(ctx, proposals, updates, removes, entered)
        before = ctx.registry["programmes"].copy()
        # the PBI-JK person quota in this decree's households; the built quota is kept as the
        # model's (what `sim.outputs.effects` compares)
        built = ctx.engine.params.quota
        _engine.refresh_pbi_quota(ctx.engine, ctx.p, regions.load().province_code, ctx.nation,
                                  ctx.frame.fraction)
        if ceiling.any_set(ctx.p):  # budget lines: admit only what the year can pay
            ceiling.cap_quotas(ctx, period, cal.working_day_of_month(
                y, m, ctx.p["disbursement"]["credit_working_day"]) + 0.25 > env.now)
        own = programme_decrees.any_set(ctx.p)
        if own:  # programmes with their own schedule: their lists stand outside it
            ctx.engine.with_params(standing=programme_decrees.standing(ctx.p, period))
        if period % cadence:  # outside the cadence: the engine decrees this once
            ctx.engine.with_params(cadence_months=1)
            res = ctx.engine.decree(batch, period)
            ctx.engine.with_params(cadence_months=cadence)
            ctx.mon.count("extra_decrees")
        else:
            res = ctx.engine.decree(batch, period)
        ctx.engine.with_params(quota=built)
        if own:
            ctx.engine.with_params(standing=0)
        ctx.decree_results.append((period, res))
        _log_pbi_exits(ctx, period, before)
        _after_decree(ctx, proposals, before)
        targeting.record(ctx, period)


def _log_pbi_exits(ctx: Context, period: int, before: np.ndarray) -> None:
    """Record the households and persons who lost PBI-JK at this decree because of their
    decile (a deactivation of deciles above ``pbi_max_desil``), for dated backtest figures."""
    reg = ctx.registry
    lost = ((before & PROG_PBI) != 0) & ((reg["programmes"] & PROG_PBI) == 0)
    by_desil = lost & (reg["status"] == STATUS_IN_DTKS) & (
        reg["desil"] > ctx.p["programmes"]["pbi_max_desil"])
    ctx.pbi_exits.append({"period": period, "date": ctx.cal.date(ctx.env.now).isoformat(),
                          "households": int(np.count_nonzero(by_desil)),
                          "persons": int(reg["size"][by_desil].sum(dtype=np.int64))})


def _after_decree(ctx: Context, proposals: list[int], before: np.ndarray) -> None:
    reg, props, env = ctx.registry, ctx.props, ctx.env
    status, prog = reg["status"], reg["programmes"]
    for i in proposals:
        row = props.row[i]
        if status[row] != STATUS_IN_DTKS:
            props.fail(i, S["rejected_decree"])
            ctx.proposal_of_row.pop(row, None)
            ctx.mon.count("rejected_decree")
            continue
        props.t_dtks[i] = env.now
        pr = int(prog[row])
        if pr & _KPM:
            props.advance(i, S["issuance"] if not ctx.card_active[row] else S["awaiting_credit"])
        else:
            props.fail(i, S["pbi_only"] if pr & PROG_PBI else S["dtks_only"])
            ctx.proposal_of_row.pop(row, None)
    # everyone who now holds BPNT/PKH without a KKS: start issuance (rows in order)
    need = np.flatnonzero(((prog & _KPM) != 0) & ~ctx.card_active)
    for row in need.tolist():
        if row not in ctx.issuing:
            ctx.issuing.add(row)
            env.process(issuance.issue(ctx, row))
    # proposals still waiting for their first credit whose household lost its programme
    lost = np.flatnonzero(((before & _KPM) != 0) & ((prog & _KPM) == 0))
    for row in lost.tolist():
        i = ctx.proposal_of_row.get(row, -1)
        if i >= 0 and props.state[i] in (S["issuance"], S["awaiting_credit"]):
            props.fail(i, S["removed"])
            ctx.proposal_of_row.pop(row, None)


def credits(ctx: Context):
    """Process: the monthly credit day: engine credit + settle, first credits, visits."""
    env, cal = ctx.env, ctx.cal
    disb = ctx.p["disbursement"]  # read every month: dated events may change the credit day
    for y, m in cal.months():
        day = cal.working_day_of_month(y, m, disb["credit_working_day"])
        yield env.timeout(max(0.0, day + 0.25 - env.now))
        period = period_of(y, m)
        settle_giveups(ctx)
        if ceiling.any_set(ctx.p):  # a tranche the budget line cannot pay is withheld
            ceiling.note_month(ctx, f"{y:04d}-{m:02d}")
            paused = ctx.engine.params.paused
            ctx.engine.with_params(paused=paused | ceiling.paused_for_budget(
                ctx, period, ctx.card_active))
            cr = ctx.engine.disburse(period, ctx.card_active)
            ctx.engine.with_params(paused=paused)
        else:
            cr = ctx.engine.disburse(period, ctx.card_active)
        ctx.last_credited = cr.credited_rows
        props = ctx.props
        for row in cr.credited_rows.tolist():
            i = ctx.proposal_of_row.get(row, -1)
            # only a decreed proposal can be credited (a re-proposed recipient keeps its old
            # programme meanwhile, and those credits are not this proposal's)
            decreed = i >= 0 and props.t_dtks[i] == props.t_dtks[i]
            if decreed and props.t_credit[i] != props.t_credit[i]:
                props.t_credit[i] = env.now
                props.advance(i, S["credited"])
        r = cr.result
        ctx.mon.months.append({
            "period": period, "date": cal.date(env.now).isoformat(),
            "bpnt_credits": r.credits["bpnt"], "pkh_credits": r.credits["pkh"],
            "pbi_credits": r.credits["pbi"],
            "credited_rp": r.credited["bpnt"] + r.credited["pkh"],
            "bpnt_rp": r.credited["bpnt"], "pkh_rp": r.credited["pkh"],
            "bpnt_withheld": r.withheld["bpnt"], "pkh_withheld": r.withheld["pkh"],
            "bpnt_arrears": r.arrears["bpnt"], "pkh_arrears": r.arrears["pkh"],
            "pbi_premium_rp": r.credited["pbi"], "redeemed_rp": r.redeemed,
            "returned_rp": r.returned, "held_rp": r.held, "redeemers": r.redeemers,
            "proposals_to_date": len(props), "dtks": int(np.count_nonzero(
                ctx.registry["status"] == STATUS_IN_DTKS)),
            "kpm_credited": len(cr.credited_rows),
            "collected": int(np.isin(cr.redeem_rows, cr.credited_rows).sum()),
            "gave_up": 0,
        })
        redemption.schedule_visits(ctx, env.now, cr.redeem_rows, cr.redeem_days, period,
                                   cr.pre_balance, cr.pre_unspent)


def settle_giveups(ctx: Context) -> None:
    """Forfeit, in the engine, the redemptions of the last settled period that KPM gave up on,
    and bring that month's record up to date (redeemed, returned, held, redeemers, collected).

    Give-ups of an older period (a KPM still coming back after the next credit) are too late to
    change that period's money: they are counted in ``giveups_too_late`` and their redemption
    stands (the KPM is taken to collect later).
    """
    eng = ctx.engine
    current = eng.ledger.period
    for period in sorted(ctx.giveups):
        rows = ctx.giveups.pop(period)
        if period != current or not ctx.mon.months or ctx.mon.months[-1]["period"] != period:
            ctx.mon.count("giveups_too_late", len(rows))
            continue
        r = eng.forfeit(period, rows)
        month = ctx.mon.months[-1]
        ctx.mon.count("forfeited_rp", month["redeemed_rp"] - r.redeemed)
        month.update({"redeemed_rp": r.redeemed, "returned_rp": r.returned, "held_rp": r.held,
                      "redeemers": r.redeemers, "gave_up": len(rows),
                      "collected": month["collected"] - int(np.isin(
                          [x[0] for x in rows], ctx.last_credited).sum())})
