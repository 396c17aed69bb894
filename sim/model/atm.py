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

#: kinds of `sim.model.redemption.Visits` steps for ATM cash-outs and the PT Pos take-over
#: (STAMP: a first redemption, stamped when its service ends)
STAMP, ATM, AFTER_ATM, POS, AFTER_POS = 2, 3, 4, 5, 6


def visit(run, v: tuple, k: int, t: float) -> None:
    """ATM visit *k* of KPM *v* at time *t* (*run* is the `sim.model.redemption.Visits` driver).

    *v* is ``(t, j, row, service, atm, first, patience[], return_tod[], deadline, period,
    giveup, then)``: the e-warong/PT Pos tuple of `sim.model.redemption.schedule_visits` with
    *deadline* the last moment a visit may start at the ATM and *then* either None (give up
    after the ATM) or ``(paying point, service, final deadline)`` of the bank channel's PT Pos
    take-over, where the KPM makes up to ``max_visits`` visits again (a new payout route) on
    working days.
    """
    ctx = run.ctx
    served, leaves, wait = v[4].arrive(t, v[3], v[6][k])
    if served:
        ctx.agents.atm_waits.append(wait)
        ctx.mon.count("atm_cashouts")
        if v[5]:
            run.later(leaves, STAMP, v, k, t)  # the first redemption, when the service ends
    else:
        run.later(leaves, AFTER_ATM, v, k, t)


def after_visit(run, v: tuple, k: int, t: float) -> None:
    """KPM *v* left the ATMs unserved after visit *k* (at *t*): back the next day at its own
    return time, or to PT Pos (bank channel), or it gives up."""
    ctx = run.ctx
    if k + 1 < len(v[6]):
        nxt = math.floor(t) + 1.0 + v[7][k + 1]  # ATMs work every day
        if nxt < v[8]:
            ctx.mon.count("repeat_visits")
            run.push(nxt, ATM, v, k + 1)
            return
    if v[11] is None:
        run.give_up(v)
        return
    ctx.mon.count("atm_to_pos")  # bank channel: PT Pos takes over from the next working day
    ctx.mon.count("pos_takeover")
    pos_next(run, v, 0, t)


def pos_visit(run, v: tuple, k: int, t: float) -> None:
    """PT Pos take-over visit *k* of KPM *v* at time *t* (queued with the same patience)."""
    ctx = run.ctx
    pos, pos_svc, _ = v[11]
    served, leaves, wait = pos.arrive(t, pos_svc, v[6][k], run.close)
    if served:
        ctx.mon.redeem_wait_days.append(wait)
        if v[5]:
            run.later(leaves, STAMP, v, k, t)
    else:
        run.later(leaves, AFTER_POS, v, k, t)


def pos_next(run, v: tuple, k: int, t: float) -> None:
    """After KPM *v*'s last failure (at *t*): its PT Pos visit *k* on the next working day while
    that starts before the final deadline, else it gives up."""
    ctx = run.ctx
    if k < len(v[6]):
        start = ctx.cal.next_working(math.floor(t) + 1.0) + v[7][k]
        if start < v[11][2]:
            if k:
                ctx.mon.count("repeat_visits")
            run.push(start, POS, v, k)
            return
    run.give_up(v)
