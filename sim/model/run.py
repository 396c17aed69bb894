"""Build one run of the flow model from a validated scenario and run it to the horizon."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import simpy

from sim.model import (
    ceiling,
    churn,
    frame,
    issuance,
    nation,
    oneoff,
    penetapan,
    redemption,
    regional,
    registration,
    status,
    timeline,
    verification,
)
from sim.model.context import STAGES, Context, Proposals, Stage
from sim.model.engine import Engine, params_from, quotas
from sim.scenario import calendar as _calendar
from sim.scenario.calendar import horizon_days
from sim.scenario.loader import Scenario
from sim.scenario.streams import Streams

#: progress callback: (simulated days done, horizon days)
Progress = Callable[[float, float], None]


@dataclass
class ModelResult:
    """The state of a finished run, for `sim.outputs`."""

    scenario: Scenario
    ctx: Context
    events: int
    #: `sim.outputs.effects.Effect` per overridden key, when accounted (`kks sim run`)
    effects: list | None = None


def build(scen: Scenario) -> Context:
    """The context with every process registered, after the initial decree (nothing run yet)."""
    p = scen.data
    fr, registry = frame.build(scen)
    start = p["scenario"]["start"]
    cal = _calendar.build(start, horizon_days(start, p["scenario"]["months"]),
                          p["calendar"]["weekend"], p["calendar"]["holidays"])
    env = simpy.Environment()
    p = copy.deepcopy(p)  # events change the run's values, never the scenario's
    ctx = Context(env=env, cal=cal, streams=Streams(p["scenario"]["seed"]), p=p,
                  registry=registry, frame=fr, props=Proposals(env))
    n = len(registry)
    ctx.card_active = np.zeros(n, dtype=bool)
    ctx.enumerated = p["register"]["ranking"] == "population"
    ctx.log_c = np.log(np.maximum(registry["consumption"].astype(np.float64), 1.0))
    ctx.pass_log_c = float(np.quantile(ctx.log_c, p["verification"]["pass_quantile"]))
    sd = float(ctx.log_c.std()) or 1.0
    ctx.frame_z = (ctx.log_c - float(ctx.log_c.mean())) / sd
    from sim.registry import regions

    ctx.province_codes = np.asarray(regions.load().province_code, dtype=np.int64)
    ctx.kabkota_codes = np.asarray(regions.load().kabkota_code, dtype=np.int64)
    ctx.self_registration_opens = any(
        e.changes.get("registration", {}).get("self_registration") is True for e in scen.events)
    ctx.row_draws = issuance.row_draws(ctx)
    ctx.national["kemensos"] = Stage(ctx, "kemensos", p["capacity"]["kemensos_officers"],
                                     fr.national_share)
    ctx.printer = issuance.Printer(ctx)
    ctx.regional = regional.Regional(p, fr, registry)
    ctx.agents = redemption.Agents(ctx)
    if p["territory"]["context"] == "national" and p["territory"]["scope"] != "national":
        seed = int(np.random.SeedSequence(p["scenario"]["seed"], spawn_key=(2, 1))
                   .generate_state(1, np.uint64)[0] >> 1)
        ctx.nation = nation.build(p, seed)
    quota = quotas(p, registry, regions.load().province_code, ctx.nation, fr.fraction)
    engine_seed = int(ctx.streams.get("penetapan").integers(0, 2**62))
    ctx.engine = Engine(registry, params_from(p, quota), engine_seed)
    ctx.ceilings = ceiling.Book()
    penetapan.initial_decree(ctx, penetapan.period_of(start.year, start.month) - 1)
    timeline.schedule(ctx, scen.events)  # before every process: an event goes first on its day
    oneoff.schedule(ctx, scen.events)

    flow = verification.proposal
    for kind in ("rtrw", "self", "shock", "pmks"):
        env.process(registration.source(ctx, kind, flow))
    env.process(verification.signals(ctx))
    env.process(issuance.distributions(ctx))
    env.process(ctx.printer.run())
    env.process(penetapan.decrees(ctx))
    env.process(penetapan.credits(ctx))
    if p["disbursement"]["channel"] == "ewarong":
        ctx.start_restocking()
    env.process(churn.sanggah(ctx))
    env.process(churn.pbi_lapses(ctx, flow))
    env.process(status.checks(ctx))
    env.process(_sampler(ctx))
    return ctx


def _sampler(ctx: Context):
    """Process: at midday of every working day, sample queue length and busy servers per stage."""
    env, cal, mon = ctx.env, ctx.cal, ctx.mon
    day = 0
    while day < cal.days:
        if cal.is_working(day):
            yield env.timeout(day + 0.5 - env.now)
            for s in STAGES:
                busy = mon.busy[s]
                if s == "redeem":
                    busy = sum(a.res.count for a in ctx.agents.ewarong.values()) + sum(
                        a.res.count for a in ctx.agents.pos.values())
                    queued = sum(len(a.res.queue) for a in ctx.agents.ewarong.values()) + sum(
                        len(a.res.queue) for a in ctx.agents.pos.values())
                else:
                    queued = mon.queued[s]
                mon.samples.append((day, s, queued, busy, mon.servers[s]))
        day += 1


def run(scen: Scenario, progress: Progress | None = None, steps: int = 48) -> ModelResult:
    """Build and run *scen* to its horizon, calling *progress* between slices of time."""
    ctx = build(scen)
    env = ctx.env
    days = float(ctx.cal.days)
    for k in range(1, steps + 1):
        env.run(until=days * k / steps)
        if progress is not None:
            progress(env.now, days)
    penetapan.settle_giveups(ctx)  # the last period's give-ups (no credit day follows)
    events = next(env._eid)  # events scheduled so far (SimPy's own tie-break counter)
    return ModelResult(scenario=scen, ctx=ctx, events=int(events))
