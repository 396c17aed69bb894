"""Disbursement and redemption: the credit day, agents, KPM visits (docs/glossary.md flow 5).

On each credit day the vectorized engine credits every payable recipient and settles the month
(who redeems, how much, on which day of the period: `sim.model.engine`). This module turns the
engine's redemptions into visits: each redeeming KPM travels to its agent on its day, during
opening hours, and queues there.

Channels (``disbursement.channel``):

* ``ewarong``: BPNT households at e-warong agents placed by the catchment rule below, each a
  SimPy `Resource` with opening hours, service times and a stock of staple food packages
  restocked every ``restock_every`` working days; a KPM who finds no stock comes back after the
  next restock. PKH-only households cash out at an ATM (`sim.model.atm`);
* ``pos``: PT Pos pays cash at community points on ``pos_pay_days`` scheduled days, by paying
  officers per (virtual) kecamatan;
* ``bank``: cash-out at an ATM (`sim.model.atm`: queued, with give-ups); a KPM who has not
  collected within ``bank_collect_days`` (never tried, or gave up at the ATM until then) is paid
  by PT Pos instead (Kemensos 2023 rule).

**Catchment** (docs/scenarios.md, "E-warong catchment"): a (virtual) kecamatan with K BPNT KPM
has ``ceil(K / ewarong_kpm_ratio)`` e-warong, so the ratio means what it says (no minimum of one
per desa). The kecamatan's households, in desa code order, are cut into that many runs of equal
length; each run is one agent's catchment and the agent sits in the desa of the run's middle
household. A KPM's travel is the log-normal trip of ``travel_minutes_median`` plus
``travel_minutes_per_desa`` for every desa between its own and its agent's (desa codes in order
stand for neighbours). PT Pos pays at one point per kecamatan, placed the same way.

**People who give up** (e-warong and PT Pos queues): each visit has a patience (log-normal,
median ``patience_minutes_median``), lengthened by the cost of coming back: a KPM weighs waiting
against going home and returning, so it waits up to its patience plus ``travel_patience_factor``
times its round trip (twice its travel to the agent, catchment rule above): KPM far from their
agent give up less per visit. A KPM *balks* (leaves at once) when the queue ahead would take
longer than that, *reneges* when its wait reaches it, and is sent home at closing time if still
queued. It comes back on a later working day, up to ``max_visits`` visits
within ``visit_window_days`` of the credit; a KPM who never gets served does not collect this
month. Those redemptions are forfeited in the engine (`sim.model.engine.Engine.forfeit`,
docs/monthly.md §4.5): the money stays on the card, the month counts as unspent and feeds the
return to the treasury. ATM cash-outs queue and give up the same way (`sim.model.atm`, which
says what happens to the money of a bank-channel KPM who gives up at the ATM).

Money is the engine's: the flow model times and queues the redemptions it decided and reports
back the ones people gave up on.
"""

from __future__ import annotations

import math
from array import array

import numpy as np
import simpy

from sim.model import atm as _atm
from sim.model.context import Context, S

_MIN_PER_DAY = 1440.0


class Agent:
    """A paying or selling agent: *servers* counters, an optional *stock*, open *open*-*close*."""

    __slots__ = ("balked", "closed", "demand", "env", "mean_service", "reneged", "res",
                 "restocked", "stock", "stockouts", "visits", "work")

    def __init__(self, env: simpy.Environment, servers: int, stock: int | None = None,
                 mean_service: float = 0.0) -> None:
        self.env = env
        self.res = simpy.Resource(env, capacity=servers)
        self.stock = stock
        self.mean_service = mean_service
        self.demand = 0
        self.restocked: simpy.Event = env.event()
        self.visits = 0
        self.stockouts = 0
        self.balked = 0
        self.reneged = 0
        self.closed = 0
        self.work = 0.0

    def expected_wait(self) -> float:
        """Days the queue ahead of a newcomer takes to clear (0 with a free counter)."""
        res = self.res
        if res.count < res.capacity:
            return 0.0
        return (len(res.queue) + 1) * self.mean_service / res.capacity

    def visit(self, service_days: float, waits: list[float], patience: float = math.inf,
              close_hour: float | None = None):
        """Generator: take a package if stock is kept, queue, be served; True when served.

        The KPM balks when the queue ahead would outlast its *patience* (days), reneges when
        its wait reaches it, and leaves at *close_hour* (if given) if still queued; then it
        returns False and puts its package back. Appends the wait (days) of a served visit to
        *waits*. Counts visits, stock-out waits, give-ups and service time on the agent (cheaper
        than shared counters: this is the model's most frequent process).
        """
        env = self.env
        if self.stock is not None:
            if self.stock <= 0:
                self.stockouts += 1
                while self.stock <= 0:
                    yield self.restocked
            self.stock -= 1
        t0 = env.now
        until_close = (math.inf if close_hour is None
                       else math.floor(t0) + close_hour / 24.0 - t0)
        limit = min(patience, until_close)
        if limit <= 0.0 or (limit < math.inf and self.expected_wait() > limit):
            self.balked += 1
            if self.stock is not None:
                self.stock += 1
            return False
        # a free counter grants the request at once: no renege timer (one event less per visit)
        timed = limit < math.inf and self.res.count >= self.res.capacity
        with self.res.request() as req:
            got = yield (req | env.timeout(limit)) if timed else req
            if timed and req not in got:
                if until_close <= patience:
                    self.closed += 1
                else:
                    self.reneged += 1
                if self.stock is not None:
                    self.stock += 1
                return False
            waits.append(env.now - t0)
            yield env.timeout(service_days)
        self.visits += 1
        self.work += service_days
        return True


def catchments(vkec: np.ndarray, vdesa: np.ndarray, n_kec: int,
               agents_kec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per registry row: its agent's index within its kecamatan and the desa between them.

    The rows of kecamatan k (in row order, i.e. desa code order) are cut into ``agents_kec[k]``
    runs of equal length (at least one); run j is agent j's catchment, and agent j sits in the
    desa of the run's middle row. Returns ``(agent index, |desa - agent's desa|)`` per row.
    """
    n = len(vkec)
    kec = vkec.astype(np.int64)
    size = np.bincount(kec, minlength=n_kec)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    order = np.argsort(kec, kind="stable")
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n) - start[kec[order]]
    k_of = np.maximum(agents_kec.astype(np.int64), 1)[kec]
    size_of = np.maximum(size[kec], 1)
    idx = pos * k_of // size_of
    mid_pos = ((2 * idx + 1) * size_of) // (2 * k_of)
    home = vdesa[order[start[kec] + np.minimum(mid_pos, size_of - 1)]]
    hops = np.abs(vdesa.astype(np.int64) - home.astype(np.int64))
    # kept per household for the whole run: 4 bytes each is plenty (units within a region)
    return idx.astype(np.int32), hops.astype(np.int32)


class Agents:
    """The agents of one channel, created on first use and keyed by (kecamatan, index)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        d = ctx.p["disbursement"]
        c = ctx.p["capacity"]
        fr = ctx.frame
        self.channel = d["channel"]
        self.ewarong: dict[tuple[int, int], Agent] = {}
        self.pos: dict[int, Agent] = {}
        self.atm: dict[int, Agent] = {}
        #: waits (days) of served ATM cash-outs
        self.atm_waits = array("d")
        #: BPNT KPM per e-warong, per virtual kecamatan (a regional override may change it)
        self.ratio_kec = np.full(fr.n_vkec, c["ewarong_kpm_ratio"], dtype=np.int64)
        self.pos_servers_kec = np.full(fr.n_vkec, c["pos_officers_per_kecamatan"],
                                       dtype=np.int64)
        self.atm_servers_kec = np.full(fr.n_vkec, c["atm_per_kecamatan"], dtype=np.int64)
        if ctx.regional is not None and ctx.regional.active:
            reg = ctx.regional
            self.ratio_kec = reg.values("capacity", "ewarong_kpm_ratio", "kec").astype(np.int64)
            self.pos_servers_kec = reg.values("capacity", "pos_officers_per_kecamatan",
                                              "kec").astype(np.int64)
            self.atm_servers_kec = reg.values("capacity", "atm_per_kecamatan",
                                              "kec").astype(np.int64)
        self.per_kec = np.ones(fr.n_vkec, dtype=np.int64)
        self.agent_of_row, self.hops_of_row = catchments(fr.vkec, fr.vdesa, fr.n_vkec,
                                                         self.per_kec)
        self.pos_hops = catchments(fr.vkec, fr.vdesa, fr.n_vkec, self.per_kec)[1]
        self._svc = d["service_minutes"] / _MIN_PER_DAY
        self._pos_svc = (d["close_hour"] - d["open_hour"]) / 24.0 / c["pos_kpm_per_officer_day"]

    def size_ewarong(self, bpnt_rows: np.ndarray) -> None:
        """Set the e-warong of every (virtual) kecamatan from its BPNT KPM (the catchment rule)."""
        fr = self.ctx.frame
        kpm = np.bincount(fr.vkec[bpnt_rows], minlength=fr.n_vkec)
        self.per_kec = -(-kpm // self.ratio_kec)
        self.agent_of_row, self.hops_of_row = catchments(fr.vkec, fr.vdesa, fr.n_vkec,
                                                         self.per_kec)

    def ewarong_of(self, row: int) -> Agent:
        """The e-warong of household *row*'s catchment."""
        key = (int(self.ctx.frame.vkec[row]), int(self.agent_of_row[row]))
        ag = self.ewarong.get(key)
        if ag is None:
            ag = self.ewarong[key] = Agent(self.ctx.env, 1, stock=0, mean_service=self._svc)
            self.ctx.mon.servers["redeem"] += 1
        return ag

    def resize_pos(self, servers: int) -> None:
        """Resize every PT Pos paying point to *servers* officers (new points get it too; a
        dated event's national value replaces regional ones)."""
        for key in sorted(self.pos):
            res = self.pos[key].res
            self.ctx.mon.servers["redeem"] += servers - res.capacity
            res._capacity = servers  # as `Stage.resize`: SimPy has no public resize
            res._trigger_put(None)
        self.pos_servers_kec[:] = servers

    def refresh_pos_service(self) -> None:
        """Recompute the PT Pos service time from today's hours and officer pace."""
        d, c = self.ctx.p["disbursement"], self.ctx.p["capacity"]
        self._pos_svc = (d["close_hour"] - d["open_hour"]) / 24.0 / c["pos_kpm_per_officer_day"]
        for key in sorted(self.pos):
            self.pos[key].mean_service = self._pos_svc

    def pos_of(self, row: int) -> Agent:
        """The PT Pos paying point of household *row*'s (virtual) kecamatan."""
        kec = int(self.ctx.frame.vkec[row])
        ag = self.pos.get(kec)
        if ag is None:
            servers = int(self.pos_servers_kec[kec])
            ag = self.pos[kec] = Agent(self.ctx.env, servers, mean_service=self._pos_svc)
            self.ctx.mon.servers["redeem"] += servers
        return ag


    def atm_of(self, row: int) -> Agent:
        """The ATMs of household *row*'s (virtual) kecamatan (one queue, `sim.model.atm`)."""
        kec = int(self.ctx.frame.vkec[row])
        ag = self.atm.get(kec)
        if ag is None:
            d = self.ctx.p["disbursement"]
            ag = self.atm[kec] = Agent(self.ctx.env, int(self.atm_servers_kec[kec]),
                                       mean_service=d["atm_service_minutes"] / _MIN_PER_DAY)
        return ag

    def refresh_atm_service(self) -> None:
        """Recompute the ATMs' mean withdrawal time (what balking KPM expect) from today's
        ``atm_service_minutes``."""
        mean = self.ctx.p["disbursement"]["atm_service_minutes"] / _MIN_PER_DAY
        for key in sorted(self.atm):
            self.atm[key].mean_service = mean

    def resize_atm(self, servers: int) -> None:
        """Set every kecamatan's ATMs to *servers* (a dated event's national value)."""
        for key in sorted(self.atm):
            res = self.atm[key].res
            res._capacity = servers  # as `resize_pos`
            res._trigger_put(None)
        self.atm_servers_kec[:] = servers


def restocking(ctx: Context):
    """Process: every ``restock_every`` working days bring each e-warong to cover its demand."""
    env, cal = ctx.env, ctx.cal
    d = ctx.p["disbursement"]
    agents: Agents = ctx.agents
    t = cal.next_working(env.now)
    while t < cal.days:
        every = d["restock_every"]
        yield env.timeout(t + 0.3 - env.now)  # before opening
        # visits crowd into the redeem window after the credit: cover that pace until the next
        # delivery (about 5 working days in 7 calendar days)
        per_period = min(1.0, every / max(d["redeem_days"] * 5.0 / 7.0, 1.0))
        for key in sorted(agents.ewarong):
            ag = agents.ewarong[key]
            target = math.ceil(max(ag.demand, 1) * per_period * d["stock_cover"])
            if ag.stock < target:
                ctx.mon.count("restock_packages", target - ag.stock)
                ag.stock = target
            ev, ag.restocked = ag.restocked, env.event()
            ev.succeed()
        t = cal.next_working(math.floor(cal.add_working(t + 1.0, every - 1)))


def _stamp_first(ctx: Context, row: int) -> None:
    """Stamp the first redemption of *row*'s open proposal, if it was credited and not yet."""
    i = ctx.proposal_of_row.get(row, -1)
    if i >= 0 and _first_redemption(ctx, i):
        ctx.props.t_redeem[i] = ctx.env.now
        ctx.props.advance(i, S["redeemed"])
        ctx.proposal_of_row.pop(row, None)


def _visits(ctx: Context, v: tuple):
    """Process: one KPM's visits to its agent in a period, until served or it gives up.

    *v* is ``(t, j, row, service, agent, first, patience[], return_tod[], deadline, period,
    giveup)``: after a give-up it comes back on the next working day at ``return_tod[k]``
    (fraction of a day), while that is before *deadline*; if it is never served, *giveup*
    (the row, its pre-settlement balance and unspent months) is reported for *period*.
    """
    _, _, row, svc, agent, first, patience, tods, deadline, period, giveup = v
    env, cal, mon = ctx.env, ctx.cal, ctx.mon
    close = ctx.p["disbursement"]["close_hour"]
    waits = mon.redeem_wait_days
    for k in range(len(patience)):
        if k:
            t = cal.next_working(math.floor(env.now) + 1.0) + float(tods[k])
            if t >= deadline:
                break
            mon.count("repeat_visits")
            yield env.timeout(t - env.now)
        served = yield from agent.visit(svc, waits, float(patience[k]), close)
        if served:
            if first:
                _stamp_first(ctx, row)
            return
    mon.count("gave_up")
    ctx.giveups.setdefault(period, []).append(giveup)


def _dispatch(ctx: Context, visits: list[tuple]):
    """Process: start each KPM's visits at its arrival time, in time order (ATM cash-outs,
    whose tuples carry a 12th item, by `sim.model.atm.visits`).

    One dispatcher per credit day instead of one sleeping process per visit keeps only the KPM
    actually at an agent alive, which spares the garbage collector scanning a month of pending
    generators (a large share of run time at kabupaten scale).
    """
    env = ctx.env
    for v in visits:
        t = v[0]
        if t > env.now:
            yield env.timeout(t - env.now)
        env.process(_visits(ctx, v) if len(v) == 11 else _atm.visits(ctx, v))


def _first_redemption(ctx: Context, i: int) -> bool:
    """Whether proposal *i* was credited and has not redeemed yet."""
    p = ctx.props
    return p.t_credit[i] == p.t_credit[i] and p.t_redeem[i] != p.t_redeem[i]


def bank_cashout_days(u: np.ndarray, median: float) -> np.ndarray:
    """Days (1, 2, ...) from the credit to a bank-channel cash-out, from uniforms *u*.

    Geometric: a KPM who has not cashed out yet does so on each day with the same chance, set so
    that half have by day *median* (P(day > k) = 2^(-k/median)). Cash is wanted: most KPM
    withdraw in the first days, and those left after ``bank_collect_days`` are paid by PT Pos
    [POS-TAKEOVER-2023]; the median (EST) is tuned to the 11.4% PT Pos share of Sembako Q4 2025
    [CHANNEL-Q4-2025] (docs/calibration.md §11). This replaces the engine's uniform redemption
    day only for the flow model's visits in the bank channel; the money settled is unchanged.
    """
    q = 2.0 ** (-1.0 / median)  # P(not yet on the next day | not yet)
    return 1 + np.floor(np.log1p(-np.minimum(u, 1 - 1e-16)) / math.log(q)).astype(np.int64)


def schedule_visits(ctx: Context, t_credit: float, rows: np.ndarray, days: np.ndarray,
                    period: int = -1, pre_balance: np.ndarray | None = None,
                    pre_unspent: np.ndarray | None = None, month: int = 0) -> None:
    """Start the visits of every redeeming household *rows* on day *days* (1-based) after credit.

    *pre_balance* and *pre_unspent* (per row of *rows*) are what the engine needs to forfeit a
    redemption of *period* the household gives up on; *month* numbers the credit day (1, 2, ...)
    and keys the visits' random streams.
    """
    if len(rows) == 0:
        return
    env, cal = ctx.env, ctx.cal
    d = ctx.p["disbursement"]
    agents: Agents = ctx.agents
    rng_a = ctx.streams.get("redeem.arrival", month)
    rng_s = ctx.streams.get("redeem.service", month)
    rng_p = ctx.streams.get("redeem.patience", month)
    reg = ctx.registry
    # draws per registry row (then picked for *rows*), so a household's draws do not depend on
    # who else redeems this month (CRN across scenarios that change other regions' money)
    n_all = len(reg)
    tod = (d["open_hour"] + rng_a.random(n_all)[rows] * (d["close_hour"] - d["open_hour"])) / 24.0
    travel = rng_a.lognormal(math.log(max(d["travel_minutes_median"], 1e-9)), 0.6, n_all)[rows]
    cv = d["service_cv"]
    if cv > 0:
        k = 1.0 / (cv * cv)
        service_min = rng_s.gamma(k, d["service_minutes"] / k, n_all)[rows]
    else:
        service_min = np.full(len(rows), d["service_minutes"])
    tries = d["max_visits"]
    patience = rng_p.lognormal(math.log(d["patience_minutes_median"] / _MIN_PER_DAY),
                               d["patience_sigma"], (n_all, tries))[rows]
    hours = d["close_hour"] - d["open_hour"]
    return_tod = (d["open_hour"] + rng_p.random((n_all, tries))[rows] * hours) / 24.0
    if pre_balance is None or pre_unspent is None:
        pre_balance = pre_unspent = np.zeros(len(rows), dtype=np.int64)
    bpnt = (reg["programmes"][rows] & 1) > 0
    hop_min = d["travel_minutes_per_desa"]
    atm_scale = d["atm_service_minutes"] / d["service_minutes"]  # rescales each KPM's draw
    # travel cost: waiting longer is weighed against going home and coming back (the round trip)
    stay = 2.0 * d["travel_patience_factor"] / _MIN_PER_DAY
    channel = d["channel"]  # read per credit day: dated events may switch it
    day0 = math.floor(t_credit)
    deadline = t_credit + d["visit_window_days"]
    first_rows = ctx.proposal_of_row
    for ag in agents.ewarong.values():
        ag.demand = 0
    visits: list[tuple] = []
    pb, pu = pre_balance.tolist(), pre_unspent.tolist()
    if channel == "bank" and d["bank_cashout_median_days"] > 0:
        days = bank_cashout_days(rng_a.random(n_all)[rows], d["bank_cashout_median_days"])
    for j, (row, day) in enumerate(zip(rows.tolist(), days.tolist(), strict=True)):
        if channel == "pos" or (channel == "bank" and day > d["bank_collect_days"]):
            if channel == "bank":
                ctx.mon.count("pos_takeover")
            pday = 1 + (day - 1) % d["pos_pay_days"]
            t = cal.next_working(day0 + pday) + float(tod[j])
            agent, svc = agents.pos_of(row), agents._pos_svc
            hops = int(agents.pos_hops[row])
        elif channel == "ewarong" and bpnt[j]:
            t = cal.next_working(day0 + day) + float(tod[j])
            agent = agents.ewarong_of(row)
            agent.demand += 1
            svc = float(service_min[j]) / _MIN_PER_DAY
            hops = int(agents.hops_of_row[row])
        else:  # ATM cash-out (every day; the bank channel's PT Pos takes over after)
            t = float(day0 + day) + float(tod[j])
            atm = agents.atm_of(row)
            svc = float(service_min[j]) * atm_scale / _MIN_PER_DAY
            hops = int(agents.pos_hops[row])
            if channel == "bank":
                then = (agents.pos_of(row), agents._pos_svc, deadline)
                atm_deadline = t_credit + d["bank_collect_days"]
            else:
                then, atm_deadline = None, deadline
            trip = float(travel[j]) + hops * hop_min
            ctx.mon.travel_min.append(trip)
            visits.append((t, j, row, svc, atm, row in first_rows, patience[j] + trip * stay,
                           return_tod[j],
                           atm_deadline, period, (row, pb[j], pu[j]), then))
            continue
        trip = float(travel[j]) + hops * hop_min
        ctx.mon.travel_min.append(trip)
        visits.append((t, j, row, svc, agent, row in first_rows, patience[j] + trip * stay,
                       return_tod[j],
                       deadline, period, (row, pb[j], pu[j])))
    visits.sort(key=lambda v: (v[0], v[1]))
    env.process(_dispatch(ctx, visits))
