"""The KPI catalogue: a human label, a unit and a group for every KPI, and how to print values.

One place for what a KPI is called and how its numbers read, used by the report, `kks sim
compare`, the run summary and anything else that shows KPIs to a person. Machine outputs
(`kpi.csv`, `summary.json`, `--json`, `--csv`) keep the raw names and full numbers.

Units: ``rp`` (integer rupiah, printed as ``Rp 82.75 T``), ``count`` (territory totals, i.e.
simulated counts times the sampling weight, printed as ``18.1 M``), ``sim`` (simulated counts,
not weighted), ``days``, ``minutes``, ``share`` (a fraction printed as a percentage; differences
in percentage points), ``flag`` (1 = holds), ``number``.

Rupiah and counts use the short scale: T = trillion (triliun, 10^12), B = billion (miliar, 10^9),
M = million (juta, 10^6), k = thousand (ribu).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

#: the report's KPI groups, in reading order
GROUPS = ("registration", "verification", "issuance", "disbursement", "targeting", "money",
          "run")
GROUP_TITLES = {
    "registration": "Registration: proposals and self-registration",
    "verification": "Verification: musdes, verval, Dinsos, Kemensos, the decree",
    "issuance": "Issuance: accounts and KKS cards",
    "disbursement": "Disbursement: credits, redemption and agents",
    "targeting": "Targeting: recipients and errors",
    "money": "Money (territory totals)",
    "run": "Run and model checks",
    "other": "Other KPIs",
}
UNITS = ("rp", "count", "sim", "days", "minutes", "share", "flag", "number")
SCALE_NOTE = ("T = trillion (triliun, 10^12), B = billion (miliar, 10^9), M = million (juta, "
              "10^6), k = thousand")


@dataclass(frozen=True)
class Kpi:
    """How one KPI reads: *label*, *unit* (one of `UNITS`), *group* (one of `GROUPS`)."""

    label: str
    unit: str
    group: str
    #: shown in the headline table and compared by default
    headline: bool = False


_STAGES = {"verval": "field verval", "siks": "SIKS-NG entry", "dinsos": "Dinsos checks",
           "kemensos": "Kemensos processing", "burekol": "account opening (burekol)",
           "printing": "KKS printing", "redeem": "redemption"}
_STAGE_GROUP = {"verval": "verification", "siks": "verification", "dinsos": "verification",
                "kemensos": "verification", "burekol": "issuance", "printing": "issuance",
                "redeem": "disbursement"}
_PROGS = {"bpnt": "BPNT/Sembako", "pkh": "PKH", "pbi": "PBI-JK"}
_MILESTONES = {"dtks": "DTKS", "credit": "first credit", "redeem": "first redemption"}

CATALOGUE: dict[str, Kpi] = {
    # run
    "households": Kpi("Households in the territory", "count", "run"),
    "households_simulated": Kpi("Households simulated", "sim", "run"),
    "persons": Kpi("Persons in the territory", "count", "run"),
    "ranked_households": Kpi("Households ranked at the decree (DTKS)", "count", "verification"),
    "dtks_persons": Kpi("Persons in DTKS at the end", "count", "verification"),
    "bank_channel_pos_share": Kpi("Bank channel: share of cash-outs taken over by PT Pos",
                                  "share", "disbursement"),
    "fraction": Kpi("Sampling fraction", "number", "run"),
    "events": Kpi("Simulation events", "sim", "run"),
    "money_conserved": Kpi("Money conserved (credited = redeemed + returned + held)", "flag",
                           "run"),
    "flow_conserved": Kpi("Every proposal in exactly one state", "flag", "run"),
    # registration
    "proposals": Kpi("Proposals (all routes)", "count", "registration", True),
    "proposals_simulated": Kpi("Proposals simulated", "sim", "registration"),
    "proposals_rtrw": Kpi("Proposals by RT/RW and musdes", "count", "registration"),
    "proposals_self": Kpi("Self-registrations (Cek Bansos)", "count", "registration"),
    "proposals_shock": Kpi("Proposals after a welfare shock", "count", "registration"),
    "proposals_pmks": Kpi("PMKS proposals by LKS sponsors", "count", "registration"),
    "proposals_pbi": Kpi("KIS PBI re-proposals", "count", "registration"),
    "status_checks_app": Kpi("Status checks in the app or site", "count", "registration"),
    "status_checks_operator": Kpi("Status checks by village operators", "count",
                                  "registration"),
    # verification
    "dtks_households": Kpi("Households in DTKS at the end", "count", "verification", True),
    "lead_time_dtks_p50_days": Kpi("Proposal to DTKS, median", "days", "verification", True),
    "lead_time_dtks_p90_days": Kpi("Proposal to DTKS, 90th percentile", "days", "verification"),
    "lead_time_dtks_n": Kpi("Proposals that reached DTKS (simulated)", "sim", "verification"),
    "sanggah_received": Kpi("Objections (sanggah) received", "count", "verification"),
    "sanggah_upheld": Kpi("Objections upheld", "count", "verification"),
    "sanggah_rejected": Kpi("Objections rejected", "count", "verification"),
    "sanggah_dismissed_late": Kpi("Objections dismissed after the deadline", "count",
                                  "verification"),
    "graduations": Kpi("Households graduating (welfare improved)", "count", "verification"),
    # issuance
    "accounts_opened": Kpi("Bank accounts opened", "count", "issuance"),
    "burekol_failed": Kpi("Account openings failed on data (gagal burekol)", "count",
                          "issuance"),
    "cards_printed": Kpi("KKS cards printed", "count", "issuance"),
    "cards_activated": Kpi("KKS cards collected and activated", "count", "issuance"),
    "cards_returned": Kpi("KKS cards returned uncollected", "count", "issuance"),
    # disbursement
    "lead_time_credit_p50_days": Kpi("Proposal to first credit, median", "days",
                                     "disbursement", True),
    "lead_time_credit_p90_days": Kpi("Proposal to first credit, 90th percentile", "days",
                                     "disbursement", True),
    "lead_time_credit_n": Kpi("Proposals credited (simulated)", "sim", "disbursement"),
    "lead_time_redeem_p50_days": Kpi("Proposal to first redemption, median", "days",
                                     "disbursement", True),
    "lead_time_redeem_p90_days": Kpi("Proposal to first redemption, 90th percentile", "days",
                                     "disbursement"),
    "lead_time_redeem_n": Kpi("Proposals redeemed (simulated)", "sim", "disbursement"),
    "utilisation_agents": Kpi("Agent utilisation (opening hours)", "share", "disbursement"),
    "agent_wait_p50_min": Kpi("Wait at the agent, median", "minutes", "disbursement", True),
    "agent_wait_p90_min": Kpi("Wait at the agent, 90th percentile", "minutes", "disbursement",
                              True),
    "ewarong_wait_p50_min": Kpi("Wait at the e-warong, median", "minutes", "disbursement"),
    "ewarong_wait_p90_min": Kpi("Wait at the e-warong, 90th percentile", "minutes",
                                "disbursement"),
    "travel_p50_min": Kpi("Travel to the agent, median", "minutes", "disbursement"),
    "visits": Kpi("Visits to agents", "count", "disbursement"),
    "stockout_waits": Kpi("Visits that met a stock-out", "count", "disbursement"),
    "payout_completion": Kpi("Payout completion (KPM who collected / KPM credited)", "share",
                             "disbursement", True),
    "gave_up": Kpi("KPM who gave up collecting (redemption forfeited)", "count",
                   "disbursement"),
    "balked": Kpi("Visits that balked at the queue", "count", "disbursement"),
    "reneged": Kpi("Visits that left the queue (reneged)", "count", "disbursement"),
    "sent_home_at_closing": Kpi("Visits sent home at closing", "count", "disbursement"),
    "repeat_visits": Kpi("Repeat visits after giving up", "count", "disbursement"),
    "giveups_too_late": Kpi("Give-ups after the next credit (redemption stands)", "count",
                            "disbursement"),
    "forfeited_rp": Kpi("Left on cards by give-ups", "rp", "money"),
    "atm_gave_up": Kpi("KPM who gave up collecting after starting at an ATM", "count",
                       "disbursement"),
    "atm_to_pos": Kpi("Bank channel: KPM who gave up at the ATM, paid by PT Pos", "count",
                      "disbursement"),
    "atm_wait_p90_min": Kpi("Wait at the ATM, 90th percentile", "minutes", "disbursement"),
    "targeting_snapshots": Kpi("Targeting snapshots (decrees) averaged over", "sim",
                               "targeting"),
    # targeting
    "recipients_bpnt": Kpi("BPNT/Sembako recipients", "count", "targeting", True),
    "recipients_pkh": Kpi("PKH recipients", "count", "targeting", True),
    "recipients_pbi": Kpi("PBI-JK households", "count", "targeting", True),
    "inclusion_error": Kpi("Inclusion error, BPNT (recipients not in the target group)",
                           "share", "targeting"),
    "exclusion_error": Kpi("Exclusion error, BPNT (target group not receiving)", "share",
                           "targeting"),
    "kemensos_inclusion_share_bpnt": Kpi("Inclusion share, BPNT (recipients outside the "
                                         "Kemensos target group)", "share", "targeting", True),
    "kemensos_exclusion_share_bpnt": Kpi("Exclusion share, BPNT (Kemensos target group not "
                                         "receiving)", "share", "targeting", True),
    "alatas_inclusion_rate_bpnt": Kpi("Inclusion rate, BPNT (recipients who are not poor, "
                                      "Alatas)", "share", "targeting", True),
    "alatas_exclusion_rate_bpnt": Kpi("Exclusion rate, BPNT (poor not receiving, Alatas)",
                                      "share", "targeting", True),
    "recipients_pbi_persons": Kpi("PBI-JK persons", "count", "targeting", True),
    "pbi_needs_care": Kpi("PBI holders needing care with a lapsed card", "count", "targeting"),
    "pbi_reactivated_quick": Kpi("PBI cards reactivated quickly", "count", "targeting"),
    "pbi_reproposed": Kpi("PBI holders re-proposed", "count", "targeting"),
    "pbi_quick_days_mean": Kpi("Quick PBI reactivation, mean", "days", "targeting"),
    # money
    "disbursed_rp": Kpi("Credited to KKS (BPNT + PKH)", "rp", "money", True),
    "redeemed_rp": Kpi("Redeemed by KPM", "rp", "money", True),
    "unspent_rp": Kpi("Held unspent on KKS at the end", "rp", "money", True),
    "returned_rp": Kpi("Returned to the treasury", "rp", "money", True),
    "pbi_premium_rp": Kpi("PBI-JK premiums paid", "rp", "money"),
}

#: name patterns for KPIs that come in families (per stage, state or programme)
_PATTERNS: tuple[tuple[str, object], ...] = (
    (r"kemensos_(inclusion_share|exclusion_share)_(\w+)", lambda _: Kpi("", "share",
                                                                         "targeting")),
    (r"alatas_(inclusion_rate|exclusion_rate)_(\w+)", lambda _: Kpi("", "share", "targeting")),
    (r"(inclusion|exclusion)_error(?:_(?:bpnt|pkh|pbi))?_time_avg",
     lambda _: Kpi("", "share", "targeting")),  # labelled in `kpi` (needs the whole name)
    (r"lead_time_(\w+?)_censored", lambda m: Kpi(
        f"Proposals still open without {_MILESTONES.get(m, m)} at the horizon (censored)", "sim",
        "run")),
    (r"lead_time_(\w+?)_censored_share", lambda m: Kpi(
        f"Share of the {_MILESTONES.get(m, m)} lead time censored at the horizon", "share",
        "run")),
    (r"resources_(\w+)", lambda r: Kpi(f"Resources: {r.replace('_', ' ')} (territory)", "count",
                                        "run")),
    (r"wait_(\w+?)_mean_days", lambda s: Kpi(f"Wait for {_STAGES.get(s, s)}, mean", "days",
                                             _STAGE_GROUP.get(s, "verification"),
                                             s in ("verval", "dinsos", "printing"))),
    (r"wait_(\w+?)_p90_days", lambda s: Kpi(f"Wait for {_STAGES.get(s, s)}, 90th percentile",
                                            "days", _STAGE_GROUP.get(s, "verification"))),
    (r"utilisation_(\w+)", lambda s: Kpi(f"Utilisation of {_STAGES.get(s, s)}", "share",
                                         _STAGE_GROUP.get(s, "verification"), s == "verval")),
    (r"time_in_(\w+?)_mean_days", lambda s: Kpi(f"Time in {s.replace('_', ' ')}, mean",
                                                "days", "verification")),
    (r"state_(\w+)", lambda s: Kpi(f"Proposals now {s.replace('_', ' ')} (simulated)", "sim",
                                   "states")),
    (r"inclusion_error_(\w+)", lambda p: Kpi(f"Inclusion error, {_PROGS.get(p, p)}", "share",
                                             "targeting")),
    (r"exclusion_error_(\w+)", lambda p: Kpi(f"Exclusion error, {_PROGS.get(p, p)}", "share",
                                             "targeting")),
)


def known(name: str) -> bool:
    """True when *name* has a catalogue entry or matches a family pattern."""
    return name in CATALOGUE or any(re.fullmatch(p, name) for p, _ in _PATTERNS)


def kpi(name: str) -> Kpi:
    """The catalogue entry of KPI *name* (an unknown KPI reads as its raw name, group other)."""
    if name in CATALOGUE:
        return CATALOGUE[name]
    m = re.fullmatch(r"(kemensos|alatas)_(inclusion|exclusion)_(share|rate)_(\w+?)(_time_avg)?",
                     name)
    if m:
        prog = _PROGS.get(m.group(4), m.group(4))
        who = "Kemensos target group" if m.group(1) == "kemensos" else "poor, Alatas"
        when = ", averaged over time" if m.group(5) else ""
        return Kpi(f"{m.group(2).capitalize()} {m.group(3)}, {prog} ({who}){when}", "share",
                   "targeting")
    m = re.fullmatch(r"(inclusion|exclusion)_error(?:_(bpnt|pkh|pbi))?_time_avg", name)
    if m:
        prog = _PROGS[m.group(2) or "bpnt"]
        return Kpi(f"{m.group(1).capitalize()} error, {prog}, averaged over time", "share",
                   "targeting")
    for pattern, make in _PATTERNS:
        m = re.fullmatch(pattern, name)
        if m:
            return make(m.group(1))  # type: ignore[operator]
    return Kpi(name.replace("_", " "), "number", "other")


def headline() -> list[str]:
    """The headline KPIs in catalogue order (the patterns' headline members included)."""
    names = [n for n, k in CATALOGUE.items() if k.headline]
    extra = ["wait_verval_mean_days", "wait_dinsos_mean_days", "wait_printing_mean_days",
             "utilisation_verval"]
    order = {g: i for i, g in enumerate(GROUPS)}
    out = names + extra
    return sorted(out, key=lambda n: (order.get(kpi(n).group, len(order)), out.index(n)))


def _short(x: float, decimals: int) -> str:
    a = abs(x)
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if a >= size:
            return f"{x / size:,.{decimals}f} {suffix}"
    return f"{x:,.0f}"


def value(name: str, v: float | None) -> str:
    """KPI *name*'s value *v* for a person: ``Rp 82.75 T``, ``18.1 M``, ``12.3 days``, ``4.2%``."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    unit = kpi(name).unit
    if unit == "rp":
        return "Rp " + _short(v, 2)
    if unit == "count":
        return _short(v, 1)
    if unit == "sim":
        return f"{v:,.0f}"
    if unit == "days":
        return f"{v:,.1f} days"
    if unit == "minutes":
        return f"{v:,.1f} min"
    if unit == "share":
        return f"{v * 100:.1f}%"
    if unit == "flag":
        return "yes" if v else "NO"
    return f"{v:,.6g}"


def delta(name: str, d: float | None) -> str:
    """A difference *d* of KPI *name*, signed: ``+Rp 1.91 B``, ``-2.8 days``, ``+1.2 pp``."""
    if d is None or (isinstance(d, float) and not math.isfinite(d)):
        return "n/a"
    unit = kpi(name).unit
    if d == 0:
        return "0 pp" if unit == "share" else value(name, 0)
    sign = "+" if d > 0 else "-"
    if unit == "share":
        return f"{sign}{abs(d) * 100:.1f} pp"
    if unit == "flag":
        return f"{sign}{abs(d):g}"
    return sign + value(name, abs(d))


def spread(name: str, half: float | None) -> str:
    """A confidence half-width of KPI *name*: ``± 2.8 days``, ``± 0.9 pp``."""
    if half is None or not math.isfinite(half):
        return "n/a"
    unit = kpi(name).unit
    if unit == "share":
        return f"± {half * 100:.1f} pp"
    return "± " + value(name, half)


def percent(p: float | None) -> str:
    """A relative change in percent: ``+11,410%``, ``-3.2%``."""
    if p is None or not math.isfinite(p):
        return "n/a"
    return f"{p:+,.0f}%" if abs(p) >= 100 else f"{p:+.1f}%"


def unit_text(name: str) -> str:
    """The unit of KPI *name* in words, for table headers and CSV."""
    return {"rp": "rupiah", "count": "households or events (territory total)",
            "sim": "simulated count (not weighted)", "days": "days", "minutes": "minutes",
            "share": "share", "flag": "1 = yes", "number": ""}[kpi(name).unit]
