"""Disbursement and redemption: the credit day, agents, KPM visits (docs/glossary.md flow 5).

On each credit day the vectorized engine credits every payable recipient and settles the month
(who redeems, how much, on which day of the period: `sim.model.engine`). This module turns the
engine's redemptions into visits: each redeeming KPM travels to its agent on its day, during
opening hours, and queues there.

Channels (``disbursement.channel``):

* ``ewarong``: BPNT households at e-warong agents, one agent per ``ewarong_kpm_ratio`` KPM of the
  virtual desa, each a SimPy `Resource` with opening hours, service times and a stock of staple
  food packages restocked every ``restock_every`` working days; a KPM who finds no stock comes
  back after the next restock. PKH-only households cash out at an ATM (not queued);
* ``pos``: PT Pos pays cash at community points on ``pos_pay_days`` scheduled days, by paying
  officers per (virtual) kecamatan;
* ``bank``: cash-out at ATM or branch; a KPM who has not collected within ``bank_collect_days``
  is paid by PT Pos instead (Kemensos 2023 rule).

Money is the engine's: the flow model only times and queues the redemptions it decided.
"""

from __future__ import annotations

import math

import numpy as np
import simpy

from sim.model.context import Context, S

_MIN_PER_DAY = 1440.0


class Agent:
    """A paying or selling agent: *servers* counters, an optional *stock*, open *open*-*close*."""

    __slots__ = ("demand", "env", "res", "restocked", "stock", "stockouts", "visits", "work")

    def __init__(self, env: simpy.Environment, servers: int, stock: int | None = None) -> None:
        self.env = env
        self.res = simpy.Resource(env, capacity=servers)
        self.stock = stock
        self.demand = 0
        self.restocked: simpy.Event = env.event()
        self.visits = 0
        self.stockouts = 0
        self.work = 0.0

    def visit(self, service_days: float, waits: list[float]):
        """Generator: queue, take a package if stock is kept, be served; appends the wait (days).

        Counts its visits, stock-out waits and service time on the agent (cheaper than shared
        counters: this is the model's most frequent process).
        """
        env = self.env
        if self.stock is not None:
            if self.stock <= 0:
                self.stockouts += 1
                while self.stock <= 0:
                    yield self.restocked
            self.stock -= 1
        t0 = env.now
        with self.res.request() as req:
            yield req
            waits.append(env.now - t0)
            yield env.timeout(service_days)
        self.visits += 1
        self.work += service_days


class Agents:
    """The agents of one channel, created on first use and keyed by (place, index)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        d = ctx.p["disbursement"]
        c = ctx.p["capacity"]
        self.channel = d["channel"]
        self.ewarong: dict[tuple[int, int], Agent] = {}
        self.pos: dict[int, Agent] = {}
        self.ratio = c["ewarong_kpm_ratio"]
        self.per_vdesa: np.ndarray = np.ones(ctx.frame.n_vdesa, dtype=np.int64)
        self.pos_servers = c["pos_officers_per_kecamatan"]

    def size_ewarong(self, bpnt_rows: np.ndarray) -> None:
        """Set the number of e-warong per virtual desa from its BPNT KPM count."""
        kpm = np.bincount(self.ctx.frame.vdesa[bpnt_rows], minlength=self.ctx.frame.n_vdesa)
        self.per_vdesa = np.maximum(1, -(-kpm // self.ratio))

    def ewarong_of(self, row: int) -> Agent:
        """The e-warong household *row* shops at (its virtual desa's agent row mod count)."""
        vd = int(self.ctx.frame.vdesa[row])
        key = (vd, row % int(self.per_vdesa[vd]))
        ag = self.ewarong.get(key)
        if ag is None:
            ag = self.ewarong[key] = Agent(self.ctx.env, 1, stock=0)
            self.ctx.mon.servers["redeem"] += 1
        return ag

    def pos_of(self, row: int) -> Agent:
        """The PT Pos paying point of household *row*'s (virtual) kecamatan."""
        kec = int(self.ctx.frame.vkec[row])
        ag = self.pos.get(kec)
        if ag is None:
            ag = self.pos[kec] = Agent(self.ctx.env, self.pos_servers)
            self.ctx.mon.servers["redeem"] += self.pos_servers
        return ag


def restocking(ctx: Context):
    """Process: every ``restock_every`` working days bring each e-warong to cover its demand."""
    env, cal = ctx.env, ctx.cal
    d = ctx.p["disbursement"]
    agents: Agents = ctx.agents
    every = d["restock_every"]
    t = cal.next_working(0.0)
    while t < cal.days:
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


def _first_visit(ctx: Context, row: int, service_days: float, agent: Agent):
    """Process: a proposal's household at its agent; stamps its first redemption when served."""
    yield from agent.visit(service_days, ctx.mon.redeem_wait_days)
    i = ctx.proposal_of_row.get(row, -1)
    if i >= 0 and _first_redemption(ctx, i):
        ctx.props.t_redeem[i] = ctx.env.now
        ctx.props.advance(i, S["redeemed"])
        ctx.proposal_of_row.pop(row, None)


def _dispatch(ctx: Context, visits: list[tuple]):
    """Process: start each visit at its arrival time, in time order.

    One dispatcher per credit day instead of one sleeping process per visit keeps only the KPM
    actually at an agent alive, which spares the garbage collector scanning a month of pending
    generators (a large share of run time at kabupaten scale).
    """
    env = ctx.env
    waits = ctx.mon.redeem_wait_days
    for t, _, row, svc, agent, first in visits:
        if t > env.now:
            yield env.timeout(t - env.now)
        if first:
            env.process(_first_visit(ctx, row, svc, agent))
        else:
            env.process(agent.visit(svc, waits))


def _first_redemption(ctx: Context, i: int) -> bool:
    """Whether proposal *i* was credited and has not redeemed yet."""
    p = ctx.props
    return p.t_credit[i] == p.t_credit[i] and p.t_redeem[i] != p.t_redeem[i]


def schedule_visits(ctx: Context, t_credit: float, rows: np.ndarray, days: np.ndarray) -> None:
    """Start a visit for every redeeming household *rows* on day *days* (1-based) after credit."""
    if len(rows) == 0:
        return
    env, cal = ctx.env, ctx.cal
    d = ctx.p["disbursement"]
    agents: Agents = ctx.agents
    reg = ctx.registry
    month = len(ctx.mon.months)
    rng_a = ctx.streams.get("redeem.arrival", month)
    rng_s = ctx.streams.get("redeem.service", month)
    n = len(rows)
    tod = (d["open_hour"] + rng_a.random(n) * (d["close_hour"] - d["open_hour"])) / 24.0
    travel = rng_a.lognormal(math.log(max(d["travel_minutes_median"], 1e-9)), 0.6, n)
    cv = d["service_cv"]
    if cv > 0:
        k = 1.0 / (cv * cv)
        service_min = rng_s.gamma(k, d["service_minutes"] / k, n)
    else:
        service_min = np.full(n, d["service_minutes"])
    bpnt = (reg["programmes"][rows] & 1) > 0
    pos_service = (d["close_hour"] - d["open_hour"]) / 24.0 / ctx.p["capacity"][
        "pos_kpm_per_officer_day"]
    channel = agents.channel
    day0 = math.floor(t_credit)
    first_rows = ctx.proposal_of_row
    for ag in agents.ewarong.values():
        ag.demand = 0
    visits: list[tuple] = []
    for j, (row, day) in enumerate(zip(rows.tolist(), days.tolist(), strict=True)):
        if channel == "pos" or (channel == "bank" and day > d["bank_collect_days"]):
            if channel == "bank":
                ctx.mon.count("pos_takeover")
            pday = 1 + (day - 1) % d["pos_pay_days"]
            t = cal.next_working(day0 + pday) + float(tod[j])
            agent, svc = agents.pos_of(row), pos_service
        elif channel == "ewarong" and bpnt[j]:
            t = cal.next_working(day0 + day) + float(tod[j])
            agent = agents.ewarong_of(row)
            agent.demand += 1
            svc = float(service_min[j]) / _MIN_PER_DAY
        else:  # ATM / bank cash-out: not queued
            ctx.mon.count("atm_cashouts")
            i = first_rows.get(row, -1)
            if i >= 0 and _first_redemption(ctx, i):
                ctx.props.t_redeem[i] = t_credit + day
                ctx.props.advance(i, S["redeemed"])
                first_rows.pop(row, None)
            continue
        ctx.mon.travel_min.append(float(travel[j]))
        visits.append((t, j, row, svc, agent, row in first_rows))
    visits.sort(key=lambda v: (v[0], v[1]))
    env.process(_dispatch(ctx, visits))
