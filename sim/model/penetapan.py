"""Penetapan: the Minister's decree (monthly or quarterly) and the credit day.

The decree and the credit day are national stages (`sim.model.national` runs them at the barriers
of the conservative windows). On the decree's working day of every month the national stage
gathers the proposals that finished Kemensos processing, every region's data updates and removal
requests (`churn`), and hands them to the vectorized engine as one change batch
(`sim.model.engine`, built here by `change_batch`). The engine decides; each region then moves
every proposal of the batch on (`after_decree`): in DTKS with a BPNT/PKH programme -> issuance
(or straight to awaiting credit if the household already holds an active KKS), PBI-JK only or no
programme -> done, rejected by the engine -> done. Households of the stock who newly enter a
programme without a KKS also start issuance. In a month that is not a decree period the batch is
kept for the next one (the last decree stands).

On the credit working day of every month the engine credits and settles the period; each region
stamps the first credits of its proposals and turns its redemptions into visits (`apply_credit`).
Before that, the redemptions of the previous period that KPM gave up on (balked, reneged, sent
home at closing, out of visits) are forfeited in the engine (`settle_giveups`), so queues move
money: the month's record then holds what was really collected.
"""

from __future__ import annotations

import numpy as np

from sim.hotpath import changes as ch
from sim.model import ceiling, issuance, lean, redemption
from sim.model.context import Context, S
from sim.registry.table import PROG_BPNT, PROG_PBI, PROG_PKH, STATUS_IN_DTKS, pbi_persons_at

_KPM = int(PROG_BPNT | PROG_PKH)


def period_of(year: int, month: int) -> int:
    """The engine's period number: months since January 2000."""
    return 12 * (year - 2000) + month - 1


def change_batch(reg, proposals: list[tuple[int, float, bool]], updates: list,
                 removes: list) -> ch.ChangeBatch:
    """The decree's change batch: PROPOSE records, then UPDATE, then REMOVE records.

    *proposals* are ``(row, assessed score or NaN, Dukcapil fixed)`` in batch order: a verval
    assessment replaces the registry's score, a Dukcapil correction makes the record padan.
    """
    rows_p = np.array([x[0] for x in proposals], dtype=np.int64)
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
    for j, (_, score, fixed) in enumerate(proposals):
        if score == score:
            cols["pmt_score"][j] = score
        if fixed:
            cols["dukcapil_match"][j] = True
    off = len(rows_p)
    for j, (_, column, value) in enumerate(updates):
        if column == "members":
            for m in ch.MEMBER_COLUMNS:
                cols[m][off + j] = 0
        else:
            cols[column][off + j] = value
    cols["reason"][off + len(rows_u):] = [r[1] for r in removes]
    return ch.ChangeBatch.from_columns(cols)


def initial_decree(nat, period: int):
    """Rank the starting DTKS and pick the stock of recipients (who already hold active KKS).

    *nat* is the national stage (`sim.model.national.National`). The stock is set up by one
    decree whatever the scenario's cadence, and with budget lines it too is what the first
    year's lines can pay (`sim.model.ceiling`); returns the decree's result.
    """
    engine = nat.engine
    cadence = engine.params.cadence_months
    built = engine.params.quota
    engine.with_params(cadence_months=1)
    res = engine.decree(ch.ChangeBatch.empty(), period)
    if ceiling.any_set(nat.p):  # costed on the stock just picked
        ceiling.cap_quotas(nat, period + 1, True)
        if engine.params.quota is not built:
            res = engine.decree(ch.ChangeBatch.empty(), period)
    engine.with_params(cadence_months=cadence, quota=built)
    return res


def log_pbi_exits(ctx, period: int, before: np.ndarray,
                  round_rows: np.ndarray | None = None, part: np.ndarray | None = None,
                  into: list | None = None) -> None:
    """Record the households and persons who lost PBI-JK at this decree because of their
    decile (a deactivation of deciles above ``pbi_max_desil``, or a deactivation round of
    `sim.model.pbi_round`, *round_rows*, richest first), for dated backtest figures.

    *ctx* is the national stage (`sim.model.national.National`: registry, p, cal, env,
    pbi_exits); with *part* (bool per row) only those rows count, recorded *into* that list."""
    reg = ctx.registry
    lost = ((before & PROG_PBI) != 0) & ((reg["programmes"] & PROG_PBI) == 0)
    rule = reg["desil"] > ctx.p["programmes"]["pbi_max_desil"]
    if round_rows is not None and len(round_rows):
        rule = rule.copy()
        rule[round_rows] = True
    by_desil = lost & (reg["status"] == STATUS_IN_DTKS) & rule
    if part is not None:
        by_desil &= part
    (ctx.pbi_exits if into is None else into).append({
        "period": period, "date": ctx.cal.date(ctx.env.now).isoformat(),
        "households": int(np.count_nonzero(by_desil)),
        "persons": int(pbi_persons_at(reg, by_desil).sum(dtype=np.int64))})


def after_decree(ctx: Context, proposals: list[int], before: np.ndarray) -> None:
    """Move a region's proposals of the batch on, start issuance, end proposals that lost out.

    Runs in the region at the decree's time, after its registry rows took the decree's status
    and programmes; *before* is its programmes column before the decree.
    """
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


def apply_credit(ctx: Context, credited: np.ndarray, redeem: tuple, period: int,
                 month: int) -> None:
    """A region's part of the credit day: first credits of its proposals, then its visits.

    *credited* are the region's rows the engine credited; *redeem* is ``(rows, days,
    pre-settlement balances, unspent months)`` of its rows that redeem in *period* (on that day
    of the period); *month* numbers the credit day (visit streams).
    """
    env, props = ctx.env, ctx.props
    # Python ints for one block of rows at a time, not for every credited household at once
    for row in lean.ints(credited):
        i = ctx.proposal_of_row.get(row, -1)
        # only a decreed proposal can be credited (a re-proposed recipient keeps its old
        # programme meanwhile, and those credits are not this proposal's)
        decreed = i >= 0 and props.t_dtks[i] == props.t_dtks[i]
        if decreed and props.t_credit[i] != props.t_credit[i]:
            props.t_credit[i] = env.now
            props.advance(i, S["credited"])
    rows, days, pre_balance, pre_unspent = redeem
    redemption.schedule_visits(ctx, env.now, rows, days, period, pre_balance, pre_unspent,
                               month=month)


def settle_giveups(ctx) -> None:
    """Forfeit, in the engine, the redemptions of the last settled period that KPM gave up on,
    and bring that month's record up to date (redeemed, returned, held, redeemers, collected).

    *ctx* is the national stage (`sim.model.national.National`: engine, giveups, mon,
    last_credited). Give-ups of an older period (a KPM still coming back after the next credit)
    are too late to change that period's money: they are counted in ``giveups_too_late`` and
    their redemption stands (the KPM is taken to collect later).
    """
    eng = ctx.engine
    current = eng.ledger.period
    for period in sorted(ctx.giveups):
        rows = ctx.giveups.pop(period)
        if period != current or not ctx.mon.months or ctx.mon.months[-1]["period"] != period:
            ctx.mon.count("giveups_too_late", len(rows))
            if getattr(ctx, "in_territory", None) is not None:
                ctx.count_territory("giveups_too_late", [x[0] for x in rows])
            continue
        r = eng.forfeit(period, rows)
        if getattr(ctx, "in_territory", None) is not None and ctx.territory_months:
            _forfeit_part(ctx, rows, period)
        month = ctx.mon.months[-1]
        ctx.mon.count("forfeited_rp", month["redeemed_rp"] - r.redeemed)
        month.update({"redeemed_rp": r.redeemed, "returned_rp": r.returned, "held_rp": r.held,
                      "redeemers": r.redeemers, "gave_up": len(rows),
                      "collected": month["collected"] - int(np.isin(
                          [x[0] for x in rows], ctx.last_credited).sum())})


def _forfeit_part(nat, rows: list[tuple[int, int, int]], period: int) -> None:
    """Bring the territory's month record up to date after the forfeits of *rows* (their
    redemptions undone: the amounts drawn are back, or returned by the return rule)."""
    from sim.hotpath.disburse import redemption_draws

    month = nat.territory_months[-1]
    if month["period"] != period:
        return
    mine = [x for x in sorted(rows) if nat.in_territory[x[0]]]
    eng = nat.engine
    if mine:
        r = np.array([x[0] for x in mine], dtype=np.int64)
        draws = redemption_draws(eng.disbursed_with.get(period, eng.params), eng.seed, period,
                                 r, np.array([x[1] for x in mine], dtype=np.int64))
        forfeited = int(draws.amount.sum(dtype=np.int64))
        month["redeemed_rp"] -= forfeited
        nat.territory_counts["forfeited_rp"] = nat.territory_counts.get("forfeited_rp",
                                                                        0) + forfeited
        month["redeemers"] -= len(mine)
        month["collected"] -= int(np.isin(r, nat.last_credited).sum())
    month["gave_up"] = len(mine)
    month["held_rp"] = int(nat.registry["balance"][nat.in_territory].sum(dtype=np.int64))
    month["returned_rp"] = (nat.territory_opening[-1] + month["credited_rp"]
                            - month["redeemed_rp"] - month["held_rp"])
