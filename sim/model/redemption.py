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
from heapq import heapify, heappop, heappush, heapreplace

import numpy as np
import simpy

from sim.model import atm as _atm
from sim.model import lean
from sim.model.context import Context, S

_MIN_PER_DAY = 1440.0


class Agent:
    """A paying or selling agent: *servers* counters, an optional *stock*, one FIFO queue.

    The counters are computed, not simulated event by event: KPM reach an agent in time order
    (every visit is started by a `Visits` driver at its arrival time), and in a first-come
    first-served queue nobody who comes later changes the fate of one who came earlier. So at
    its arrival a KPM's whole visit is known: the counter it gets and when (the earliest time a
    counter frees after everyone ahead), or that it balks or gives up first. The agent keeps
    only when each counter frees next (`free`, a heap) and when each KPM now in the queue
    leaves it (`queue`, a heap). This is exactly the queue of a SimPy `Resource` with the same
    arrivals, patience and closing time (tests/sim/model/test_agent_counter.py checks it against
    one) without the request, release, service and process events per visit.
    """

    __slots__ = ("balked", "capacity", "closed", "demand", "env", "free", "mean_service",
                 "queue", "reneged", "short", "stock", "stockouts", "visits", "work")

    def __init__(self, env: simpy.Environment, servers: int, stock: int | None = None,
                 mean_service: float = 0.0) -> None:
        self.env = env
        self.capacity = servers
        self.free = [0.0] * servers      # when each counter is next free (heap)
        self.queue: list[float] = []     # when each queued KPM leaves the queue (heap)
        self.stock = stock
        self.mean_service = mean_service
        self.demand = 0
        #: KPM who found no stock, waiting for the next restock: (visit tuple, visit number)
        self.short: list[tuple[tuple, int]] = []
        self.visits = 0
        self.stockouts = 0
        self.balked = 0
        self.reneged = 0
        self.closed = 0
        self.work = 0.0

    def busy(self, t: float) -> int:
        """Counters serving a KPM at time *t*."""
        return sum(1 for f in self.free if f > t)

    def queued(self, t: float) -> int:
        """KPM waiting in the queue at time *t* (not before the last arrival)."""
        q = self.queue
        while q and q[0] <= t:
            heappop(q)
        return len(q)

    def arrive(self, t: float, service: float, patience: float = math.inf,
               close_hour: float | None = None) -> tuple[bool, float, float]:
        """A KPM arrives at time *t* (no earlier than every earlier arrival) for *service* days.

        Returns ``(served, leaves, wait)``: served at the first counter free after everyone
        ahead, leaving at the end of its service after waiting *wait* days; or not served, when
        the queue ahead would outlast its *patience* (days; it balks and leaves at once) or its
        wait reaches its patience (it reneges) or the closing *close_hour* (if given; it is sent
        home). Counts visits, service time and give-ups on the agent.
        """
        until_close = (math.inf if close_hour is None
                       else math.floor(t) + close_hour / 24.0 - t)
        limit = patience if patience < until_close else until_close
        q = self.queue
        while q and q[0] <= t:
            heappop(q)
        free = self.free
        start = free[0] if free else math.inf
        busy = start > t
        if limit <= 0.0 or (busy and limit < math.inf and
                            (len(q) + 1) * self.mean_service / self.capacity > limit):
            self.balked += 1
            return False, t, 0.0
        if not busy:
            start = t
        elif start - t > limit:
            if until_close <= patience:
                self.closed += 1
            else:
                self.reneged += 1
            heappush(q, t + limit)
            return False, t + limit, 0.0
        if start > t:
            heappush(q, start)
        heapreplace(free, start + service)
        self.visits += 1
        self.work += service
        return True, start + service, start - t

    def resize(self, servers: int) -> None:
        """*servers* counters from now on: KPM in service finish; with fewer counters a newcomer
        waits until fewer than *servers* are busy (the counters that free last are kept)."""
        now = self.env.now
        free = self.free
        if servers >= len(free):
            free.extend([now] * (servers - len(free)))
        else:
            free[:] = sorted(free)[len(free) - servers:]
        heapify(free)
        self.capacity = servers


#: kinds of `Visits` steps (the ATM ones are `sim.model.atm`'s)
_VISIT, _AFTER, _STAMP = 0, 1, _atm.STAMP
_ATM, _AFTER_ATM, _POS, _AFTER_POS = _atm.ATM, _atm.AFTER_ATM, _atm.POS, _atm.AFTER_POS
#: the next first visit of a credit day's `FirstVisits` (its only entry in the heap)
_FIRST = 7


class FirstVisits:
    """A credit day's first visits, as typed columns in time order (ties in row order).

    Each KPM's first visit used to be a heap entry holding its visit tuple and its patience and
    return times as Python lists (about 700 bytes per KPM in flight). Here they are columns
    (about 100 bytes per KPM): only the next one is in the `Visits` heap, at its own time and
    sequence number (the visits of a credit day take consecutive numbers), and its tuple is
    made when it is due (`visit`), value for value the tuple `schedule_visits` built before.
    What depends on the moment of scheduling is taken then: the agent (created in this order,
    its demand counted) and whether the KPM's proposal awaits its first redemption.
    """

    __slots__ = ("agents", "atm_deadline", "deadline", "first", "giveup_balance",
                 "giveup_unspent", "index", "kinds", "n", "patience", "period", "pos_svc",
                 "returns", "rows", "service", "then", "times")

    def __init__(self, times: np.ndarray, kinds: bytes, index: np.ndarray, rows: np.ndarray,
                 service: np.ndarray, agents: list, first: np.ndarray, patience: np.ndarray,
                 returns: np.ndarray, giveup_balance: np.ndarray, giveup_unspent: np.ndarray,
                 then: list | None, pos_svc: float, deadline: float, atm_deadline: float,
                 period: int) -> None:
        self.n = len(times)
        self.times = times
        self.kinds = kinds
        self.index, self.rows, self.service = index, rows, service
        self.agents, self.first = agents, first
        self.patience, self.returns = patience, returns
        self.giveup_balance, self.giveup_unspent = giveup_balance, giveup_unspent
        self.then, self.pos_svc = then, pos_svc
        self.deadline, self.atm_deadline, self.period = deadline, atm_deadline, period

    def visit(self, i: int) -> tuple[int, tuple, int]:
        """The step of first visit *i*: ``(kind, visit tuple, 0)`` (`schedule_visits`)."""
        t = float(self.times[i])
        row = int(self.rows[i])
        giveup = (row, int(self.giveup_balance[i]), int(self.giveup_unspent[i]))
        head = (t, int(self.index[i]), row, float(self.service[i]), self.agents[i],
                bool(self.first[i]), self.patience[i].tolist(), self.returns[i].tolist())
        if self.kinds[i] == _ATM:
            then = self.then[i] if self.then is not None else None
            return _ATM, (*head, self.atm_deadline, self.period, giveup,
                          None if then is None else (then, self.pos_svc, self.deadline)), 0
        return _VISIT, (*head, self.deadline, self.period, giveup), 0


class Visits:
    """Every visit of one region, as a heap of dated steps, computed when they are due.

    Steps: KPM arriving at their agent (first visits and returns after a give-up), a KPM's
    decision after a visit it was not served in (taken at the time it leaves: package back,
    come back another day or give up) and the first redemption of a proposal (stamped with the
    time its service ends). A step reads and writes only its agent, its KPM and counters, and
    at an agent the order of arrivals is all that matters (`Agent.arrive`), so the steps need
    no SimPy event: they are run in time order (ties in the order they were added, first visits
    in the order of `schedule_visits`) by `flush`, up to the moment something else looks at
    what they change: the end of every window (`sim.model.region.Region.advance`: give-ups and
    redemption stamps reach the barrier), the midday queue sample, a restock, a one-off payment
    at PT Pos, a status check or a new proposal. Each step takes its time from the heap, never
    from the clock. This replaces each visit's process with its request, renege timer, service
    and release events, and the one timeout per visit a driver process would still cost
    (docs/distributed.md §6). A credit day's first visits wait as columns (`FirstVisits`), with
    only the next one in the heap; a KPM's visit tuple exists only from its first visit on.
    """

    __slots__ = ("close", "ctx", "heap", "seq")

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.heap: list[tuple] = []
        self.seq = 0
        self.close = ctx.p["disbursement"]["close_hour"]

    def push(self, t: float, kind: int, v: tuple, k: int = 0) -> None:
        """Add step *kind* of KPM *v* (visit number *k*) at time *t*."""
        heappush(self.heap, (t, self.seq, kind, v, k))
        self.seq += 1

    def flush(self, until: float) -> None:
        """Run every step due before *until*, in time order."""
        heap = self.heap
        while heap and heap[0][0] < until:
            t, seq, kind, v, k = heappop(heap)
            if kind == _FIRST:  # a credit day's first visit *k*: its tuple is made only now
                if k + 1 < v.n:
                    heappush(heap, (float(v.times[k + 1]), seq + 1, _FIRST, v, k + 1))
                kind, v, k = v.visit(k)
            self.step(kind, v, k, t)

    def later(self, t: float, kind: int, v: tuple, k: int, now: float) -> None:
        """Step *kind* at *t*: at once when that is *now*, else when it is due."""
        if t > now:
            self.push(t, kind, v, k)
        else:
            self.step(kind, v, k, t)

    def step(self, kind: int, v: tuple, k: int, t: float) -> None:
        """Run step *kind* of KPM *v* (visit *k*) at time *t*."""
        if kind == _VISIT:  # e-warong or PT Pos (the channel's agent)
            self.visit(v, k, t)
        elif kind == _AFTER:
            agent = v[4]
            if agent.stock is not None:
                agent.stock += 1  # the package goes back on the shelf
            if k + 1 < len(v[6]):
                nxt = self.ctx.cal.next_working(math.floor(t) + 1.0) + v[7][k + 1]
                if nxt < v[8]:
                    self.ctx.mon.count("repeat_visits")
                    self.push(nxt, _VISIT, v, k + 1)
                    return
            self.give_up(v)
        elif kind == _AFTER_POS:
            _atm.pos_next(self, v, k + 1, t)
        elif kind == _ATM:
            _atm.visit(self, v, k, t)
        elif kind == _AFTER_ATM:
            _atm.after_visit(self, v, k, t)
        elif kind == _POS:
            _atm.pos_visit(self, v, k, t)
        else:  # _STAMP
            _stamp_first(self.ctx, v[2], t)

    def visit(self, v: tuple, k: int, t: float, stocked: bool = False) -> None:
        """Visit *k* of KPM *v* at its e-warong or PT Pos paying point at time *t*."""
        agent: Agent = v[4]
        if agent.stock is not None and not stocked:
            if agent.stock <= 0:
                agent.stockouts += 1
                agent.short.append((v, k))  # served in turn after the next restock
                return
            agent.stock -= 1
        served, leaves, wait = agent.arrive(t, v[3], v[6][k], self.close)
        if served:
            self.ctx.mon.redeem_wait_days.append(wait)
            if v[5]:
                self.later(leaves, _STAMP, v, k, t)
        else:
            self.later(leaves, _AFTER, v, k, t)

    def give_up(self, v: tuple) -> None:
        """KPM *v* does not collect this period (reported to the engine at the barrier)."""
        mon = self.ctx.mon
        mon.count("gave_up")
        if len(v) == 12:
            mon.count("atm_gave_up")
        self.ctx.giveups.setdefault(v[9], []).append(v[10])


def catchments(vkec: np.ndarray, vdesa: np.ndarray, n_kec: int,
               agents_kec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per registry row: its agent's index within its kecamatan and the desa between them.

    The rows of kecamatan k (in row order, i.e. desa code order) are cut into ``agents_kec[k]``
    runs of equal length (at least one); run j is agent j's catchment, and agent j sits in the
    desa of the run's middle row. Returns ``(agent index, |desa - agent's desa|)`` per row.
    """
    n = len(vkec)
    size = np.bincount(vkec, minlength=n_kec)
    order = np.argsort(vkec, kind="stable")  # each kecamatan's rows, in row order
    agents = np.maximum(agents_kec.astype(np.int64), 1)
    # kept per household for the whole run: 2 bytes each when the values fit (they count units
    # within one region: a kecamatan's agents, desa between two of its desa), else 4; computed
    # one kecamatan at a time, so the transient is the kecamatan's, not the region's
    idx_out = np.empty(n, dtype=lean.int_type(int(agents.max()) if len(agents) else 0))
    span = int(vdesa.max()) - int(vdesa.min()) if n else 0
    hops_out = np.empty(n, dtype=lean.int_type(span))
    lo = 0
    for k, m in enumerate(size.tolist()):
        if m == 0:
            continue
        rows_k = order[lo:lo + m]
        lo += m
        kk = int(agents[k])
        idx = np.arange(m, dtype=np.int64) * kk // m
        mid_pos = ((2 * idx + 1) * m) // (2 * kk)
        home = vdesa[rows_k[np.minimum(mid_pos, m - 1)]].astype(np.int64)
        idx_out[rows_k] = idx
        hops_out[rows_k] = np.abs(vdesa[rows_k].astype(np.int64) - home)
    return idx_out, hops_out



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
        # PT Pos pays at one point per kecamatan: the one-agent catchment just computed (kept
        # when the e-warong are sized, `size_ewarong`)
        self.pos_hops = self.hops_of_row
        self._svc = d["service_minutes"] / _MIN_PER_DAY
        #: every visit of the region, run when due (`Visits`)
        self.visits = Visits(ctx)
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
            ag = self.pos[key]
            self.ctx.mon.servers["redeem"] += servers - ag.capacity
            ag.resize(servers)
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
            self.atm[key].resize(servers)
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
        run: Visits = agents.visits
        run.flush(env.now)  # the visits due before the delivery took from the old stock
        # visits crowd into the redeem window after the credit: cover that pace until the next
        # delivery (about 5 working days in 7 calendar days)
        per_period = min(1.0, every / max(d["redeem_days"] * 5.0 / 7.0, 1.0))
        for key in sorted(agents.ewarong):
            ag = agents.ewarong[key]
            target = math.ceil(max(ag.demand, 1) * per_period * d["stock_cover"])
            if ag.stock < target:
                ctx.mon.count("restock_packages", target - ag.stock)
                ag.stock = target
        # KPM who found no stock come back now, in turn, as far as the new stock goes
        for key in sorted(agents.ewarong):
            ag = agents.ewarong[key]
            waiting, ag.short = ag.short, []
            for v, k in waiting:
                if ag.stock > 0:
                    ag.stock -= 1
                    run.visit(v, k, env.now, stocked=True)
                else:
                    ag.short.append((v, k))
        t = cal.next_working(math.floor(cal.add_working(t + 1.0, every - 1)))


def _stamp_first(ctx: Context, row: int, t: float) -> None:
    """Stamp the first redemption of *row*'s open proposal at time *t*, if it was credited and
    not yet."""
    i = ctx.proposal_of_row.get(row, -1)
    if i >= 0 and _first_redemption(ctx, i):
        ctx.props.t_redeem[i] = t
        ctx.props.advance_at(i, S["redeemed"], t)
        ctx.proposal_of_row.pop(row, None)


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

    Per-household draws are made for every registry row of the region (common random numbers),
    one block at a time (`lean.picked`), and the per-visit columns are computed directly in the
    order of the visits, each temporary dropped once used: the credit day's transient memory is
    a few columns of the redeeming households, not of every household.
    """
    if len(rows) == 0:
        return
    rows = np.asarray(rows)  # local rows as the credit message holds them (int32)
    cal = ctx.cal
    d = ctx.p["disbursement"]
    agents: Agents = ctx.agents
    rng_a = ctx.streams.get("redeem.arrival", month)
    rng_s = ctx.streams.get("redeem.service", month)
    rng_p = ctx.streams.get("redeem.patience", month)
    reg = ctx.registry
    # draws per registry row (then picked for *rows*), so a household's draws do not depend on
    # who else redeems this month (CRN across scenarios that change other regions' money); each
    # generator's draws are made in the same order as ever
    n_all = len(reg)
    hours = d["close_hour"] - d["open_hour"]
    tod = (d["open_hour"] + lean.picked(rng_a.random, n_all, rows) * hours) / 24.0
    travel = lean.picked(lambda size: rng_a.lognormal(
        math.log(max(d["travel_minutes_median"], 1e-9)), 0.6, size), n_all, rows)
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
    if channel == "bank" and d["bank_cashout_median_days"] > 0:
        days = bank_cashout_days(lean.picked(rng_a.random, n_all, rows),
                                 d["bank_cashout_median_days"])
    # the route of every visit, as whole columns: PT Pos, e-warong (BPNT) or ATM
    if channel == "pos":
        to_pos = np.ones(len(rows), dtype=bool)
    elif channel == "bank":
        to_pos = days > d["bank_collect_days"]
        ctx.mon.count("pos_takeover", int(np.count_nonzero(to_pos)))
    else:
        to_pos = np.zeros(len(rows), dtype=bool)
    to_ewarong = ~to_pos & bpnt if channel == "ewarong" else np.zeros(len(rows), dtype=bool)
    del bpnt
    # int32 as the trip's arithmetic always was (the columns may be int16, `catchments`)
    hops = np.where(to_ewarong, agents.hops_of_row[rows], agents.pos_hops[rows]).astype(np.int32)
    trip = travel + hops * hop_min
    del travel, hops
    ctx.mon.travel_min.frombytes(trip.tobytes())  # the same doubles, no float per value
    route = np.where(to_pos, np.int8(0), np.where(to_ewarong, np.int8(1), np.int8(2)))
    del to_pos, to_ewarong
    # arrival times as whole columns (PT Pos on its pay days, e-warong on working days, ATMs
    # every day), then the visits in time order (ties in row order)
    start_day = np.where(route == 0, day0 + 1 + (days - 1) % d["pos_pay_days"], day0 + days)
    t_all = np.where(route == 2, start_day, cal.next_working_days(start_day)) + tod
    del start_day, tod
    order = np.lexsort((np.arange(len(rows)), t_all))
    times = t_all[order]
    del t_all
    route_o = route[order]
    del route
    rows_o = rows[order]
    # the per-visit draws, picked straight in visit order (the same values as picking them by
    # row and then reordering): service times, then per visit patience and return times
    cv = d["service_cv"]
    if cv > 0:
        k = 1.0 / (cv * cv)
        service_min = lean.picked(lambda size: rng_s.gamma(k, d["service_minutes"] / k, size),
                              n_all, rows_o)
    else:
        service_min = np.full(len(rows), d["service_minutes"])
    pos_svc = agents._pos_svc
    service = np.where(route_o == 0, pos_svc,
                       np.where(route_o == 1, service_min / _MIN_PER_DAY,
                                service_min * atm_scale / _MIN_PER_DAY))
    del service_min
    tries = d["max_visits"]
    # patience, lengthened by the round trip (per visit)
    patience = lean.picked(lambda size: rng_p.lognormal(
        math.log(d["patience_minutes_median"] / _MIN_PER_DAY), d["patience_sigma"], size),
        n_all, rows_o, tries)
    patience += (trip[order] * stay)[:, None]
    del trip
    return_tod = lean.picked(rng_p.random, n_all, rows_o, tries)
    return_tod *= hours
    return_tod += d["open_hour"]
    return_tod /= 24.0
    atm_deadline = t_credit + d["bank_collect_days"] if channel == "bank" else deadline
    bank = channel == "bank"
    ewarong = agents.ewarong
    # each visit's agent, in time order (agents are created, and count their demand, in it)
    at: list[Agent] = []
    then: list[Agent | None] | None = [] if bank else None
    vkec, agent_of_row = ctx.frame.vkec, agents.agent_of_row
    for lo in range(0, len(rows_o), lean.BLOCK):  # Python values for one block at a time
        hi = lo + lean.BLOCK
        block = rows_o[lo:hi]
        kec_b = vkec[block].tolist()
        idx_b = agent_of_row[block].tolist()
        for i, (row, r) in enumerate(zip(block.tolist(), route_o[lo:hi].tolist(),
                                         strict=True)):
            if r == 0:  # PT Pos, on its pay days
                agent = agents.pos_of(row)
            elif r == 1:
                agent = ewarong.get((kec_b[i], idx_b[i])) or agents.ewarong_of(row)
                agent.demand += 1
            else:  # ATM cash-out (every day; the bank channel's PT Pos takes over after)
                if then is not None:
                    then.append(agents.pos_of(row))
                    at.append(agents.atm_of(row))
                    continue
                agent = agents.atm_of(row)
            if then is not None:
                then.append(None)
            at.append(agent)
    first = np.fromiter((row in first_rows for row in lean.ints(rows_o)), dtype=bool,
                        count=len(rows_o))
    kinds = np.where(route_o == 2, _ATM, _VISIT).astype(np.uint8).tobytes()
    del route_o
    run: Visits = agents.visits
    pre_unspent = np.asarray(pre_unspent)[order]
    if len(pre_unspent) and pre_unspent.min() >= 0 and pre_unspent.max() <= 255:
        pre_unspent = pre_unspent.astype(np.uint8)  # unspent months (a uint8 column)
    batch = FirstVisits(times, kinds, lean.narrow(order), lean.narrow(rows_o), service, at, first,
                        patience, return_tod, np.asarray(pre_balance)[order], pre_unspent,
                        then, pos_svc, deadline, atm_deadline, period)
    heappush(run.heap, (float(batch.times[0]), run.seq, _FIRST, batch, 0))
    run.seq += batch.n

