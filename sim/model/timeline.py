"""Dated events in the flow model: each event's overrides take effect at 00:00 of its date.

Every event date is a barrier of the conservative windows (`sim.model.national`): no window
crosses it, so on its day an event is applied before anything else happens that day, in the
national stages (`apply_national`) and in every region (`apply`, delivered with the barrier's
messages before the region runs on). Each writes the event's values into its own copy of the
scenario values (``p``; the scenario itself is never changed) and then does what each kind of
key needs:

* keys read when used (probabilities, service times, working days of the month, the decree
  cadence, the credit day, the channel, removal rates, ...) apply to everything that reads them
  from the date on: a proposal already in verval keeps its drawn work but meets the new
  ``pass_quantile``; the decree and credit processes read their day and cadence every month;
* engine rules (``[programmes]`` deciles, amounts, shares and quotas, ``disbursement`` tahap,
  redemption and return rules, ``penetapan.cadence``) are rebuilt at once into the engine's
  `Params`: eligibility and quotas change at the next decree, amounts at the next credit day.
  Quotas are recomputed (from the DTKS of the day) only when a share or ``province_quota``
  changes, and at the decree that enumerates the population after a switch to
  ``register.ranking = "population"`` (from the register it leaves, `sim.model.national`);
* capacities resize the pools that exist (`Stage.resize` in the regions, PT Pos paying points,
  the national Kemensos pool: proposals still queued there are served by the new pool) and
  size every pool created later; the KKS printer reads its rate per batch; e-warong are
  re-counted for the BPNT KPM of the day when ``ewarong_kpm_ratio`` changes;
* ``issuance.bank_shares`` (and the provincial tables) decide the bank of accounts opened from
  the date on (each household keeps its own uniform draw, so only the split moves);
* a switch of ``disbursement.channel`` to ``ewarong`` starts the restocking process if the run
  had none;
* ``decree = true`` on the event holds a decree on the next decree day (this month's if it has
  not passed) whatever the cadence: a rule that must take effect before the next regular decree
  (the PBI-JK deactivation of February 2026 under a quarterly cycle).

``verification.pass_quantile`` is re-applied by the national stage to the territory's true log
consumption of the day and the new threshold handed to every region. Every applied event is
logged in the national monitor's ``timeline`` for the report. Keys that are drawn once for
the horizon cannot be changed by events (`sim.scenario.events.FIXED_KEYS`).
"""

from __future__ import annotations

import copy

import numpy as np

from sim.model.context import Context
from sim.scenario.events import Event

#: tables whose keys feed the engine's `Params` (``register.ranking``: `Params.ranks_population`)
_ENGINE_TABLES = ("programmes", "disbursement", "penetapan", "register")
#: keys whose change needs the quotas recomputed
_QUOTA_KEYS = ("programmes.bpnt_share", "programmes.pkh_share", "programmes.pbi_share",
               "programmes.province_quota")
#: capacity key -> stage name of the regions' pools it sizes
_STAGE_KEYS = {"verval_per_desa": "verval", "siks_per_desa": "siks",
               "dinsos_per_kabkota": "dinsos"}


def apply_values(p: dict, ev: Event) -> None:
    """Write *ev*'s values into the run's scenario values *p* (a copy of the scenario's)."""
    for table, values in ev.changes.items():
        p[table].update(copy.deepcopy(values))


def apply(ctx: Context, ev: Event) -> None:
    """Make *ev*'s overrides hold from now on in one region's flow model *ctx*."""
    apply_values(ctx.p, ev)
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
    if disb.get("channel") == "ewarong":
        ctx.start_restocking()


def apply_national(nat, ev: Event) -> None:
    """Make *ev*'s overrides hold from now on in the national stages *nat*
    (`sim.model.national.National`): engine rules and quotas, the verval threshold, the Kemensos
    pool, a forced decree; the event is logged in ``nat.mon.timeline``."""
    keys = ev.dotted_keys()
    apply_values(nat.p, ev)
    if any(k.split(".")[0] in _ENGINE_TABLES for k in keys):
        _rebuild_engine(nat, any(k in _QUOTA_KEYS for k in keys))
    if "verification.pass_quantile" in keys:
        nat.pass_log_c = nat.verval_line()
    cap = ev.changes.get("capacity", {})
    if "kemensos_officers" in cap:
        nat.resize_kemensos(cap["kemensos_officers"])
    if ev.changes.get("programmes", {}).get("pbi_round_share", 0) > 0:
        nat.pbi_round_due = float(ev.changes["programmes"]["pbi_round_share"])
    if ev.decree:
        nat.forced_decrees.add(_decree_period(nat))
    entry = {"date": ev.date.isoformat(), "day": int(nat.env.now), "name": ev.name,
             "source": ev.source, "changes": ev.describe()}
    if ev.decree_number is not None:  # anchored to a decree: say which
        entry["decree_number"] = ev.decree_number
    nat.mon.timeline.append(entry)


def apply_built(ctx: Context, ev: Event) -> None:
    """Make *ev*'s overrides hold in a model as built, nothing run, merged into one context
    (`sim.model.run.built`, for `sim.outputs.effects`): the values, the engine's rules and
    quotas, and the counts of PT Pos officers, ATMs and e-warong (the catchment rule on the BPNT
    KPM of the built model), as the regions and national stages would take them."""
    keys = ev.dotted_keys()
    apply_values(ctx.p, ev)
    if any(k.split(".")[0] in _ENGINE_TABLES for k in keys):
        _rebuild_engine(ctx, any(k in _QUOTA_KEYS for k in keys))
    cap = ev.changes.get("capacity", {})
    ag = ctx.agents
    if "pos_officers_per_kecamatan" in cap:
        ag.pos_servers_kec[:] = cap["pos_officers_per_kecamatan"]
    if "atm_per_kecamatan" in cap:
        ag.atm_servers_kec[:] = cap["atm_per_kecamatan"]
    if "ewarong_kpm_ratio" in cap:
        fr = ctx.frame
        bpnt = np.flatnonzero((ctx.registry["programmes"] & 1) != 0)
        kpm = np.bincount(fr.vkec[bpnt], minlength=fr.n_vkec)
        ag.per_kec = -(-kpm // int(cap["ewarong_kpm_ratio"]))


def _decree_period(nat) -> int:
    """The period of the next decree day (this month's if it has not passed yet)."""
    from sim.model.penetapan import period_of

    d = nat.cal.date(nat.env.now)
    nth = nat.p["penetapan"]["decree_working_day"]
    if nat.cal.working_day_of_month(d.year, d.month, nth) + 0.7 >= nat.env.now:
        return period_of(d.year, d.month)
    return period_of(d.year, d.month) + 1


def _rebuild_engine(nat, new_quota: bool) -> None:
    from sim.model.engine import params_from, quotas
    from sim.registry import regions

    quota = nat.engine.params.quota
    if new_quota:
        quota = quotas(nat.p, nat.registry, regions.load().province_code, nat.frame.kab_rel)
    nat.engine.params = params_from(nat.p, quota, nat.engine.params.desil_weight)


def _resize(ctx: Context, stage: str, servers: int) -> None:
    pools = [s for (name, _), s in sorted(ctx.desa_stages.items()) if name == stage]
    pools += [s for (name, _), s in sorted(ctx.kab_stages.items()) if name == stage]
    for s in pools:
        s.resize(servers, 1.0)
