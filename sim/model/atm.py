"""ATM cash-outs: queued, with give-ups, repeat visits and the PT Pos take-over.

Who cashes out at an ATM: in the ``ewarong`` channel the PKH-only households (BPNT is spent at
the e-warong); in the ``bank`` channel every KPM who cashes out within ``bank_collect_days`` of
the credit (the rest are paid by PT Pos from the start, `sim.model.redemption`).

Where: each (virtual) kecamatan has ``capacity.atm_per_kecamatan`` ATMs (HIMBARA ATMs and cash
points a KPM of the kecamatan uses) at one place, the desa of the kecamatan's middle household
(the catchment rule of PT Pos, docs/scenarios.md "E-warong catchment"), with one queue: a KPM
takes whichever machine frees first. A withdrawal takes ``disbursement.atm_service_minutes``
(the KPM's own service-time draw of the redemption streams, rescaled: no new random stream).

When: ATMs work every day and never close, so a KPM's day is a calendar day (the e-warong and PT
Pos keep working days); KPM arrive between ``open_hour`` and ``close_hour`` as at agents.

People who give up: the same patience as at agents (``patience_minutes_median``,
``patience_sigma``, plus ``travel_patience_factor`` times the round trip to the ATMs): a KPM
balks when the queue ahead would outlast it and reneges when its wait reaches it (no closing
time); it comes back the next day at its own return time, up to ``max_visits`` visits.
What happens to its money:

* ``ewarong`` channel (PKH at the ATM): a KPM never served within ``visit_window_days`` of the
  credit does not collect this month, exactly as at an e-warong: its redemption is forfeited in
  the engine (`sim.model.engine.Engine.forfeit`, docs/monthly.md §4.5), the money stays on the
  card, the month counts as unspent and feeds the return to the treasury;
* ``bank`` channel: a KPM still unserved ``bank_collect_days`` after the credit has "not
  collected within several days", so PT Pos takes over [POS-TAKEOVER-2023]: it goes to its
  kecamatan's PT Pos paying point on the next working day and queues there with the same
  patience, up to ``max_visits`` visits within ``visit_window_days`` of the credit; only a
  KPM who gives up there too forfeits the month. Queues at ATMs therefore move money in the
  bank channel only through the PT Pos queues (and a cash channel withdraws everything, so a
  forfeited month is mostly taken the next month: the horizon's redeemed money moves less
  than the forfeits).

ATMs are counted in their own KPIs (``resources_atms``, ``atm_wait_p90_min``, ``atm_gave_up``,
``atm_to_pos``; their balking and reneging in ``balked`` and ``reneged``), not in the queues
table's ``redeem`` stage (e-warong and PT Pos counters).

Nothing here touches the hot path: give-ups are reported as `sim.model.context.Context.giveups`
and forfeited by the engine like every other.
"""

from __future__ import annotations

import math

from sim.model.context import Context


def visits(ctx: Context, v: tuple):
    """Process: one KPM's ATM cash-out in a period, until served, taken over or given up.

    *v* is ``(t, j, row, service, atm, first, patience[], return_tod[], deadline, period,
    giveup, then)``: the `sim.model.redemption._visits` tuple with *deadline* the last moment a
    visit may start at the ATM and *then* either None (give up after the ATM) or ``(paying
    point, service, final deadline)`` of the bank channel's PT Pos take-over, where the KPM
    makes up to ``max_visits`` visits again (a new payout route) on working days.
    """
    _, _, row, svc, atm, first, patience, tods, deadline, period, giveup, then = v
    from sim.model import redemption

    env, mon = ctx.env, ctx.mon
    waits = ctx.agents.atm_waits
    for k in range(len(patience)):
        if k:
            t = math.floor(env.now) + 1.0 + float(tods[k])  # ATMs work every day
            if t >= deadline:
                break
            mon.count("repeat_visits")
            yield env.timeout(t - env.now)
        served = yield from atm.visit(svc, waits, float(patience[k]), None)
        if served:
            mon.count("atm_cashouts")
            if first:
                redemption._stamp_first(ctx, row)
            return
    if then is not None:  # bank channel: PT Pos takes over from the next working day
        pos, pos_svc, final = then
        mon.count("atm_to_pos")
        mon.count("pos_takeover")
        close = ctx.p["disbursement"]["close_hour"]
        for k in range(len(patience)):
            start = ctx.cal.next_working(math.floor(env.now) + 1.0) + float(tods[k])
            if start >= final:
                break
            if k:
                mon.count("repeat_visits")
            yield env.timeout(start - env.now)
            served = yield from pos.visit(pos_svc, mon.redeem_wait_days, float(patience[k]),
                                          close)
            if served:
                if first:
                    redemption._stamp_first(ctx, row)
                return
    mon.count("gave_up")
    mon.count("atm_gave_up")
    ctx.giveups.setdefault(period, []).append(giveup)
