"""The results folder of a run: KPIs, tables, manifest, plots and the report.

Layout (same scenario and seed give the same bytes in every file):

* ``manifest.json``: scenario (file, resolved values, overrides), seed, package and dependency
  versions, SHA-256 of every input (scenario files and the shipped region tables), the random
  stream map (STRESS-DES 5.2), the pseudonym key's id and ``synthetic: true``;
* ``summary.json`` and ``kpi.csv``: the KPIs (`kpis`);
* ``households.parquet`` (keyed-hash pseudonym in place of the NIK, region generalised to
  kab/kota), ``proposals.parquet``, ``monthly.parquet``, ``queues.parquet``;
* ``plots/*.png`` and ``report.html`` (`sim.outputs.report`).

The folder is written to a temporary sibling and swapped into place at the end
(`sim.outputs.folder`), so a failed run never leaves a partial results folder and a replaced one
is never half old, half new.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import platform
from collections.abc import Sequence
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np

from sim.model import targeting as model_targeting
from sim.model.context import PIPELINE, STAGES, STATES, Context, S
from sim.model.run import ModelResult
from sim.outputs import budget, effects, folder, measures, service, tables
from sim.outputs.section import Section
from sim.registry import privacy, regions
from sim.registry.table import PROG_BPNT, PROG_PBI, PROG_PKH, STATUS_IN_DTKS, pbi_persons_at
from sim.scenario.streams import STREAM_KEYS

DEPENDENCIES = ("numpy", "simpy", "pyarrow", "matplotlib", "click", "rich")
#: the furthest pipeline stage a proposal in a failure state had reached
REACHED = {S["dropped_musdes"]: S["prelist"], S["rejected_verval"]: S["verval"],
           S["rejected_dukcapil"]: S["dinsos"], S["rejected_decree"]: S["decree"],
           S["dtks_only"]: S["decree"], S["pbi_only"]: S["decree"],
           S["burekol_failed"]: S["issuance"], S["card_returned"]: S["issuance"],
           S["removed"]: S["issuance"]}
_PROGS = (("bpnt", PROG_BPNT), ("pkh", PROG_PKH), ("pbi", PROG_PBI))


def _q(values: list[float] | np.ndarray, q: float, *, own: bool = False) -> float:
    """The *q* quantile of the finite *values* (NaN if none). With *own* the caller hands over
    an array it no longer reads in order: it is partitioned in place, not copied (the same
    value: a quantile does not depend on the order of its input)."""
    arr = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(arr)
    if not finite.all():  # a copy only when something is to be dropped
        arr = arr[finite]
        own = True
    del finite
    return float(np.quantile(arr, q, overwrite_input=own)) if len(arr) else float("nan")


def time_in_state(ctx: Context) -> dict[str, float]:
    """Mean days a proposal spent in each pipeline state (finished stays only).

    Unlike the queue waits of the pools this includes waiting for the monthly musdes, Bupati
    sign-off and decree, and the whole of issuance: it is where lead time goes.
    """
    tr = ctx.props.transitions
    if not tr:
        return {}
    i = np.asarray(tr.i, dtype=np.int64)
    t = np.asarray(tr.t, dtype=np.float64)
    order = np.lexsort((t, i))  # by proposal, then time (stable)
    i, t = i[order], t[order]
    same = i[1:] == i[:-1]
    dur = t[1:] - t[:-1]
    state = np.asarray(tr.state, dtype=np.int64)[order][:-1][same]
    dur = dur[same]
    out = {}
    for s in PIPELINE:
        d = dur[state == s]
        if len(d):
            out[STATES[s]] = float(d.mean())
    return out


def furthest(ctx: Context) -> np.ndarray:
    """Per proposal, the furthest pipeline state reached (failures map to where they failed)."""
    st = np.asarray(ctx.props.state, dtype=np.int64)
    out = st.copy()
    for fail, reached in REACHED.items():
        out[st == fail] = reached
    return out


def targeting(ctx: Context) -> dict[str, Any]:
    """Coverage by true decile and both error families per programme (docs/calibration.md §6).

    Kemensos shares (`kemensos_inclusion_share_*`, `kemensos_exclusion_share_*`) against the
    target group, the poorest ``targeting.kemensos_target_share`` of households by true
    consumption; Alatas rates (`alatas_inclusion_rate_*`, `alatas_exclusion_rate_*`) against the
    poor, the poorest ``targeting.alatas_poor_share`` (`sim.model.targeting`). With
    ``territory.context = "national"`` both groups are the households below the national lines
    of those shares (`sim.model.nation`).
    """
    reg = ctx.registry
    groups = model_targeting.of(ctx)
    decile = model_targeting.true_deciles(ctx) - 1
    out: dict[str, Any] = {"decile_coverage": {}}
    out.update(model_targeting.targeting_errors(reg["programmes"], groups))
    for name, bit in _PROGS:
        rec = (reg["programmes"] & bit) != 0
        cov = np.bincount(decile[rec], minlength=10) / np.maximum(np.bincount(decile,
                                                                              minlength=10), 1)
        out["decile_coverage"][name] = [round(float(x), 6) for x in cov]
    return out


def by_province(ctx: Context) -> dict[str, dict[str, Any]]:
    """Per province: households and BPNT recipients (territory totals), BPNT Kemensos shares.

    The target group is defined over the whole simulated territory (or nationally), so a
    province's exclusion share is the share of its territory-poorest households not receiving.
    """
    reg, regs = ctx.registry, regions.load()
    w = ctx.frame.weight
    groups = model_targeting.of(ctx)
    rec = (reg["programmes"] & PROG_BPNT) != 0
    prov = reg["province"]  # its own small type: a mask per province, no wider copy
    out: dict[str, dict[str, Any]] = {}
    for p in np.unique(prov).tolist():
        m = prov == p
        errs = model_targeting.error_families(rec[m], groups["kemensos"][m],
                                              groups["alatas"][m])
        out[f"{int(regs.province_code[p]):02d}"] = {
            "households": round(int(m.sum()) * w),
            "recipients_bpnt": round(int((rec & m).sum()) * w),
            "kemensos_inclusion_share_bpnt": _clean(errs["kemensos_inclusion_share"]),
            "kemensos_exclusion_share_bpnt": _clean(errs["kemensos_exclusion_share"]),
        }
    for code, res in service.resources_by_province(ctx).items():
        if code in out:
            out[code].update(res)
    return out


def kpis(res: ModelResult) -> dict[str, Any]:
    """Every KPI of the run, as name -> value (floats rounded for stable text output)."""
    ctx = res.ctx
    reg, props, mon, fr = ctx.registry, ctx.props, ctx.mon, ctx.frame
    w = fr.weight
    k: dict[str, Any] = {}
    k["households"] = round(len(reg) * w)
    k["households_simulated"] = len(reg)
    k["fraction"] = fr.fraction
    k["proposals"] = round(len(props) * w)
    k["proposals_simulated"] = len(props)
    src = np.asarray(props.source, dtype=np.int64)
    for name, key in (("rtrw", 0), ("self", 1), ("shock", 2), ("pmks", 3), ("pbi", 4)):
        k[f"proposals_{name}"] = round(int((src == key).sum()) * w)
    in_dtks = reg["status"] == STATUS_IN_DTKS
    size = reg["size"]  # summed as int64, never copied wider (a byte per household)
    k["dtks_households"] = round(int(in_dtks.sum()) * w)
    k["dtks_persons"] = round(int(size[in_dtks].sum(dtype=np.int64)) * w)
    k["ranked_households"] = round(int(np.count_nonzero(reg["desil"] > 0)) * w)
    k["persons"] = round(int(size.sum(dtype=np.int64)) * w)
    for name, bit in _PROGS:
        k[f"recipients_{name}"] = round(int(((reg["programmes"] & bit) != 0).sum()) * w)
    # PBI-JK is counted (and budgeted: pbi_premium_rp) in persons, households alongside
    pbi = (reg["programmes"] & PROG_PBI) != 0
    k["recipients_pbi_persons"] = round(int(pbi_persons_at(reg, pbi).sum(dtype=np.int64)) * w)
    t_arr = np.asarray(props.t_arrive)
    for label, t in (("dtks", props.t_dtks), ("credit", props.t_credit),
                     ("redeem", props.t_redeem)):
        lead = np.asarray(t) - t_arr
        k[f"lead_time_{label}_p50_days"] = _q(lead, 0.5)
        k[f"lead_time_{label}_p90_days"] = _q(lead, 0.9)
        k[f"lead_time_{label}_n"] = int(np.isfinite(lead).sum())
    wd = ctx.cal.working_days_between(0, ctx.cal.days)
    for s in STAGES:
        if s == "redeem":
            continue
        # a record is read whole here and dropped (a merged run keeps it on disk,
        # `sim.model.records.Stored`); the mean is taken before the quantile reorders it
        waits = np.asarray(mon.waits[s], dtype=np.float64)
        k[f"wait_{s}_mean_days"] = float(np.mean(waits)) if len(waits) else 0.0
        k[f"wait_{s}_p90_days"] = _q(waits, 0.9, own=True) if len(waits) else 0.0
        del waits
        servers = mon.servers[s]
        k[f"utilisation_{s}"] = min(1.0, mon.work[s] / (servers * wd)) if servers and wd else 0.0
    for name, days in time_in_state(ctx).items():
        k[f"time_in_{name}_mean_days"] = days
    open_hours = (ctx.p["disbursement"]["close_hour"] - ctx.p["disbursement"]["open_hour"]) / 24
    agents = mon.servers["redeem"]
    all_agents = [*ctx.agents.ewarong.values(), *ctx.agents.pos.values()]
    agent_work = sum(a.work for a in all_agents)
    k["utilisation_agents"] = (min(1.0, agent_work / (agents * wd * open_hours))
                               if agents and wd else 0.0)
    tg = targeting(ctx)
    for fam in model_targeting.FAMILIES:
        for name, _ in _PROGS:
            k[f"{fam}_{name}"] = tg[f"{fam}_{name}"]
    months = mon.months
    credited = sum(m["credited_rp"] for m in months)
    redeemed = sum(m["redeemed_rp"] for m in months)
    returned = sum(m["returned_rp"] for m in months)
    held = int(reg["balance"].sum(dtype=np.int64))
    k["disbursed_rp"] = round(credited * w)
    k["redeemed_rp"] = round(redeemed * w)
    k["unspent_rp"] = round(held * w)
    k["returned_rp"] = round(returned * w)
    k["pbi_premium_rp"] = round(sum(m["pbi_premium_rp"] for m in months) * w)
    cash = mon.counts.get("atm_cashouts", 0) + mon.counts.get("pos_takeover", 0)
    k["bank_channel_pos_share"] = (mon.counts.get("pos_takeover", 0) / cash
                                   if ctx.p["disbursement"]["channel"] == "bank" and cash
                                   else 0.0)
    k["money_conserved"] = int(ctx.engine.ledger.opening_held + credited
                               == redeemed + returned + held)
    waits = np.array(mon.redeem_wait_days, dtype=np.float64)  # our own copy: scaled in place
    waits *= 1440.0
    k["agent_wait_p50_min"] = _q(waits, 0.5, own=True) if len(waits) else 0.0
    k["agent_wait_p90_min"] = _q(waits, 0.9, own=True) if len(waits) else 0.0
    del waits
    ch = ctx.p["disbursement"]["channel"]
    k["ewarong_wait_p50_min"] = k["agent_wait_p50_min"] if ch == "ewarong" else 0.0
    k["ewarong_wait_p90_min"] = k["agent_wait_p90_min"] if ch == "ewarong" else 0.0
    k["travel_p50_min"] = (_q(np.array(mon.travel_min, dtype=np.float64), 0.5, own=True)
                           if len(mon.travel_min) else 0.0)
    k["visits"] = round(sum(a.visits for a in all_agents) * w)
    k["stockout_waits"] = round(sum(a.stockouts for a in all_agents) * w)
    k.update(service.completion_kpis(ctx))
    k.update(service.resource_counts(ctx))
    k.update(measures.time_averages(ctx))
    k.update(measures.censoring(ctx))
    for name in ("sanggah_received", "sanggah_upheld", "sanggah_rejected",
                 "sanggah_dismissed_late", "pbi_needs_care", "pbi_reactivated_quick",
                 "pbi_reproposed", "accounts_opened", "cards_printed", "cards_activated",
                 "cards_returned", "burekol_failed", "graduations", "status_checks_app",
                 "status_checks_operator"):
        k[name] = round(mon.counts.get(name, 0) * w)
    k["pbi_quick_days_mean"] = float(np.mean(ctx.pbi_quick_days)) if ctx.pbi_quick_days else 0.0
    st = np.asarray(props.state, dtype=np.int64)
    counts = np.bincount(st, minlength=len(STATES))
    for i, name in enumerate(STATES):
        k[f"state_{name}"] = int(counts[i])
    k["flow_conserved"] = int(counts.sum() == len(props)
                              and int(((st >= 0) & (st < len(STATES))).sum()) == len(props))
    k["events"] = res.events
    return {name: _clean(v) for name, v in k.items()}


def _clean(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        v = float(v)
        return None if not math.isfinite(v) else round(v, 6)
    if isinstance(v, np.integer):
        return int(v)
    return v


def flow_table(ctx: Context) -> dict[str, list[int]]:
    """Funnel counts: proposals that reached each pipeline stage."""
    far = furthest(ctx)
    names = [STATES[s] for s in PIPELINE]
    return {"stage": names, "proposals": [int((far >= s).sum()) for s in PIPELINE]}


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("kks-bansos", *DEPENDENCIES):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _data_hashes() -> dict[str, str]:
    out = {}
    for name in regions.DATA_FILES:
        data = resources.files("sim").joinpath("data", name).read_bytes()
        out[f"sim/data/{name}"] = hashlib.sha256(data).hexdigest()
    return out


def manifest(res: ModelResult, key: privacy.PseudonymKey) -> dict[str, Any]:
    """The manifest: what was run, with what, from which inputs."""
    scen = res.scenario
    return {
        "kind": folder.RUN_KIND,
        "privacy": privacy_note(key),
        "scenario": {"name": scen.name, "file": scen.path.name,
                     "question": scen["scenario"]["question"], "overrides": scen.overrides,
                     "values": scen.canonical()},
        "seed": scen["scenario"]["seed"],
        "versions": _versions(),
        "inputs": {**scen.input_hashes(), **_data_hashes()},
        "random_streams": {"generator": "numpy PCG64 via SeedSequence(seed, spawn_key=(key, "
                                        "*sub, region)); national stages without region",
                           "keys": dict(sorted(STREAM_KEYS.items()))},
        "pseudonym_key": key.describe(),
        "estimates": _estimates(scen),
        "frame": {"households_simulated": res.ctx.frame.households,
                  "real_households": res.ctx.frame.real_households,
                  "fraction": res.ctx.frame.fraction, "virtual_desa": res.ctx.frame.n_vdesa,
                  "virtual_kabkota": res.ctx.frame.n_vkab},
        "synthetic": True,
    }


def _estimates(scen) -> list[dict[str, Any]]:
    """The estimates (EST) the run depends on (docs/calibration.md §10)."""
    from sim.calibration import provenance

    return provenance.estimates_of(scen.data)


def privacy_note(key: privacy.PseudonymKey) -> dict[str, Any]:
    """What the manifest and the report say about the pseudonyms' protection."""
    if key.synthetic:
        return {"pseudonyms_protective": False, "banner": privacy.NOT_PROTECTIVE}
    return {"pseudonyms_protective": True,
            "banner": f"Pseudonyms are keyed with a secret key from {key.source} "
                      f"(key id {key.describe()['key_id']}); keep the key out of the results."}


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def write(res: ModelResult, out: Path, sections: Sequence[Section] = (), *,
          fmt: str = "parquet", baseline: Path | None = None) -> dict[str, Any]:
    """Write the results folder *out* atomically; return the KPIs.

    *sections* are extra report sections (title, HTML fragment, files) that a caller adds to the
    run's report, e.g. the card-fidelity reconciliation (`sim.fidelity.command`). *fmt*
    (`sim.outputs.tables.FORMATS`): Parquet with CSV beside the small tables, CSV only, or both
    for every table. *baseline*, a results folder, adds the report's "differs from baseline"
    section.
    """
    from sim.outputs import report

    out = Path(out)
    key = privacy.load_key("households", allow_synthetic=True)
    k = kpis(res)
    with folder.staging(out) as tmp:
        (tmp / "manifest.json").write_text(_dump(manifest(res, key)), encoding="utf-8")
        tg = targeting(res.ctx)
        summary = {"scenario": res.scenario.name,
                   "question": res.scenario["scenario"]["question"],
                   "kpis": k, "funnel": flow_table(res.ctx),
                   "decile_coverage": tg["decile_coverage"],
                   "by_province": by_province(res.ctx), "counts": dict(sorted(
                       res.ctx.mon.counts.items()))}
        summary["targeting_by_decree"] = res.ctx.mon.targeting
        if res.effects is not None:
            summary["effects"] = [e.to_json() for e in res.effects]
        if res.scenario.events:  # absent without events: an empty list changes nothing
            summary["events"] = res.ctx.mon.timeline
        led = res.ctx.oneoff
        if led is not None and led.rounds:  # absent without a one-off programme
            w = res.ctx.frame.weight
            summary["oneoff"] = {"name": res.ctx.p["oneoff"]["name"], "rounds": led.rounds,
                                 "recipients": round(sum(r["recipients"] for r in led.rounds)
                                                     * w),
                                 "budget_rp": round(led.budget * w),
                                 "paid_rp": round(led.paid * w),
                                 "returned_rp": round(led.returned * w),
                                 "outstanding_rp": round(led.outstanding * w),
                                 "conserved": int(led.budget == led.paid + led.returned
                                                  + led.outstanding)}
        ceilings = budget.ceiling_rows(res.ctx)
        if ceilings:  # absent without a budget ceiling
            summary["budget_ceilings"] = ceilings
        (tmp / "summary.json").write_text(_dump(summary), encoding="utf-8")
        buf = io.StringIO()
        wr = csv.writer(buf, lineterminator="\n")
        wr.writerow(["kpi", "value"])
        for name, v in k.items():
            wr.writerow([name, "" if v is None else v])
        (tmp / "kpi.csv").write_text(buf.getvalue(), encoding="utf-8")
        for name, table in (("households", tables.household_batches(res.ctx, key)),
                            ("proposals", tables.proposal_batches(res.ctx, key)),
                            ("monthly", tables.monthly(res.ctx)),
                            ("queues", tables.queues(res.ctx)),
                            ("provinces", tables.provinces(summary["by_province"])),
                            ("decrees", tables.decrees(res.ctx)),
                            ("budget", budget.table(res.ctx))):
            tables.write(name, table, tmp, fmt)
        extra = ([effects.section(summary["effects"])] if res.effects else []) + list(sections)
        ceiling_section = budget.ceiling_section(res.ctx)
        if ceiling_section is not None:
            extra.append(ceiling_section)
        for section in extra:
            for rel, data in section.files.items():
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        report.write(res, k, summary, tmp, extra, privacy=privacy_note(key), baseline=baseline)
        folder.replace_atomically(tmp, out)
    return k
