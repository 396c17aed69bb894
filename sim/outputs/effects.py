"""Effect accounting: what each override (``--set``, ``extends``, ``[[events]]``) changed.

A scenario answers a question only if its changes reach the model. For every layer of overrides
(the ``--set`` values, the keys a file sets over the file it extends) this module builds the
same run with each key put back to its base value (with more than `PER_KEY_BUILDS` keys in a
layer: the whole layer at once) (`sim.model.run.built`: frame, registry, initial decree; nothing
is simulated) and compares the two *inventories* of the built
model: resources per stage (scaled to the real territory) in total and per province, programme
quotas in total and per province, amounts and rules. Each key gets

* what it changed (every inventory item that differs, before and after);
* a warning, naming the key, when it changes nothing in the built model (same value as the
  base; a setting the chosen channel or switch does not use; an outage outside the horizon; a
  province outside the territory) or, for a key with a known target item (a capacity, a share,
  a province factor), when that item moved far less than the key's ratio (less than half of it
  on a log scale: say a minimum of one agent per unit clamps it).

Dated events (``[[events]]``) are accounted from their date: the model is built as the run
starts (the starting recipients, every ``--set`` and ``extends`` value), then every event is
applied in timeline order exactly as the run applies it on its date (`sim.model.timeline.apply`),
one key at a time, and each key's effect is the change of the inventory it makes over the state
left by every earlier event (its *base* is the value in force the day before). The same
warnings hold, naming the event and its date: a value already in force, a setting the channel in
force at that date does not use, a target item moved far less than the key's ratio. E-warong
re-counted by an event are counted for the starting BPNT recipients (the run counts those of the
event's day: the two differ by the recipients that changed in between).

Keys of ``[scenario]`` and ``[territory]`` define the run itself and are not accounted.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sim.model.context import Context
from sim.outputs import service
from sim.scenario.loader import Scenario, load

#: key -> (inventory item, exponent): the item should move by (new / old) ** exponent
TARGETS: dict[str, tuple[str, int]] = {
    "capacity.verval_per_desa": ("resources_verval_officers", 1),
    "capacity.siks_per_desa": ("resources_siks_operators", 1),
    "capacity.dinsos_per_kabkota": ("resources_dinsos_officers", 1),
    "capacity.kemensos_officers": ("resources_kemensos_officers", 1),
    "capacity.burekol_per_branch_day": ("resources_burekol_accounts_per_day", 1),
    "capacity.printer_cards_per_day": ("resources_printer_cards_per_day", 1),
    "capacity.ewarong_kpm_ratio": ("resources_ewarong_agents", -1),
    "capacity.pos_officers_per_kecamatan": ("resources_pos_officers", 1),
    "capacity.atm_per_kecamatan": ("resources_atms", 1),
    "programmes.bpnt_share": ("quota_bpnt", 1),
    "programmes.pkh_share": ("quota_pkh", 1),
    "programmes.pbi_share": ("quota_pbi", 1),
    "programmes.bpnt_amount": ("amount_bpnt_per_credit", 1),
}
#: keys used only by some disbursement channels
CHANNELS: dict[str, tuple[str, ...]] = {
    "capacity.ewarong_kpm_ratio": ("ewarong",),
    "disbursement.restock_every": ("ewarong",),
    "disbursement.stock_cover": ("ewarong",),
    "disbursement.service_minutes": ("ewarong",),
    "disbursement.service_cv": ("ewarong",),
    "disbursement.full_spend_prob": ("ewarong",),
    "capacity.pos_kpm_per_officer_day": ("pos", "bank"),
    "capacity.pos_officers_per_kecamatan": ("pos", "bank"),
    "disbursement.pos_pay_days": ("pos", "bank"),
    "disbursement.bank_collect_days": ("bank",),
    "capacity.atm_per_kecamatan": ("ewarong", "bank"),
    "disbursement.atm_service_minutes": ("ewarong", "bank"),
}
_SELF_KEYS = ("registration.self_per_1000", "registration.self_targeting")
_RUN_TABLES = ("scenario", "territory")
#: a layer with at most this many keys gets one reference build per key
PER_KEY_BUILDS = 6


@dataclass
class Effect:
    """What one overridden key did to the built model."""

    key: str
    source: str
    value: Any
    base: Any
    changed: dict[str, list[Any]] = field(default_factory=dict)
    expected: dict[str, float] | None = None
    warning: str | None = None
    #: "key": `changed` is this key's own effect; "layer": the whole layer's (long layers)
    attributed: str = "key"

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict (values as strings when not numbers)."""
        d = asdict(self)
        for k in ("value", "base"):
            d[k] = _plain(d[k])
        return d


def _plain(v: Any) -> Any:
    if isinstance(v, bool | int | float | str) or v is None:
        return v
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in sorted(v.items())}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return str(v)


def inventory(ctx: Context) -> dict[str, Any]:
    """The built model as items: resources, quotas and amounts (totals and per province), rules.

    Per-province items are named ``<item>.<province code>``.
    """
    from sim.registry import regions

    regs = regions.load()
    out: dict[str, Any] = dict(service.resource_counts(ctx))
    for code, res in service.resources_by_province(ctx).items():
        for name, v in res.items():
            out[f"{name}.{code}"] = v
    quota = np.asarray(ctx.engine.params.quota, dtype=np.int64)
    prov_of_kab = regs.kabkota_province.astype(np.int64)
    w = ctx.frame.weight
    for j, name in enumerate(("bpnt", "pkh", "pbi")):
        out[f"quota_{name}"] = round(int(quota[j].sum()) * w)
        per = np.bincount(prov_of_kab, weights=quota[j], minlength=regs.n_province)
        for p in np.flatnonzero(per > 0).tolist():
            out[f"quota_{name}.{int(regs.province_code[p]):02d}"] = round(float(per[p]) * w)
    prm = ctx.engine.params
    out["amount_bpnt_per_credit"] = int(prm.bpnt_monthly * prm.bpnt_every)
    out["rule_cadence_months"] = int(prm.cadence_months)
    out["rule_channel"] = str(ctx.p["disbursement"]["channel"])
    out["rule_redeem_bp"] = int(prm.redeem_bp)
    out["rule_full_spend_bp"] = int(prm.full_spend_bp)
    out["rule_return_after_months"] = int(prm.return_after_months)
    out["rule_eligible_desil"] = ",".join(
        "".join("1" if x else "0" for x in m) for m in prm.eligible_desil)
    # rules that act at a later decree (the enumeration, the quarterly re-ranking): nothing in
    # the built model moves, but the run does
    out["rule_ranking"] = str(ctx.p["register"]["ranking"])
    out["rule_rerank_every_months"] = int(ctx.p["penetapan"]["rerank_every_months"])
    out["rule_rerank_refresh"] = float(ctx.p["penetapan"]["rerank_refresh"])
    out.update(bank_rules(ctx))
    return out


def bank_rules(ctx: Context) -> dict[str, str]:
    """``rule_bank_shares.<PP>``: the bank shares new accounts follow in each province of the
    territory (its kab/kota's own, else its own ``[regions]`` shares, else its row of
    ``bank_shares_by_province``, else the national ones; several kab/kota rules joined by
    `` | ``), as `sim.model.issuance.bank_of` picks them."""
    from sim.registry import regions

    regs = regions.load()
    iss = ctx.p["issuance"]
    own = {code: body["issuance"]["bank_shares"]
           for code, body in (ctx.p.get("regions") or {}).items()
           if "bank_shares" in body.get("issuance", {})}
    per: dict[str, set[str]] = {}
    for row in ctx.frame.kab_rows.tolist():
        code = int(regs.kabkota_code[row])
        pp, kk = f"{code // 100:02d}", f"{code % 100:02d}"
        shares = (own.get(f"{pp}.{kk}") or own.get(pp)
                  or iss["bank_shares_by_province"].get(pp) or iss["bank_shares"])
        per.setdefault(pp, set()).add(",".join(f"{b}={float(v):g}"
                                                for b, v in sorted(shares.items()) if v))
    return {f"rule_bank_shares.{pp}": " | ".join(sorted(v)) for pp, v in sorted(per.items())}


def _layers(scen: Scenario) -> list[tuple[str, list[str], dict[str, dict[str, Any]]]]:
    """(source, keys, base values) per override layer of *scen*."""
    seed_sets = [o for o in scen.overrides if o.split("=", 1)[0].strip() == "scenario.seed"]
    sets = [o for o in scen.overrides if o not in seed_sets]
    out = []
    if sets:
        keys = []
        for o in sets:
            k = o.split("=", 1)[0].strip()
            parts = k.split(".")
            if parts[0] == "regions":  # regions.PP[.KK].table.key -> the region's table
                k = ".".join(parts[:-2])
            if parts[0] not in _RUN_TABLES and k not in keys:
                keys.append(k)
        if keys:
            out.append(("--set", keys, load(scen.path, seed_sets).data))
    if len(scen.files) > 1:
        child, parent = str(scen.files[0]), scen.files[1]
        keys = sorted(k for k, origin in scen.origins.items()
                      if origin == child and "." in k and k.split(".")[0] not in _RUN_TABLES)
        keys = [k for k in keys if scen.origins.get(k) != "--set"]
        if keys:
            out.append((f"extends {parent.name}", keys, load(parent).data))
    return out


def _get(data: dict, dotted: str) -> Any:
    t, k = dotted.split(".", 1)
    return data.get(t, {}).get(k)


def inert_reason(key: str, value: Any, base: Any, data: dict,
                 base_name: str = "the base") -> str | None:
    """Why *key* cannot change the built model under *data*, or None (*base_name*: what *base*
    is, for the message)."""
    if value == base:
        return f"same value as {base_name} ({_plain(base)!r})"
    channel = data["disbursement"]["channel"]
    if key in CHANNELS and channel not in CHANNELS[key]:
        return (f"not used with disbursement.channel = {channel!r} (only with "
                + " or ".join(repr(c) for c in CHANNELS[key]) + ")")
    if key in _SELF_KEYS and not data["registration"]["self_registration"]:
        return "not used while registration.self_registration = false"
    if key == "issuance.printer_outages":
        from sim.model.run import horizon_days

        start = data["scenario"]["start"]
        import datetime as _dt

        end = start + _dt.timedelta(days=horizon_days(start, data["scenario"]["months"]))
        if value and all(o["end"] < start or o["start"] >= end for o in value):
            return "every outage falls outside the simulated horizon"
    return None


def _region_checks(code: str, value: dict, base: dict, data: dict) -> list[tuple[str, float]]:
    """Expected item ratios of a province's own settings (none for a kab/kota: its province's
    items move by a part of the ratio only)."""
    if "." in code:
        return []
    out = []
    for table, keys in value.items():
        for key, new in keys.items():
            old = base.get(table, {}).get(key)
            if old is None:
                old = 1.0 if key == "quota_factor" else data[table][key]
            if not isinstance(new, int | float) or old <= 0 or new <= 0 or new == old:
                continue
            if key == "quota_factor":
                out += [(f"quota_{prog}.{code}", new / old) for prog in ("bpnt", "pkh", "pbi")]
            elif f"{table}.{key}" in TARGETS:
                item, exp = TARGETS[f"{table}.{key}"]
                out.append((f"{item}.{code}", (new / old) ** exp))
    return out


def _ratio_check(key: str, value: Any, base: Any, before: dict, after: dict,
                 data: dict | None = None) -> tuple[
        dict[str, float] | None, str | None]:
    """Expected item ratio of *key* and a warning when the item moved far less than it."""
    checks: list[tuple[str, float]] = []
    if key in TARGETS and isinstance(value, int | float) and isinstance(base, int | float):
        item, exp = TARGETS[key]
        if base > 0 and value > 0:
            checks.append((item, (value / base) ** exp))
    elif key == "programmes.province_quota" and isinstance(value, dict):
        base = base or {}
        for code in sorted(set(value) | set(base)):
            new, old = float(value.get(code, 1.0)), float(base.get(code, 1.0))
            if new != old and old > 0 and new > 0:
                for prog in ("bpnt", "pkh", "pbi"):
                    checks.append((f"quota_{prog}.{code}", new / old))
    elif key.startswith("regions.") and isinstance(value, dict):
        checks = _region_checks(key.split(".", 1)[1], value, base or {}, data)
    if not checks:
        return None, None
    expected = {item: round(r, 6) for item, r in checks}
    for item, r in checks:
        b, a = before.get(item), after.get(item)
        if b is None and a is None:
            return expected, f"{item} is not in the built model (outside the territory?)"
        b, a = b or 0, a or 0
        if r == 1.0:
            continue
        if b == a:
            return expected, f"changes nothing in the built model: {item} stays {b:,}"
        if b > 0 and a > 0 and abs(math.log(a / b)) < 0.5 * abs(math.log(r)):
            return expected, (f"changes {item} by x{a / b:.3g} ({b:,} -> {a:,}), far less than "
                              f"its ratio x{r:.3g}")
    return expected, None


def account(scen: Scenario, ctx: Context) -> list[Effect]:
    """The effect of every overridden key of *scen* on the model *ctx* was built from (a run's
    context is fine: with dated events, whose values a run leaves in *ctx*, the model is built
    afresh), then of every key of its dated events from their dates (`account_events`)."""
    from sim.model.run import built

    if scen.events:
        ctx = built(scen)
    after = inventory(ctx)
    out: list[Effect] = []

    def before_without(keys: list[str], base_data: dict) -> dict[str, Any]:
        ref_data = copy.deepcopy(scen.data)
        for k in keys:
            t, name = k.split(".", 1)
            if name in base_data.get(t, {}):
                ref_data[t][name] = copy.deepcopy(base_data[t][name])
            else:
                ref_data[t].pop(name, None)
        ref = Scenario(path=scen.path, data=ref_data, origins=dict(scen.origins),
                       files=list(scen.files), overrides=[])
        return inventory(built(ref))

    for source, keys, base_data in _layers(scen):
        # one build per key (its own effect) unless the layer is long: then one for the layer
        per_key = len(keys) <= PER_KEY_BUILDS
        layer_before = None if per_key else before_without(keys, base_data)
        for k in keys:
            value, base = _get(scen.data, k), _get(base_data, k)
            if value == base:
                before = after
            else:
                before = before_without([k], base_data) if per_key else layer_before
            changed = {item: [before.get(item), after.get(item)]
                       for item in sorted(set(before) | set(after))
                       if before.get(item) != after.get(item)}
            eff = Effect(key=k, source=source, value=value, base=base, changed=changed,
                         attributed="key" if per_key else "layer")
            eff.warning = inert_reason(k, value, base, scen.data)
            expected, warn = _ratio_check(k, value, base, before, after, scen.data)
            if not per_key and warn and "changes nothing" not in warn:
                warn = None  # another key of the layer may have moved the item
            eff.expected = expected
            if eff.warning is None:
                eff.warning = warn
            if eff.warning is None and not changed:
                eff.warning = ("changes nothing in the built model's resources, quotas, "
                               "amounts or rules (it may still change behaviour)") if (
                    k in TARGETS or k == "programmes.province_quota"
                    or k.startswith("regions.")) else None
            out.append(eff)
    return out + account_events(scen, ctx)


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {item: [before.get(item), after.get(item)]
            for item in sorted(set(before) | set(after)) if before.get(item) != after.get(item)}


def account_events(scen: Scenario, ctx: Context) -> list[Effect]:
    """The effect of every key of *scen*'s dated events, from their dates (module docstring).

    *ctx* must be the model as built, nothing run (`sim.model.run.built`); the events are
    applied to it, so it is spent afterwards.
    """
    from sim.model import timeline

    out: list[Effect] = []
    for ev in scen.events:  # timeline order (date, then position)
        source = f"{ev.label} ({ev.date.isoformat()})"
        for k in ev.dotted_keys():
            table, name = k.split(".", 1)
            value = ev.changes[table][name]
            base = copy.deepcopy(ctx.p[table].get(name))
            before = inventory(ctx)
            timeline.apply_built(ctx, dataclasses.replace(ev, changes={table: {name: value}},
                                                          decree=False))
            after = inventory(ctx)
            eff = Effect(key=k, source=source, value=value, base=base,
                         changed=_diff(before, after))
            eff.warning = inert_reason(k, value, base, ctx.p,
                                       base_name="the value in force before the event")
            expected, warn = _ratio_check(k, value, base, before, after, ctx.p)
            eff.expected = expected
            if eff.warning is None:
                eff.warning = warn
            if eff.warning is None and not eff.changed and (
                    k in TARGETS or k == "programmes.province_quota"):
                eff.warning = ("changes nothing in the built model's resources, quotas, "
                               "amounts or rules (it may still change behaviour)")
            out.append(eff)
    return out


def warnings(effects: list[Effect]) -> list[str]:
    """One line per key with a warning: ``warning: <source> <key>: <why>``."""
    return [f"warning: {e.source} {e.key}: {e.warning}" for e in effects if e.warning]


def summary_lines(effects: list[Effect], limit: int = 6) -> list[str]:
    """One line per key: value change and up to *limit* items it changed (for stderr)."""
    lines = []
    for e in effects:
        items = list(e.changed.items())
        shown = ", ".join(f"{k} {_num(b)} -> {_num(a)}" for k, (b, a) in items[:limit])
        more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
        lines.append(f"{e.source} {e.key} = {_plain(e.value)!r} (base {_plain(e.base)!r}): "
                     + (shown + more if items else "no change in the built model"))
    return lines


def _num(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)


def section(effects: list[dict]):
    """The report's "What the overrides changed" section (`sim.outputs.section.Section`)."""
    import html

    from sim.outputs.section import Section

    rows = []
    for e in effects:
        items = "<br>".join(f"{html.escape(k)}: {html.escape(_num(b))} &rarr; "
                            f"{html.escape(_num(a))}" for k, (b, a) in list(
                                e["changed"].items())[:12])
        more = len(e["changed"]) - 12
        if more > 0:
            items += f"<br>(+{more} more in summary.json)"
        warn = (f"<b>warning:</b> {html.escape(e['warning'])}" if e["warning"] else "")
        rows.append(f"<tr><td>{html.escape(e['source'])}</td><td><code>{html.escape(e['key'])}"
                    f"</code></td><td>{html.escape(repr(e['base']))} &rarr; "
                    f"{html.escape(repr(e['value']))}</td><td>{items or 'nothing'}</td>"
                    f"<td>{warn}</td></tr>")
    body = ("<p>Each override's effect on the built model (resources per stage scaled to the "
            "territory, quotas, amounts, rules), against the same run with that layer of "
            "overrides put back; each dated event's keys from the event's date, against the "
            "model as it stood the day before.</p>\n<table><caption>Overrides and what they changed"
            '</caption><thead><tr><th scope="col">from</th><th scope="col">key</th>'
            '<th scope="col">base &rarr; value</th><th scope="col">changed in the built model'
            '</th><th scope="col">warning</th></tr></thead><tbody>'
            "\n" + "\n".join(rows) + "</tbody></table>")
    return Section(anchor="effects", title="What the overrides changed", body=body)
