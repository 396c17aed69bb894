"""The national stages of a run: Kemensos, the card printer, the decree and the credit day.

These are the only places where regions meet (docs/distributed.md). The national stage owns the
whole registry the Minister's decree ranks (national deciles, NIK/KK deduplication, kab/kota
quotas) and the money ledger; regions (`sim.model.region`) own the flow of their households.
They meet at the barriers of conservative windows (`sim.model.windows`): every region runs up to
the next national event time *T*, hands over what it produced, and the national stage then, in a
fixed order that never depends on how regions are spread over processes,

1. serves the proposals that reached Kemensos in the window, FIFO on its scaled national pool, in
   (time, region, proposal) order; their completion times go back to the regions (a proposal
   that would start after the next dated event stays queued: the event may resize the pool);
2. records the cards ordered from the printer and the cards activated;
3. applies the dated events of *T* (`sim.model.timeline`: every event date is a barrier) and
   starts the one-off rounds they call for (`sim.model.oneoff`); each region gets the events to
   apply and its part of a round;
4. runs its event at *T*: a printer batch (every card ordered before *T*), the credit day (the
   engine credits active cards and settles; each region gets its credited rows and redemptions)
   or the decree (one change batch from the proposals done at Kemensos before *T* in (time,
   region, proposal) order, every region's changes in region order and, in a re-ranking month,
   the refreshed scores; each region gets its rows' new status and programmes and its proposals
   of the batch).

The decree and credit days are computed month by month when the previous one has passed, from
the values in force then (events may change the working day and the cadence), as the single
environment did; the first barrier is at time 0 (the scenario's own one-off round and the
events of the first day).

A region's next window starts only after that, so nothing a region does can reach a national
stage before the national stage has acted on everything earlier: the lookahead is the gap to the
next national event, and the windows are exactly those gaps.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import math
from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.model import (
    ceiling,
    churn,
    enumeration,
    frame,
    heap,
    lean,
    nation,
    oneoff,
    pbi_round,
    penetapan,
    programme_decrees,
    targeting,
    timeline,
)
from sim.model import engine as _engine
from sim.model.context import Monitor
from sim.model.engine import Engine, params_from, quotas
from sim.model.region import REGION_COLUMNS, RegionSpec
from sim.registry.table import PROG_BPNT, PROG_PBI, PROG_PKH, STATUS_IN_DTKS
from sim.scenario import calendar as _calendar
from sim.scenario.loader import Scenario
from sim.scenario.streams import Streams

_KPM = int(PROG_BPNT | PROG_PKH)
#: the order of the national events that could share a time (they never do: distinct fractions)
_DECREE_AT, _CREDIT_AT = 0.7, 0.25


@dataclass
class Clock:
    """The national stages' time (what `targeting.record` reads as ``env.now``)."""

    now: float = 0.0


#: counters of the national stages that count rows: the territory's view reports its own
TERRITORY_COUNTERS = ("initial_dtks", "cards_printed", "giveups_too_late", "forfeited_rp",
                      "rerank_refreshed", "enumerated", "enumeration_refreshed",
                      "oneoff_recipients", "bpnt_withheld_for_budget",
                      "pkh_withheld_for_budget")


@dataclass
class TerritoryDecree:
    """What a decree left in the territory (``context = "national"``): holders per programme
    (the ``recipients`` the dated KPIs read of a decree's result)."""

    recipients: dict[str, int]


class Intervals:
    """Stretches of a national queue for the midday samples: (start, end, weight), packed."""

    def __init__(self) -> None:
        self.start = array("d")
        self.end = array("d")
        self.weight = array("q")

    def add(self, start: float, end: float, weight: int = 1) -> None:
        """Record one stretch."""
        self.start.append(start)
        self.end.append(end)
        self.weight.append(weight)


class National:
    """The national stages of one run, and the plan of its regions."""

    def __init__(self, scen: Scenario) -> None:
        from sim.registry import regions
        from sim.scenario.calendar import horizon_days

        p = copy.deepcopy(scen.data)  # events change the run's values, never the scenario's
        self.scen = scen
        self.p = p
        fr, registry = frame.build(scen)
        heap.release()  # the registry generator's temporaries (`sim.model.heap`)
        self.frame, self.registry = fr, registry
        start = p["scenario"]["start"]
        self.cal = cal = _calendar.build(start, horizon_days(start, p["scenario"]["months"]),
                                         p["calendar"]["weekend"], p["calendar"]["holidays"])
        self.days = float(cal.days)
        self.streams = Streams(p["scenario"]["seed"])
        self.mon = Monitor()
        #: true log consumption of every household, kept up to date from the regions' reports
        #: (shocks, graduation): the target groups of the targeting snapshots
        self.log_c = np.log(np.maximum(registry["consumption"].astype(np.float64), 1.0))
        #: per row: weight relative to the territory's (rest of the country sampled at another
        #: fraction, `sim.model.nation`); None at one fraction
        self.rel = fr.row_rel(registry["kabkota"])
        self.pass_log_c = self.verval_line()
        if self.rel is None:
            self.mean_log_c = float(self.log_c.mean())
            self.sd_log_c = float(self.log_c.std()) or 1.0
        else:
            self.mean_log_c = float(np.average(self.log_c, weights=self.rel))
            self.sd_log_c = float(np.sqrt(np.average((self.log_c - self.mean_log_c) ** 2,
                                                     weights=self.rel))) or 1.0
        #: the territory's rows inside the national registry (``context = "national"``)
        self.in_territory = (None if fr.territory is None
                             else fr.territory[registry["kabkota"].astype(np.int64)])
        #: the territory's own monthly money and its jobs' waits at the national pools
        self.territory_months: list[dict] = []
        self.territory_waits: dict[str, array] = {"kemensos": array("d"),
                                                  "printing": array("d")}
        self.territory_targeting: list[dict] = []
        #: the national stages' row counters, of the territory's rows (`TERRITORY_COUNTERS`)
        self.territory_counts: dict[str, int] = {}
        #: per month: the programmes' money of the whole country in the territory's weight
        #: (two fractions: what the budget ceilings count, `sim.model.ceiling.used`)
        self.weighted_months: list[dict] = []
        #: per territory month: the territory's balances before its credit day
        self.territory_opening: list[int] = []
        self.territory_pbi_exits: list[dict] = []
        self.territory_decrees: list[tuple[int, TerritoryDecree]] = []
        self.province_code = regions.load().province_code
        quota = quotas(p, registry, self.province_code, fr.kab_rel)
        engine_seed = int(self.streams.get("penetapan").integers(0, 2**62))
        self.engine = Engine(registry, params_from(p, quota, nation.desil_weight(fr.kab_rel)),
                             engine_seed)
        self.env = Clock()
        #: the budget ceilings' book (`sim.model.ceiling`)
        self.ceilings = ceiling.Book()
        period0 = penetapan.period_of(start.year, start.month) - 1
        res = penetapan.initial_decree(self, period0)
        self._record_targeting(period0)
        self.decree_results: list = []
        #: period -> (row, pre-settlement balance, unspent months) of KPM who gave up collecting
        self.giveups: dict[int, list[tuple[int, int, int]]] = {}
        self.last_credited = np.zeros(0, dtype=np.int64)
        self.mon.counts["initial_dtks"] = int(res.dtks) if hasattr(res, "dtks") else int(
            np.count_nonzero(registry["status"] == STATUS_IN_DTKS))
        if self.in_territory is not None:
            self.count_territory("initial_dtks", np.flatnonzero(
                registry["status"] == STATUS_IN_DTKS))
        self.card_active = (registry["programmes"] & _KPM) != 0
        self.bounds = region_bounds(fr.vkab)
        #: per region: its weight relative to the territory's (1.0 at one fraction)
        kab = registry["kabkota"]
        self.region_rel = [1.0 if fr.kab_rel is None else float(fr.kab_rel[int(kab[lo])])
                           for lo, _ in self.bounds]
        self.region_in_territory = [True if self.in_territory is None
                                    else bool(self.in_territory[lo]) for lo, _ in self.bounds]
        self.proposals = 0
        self._territory_proposals: dict[int, int] = {}
        # Kemensos: a national pool scaled to the simulated share (as `context.Stage`)
        servers = p["capacity"]["kemensos_officers"]
        share = fr.national_share
        c_eff = max(1, round(servers * share))
        self.kemensos_scale = c_eff / (servers * share)
        self.kemensos_free = [0.0] * c_eff
        self.mon.servers["kemensos"] += c_eff
        #: (time, servers) of the pool from each change on (the midday samples)
        self.kem_servers = [(0.0, c_eff)]
        #: arrivals not yet started: (time, region, proposal, row, score, fixed, work)
        self.kem_wait: list[tuple[float, int, int, int, float, bool, float]] = []
        self.pending: list[tuple[float, int, int, int, float, bool]] = []
        self.kem_queued = Intervals()
        self.kem_busy = Intervals()
        # the printer: batches every `print_batch_every` working days, paused by outages
        iss = p["issuance"]
        self.outages = sorted((cal.day_of(o["start"]), cal.day_of(o["end"]) + 1)
                              for o in iss["printer_outages"])
        self.mon.servers["printing"] += 1
        self.orders: list[tuple[float, int, int]] = []
        self.print_queued = Intervals()
        self.print_busy = Intervals()
        self._print_sched = cal.next_working(0.0)
        self.next_print = self._print_start(self._print_sched)
        # decrees and credit days: month by month, each computed when the last one passed
        self.months = list(cal.months())
        self.decree_k = self.credit_k = 0
        self.next_decree = self._month_time(0, "penetapan", "decree_working_day", _DECREE_AT)
        self.next_credit = self._month_time(0, "disbursement", "credit_working_day", _CREDIT_AT)
        self.last_decree = 0.0
        # dated events (sim.model.timeline): day -> events of that day, in scenario order
        self.events: dict[float, list] = {}
        for ev in scen.events:
            t = float(cal.day_of(ev.date))
            if 0.0 <= t < self.days:
                self.events.setdefault(t, []).append(ev)
        self.event_times = sorted(self.events)
        self.forced_decrees: set[int] = set()
        #: the register ranks the whole population (from the start, or since the population
        #: enumeration of a dated switch to ``register.ranking = "population"``)
        self.enumerated = p["register"]["ranking"] == "population"
        #: per decree: households and persons who left PBI-JK because of their decile
        self.pbi_exits: list[dict] = []
        #: share of a PBI-JK deactivation round set by an event, due at the next decree
        self.pbi_round_due = 0.0
        # one-off rounds (sim.model.oneoff): the national ledger holds the decreed budgets
        self.oneoff = oneoff.OneOffLedger()
        #: the territory's part of the rounds (``context = "national"``, its view)
        self.territory_oneoff = oneoff.OneOffLedger()
        self.oneoff_rounds = oneoff.round_numbers(scen.events)
        self.started = False
        heap.release()  # the initial decree's temporaries

    # -- the plan ---------------------------------------------------------------------------

    def specs(self) -> list[RegionSpec]:
        """One `RegionSpec` per region, in region order."""
        fr, reg = self.frame, self.registry
        out = []
        for r, (lo, hi) in enumerate(self.bounds):
            vd = fr.vdesa[lo:hi]
            vk = fr.vkec[lo:hi]
            out.append(RegionSpec(
                region=r, row0=lo,
                columns={name: reg[name][lo:hi].copy() for name in REGION_COLUMNS},
                vdesa=lean.narrow(vd - vd.min()), vkec=lean.narrow(vk - vk.min()),
                vkec0=int(vk.min()),
                pass_log_c=self.pass_log_c, mean_log_c=self.mean_log_c, sd_log_c=self.sd_log_c,
                national_share=fr.national_share, weight=fr.weight * self.region_rel[r]))
        return out

    def count_territory(self, name: str, rows) -> None:
        """Add the rows of *rows* (global) in the territory to its counter *name* (a national
        counter counted again for the territory's view, `TERRITORY_COUNTERS`)."""
        if self.in_territory is None:
            return
        n = int(np.count_nonzero(self.in_territory[np.asarray(rows, dtype=np.int64)]))
        self.territory_counts[name] = self.territory_counts.get(name, 0) + n

    def verval_line(self) -> float:
        """The verval pass threshold: ``verification.pass_quantile`` of true log consumption
        (weighted when the country is sampled at two fractions)."""
        q = self.p["verification"]["pass_quantile"]
        if self.rel is None:
            return float(np.quantile(self.log_c, q))
        return nation.weighted_quantile(self.log_c, self.rel, q)

    def _record_targeting(self, period: int) -> None:
        """Targeting errors after a decree: the run's, and the territory's inside the nation."""
        targeting.record(self, period)
        if self.in_territory is not None:
            targeting.record(self, period, rows=self.in_territory,
                             into=self.territory_targeting)

    # -- the windows ------------------------------------------------------------------------

    def next_time(self) -> float:
        """The time of the next national event (or the horizon): the end of the next window."""
        if not self.started:
            return 0.0
        t = self.days
        if self.event_times:
            t = min(t, self.event_times[0])
        if self.next_decree is not None:
            t = min(t, self.next_decree[0])
        if self.next_credit is not None:
            t = min(t, self.next_credit[0])
        if self.next_print is not None:
            t = min(t, self.next_print)
        return t

    def _month_time(self, k: int, table: str, key: str, at: float,
                    now: float = 0.0) -> tuple[float, int, int] | None:
        """``(time, year, month)`` of month *k*'s decree or credit day from today's values
        (not before *now*), None past the horizon."""
        if k >= len(self.months):
            return None
        y, m = self.months[k]
        t = max(self.cal.working_day_of_month(y, m, self.p[table][key]) + at, now)
        return (t, y, m) if t < self.days else None

    def _decree_now(self, t: float) -> tuple[int, int, bool] | None:
        """``(period, cadence, forced)`` if the decree day at *t* holds a decree."""
        if self.next_decree is None or self.next_decree[0] != t:
            return None
        _, y, m = self.next_decree
        period = penetapan.period_of(y, m)
        cadence = 3 if self.p["penetapan"]["cadence"] == "quarterly" else 1
        forced = period in self.forced_decrees  # an event called for a decree this month
        if period % cadence and not forced:
            return None
        return period, cadence, forced

    def decree_request(self, t: float) -> tuple[int, int] | None:
        """``(period, months)`` if a decree is taken at *t* (regions then draw their changes)."""
        now = self._decree_now(t)
        if now is None:
            return None
        return now[0], max(1, round((t - self.last_decree) / 30.44))

    def barrier(self, t: float, outboxes: dict[int, dict[str, Any]]) -> dict[int, dict]:
        """Consume every region's outbox of the window ending at *t*, run the event at *t*.

        Returns the inbox of each region (delivered at *t*, before its next window).
        """
        inbox: dict[int, dict[str, Any]] = {r: {} for r in outboxes}
        regions = sorted(outboxes)
        self.env.now = t
        for r in regions:
            out = outboxes[r]
            self.orders += [(tt, r, seq) for tt, seq in out["orders"]]
            self.card_active[out["activated"]] = True
            rows, values = out["log_c"]
            self.log_c[rows] = values
            for period, g in out["giveups"]:
                self.giveups.setdefault(period, []).extend(g)
        self.proposals = sum(outboxes[r]["proposals"] for r in regions)
        self._territory_proposals = {r: outboxes[r]["proposals"] for r in regions
                                     if self.region_in_territory[r]}
        work = self.p["verification"]["kemensos_days"]  # in force when they arrived
        self.kem_wait += [(tt, r, i, row, score, fixed, work) for r in regions
                          for tt, i, row, score, fixed in outboxes[r]["kemensos"]]
        self.kem_wait.sort(key=lambda a: (a[0], a[1], a[2]))
        self._kemensos(t if t in self.events else self._next_event(t), inbox)
        if not self.started:  # time 0: the scenario's own one-off round
            self.started = True
            if self.p["oneoff"]["amount"] > 0:
                self._oneoff_round(0, inbox)
        if self.event_times and self.event_times[0] == t:
            self.event_times.pop(0)
            self._events(t, inbox)
            self._kemensos(self._next_event(t), inbox)
        if self.next_print is not None and self.next_print == t:
            self._print_batch(t, inbox)
        if self.next_credit is not None and self.next_credit[0] == t:
            _, y, m = self.next_credit
            self.credit_k += 1
            self.next_credit = self._month_time(self.credit_k, "disbursement",
                                                "credit_working_day", _CREDIT_AT, t)
            self._credit(t, penetapan.period_of(y, m), inbox)
        if self.next_decree is not None and self.next_decree[0] == t:
            now = self._decree_now(t)
            self.decree_k += 1
            self.next_decree = self._month_time(self.decree_k, "penetapan",
                                                "decree_working_day", _DECREE_AT, t)
            if now is None:
                self.mon.count("months_without_decree")
            else:
                self._decree(t, *now, [outboxes[r]["changes"] for r in regions], inbox)
        if t >= self.days:
            penetapan.settle_giveups(self)  # the last period's give-ups (no credit day follows)
        return inbox

    # -- Kemensos ---------------------------------------------------------------------------

    def _next_event(self, t: float) -> float:
        """The first event date after *t* (infinity if none)."""
        later = [x for x in self.event_times if x > t]
        return later[0] if later else math.inf

    def _kemensos(self, limit: float, inbox: dict) -> None:
        """Serve the queued arrivals FIFO that start before *limit* (the next event date).

        A proposal of a region weighing w times the territory's (`sim.model.nation`) stands for
        w proposals arriving together: it is worked by ``min(round(w), pool)`` officers at once,
        starting when that many are free, for w times the work shared between them."""
        free, mon, cal, days = self.kemensos_free, self.mon, self.cal, self.days
        scale, rel, own = self.kemensos_scale, self.region_rel, self.region_in_territory
        for k, (tt, r, i, row, score, fixed, days_work) in enumerate(self.kem_wait):
            n_srv = 1 if rel[r] < 1.5 else min(round(rel[r]), len(free))
            start = max(tt, free[0] if n_srv == 1 else heapq.nsmallest(n_srv, free)[-1])
            if start >= limit:  # queued when the event comes: served by the pool it leaves
                self.kem_wait = self.kem_wait[k:]
                return
            work = days_work * scale * rel[r]  # a job weighs its region's weight
            for _ in range(n_srv):
                heapq.heappop(free)
            end = cal.add_working(start, work / n_srv)
            for _ in range(n_srv):
                heapq.heappush(free, end)
            if start < days:
                mon.waits["kemensos"].append(start - tt)
                if own[r]:
                    self.territory_waits["kemensos"].append(start - tt)
            self.kem_queued.add(tt, start)
            self.kem_busy.add(start, end, n_srv)
            if end < days:
                mon.work["kemensos"] += work
                inbox[r].setdefault("kemensos", []).append((i, end))
            self.pending.append((end, r, i, row, score, fixed))
        self.kem_wait = []

    def resize_kemensos(self, servers: int) -> None:
        """Resize the Kemensos pool to *servers* real officers from now on (as `Stage.resize`:
        work in progress finishes at its old pace; a smaller pool admits nobody new until
        enough officers are free, so the soonest-free slots go)."""
        share = self.frame.national_share
        c_eff = max(1, round(servers * share))
        free = sorted(self.kemensos_free)
        now = self.env.now
        if c_eff >= len(free):
            free += [now] * (c_eff - len(free))
        else:
            free = free[len(free) - c_eff:]
        heapq.heapify(free)
        self.kemensos_free = free
        self.mon.servers["kemensos"] = c_eff
        self.kemensos_scale = c_eff / (servers * share)
        self.kem_servers.append((now, c_eff))

    # -- dated events and one-off rounds ----------------------------------------------------

    def _events(self, t: float, inbox: dict) -> None:
        """Apply the events of day *t* here and hand them to every region."""
        evs = self.events[t]
        for ev in evs:
            timeline.apply_national(self, ev)
        for r in inbox:
            inbox[r]["events"] = [ev.index for ev in evs]
            inbox[r]["pass_log_c"] = self.pass_log_c
        if t == 0.0:  # the first month's days are read after the events of the first day
            self.next_decree = self._month_time(self.decree_k, "penetapan",
                                                "decree_working_day", _DECREE_AT)
            self.next_credit = self._month_time(self.credit_k, "disbursement",
                                                "credit_working_day", _CREDIT_AT)
        for ev in evs:  # rounds start after every event of the day is in force
            if ev.index in self.oneoff_rounds:
                self._oneoff_round(self.oneoff_rounds[ev.index], inbox)

    def _oneoff_round(self, number: int, inbox: dict) -> None:
        rows, day, collects, amount, channel, window = oneoff.start_round(self, number)
        per = self._split(np.asarray(rows, dtype=np.int64), day, collects)
        for r in inbox:
            local, d, c = per[r]
            inbox[r].setdefault("oneoff", []).append((local, d, c, amount, channel, window))

    # -- the printer ------------------------------------------------------------------------

    def _outage_end(self, t: float) -> float | None:
        for a, b in self.outages:
            if a <= t < b:
                return float(b)
        return None

    def _print_start(self, t: float) -> float | None:
        """The start of the batch scheduled at *t* (after an outage), None past the horizon."""
        if t >= self.days:
            return None
        end = self._outage_end(t)
        if end is not None:
            self.mon.count("printer_outage_batches")
            t = end
        return t if t < self.days else None

    def _print_batch(self, t: float, inbox: dict) -> None:
        mon, cal = self.mon, self.cal
        batch = sorted(self.orders)
        self.orders = []
        now = t
        if batch:
            mon.waits["printing"].extend(t - o[0] for o in batch)
            self.territory_waits["printing"].extend(
                t - o[0] for o in batch if self.region_in_territory[o[1]])
            for o in batch:
                self.print_queued.add(o[0], t)
            # the rate in force now (events may change the printer's capacity); a card weighs
            # its region's weight
            rate = self.p["capacity"]["printer_cards_per_day"] * self.frame.national_share
            work = sum(self.region_rel[o[1]] for o in batch) / rate
            t_end = cal.add_working(t, work)
            for a, b in self.outages:  # an outage starting mid-batch stops the printer
                if t < a < t_end:
                    t_end += b - a
            self.print_busy.add(t, t_end, len(batch))
            if t_end < self.days:
                mon.work["printing"] += work
                mon.count("cards_printed", len(batch))
                self.territory_counts["cards_printed"] = self.territory_counts.get(
                    "cards_printed", 0) + sum(1 for o in batch if self.region_in_territory[o[1]])
                per: dict[int, list[int]] = {}
                for _, r, seq in batch:
                    per.setdefault(r, []).append(seq)
                for r, seqs in per.items():
                    inbox.setdefault(r, {}).setdefault("printed", []).append((seqs, t_end))
            now = t_end
        nxt = cal.add_working(max(now, self._print_sched), self.p["issuance"]["print_batch_every"])
        nxt = float(math.floor(nxt)) if nxt > math.floor(nxt) else nxt
        self._print_sched = cal.next_working(nxt)
        self.next_print = self._print_start(self._print_sched)

    # -- credit day and decree --------------------------------------------------------------

    def _split(self, rows: np.ndarray, *others: np.ndarray) -> dict[int, tuple]:
        """Global *rows* (sorted) and aligned arrays, split per region with local rows."""
        starts = np.array([lo for lo, _ in self.bounds] + [len(self.registry)], dtype=np.int64)
        cut = np.searchsorted(rows, starts)
        out = {}
        for r, (lo, _) in enumerate(self.bounds):
            a, b = cut[r], cut[r + 1]
            out[r] = ((rows[a:b] - lo).astype(np.int32), *(o[a:b] for o in others))
        return out

    def _credit(self, t: float, period: int, inbox: dict) -> None:
        penetapan.settle_giveups(self)
        eng = self.engine
        if ceiling.any_set(self.p):  # a tranche the budget line cannot pay is withheld
            ceiling.note_month(self, f"{2000 + period // 12:04d}-{period % 12 + 1:02d}")
            paused = eng.params.paused
            eng.with_params(paused=paused | ceiling.paused_for_budget(self, period,
                                                                       self.card_active))
            cr = eng.disburse(period, self.card_active, self.in_territory, self.rel)
            eng.with_params(paused=paused)
        else:
            cr = eng.disburse(period, self.card_active, self.in_territory, self.rel)
        self.last_credited = cr.credited_rows
        r = cr.result
        self.mon.months.append({
            "period": period, "date": self.cal.date(t).isoformat(),
            "bpnt_credits": r.credits["bpnt"], "pkh_credits": r.credits["pkh"],
            "pbi_credits": r.credits["pbi"],
            "credited_rp": r.credited["bpnt"] + r.credited["pkh"],
            "bpnt_rp": r.credited["bpnt"], "pkh_rp": r.credited["pkh"],
            "bpnt_withheld": r.withheld["bpnt"], "pkh_withheld": r.withheld["pkh"],
            "bpnt_arrears": r.arrears["bpnt"], "pkh_arrears": r.arrears["pkh"],
            "pbi_premium_rp": r.credited["pbi"], "redeemed_rp": r.redeemed,
            "returned_rp": r.returned, "held_rp": r.held, "redeemers": r.redeemers,
            "proposals_to_date": self.proposals, "dtks": int(np.count_nonzero(
                self.registry["status"] == STATUS_IN_DTKS)),
            "kpm_credited": len(cr.credited_rows),
            "collected": int(np.isin(cr.redeem_rows, cr.credited_rows).sum()),
            "gave_up": 0,
        })
        if cr.weighted is not None:  # the country's money in the territory's weight (ceilings)
            self.weighted_months.append(dict(cr.weighted, date=self.mon.months[-1]["date"]))
        if cr.part is not None:  # the territory's own money inside the national run
            part = dict(cr.part, period=period, date=self.mon.months[-1]["date"],
                        proposals_to_date=sum(self._territory_proposals.values()),
                        dtks=int(np.count_nonzero(
                            (self.registry["status"] == STATUS_IN_DTKS) & self.in_territory)),
                        gave_up=0)
            self.territory_opening.append(part.pop("opening_rp"))
            # the national record's keys, in its order (the monthly table's columns)
            self.territory_months.append({k: part[k] for k in self.mon.months[-1]})
        month = len(self.mon.months)
        credited = self._split(np.asarray(cr.credited_rows, dtype=np.int64))
        order = np.argsort(cr.redeem_rows, kind="stable")
        redeem = self._split(np.asarray(cr.redeem_rows, dtype=np.int64)[order],
                             np.asarray(cr.redeem_days)[order],
                             np.asarray(cr.pre_balance)[order],
                             np.asarray(cr.pre_unspent)[order])
        for reg in inbox:
            inbox[reg]["credit"] = (credited[reg][0], redeem[reg], period, month)

    def _decree(self, t: float, period: int, cadence: int, forced: bool, changes: list[dict],
                inbox: dict) -> None:
        reg, eng, pen = self.registry, self.engine, self.p["penetapan"]
        done = sorted(x for x in self.pending if x[0] < t)
        self.pending = [x for x in self.pending if x[0] >= t]
        self.last_decree = t
        removes, updates = churn.batch_lists(changes, reg["pmt_score"],
                                             self.p["churn"]["graduation_factor"])
        rerank = pen["rerank_every_months"]
        if rerank and period % rerank == 0:  # DTSEN update: every household re-ranked
            refresh = churn.rerank_updates(self, period)
            self.count_territory("rerank_refreshed", [u[0] for u in refresh])
            updates += refresh
            eng.invalidate()  # the full decree path: every row re-checked and re-ranked
            self.mon.count("reranks")
        proposals = [(x[3], x[4], x[5]) for x in done]
        enumerated = barred = None
        if enumeration.due(self):  # DTKS -> DTSEN: every household enters the register
            (rows, scores), refreshed, barred = enumeration.enumerate_rows(
                self, period, np.array([x[0] for x in proposals], dtype=np.int64))
            proposals += [(r, s, False) for r, s in zip(rows.tolist(), scores.tolist(),
                                                        strict=True)]
            updates += refreshed
            self.count_territory("enumerated", rows)
            self.count_territory("enumeration_refreshed", sorted({u[0] for u in refreshed}))
            eng.invalidate()
            enumerated = enumeration.register_after(reg, proposals)
        batch = penetapan.change_batch(reg, proposals, updates, removes)
        watched = ("status", "programmes", "dukcapil_match")
        before = {name: reg[name].copy() for name in watched}
        if barred is not None:  # the DTKS era's removed but the dead: ranked, barred
            enumeration.bar(reg, *barred)
        round_rows = None
        if self.pbi_round_due:  # an event's PBI-JK deactivation round (sim.model.pbi_round)
            round_rows = pbi_round.apply_round(reg, self.pbi_round_due, self.rel)
            self.pbi_round_due = 0.0
        # the PBI-JK person quota in this decree's households; the built quota is kept as the
        # model's (what `sim.outputs.effects` compares)
        built = eng.params.quota
        if enumerated is not None:  # the register is now the population: quotas split by it
            built = _engine.quotas(self.p, reg, self.province_code, self.frame.kab_rel,
                                   in_register=enumerated)
            eng.with_params(quota=built)
        _engine.refresh_pbi_quota(eng, self.p, self.province_code, self.frame.kab_rel,
                                  in_register=enumerated)
        if ceiling.any_set(self.p):  # budget lines: admit only what the year can pay
            ceiling.cap_quotas(self, period, self._credit_ahead(t))
        own = programme_decrees.any_set(self.p)
        if own:  # programmes with their own schedule: their lists stand outside it
            eng.with_params(standing=programme_decrees.standing(self.p, period))
        if period % cadence:  # outside the cadence (an event called for it): decreed once
            eng.with_params(cadence_months=1)
            res = eng.decree(batch, period)
            eng.with_params(cadence_months=cadence)
            self.mon.count("extra_decrees")
        else:
            res = eng.decree(batch, period)
        eng.with_params(quota=built)
        if own:
            eng.with_params(standing=0)
        self.decree_results.append((period, res))
        penetapan.log_pbi_exits(self, period, before["programmes"], round_rows)
        if self.in_territory is not None:  # the territory's own figures of the decree
            penetapan.log_pbi_exits(self, period, before["programmes"], round_rows,
                                    part=self.in_territory, into=self.territory_pbi_exits)
            prog = reg["programmes"][self.in_territory]
            self.territory_decrees.append((period, TerritoryDecree(recipients={
                name: int(np.count_nonzero(prog & bit)) for name, bit in
                (("bpnt", PROG_BPNT), ("pkh", PROG_PKH), ("pbi", PROG_PBI))})))
        self._record_targeting(period)
        changed = np.zeros(len(reg), dtype=bool)
        for name in watched:
            changed |= reg[name] != before[name]
        del before
        rows = np.flatnonzero(changed)
        per = self._split(rows, *(reg[name][rows] for name in watched))
        props: dict[int, list[int]] = {}
        for x in done:
            props.setdefault(x[1], []).append(x[2])
        for r in inbox:
            local, *vals = per[r]
            inbox[r]["decree"] = (props.get(r, []), local, dict(zip(watched, vals, strict=True)))

    def _credit_ahead(self, t: float) -> bool:
        """This month's credit day is still to come at *t* (its tranche is left to pay)."""
        d = self.cal.date(t)
        day = self.cal.working_day_of_month(d.year, d.month,
                                            self.p["disbursement"]["credit_working_day"])
        return day + _CREDIT_AT > t

    # -- the end ----------------------------------------------------------------------------

    def samples(self) -> dict[tuple[int, str], tuple[int, int, int]]:
        """Midday samples of the national queues: (day, stage) -> (queued, busy, servers)."""
        days = [d for d in range(self.cal.days) if self.cal.is_working(d)]
        mid = np.array(days, dtype=np.float64) + 0.5
        out = {}
        for stage, queued, busy in (("kemensos", self.kem_queued, self.kem_busy),
                                    ("printing", self.print_queued, self.print_busy)):
            q = _count(mid, queued)
            b = _count(mid, busy)
            log = self.kem_servers if stage == "kemensos" else [(0.0, self.mon.servers[stage])]
            at = np.searchsorted(np.array([x[0] for x in log]), mid, side="right") - 1
            for j, d in enumerate(days):
                out[(d, stage)] = (int(q[j]), int(b[j]), log[at[j]][1])
        return out


def _count(mid: np.ndarray, iv: Intervals) -> np.ndarray:
    """Per midday m: the summed weight of the intervals with start < m < end."""
    diff = np.zeros(len(mid) + 1, dtype=np.int64)
    if len(iv.start):
        a = np.frombuffer(iv.start, dtype=np.float64)
        b = np.frombuffer(iv.end, dtype=np.float64)
        w = np.frombuffer(iv.weight, dtype=np.int64)
        lo = np.searchsorted(mid, a, side="right")
        hi = np.searchsorted(mid, b, side="left")
        keep = hi > lo
        np.add.at(diff, lo[keep], w[keep])
        np.add.at(diff, hi[keep], -w[keep])
    return np.cumsum(diff)[:-1]


def region_bounds(vkab: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges ``[lo, hi)`` of the regions (virtual kab/kota, consecutive rows each)."""
    n = len(vkab)
    if n == 0:
        return []
    if np.any(np.diff(vkab.astype(np.int64)) < 0):
        raise ValueError("registry rows are not grouped by (virtual) kab/kota")
    cut = np.flatnonzero(np.diff(vkab.astype(np.int64)) != 0) + 1
    edges = [0, *cut.tolist(), n]
    return list(itertools.pairwise(edges))
