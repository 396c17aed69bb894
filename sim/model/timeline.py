"""Dated events in the flow model: each event's overrides take effect at 00:00 of its date.

`schedule` registers one SimPy timeout per event date before any process is registered, so on
its day an event is applied before anything else happens that day (SimPy breaks ties between
events of the same time by scheduling order). `apply` writes the event's values into the run's
scenario values (``ctx.p``, a copy of the scenario's) and then does what each kind of key needs:

* keys read when used (probabilities, service times, working days of the month, the decree
  cadence, the credit day, the channel, removal rates, ...) apply to everything that reads them
  from the date on: a proposal already in verval keeps its drawn work but meets the new
  ``pass_quantile``; the decree and credit processes read their day and cadence every month;
* engine rules (``[programmes]`` deciles, amounts, shares and quotas, ``disbursement`` tahap,
  redemption and return rules, ``penetapan.cadence``) are rebuilt at once into the engine's
  `Params`: eligibility and quotas change at the next decree, amounts at the next credit day.
  Quotas are recomputed (from the DTKS of the day) only when a share or ``province_quota``
  changes;
* capacities resize the pools that exist (`Stage.resize`, PT Pos paying points) and size every
  pool created later; the KKS printer reads its rate per batch; e-warong are re-counted for
  the BPNT KPM of the day when ``ewarong_kpm_ratio`` changes;
* ``issuance.bank_shares`` (and the provincial tables) decide the bank of accounts opened from
  the date on (each household keeps its own uniform draw, so only the split moves);
* a switch of ``disbursement.channel`` to ``ewarong`` starts the restocking process if the run
  had none;
* ``decree = true`` on the event holds a decree on the next decree day (this month's if it has
  not passed) whatever the cadence: a rule that must take effect before the next regular decree
  (the PBI-JK deactivation of February 2026 under a quarterly cycle).

Every applied event is logged in ``ctx.mon.timeline`` for the report. Keys that are drawn once for
the horizon cannot be changed by events (`sim.scenario.events.FIXED_KEYS`).
"""

from __future__ import annotations

import copy

import numpy as np

from sim.model.context import Context
from sim.scenario.events import Event

#: tables whose keys feed the engine's `Params`
_ENGINE_TABLES = ("programmes", "disbursement", "penetapan")
#: keys whose change needs the quotas recomputed
_QUOTA_KEYS = ("programmes.bpnt_share", "programmes.pkh_share", "programmes.pbi_share",
               "programmes.province_quota")
#: capacity key -> stage name of the pools it sizes
_STAGE_KEYS = {"verval_per_desa": "verval", "siks_per_desa": "siks",
               "dinsos_per_kabkota": "dinsos", "kemensos_officers": "kemensos"}


def schedule(ctx: Context, events: list[Event]) -> None:
    """Register the events of the run (call before any other process is registered)."""
    for ev in events:
        t = float(ctx.cal.day_of(ev.date))
        timer = ctx.env.timeout(t - ctx.env.now)
        timer.callbacks.append(lambda _, ev=ev: apply(ctx, ev))


def apply(ctx: Context, ev: Event) -> None:
    """Make *ev*'s overrides hold from now on (see the module docstring for each kind)."""
    keys = ev.dotted_keys()
    for table, values in ev.changes.items():
        ctx.p[table].update(copy.deepcopy(values))
    if any(k.split(".")[0] in _ENGINE_TABLES for k in keys):
        _rebuild_engine(ctx, any(k in _QUOTA_KEYS for k in keys))
    if "verification.pass_quantile" in keys:
        ctx.pass_log_c = float(np.quantile(ctx.log_c, ctx.p["verification"]["pass_quantile"]))
    cap = ev.changes.get("capacity", {})
    for key, stage in _STAGE_KEYS.items():
        if key in cap:
            _resize(ctx, stage, cap[key])
    if "pos_officers_per_kecamatan" in cap:
        ctx.agents.resize_pos(cap["pos_officers_per_kecamatan"])
    if "atm_per_kecamatan" in cap:
        ctx.agents.resize_atm(cap["atm_per_kecamatan"])
    if "ewarong_kpm_ratio" in cap:  # a national value replaces regional ones
        ctx.agents.ratio_kec[:] = cap["ewarong_kpm_ratio"]
        ctx.agents.size_ewarong(np.flatnonzero((ctx.registry["programmes"] & 1) != 0))
    disb = ev.changes.get("disbursement", {})
    if "pos_kpm_per_officer_day" in cap or "open_hour" in disb or "close_hour" in disb:
        ctx.agents.refresh_pos_service()
    if "atm_service_minutes" in disb:
        ctx.agents.refresh_atm_service()
    if ev.changes.get("disbursement", {}).get("channel") == "ewarong":
        ctx.start_restocking()
    if ev.decree:
        ctx.forced_decrees.add(_decree_period(ctx))
    entry = {"date": ev.date.isoformat(), "day": int(ctx.env.now), "name": ev.name,
             "source": ev.source, "changes": ev.describe()}
    if ev.decree_number is not None:  # anchored to a decree: say which
        entry["decree_number"] = ev.decree_number
    ctx.mon.timeline.append(entry)


def _decree_period(ctx: Context) -> int:
    """The period of the next decree day (this month's if it has not passed yet)."""
    from sim.model.penetapan import period_of

    d = ctx.cal.date(ctx.env.now)
    nth = ctx.p["penetapan"]["decree_working_day"]
    if ctx.cal.working_day_of_month(d.year, d.month, nth) + 0.7 >= ctx.env.now:
        return period_of(d.year, d.month)
    return period_of(d.year, d.month) + 1


def _rebuild_engine(ctx: Context, new_quota: bool) -> None:
    from sim.model.engine import params_from, quotas
    from sim.registry import regions

    quota = ctx.engine.params.quota
    if new_quota:
        quota = quotas(ctx.p, ctx.registry, regions.load().province_code, ctx.nation,
                       ctx.frame.fraction)
    ctx.engine.params = params_from(ctx.p, quota)


def _resize(ctx: Context, stage: str, servers: int) -> None:
    pools = [s for (name, _), s in sorted(ctx.desa_stages.items()) if name == stage]
    pools += [s for (name, _), s in sorted(ctx.kab_stages.items()) if name == stage]
    if stage in ctx.national:
        ctx.national[stage].resize(servers, ctx.frame.national_share)
    for s in pools:
        s.resize(servers, 1.0)
