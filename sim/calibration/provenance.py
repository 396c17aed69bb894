"""Where every scenario value comes from: a row of docs/calibration.md, or an estimate (EST).

`SOURCED` maps a scenario key (``table.key``; a key of a table-valued key as
``table.key.name``) to the calibration row ids it rests on. `ESTIMATES` maps a key to an
`Estimate`: a one-line reason, the plausible range ``lo..hi`` that `kks sim sensitivity` varies
it over, and, when its value was tuned, the calibration row it was tuned to. A key may be both
(a published figure converted by an estimated step); then it is listed in both. Keys that are
neither figures nor guesses (names, dates, seeds, switches of the scenario's question) are in
`STRUCTURAL`.

`tests/sim/calibration/test_provenance.py` checks that every key of ``scenarios/baseline.toml``
is covered, that every cited row id exists in docs/calibration.md, and that the baseline's
comments say the same (``[ROW-ID]`` or ``EST``). `estimates_of` lists the estimates a resolved
scenario depends on (written to manifest.json and the report).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Estimate:
    """An estimated scenario value: why it is a guess, its plausible range, what tuned it."""

    reason: str
    lo: float
    hi: float
    tuned_to: str = ""
    #: the scenario only reads the key under this condition (``table.key=value``), else always
    when: str = ""

    def applies(self, data: dict[str, Any]) -> bool:
        """Whether a resolved scenario reads this key."""
        if not self.when:
            return True
        key, want = self.when.split("=", 1)
        return str(lookup(data, key)) == want


#: scenario keys that are part of the question, not figures (names, dates, switches)
STRUCTURAL = frozenset({
    "scenario.name", "scenario.question", "scenario.start", "scenario.months", "scenario.seed",
    "territory.scope", "territory.codes", "territory.fraction", "territory.context",
    "territory.context_fraction", "calendar.weekend",
    # switches and schedules of dated policies (off or neutral in the baseline)
    "verification.musdes_every_months", "verification.musdes_every_by_kabkota",
    "penetapan.rerank_every_months", "penetapan.rerank_refresh", "programmes.bpnt_paused",
    "programmes.pkh_paused", "disbursement.arrears_tranches", "oneoff.name", "oneoff.amount",
    "oneoff.max_desil", "oneoff.share", "oneoff.window_days", "oneoff.channel",
    "oneoff.collect_prob", "programmes.bpnt_budget_rp", "programmes.pkh_budget_rp",
    "programmes.pbi_budget_rp", "programmes.bpnt_decree_months", "programmes.pkh_decree_months",
    "programmes.pbi_decree_months",
    "calendar.holidays", "issuance.printer_outages", "programmes.province_quota",
    "disbursement.channel", "penetapan.cadence", "disbursement.tahap_months",
    "registration.self_registration", "register.ranking", "fidelity.kabkota", "fidelity.months",
})

#: scenario key -> calibration row ids (docs/calibration.md)
SOURCED: dict[str, tuple[str, ...]] = {
    "territory.household_size": ("HHSIZE-2025", "DTSEN-2025-07"),
    "registration.rtrw_per_1000": ("DTKS-CLEANUP-2023",),
    "registration.self_per_1000": ("DTKS-CLEANUP-2023", "CEKBANSOS"),
    "registration.shock_per_1000": ("DTKS-CLEANUP-2023",),
    "verification.musdes_working_day": ("DTKS-CYCLE",),
    "verification.pass_quantile": ("DESIL-RULES",),
    "verification.bupati_working_day": ("BA-25TH",),
    "verification.dukcapil_fix_prob": ("DTKS-2021-12",),
    "penetapan.decree_working_day": ("DTKS-CYCLE",),
    "capacity.printer_cards_per_day": ("KARTU-SAKTI-2015",),
    "capacity.ewarong_kpm_ratio": ("EWARONG-PURWAKARTA",),
    "capacity.pos_kpm_per_officer_day": ("POS-ROUTE",),
    "capacity.pos_officers_per_kecamatan": ("POS-ROUTE",),
    "issuance.bank_shares": ("BANKS-BLTS-2025",),
    "issuance.not_collected_prob": ("RASTRA-2018",),
    "disbursement.redeem_prob": ("PAYOUT-2019", "REDEEM-EST"),
    "disbursement.travel_minutes_median": ("EWARONG-ACCESS",),
    "disbursement.bank_collect_days": ("POS-TAKEOVER-2023",),
    "disbursement.return_after_months": ("KKS-DORMANCY",),
    "churn.sanggah_deadline_days": ("SANGGAH-14D",),
    "churn.pbi_window_months": ("PBI-REACTIVATION",),
    "churn.pbi_quick_working_days": ("PBI-REACTIVATION",),
    "churn.pbi_lapse_per_1000": ("PBI-REACTIVATION",),
    "churn.removals_per_year": ("EXCLUDE-REASONS", "DTKS-CLEANUP-2023"),
    "programmes.bpnt_share": ("BPNT-Q4-2025", "DTSEN-2025-07"),
    "programmes.pkh_share": ("PKH-Q4-2025", "DTSEN-2025-07"),
    "programmes.pbi_share": ("PROG-2022", "DTSEN-2025-07"),
    "programmes.bpnt_amount": ("BPNT-AMOUNT",),
    "programmes.bpnt_max_desil": ("DESIL-RULES",),
    "programmes.pkh_max_desil": ("DESIL-RULES",),
    "programmes.pbi_max_desil": ("DESIL-RULES",),
    "programmes.pbi_round_share": ("PBI-DEACT-2025", "PBI-DEACT-2025-YEAR", "PROG-2022"),
    "register.initial_share": ("DTKS-PERSONS-EST", "DTKS-2021-12", "DTSEN-2025-07"),
    "targeting.kemensos_target_share": ("DTKS-2020", "DESIL-RULES"),
    "targeting.alatas_poor_share": ("ALATAS-T3",),
    "status.app_share": ("CEKBANSOS",),
    "issuance.bank_shares_by_province": ("ACEH-BSI", "BANKS-BLTS-2025"),
    "programmes.pkh_tahap_months": ("PKH-SCHEDULE",),
    "programmes.pkh_pregnant": ("PKH-AMOUNT",),
    "programmes.pkh_early_child": ("PKH-AMOUNT",),
    "programmes.pkh_sd": ("PKH-AMOUNT",),
    "programmes.pkh_smp": ("PKH-AMOUNT",),
    "programmes.pkh_sma": ("PKH-AMOUNT",),
    "programmes.pkh_disabled": ("PKH-AMOUNT",),
    "programmes.pkh_elderly": ("PKH-AMOUNT",),
    "programmes.pkh_max_components": ("PKH-CAPS",),
    "programmes.pkh_max_children": ("PKH-CAPS",),
    "programmes.pkh_max_early_child": ("PKH-CAPS",),
    "programmes.pkh_max_disabled_elderly": ("PKH-CAPS",),
    "programmes.pkh_max_pregnant": ("PKH-CAPS",),
    "programmes.pbi_premium": ("PBI-PREMIUM",),
}

_E = Estimate
#: scenario key -> Estimate (one-line reason, plausible range for the sensitivity screening)
ESTIMATES: dict[str, Estimate] = {
    "registration.rtrw_per_1000": _E("split of the 8.4 M proposals a year by source not found",
                                     30, 70),
    "registration.rtrw_targeting": _E("RT/RW know their poor (Alatas 2012 Table 9); strength "
                                      "not measured", 0.5, 2.5),
    "registration.self_per_1000": _E("split by source not found", 10, 40,
                                     when="registration.self_registration=True"),
    "registration.self_targeting": _E("self-targeting selects the poorer (Alatas 2016); "
                                      "strength not measured", 0.3, 1.5,
                                      when="registration.self_registration=True"),
    "registration.shock_per_1000": _E("split by source not found", 8, 30),
    "registration.shock_factor": _E("consumption after a job loss or illness not found",
                                    0.35, 0.8),
    "registration.pmks_per_1000": _E("PMKS online-route volume not found", 0.2, 3.0),
    "verification.musdes_drop_nonpoor": _E("community ranking drops some non-poor (Alatas "
                                           "2012); rate not measured", 0.1, 0.4),
    "verification.verval_days": _E("officer time per household visit not found", 0.5, 3.0),
    "verification.verval_cv": _E("spread of verval time not found", 0.3, 1.0),
    "verification.verval_noise": _E("error of the field assessment not measured", 0.25, 0.7),
    "verification.siks_days": _E("SIKS-NG entry time not found (~20 min)", 0.02, 0.1),
    "verification.dinsos_days": _E("Dinsos check time not found", 0.03, 0.12),
    "verification.dukcapil_fix_prob": _E("share of unmatched records corrected not found",
                                         0.5, 0.9),
    "verification.dukcapil_fix_days": _E("Dukcapil correction time not found", 7, 45),
    "verification.kemensos_days": _E("Pusdatin processing is mostly automated; time not found",
                                     0.001, 0.005),
    "verification.pmks_lks_days": _E("LKS document check time not found", 5, 20),
    "capacity.verval_per_desa": _E("verval officers per desa not found", 1, 3),
    "capacity.siks_per_desa": _E("SIKS-NG operators per desa not found", 1, 2),
    "capacity.dinsos_per_kabkota": _E("Dinsos verification staff not found", 3, 12),
    "capacity.kemensos_officers": _E("Pusdatin staff not found", 50, 200),
    "capacity.burekol_per_branch_day": _E("bank burekol throughput not found", 20, 80),
    "capacity.printer_cards_per_day": _E("current printer throughput not found (2015 campaign "
                                         "only)", 30000, 120000),
    "capacity.pos_officers_per_kecamatan": _E("4,308 KCP for 7,285 kecamatan plus community "
                                              "points; paying officers per kecamatan not found",
                                              2, 6, when="disbursement.channel=pos"),
    "issuance.burekol_fail": _E("gagal burekol rate not found", 0.01, 0.1),
    "issuance.burekol_retry_days": _E("time to fix account data not found", 10, 40),
    "issuance.print_batch_every": _E("printing batch cycle not found", 1, 10),
    "issuance.wrong_data_prob": _E("reprint rate not found", 0.005, 0.05),
    "issuance.post_days_median": _E("card delivery time standards not found", 3, 14),
    "issuance.post_days_sigma": _E("spread of delivery time not found", 0.2, 0.8),
    "issuance.distribution_every": _E("community-point distribution cycle not found", 5, 20),
    "issuance.not_collected_prob": _E("Rastra receipt (77.3%) is the nearest figure; card "
                                      "collection not measured", 0.05, 0.25),
    "issuance.max_collection_tries": _E("tries before a card is returned not found", 2, 5),
    "disbursement.credit_working_day": _E("credit posting day not found", 1, 10),
    "disbursement.redeem_prob": _E("share redeeming within the month not found (85-95%)",
                                   0.85, 0.97, tuned_to="PAYOUT-2019"),
    "disbursement.full_spend_prob": _E("share spending the whole balance not found", 0.5, 0.9,
                                       when="disbursement.channel=ewarong"),
    "disbursement.redeem_days": _E("days to the visit after a credit not found", 7, 21),
    "disbursement.pos_pay_days": _E("PT Pos payout window not found", 5, 15),
    "disbursement.open_hour": _E("agent opening hours not found", 7, 9),
    "disbursement.close_hour": _E("agent closing hours not found", 15, 18),
    "disbursement.service_minutes": _E("service time per KPM not found", 3, 12,
                                       when="disbursement.channel=ewarong"),
    "disbursement.service_cv": _E("spread of service time not found", 0.5, 1.5,
                                  when="disbursement.channel=ewarong"),
    "disbursement.restock_every": _E("e-warong restock cycle not found", 3, 10,
                                     when="disbursement.channel=ewarong"),
    "disbursement.stock_cover": _E("stock per restock not found", 0.9, 1.3,
                                   when="disbursement.channel=ewarong"),
    "disbursement.bank_collect_days": _E("'several days' before PT Pos takes over: the number "
                                         "is not published", 3, 14,
                                         when="disbursement.channel=bank"),
    "disbursement.bank_cashout_median_days": _E("days from the credit to the cash-out not "
                                                "measured", 1.0, 5.0,
                                                tuned_to="CHANNEL-Q4-2025",
                                                when="disbursement.channel=bank"),
    "capacity.atm_per_kecamatan": _E("HIMBARA ATMs and cash points per kecamatan used by KPM "
                                     "not found", 2, 15),
    "disbursement.atm_service_minutes": _E("time of one ATM cash-out not found", 1.5, 6),
    "disbursement.patience_minutes_median": _E("queue patience at agents not measured", 20,
                                                180),
    "disbursement.travel_patience_factor": _E("how travel cost weighs against waiting not "
                                              "measured", 0.0, 2.0),
    "disbursement.patience_sigma": _E("spread of patience not measured", 0.3, 1.5),
    "disbursement.max_visits": _E("visits before not collecting this month not measured", 1, 5),
    "disbursement.visit_window_days": _E("days to come back after giving up not measured",
                                         7, 27),
    "disbursement.travel_minutes_per_desa": _E("extra travel per desa to the agent not "
                                               "measured", 5, 30),
    "verification.appeal_prob": _E("share of verval rejections appealed to Dinsos not found",
                                   0.0, 0.3),
    "verification.appeal_wait_days": _E("wait before a rejected household is proposed again "
                                        "not found", 30, 180),
    "churn.graduation_report_prob": _E("share of improved households that report it not found",
                                       0.3, 1.0),
    "churn.sanggah_per_1000_kpm": _E("objection volume not found", 2, 15),
    "churn.sanggah_true_share": _E("share of objections that are right not found", 0.3, 0.8),
    "churn.sanggah_verify_days": _E("verification time of an objection not found", 0.2, 1.0),
    "churn.graduation_per_year": _E("rate of welfare improvement not found", 0.02, 0.1),
    "churn.graduation_factor": _E("size of the improvement not found", 1.3, 2.0),
    "churn.pbi_lapse_per_1000": _E("Feb 2026 reactivation counts give the order only", 5, 30),
    "churn.removals_per_year.died": _E("rate per reason not found", 0.005, 0.012),
    "churn.removals_per_year.moved": _E("rate per reason not found", 0.005, 0.02),
    "churn.removals_per_year.dukcapil_unreported": _E("rate per reason not found", 0.003,
                                                      0.015),
    "churn.removals_per_year.resigned": _E("rate per reason not found", 0.0005, 0.005),
    "churn.removals_per_year.ineligible_local": _E("rate per reason not found", 0.005, 0.02),
    "churn.removals_per_year.pkh_no_member": _E("rate per reason not found", 0.005, 0.03),
    "churn.removals_per_year.earns_umr": _E("rate per reason not found", 0.005, 0.02),
    "status.checks_per_proposal_month": _E("status-check volume not found", 0.3, 3.0),
    "status.app_share": _E("app share of checks not found", 0.3, 0.9),
    "status.operator_days": _E("operator time per check not found", 0.005, 0.03),
    "programmes.pbi_share": _E("the 96.7 M persons are 2022's; the quota is in persons, a share "
                               "of the population", 0.32, 0.36),
    "register.initial_share": _E("DTKS households 2022-24 not found (persons only)", 0.40,
                                 0.55, tuned_to="DTKS-PERSONS-EST",
                                 when="register.ranking=register"),
    "register.unranked_share": _E("share of families not yet ranked (desil 0) not published",
                                  0.0, 0.05, when="register.ranking=population"),
    "register.dtks_noise_sd": _E("how far DTKS entry departs from the PMT order not measured",
                                 0.5, 8.0, tuned_to="KEMENSOS-ERR-2026",
                                 when="register.ranking=register"),
    "register.stale_score_sd": _E("how far old DTKS data drifted from welfare not measured",
                                  0.0, 5.0, tuned_to="KEMENSOS-ERR-2026"),
    "register.umr_intercept": _E("share of households with a member earning the UMR not "
                                 "found (Sakernas wages by household welfare would pin it)",
                                 -2.0, -0.5, tuned_to="KEMENSOS-ERR-2026"),
    "register.pbi_other_share": _E("how many of a PBI-JK family's members hold PBI-JK not "
                                   "published by welfare (only the February 2026 round's 1.86 "
                                   "persons per family)", 0.0, 0.9, tuned_to="PBI-DEACT-2026"),
    "targeting.kemensos_target_share": _E("which households Kemensos counted as the target "
                                          "group is not published", 0.3, 0.5),
    "programmes.bpnt_max_desil": _E("DTKS-era deciles of the register holding the quota; "
                                    "calibrated", 5, 9, tuned_to="PROG-2023-04",
                                    when="register.ranking=register"),
    "programmes.pkh_max_desil": _E("DTKS-era deciles of the register holding the quota; "
                                   "calibrated", 5, 10, tuned_to="PKH-Q4-2025",
                                   when="register.ranking=register"),
    "programmes.pbi_max_desil": _E("DTKS-era deciles of the register holding the persons "
                                   "quota; calibrated", 6, 10, tuned_to="PROG-2022",
                                   when="register.ranking=register"),
}


def lookup(data: dict[str, Any], key: str) -> Any:
    """The value of dotted *key* in resolved scenario *data* (None if absent)."""
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def scenario_keys(data: dict[str, Any]) -> list[str]:
    """Every dotted key of a resolved scenario (tables of factors/shares as one key)."""
    out = []
    for table, values in data.items():
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            full = f"{table}.{key}"
            if isinstance(value, dict) and any(k.startswith(full + ".") for k in ESTIMATES):
                out += [f"{full}.{k}" for k in value]
            else:
                out.append(full)
    return out


def covered(key: str) -> bool:
    """Whether *key* is sourced, estimated or structural."""
    parent = key.rsplit(".", 1)[0]
    return (key in SOURCED or key in ESTIMATES or key in STRUCTURAL or parent in SOURCED
            or key.startswith("regions."))  # a region's own values: part of the question


def estimates_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The estimates a resolved scenario depends on: key, value, range, reason, tuned-to."""
    out = []
    for key in sorted(ESTIMATES):
        est = ESTIMATES[key]
        value = lookup(data, key)
        if value is None or not est.applies(data):
            continue
        out.append({"key": key, "value": value, "lo": est.lo, "hi": est.hi,
                    "reason": est.reason, "tuned_to": est.tuned_to,
                    "sources": list(SOURCED.get(key, ()))})
    return out


def row_ids(markdown: str) -> set[str]:
    """Row ids of the calibration page: the first cell of every table row."""
    return set(re.findall(r"^\| ([A-Z][A-Z0-9-]+[A-Z0-9]) \|", markdown, re.M))


def markdown_estimates() -> str:
    """The estimates as a Markdown table (docs/calibration.md §10)."""
    lines = ["| key | plausible range | reason | also rests on | tuned to |",
             "| --- | --- | --- | --- | --- |"]
    for key in sorted(ESTIMATES):
        e = ESTIMATES[key]
        cond = f" (only when `{e.when}`)" if e.when else ""
        lines.append(f"| `{key}` | {e.lo:g} – {e.hi:g} | {e.reason}{cond} | "
                     f"{', '.join(SOURCED.get(key, ())) or '–'} | {e.tuned_to or '–'} |")
    return "\n".join(lines)


def markdown_tuning() -> str:
    """Which estimate was tuned to which calibration row (docs/calibration.md §11)."""
    lines = ["| estimate | tuned to (in-sample row) |", "| --- | --- |"]
    for key in sorted(ESTIMATES, key=lambda k: (ESTIMATES[k].tuned_to, k)):
        if ESTIMATES[key].tuned_to:
            lines.append(f"| `{key}` | {ESTIMATES[key].tuned_to} |")
    return "\n".join(lines)


def fill_block(doc: str, name: str, content: str) -> str:
    """*doc* with the text between ``<!-- name:begin -->`` and ``<!-- name:end -->`` replaced."""
    begin, end = f"<!-- {name}:begin -->\n", f"<!-- {name}:end -->"
    i, j = doc.index(begin) + len(begin), doc.index(end)
    return doc[:i] + content + "\n" + doc[j:]


def _main(argv: list[str]) -> int:
    if argv[1:] == ["--markdown"]:
        sys.stdout.write(markdown_estimates() + "\n")
        return 0
    if argv[1:] == ["--write-docs"]:
        page = calibration_page()
        doc = page.read_text(encoding="utf-8")
        doc = fill_block(doc, "estimates", markdown_estimates())
        doc = fill_block(doc, "tuning", markdown_tuning())
        page.write_text(doc, encoding="utf-8")
        return 0
    sys.stderr.write("usage: python -m sim.calibration.provenance --markdown | --write-docs\n")
    return 2


def calibration_page() -> Path:
    """docs/calibration.md of this checkout."""
    return Path(__file__).resolve().parents[2] / "docs" / "calibration.md"


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv))
