"""One region of a run: the flow model of one (virtual) kab/kota as its own logical process.

A run is split into *regions*, one per (virtual) kab/kota (`sim.model.frame`): each has its own
SimPy environment, its own random streams (every stream keyed by the region as its last sub-key,
`RegionStreams`), its own pools, agents and proposals, and its own copy of the registry columns
the flow model reads or writes for its rows. Regions never talk to each other; they talk to the
national stages (`sim.model.national`) only through plain messages at the barriers of the
conservative windows (`sim.model.windows`, docs/distributed.md):

* out (collected by `Region.advance`): proposals handed to Kemensos, cards ordered from the
  printer, cards activated, the proposal count, and, on a decree day, the month's removal
  requests and data updates (`churn.monthly_changes` on the region's rows);
* in (`Region.deliver`): the dated events of the day and the verval threshold of the day (applied
  first, `sim.model.timeline`), Kemensos completion times, printed batches, its recipients of a
  one-off round (`sim.model.oneoff`), the decree's changes to its rows and the batch's proposals
  to move on, the credited rows and redemptions of a credit day.

Because a region's behaviour depends only on its own state and on these messages, it computes
the same thing whichever process or partition holds it: that is what makes a run in one process
and a run split over N workers identical.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from sim.model import (
    churn,
    issuance,
    oneoff,
    penetapan,
    redemption,
    regional,
    registration,
    status,
    timeline,
    verification,
)
from sim.model.context import STAGES, Context, Proposals, S
from sim.model.records import Spill
from sim.registry.table import PROG_BPNT, PROG_PKH
from sim.scenario import calendar as _calendar
from sim.scenario.loader import Scenario
from sim.scenario.streams import Streams

_KPM = int(PROG_BPNT | PROG_PKH)

#: registry columns a region holds for its rows (the rest stay with the national stages)
REGION_COLUMNS = ("status", "programmes", "dukcapil_match", "n_disabled", "n_elderly",
                  "consumption", "bank", "kabkota", "province")


#: registry columns a region reads only at time 0 (the PMKS source's targeting weights)
START_COLUMNS = ("n_disabled", "n_elderly")
#: columns that are the same for every row of a region at full resolution (one kab/kota)
_CONSTANT_COLUMNS = ("kabkota", "province")


def _own(name: str, column: np.ndarray) -> np.ndarray:
    """The region's own copy of registry *column*: a read-only broadcast of one value when
    the column is the region's kab/kota or province and every row has the same (no byte per
    household; nothing writes those), else a copy."""
    if (name in _CONSTANT_COLUMNS and len(column)
            and (column == column[0]).all()):
        return np.broadcast_to(column[:1].copy(), column.shape)
    return column.copy()


class RegionStreams(Streams):
    """The run's named streams with the region appended as the last sub-key.

    ``get(name, *sub)`` of region *u* is ``SeedSequence(seed, spawn_key=(key, *sub, u))``: it
    depends on the run seed, the stream and the region only, never on the partition.
    """

    def __init__(self, seed: int, region: int) -> None:
        super().__init__(seed)
        self.region = int(region)

    def get(self, name: str, *sub: int) -> np.random.Generator:
        """The generator of stream *name*, sub-keys *sub*, in this region."""
        return super().get(name, *sub, self.region)


class RegionRegistry:
    """The registry columns of one region's rows (row 0 = the region's first global row)."""

    def __init__(self, columns: dict[str, np.ndarray]) -> None:
        self.columns = columns

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __len__(self) -> int:
        return len(self.columns["status"])


@dataclass
class RegionFrame:
    """The part of `frame.Frame` a region's processes read (local unit numbers)."""

    vdesa: np.ndarray
    n_vdesa: int
    vkec: np.ndarray
    n_vkec: int
    vkab: np.ndarray
    n_vkab: int
    national_share: float
    weight: float


@dataclass
class RegionSpec:
    """Everything a region is built from: plain arrays and numbers (cheap to ship to a worker)."""

    region: int                  # region number = virtual kab/kota (0..n-1, in row order)
    row0: int                    # its first global registry row
    columns: dict[str, np.ndarray]
    vdesa: np.ndarray            # local virtual desa per row (0..n_vdesa-1)
    vkec: np.ndarray             # local virtual kecamatan per row
    vkec0: int                   # global number of its first virtual kecamatan
    pass_log_c: float            # the territory's verval pass threshold (log consumption)
    mean_log_c: float            # territory mean and sd of log consumption (targeting weights)
    sd_log_c: float
    national_share: float
    weight: float

    @property
    def households(self) -> int:
        """Registry rows of the region."""
        return len(self.columns["status"])


@dataclass
class RegionResult:
    """What a finished region hands to the merge: plain lists and arrays only."""

    region: int
    row0: int
    props: dict[str, array]
    #: values per record spilled to the partition's part files (`sim.model.records`): the
    #: transition log, the stages' waits, the redemption waits and travel times, ATM waits
    records: dict[str, int]
    work: dict[str, float]
    servers: dict[str, int]
    samples: list[tuple[int, str, int, int, int]]
    counts: dict[str, int]
    pbi_quick_days: list[float]
    #: "ewarong" / "pos" / "atm" -> (key, (visits, work, stockouts, balked, reneged, closed))
    #: per agent, in key order (keys with the region's local kecamatan)
    agents: dict[str, list[tuple[Any, tuple[int, float, int, int, int, int]]]]
    vkec0: int                   # global number of its first virtual kecamatan
    per_kec: np.ndarray          # e-warong per local virtual kecamatan (catchment rule)
    pos_servers_kec: np.ndarray  # PT Pos officers per local virtual kecamatan
    atm_servers_kec: np.ndarray  # ATMs per local virtual kecamatan
    log_c: np.ndarray
    card_active: np.ndarray
    consumption: np.ndarray
    bank: np.ndarray
    events: int
    #: the region's one-off payments (`oneoff.to_plain`)
    oneoff: dict


class RemotePrinter:
    """The region's side of the national card printer: orders wait for a printed batch."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.orders: list[tuple[float, int]] = []   # (time, seq) not yet reported
        self.waiting: dict[int, simpy.Event] = {}
        self.seq = 0

    def order(self) -> simpy.Event:
        """An event that succeeds when this card has been printed (in a national batch)."""
        ev = self.ctx.env.event()
        self.orders.append((self.ctx.env.now, self.seq))
        self.waiting[self.seq] = ev
        self.seq += 1
        return ev

    def printed(self, seqs: list[int], t_end: float) -> None:
        """Cards *seqs* come out of the printer at *t_end* (>= now)."""
        evs = [self.waiting.pop(s) for s in seqs]
        self.ctx.env.process(_release(self.ctx.env, evs, t_end))


def _release(env: simpy.Environment, evs: list[simpy.Event], t: float):
    """Process: succeed *evs* at time *t*, in order."""
    if t > env.now:
        yield env.timeout(t - env.now)
    for ev in evs:
        ev.succeed()


class Region:
    """The flow model of one region (see the module docstring)."""

    def __init__(self, scen: Scenario, spec: RegionSpec, spill: Spill) -> None:
        self.spill = spill  # where its records go at the barriers (`sim.model.records`)
        p = copy.deepcopy(scen.data)  # events change the run's values, never the scenario's
        # the spec without its registry columns: the region's own copies below replace them
        self.spec = dataclasses.replace(spec, columns={})
        self.scen = scen
        self.region = spec.region
        self.row0 = spec.row0
        start = p["scenario"]["start"]
        from sim.registry import regions
        from sim.scenario.calendar import horizon_days

        cal = _calendar.build(start, horizon_days(start, p["scenario"]["months"]),
                              p["calendar"]["weekend"], p["calendar"]["holidays"])
        env = simpy.Environment()
        reg = RegionRegistry({k: _own(k, v) for k, v in spec.columns.items()})
        n = len(reg)
        fr = RegionFrame(vdesa=spec.vdesa, n_vdesa=int(spec.vdesa.max()) + 1 if n else 0,
                         vkec=spec.vkec, n_vkec=int(spec.vkec.max()) + 1 if n else 0,
                         vkab=np.broadcast_to(np.int32(0), (n,)), n_vkab=1,
                         national_share=spec.national_share, weight=spec.weight)
        ctx = Context(env=env, cal=cal, streams=RegionStreams(p["scenario"]["seed"], spec.region),
                      p=p, registry=reg, frame=fr, props=Proposals(env))
        self.ctx = ctx
        ctx.card_active = np.zeros(n, dtype=bool)
        # computed in place (the same values, one column of transient instead of three)
        log_c = reg["consumption"].astype(np.float64)
        np.maximum(log_c, 1.0, out=log_c)
        ctx.log_c = np.log(log_c, out=log_c)
        ctx.pass_log_c = spec.pass_log_c
        frame_z = ctx.log_c - spec.mean_log_c
        frame_z /= spec.sd_log_c
        ctx.frame_z = frame_z
        ctx.province_codes = np.asarray(regions.load().province_code, dtype=np.int64)
        ctx.kabkota_codes = np.asarray(regions.load().kabkota_code, dtype=np.int64)
        ctx.self_registration_opens = any(
            e.changes.get("registration", {}).get("self_registration") is True
            for e in scen.events)
        ctx.oneoff = oneoff.OneOffLedger()
        ctx.row_draws = issuance.row_draws(ctx)
        ctx.printer = RemotePrinter(ctx)
        ctx.regional = regional.Regional(p, fr, reg)
        ctx.agents = redemption.Agents(ctx)
        # the stock of recipients of the initial decree hold an account and an active KKS
        kpm = np.flatnonzero((reg["programmes"] & _KPM) != 0)
        reg["bank"][kpm] = issuance.bank_of(ctx, kpm)
        ctx.card_active[kpm] = True
        ctx.agents.size_ewarong(np.flatnonzero((reg["programmes"] & PROG_BPNT) != 0))
        self.activated_seen = ctx.card_active.copy()
        self.credit_days = 0
        #: inputs read only at time 0 (until the first window has run, `_drop_start_inputs`)
        self.start_inputs = True

        flow = verification.proposal
        for kind in ("rtrw", "self", "shock", "pmks"):
            env.process(registration.source(ctx, kind, flow))
        env.process(verification.signals(ctx))
        env.process(issuance.distributions(ctx))
        if p["disbursement"]["channel"] == "ewarong":
            ctx.start_restocking()
        env.process(churn.sanggah(ctx))
        env.process(churn.pbi_lapses(ctx, flow))
        env.process(status.checks(ctx))
        env.process(sampler(ctx))

    # -- one window -------------------------------------------------------------------------

    def advance(self, until: float, decree: tuple[int, int] | None = None) -> dict[str, Any]:
        """Run every event before *until*, then return the outbox of the window.

        With *decree* = (period, months) the region also draws the month's removal requests and
        data updates (at *until*, the decree's time) and hands them over with its sanggah.
        """
        ctx = self.ctx
        if until > ctx.env.now:
            ctx.env.run(until=until)
            if self.start_inputs:
                self._drop_start_inputs()
        ctx.agents.visits.flush(until)  # visits are computed when due (`redemption.Visits`)
        r0 = self.row0
        arrivals = []
        for t, i in ctx.kemensos_arrivals:
            row = ctx.props.row[i]
            score = ctx.assessed.pop(row, math.nan)
            fixed = row in ctx.dukcapil_fixed
            ctx.dukcapil_fixed.discard(row)
            arrivals.append((t, i, row + r0, score, fixed))
        ctx.kemensos_arrivals = []
        pr: RemotePrinter = ctx.printer
        orders, pr.orders = pr.orders, []
        new = np.flatnonzero(ctx.card_active > self.activated_seen)  # active, not yet told
        self.activated_seen[new] = True
        giveups = [(period, [(row + r0, pb, pu) for row, pb, pu in g])
                   for period, g in sorted(ctx.giveups.items())]
        ctx.giveups = {}
        out: dict[str, Any] = {"kemensos": arrivals, "orders": orders,
                               "activated": (new + r0).astype(np.int64),
                               "proposals": len(ctx.props), "giveups": giveups}
        if decree is not None:
            period, months = decree
            out["changes"] = churn.region_changes(ctx, period, months, r0)
        changed = np.unique(np.asarray(ctx.log_c_changed, dtype=np.int64))
        ctx.log_c_changed = []
        out["log_c"] = (changed + r0, ctx.log_c[changed])
        self.spill.flush(self.region, ctx)
        return out

    def _drop_start_inputs(self) -> None:
        """Free what only the start of the run reads, once the first window has run: the
        registration sources draw their whole horizon of arrivals at time 0 from the targeting
        weights (`registration.schedule`: the standardised log consumption and the PMKS
        members), and nothing reads those afterwards (10 bytes per household)."""
        ctx = self.ctx
        ctx.frame_z = None
        for name in START_COLUMNS:
            del ctx.registry.columns[name]
        self.start_inputs = False

    def deliver(self, inbox: dict[str, Any]) -> None:
        """Apply the national stages' messages of the barrier at the current time."""
        ctx = self.ctx
        for k in inbox.get("events", ()):  # first: they hold from 00:00 of their day
            timeline.apply(ctx, self.scen.events[k])
        if "pass_log_c" in inbox:
            ctx.pass_log_c = inbox["pass_log_c"]
        for rows, day, collects, amount, channel, window in inbox.get("oneoff", ()):
            oneoff.pay(ctx, rows, day, collects, amount, channel, window)
        for i, t_done in inbox.get("kemensos", ()):
            ctx.props.advance_at(i, S["decree"], t_done)
        for seqs, t_end in inbox.get("printed", ()):
            ctx.printer.printed(seqs, t_end)
        if "credit" in inbox:
            credited, redeem, period, month = inbox["credit"]
            penetapan.apply_credit(ctx, credited, redeem, period, month)
        if "decree" in inbox:
            proposals, rows, values = inbox["decree"]
            reg = ctx.registry
            before = reg["programmes"].copy()
            for name, vals in values.items():
                reg[name][rows] = vals
            penetapan.after_decree(ctx, proposals, before)

    # -- the end ----------------------------------------------------------------------------

    def result(self) -> RegionResult:
        """The region's final state as plain data for the merge."""
        ctx, mon, props = self.ctx, self.ctx.mon, self.ctx.props
        ag = ctx.agents
        self.spill.flush(self.region, ctx, minimum=0)
        agents = {kind: [(key, (a.visits, a.work, a.stockouts, a.balked, a.reneged, a.closed))
                         for key, a in sorted(d.items())]
                  for kind, d in (("ewarong", ag.ewarong), ("pos", ag.pos), ("atm", ag.atm))}
        return RegionResult(
            region=self.region, row0=self.row0,
            props={k: getattr(props, k) for k in ("row", "source", "serial", "state",
                                                  "t_arrive", "t_dtks", "t_credit",
                                                  "t_redeem")},
            records=self.spill.totals(self.region), work=mon.work, servers=mon.servers,
            samples=mon.samples, counts=mon.counts, pbi_quick_days=ctx.pbi_quick_days,
            agents=agents,
            vkec0=self.spec.vkec0, per_kec=ag.per_kec, pos_servers_kec=ag.pos_servers_kec,
            atm_servers_kec=ag.atm_servers_kec,
            log_c=ctx.log_c, card_active=ctx.card_active,
            consumption=ctx.registry["consumption"], bank=ctx.registry["bank"],
            events=int(next(ctx.env._eid)), oneoff=oneoff.to_plain(ctx.oneoff))


def sampler(ctx: Context):
    """Process: at midday of every working day, sample queue length and busy servers per stage."""
    env, cal, mon = ctx.env, ctx.cal, ctx.mon
    day = 0
    while day < cal.days:
        if cal.is_working(day):
            yield env.timeout(day + 0.5 - env.now)
            for s in STAGES:
                busy = mon.busy[s]
                if s == "redeem":
                    now = env.now
                    ctx.agents.visits.flush(now)
                    agents = (*ctx.agents.ewarong.values(), *ctx.agents.pos.values())
                    busy = sum(a.busy(now) for a in agents)
                    queued = sum(a.queued(now) for a in agents)
                else:
                    queued = mon.queued[s]
                mon.samples.append((day, s, queued, busy, mon.servers[s]))
        day += 1

