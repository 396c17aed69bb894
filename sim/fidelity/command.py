"""`kks sim fidelity`: a scenario's kab/kota mirrored through real cards, reconciled to the rupiah.

The scenario gives the territory, sample fraction, seed and programme rules; its registry is built
exactly as `kks sim run` builds it (`sim.model.frame.build`). The vectorized engine then runs
`months` decrees and disbursements from the scenario's start month (`run_card_fidelity`: seeded
monthly change batches, the engine's own redemption draws), and every credit, purse load,
purchase and return of the chosen kab/kota's households goes through a personalised KKS card, an
EDC terminal and the household's HIMBARA issuer host. At every month end the issuer side must
equal the engine's balances to the rupiah.

This module is pure logic plus the files it produces; the click command is in `sim.cli.sim`.
"""

from __future__ import annotations

import csv
import html
import io
import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from kks_emulator.errors import ConfigError, InputError
from sim.fidelity.mirror import BankMonth, FidelityReport, period_label, run_card_fidelity
from sim.model import engine, frame, nation
from sim.outputs.section import Section
from sim.registry import regions
from sim.scenario.loader import Scenario

#: columns of reconciliation.csv, in order (amounts in rupiah)
RECONCILIATION_COLUMNS = ("period", "bank", "credits", "credited_rp", "loads", "loaded_rp",
                          "purchases", "redeemed_rp", "returns", "returned_rp",
                          "engine_held_rp", "issuer_held_rp", "mismatches")
#: columns of mismatches.csv (the household appears only as its keyed pseudonym)
MISMATCH_COLUMNS = ("period", "pseudonym", "bank", "engine_rp", "issuer_rp", "purse_rp",
                    "card_float_rp", "detail")


@dataclass(frozen=True)
class FidelityRun:
    """What was mirrored and what came out."""

    scenario: str
    kabkota: str  # its code, e.g. "33.71"
    kabkota_name: str
    months: int
    households: int  # rows of the kab/kota in the scenario's (sampled) registry
    report: FidelityReport

    @property
    def ok(self) -> bool:
        """True when every month end reconciled."""
        return self.report.ok


def _key_origin(scen: Scenario, key: str) -> str:
    return scen.origins.get(key, str(scen.path))


def resolve(scen: Scenario, kabkota: str | None, months: int | None) -> tuple[str, int]:
    """The kab/kota code and month count to mirror: the options, else the `[fidelity]` table.

    Raises `InputError` / `ConfigError` (one line, exit 2) for an unknown or missing kab/kota,
    one outside the scenario's territory, or fewer than one month.
    """
    code = kabkota if kabkota is not None else scen["fidelity"]["kabkota"]
    n = months if months is not None else scen["fidelity"]["months"]
    if not code:
        raise ConfigError(_key_origin(scen, "fidelity.kabkota"), "fidelity.kabkota",
                          "a kab/kota code such as '33.71' (or give --kabkota)")
    if not isinstance(n, int) or n < 1:
        raise InputError(f"--months: at least 1 month (got {n})")
    if n > 24:
        raise InputError(f"--months: at most 24 months (got {n})")
    regs = regions.load()
    try:
        row = regs.kabkota_index(code)
    except InputError:
        raise InputError(f"--kabkota: {code!r} is not a kab/kota code of the frame "
                         "(two digits, a dot, two digits, e.g. '33.71')") from None
    canonical = _code(int(regs.kabkota_code[row]))
    if row not in set(frame.check_territory(scen).tolist()):
        raise InputError(f"--kabkota: {canonical} is outside the territory of scenario "
                         f"{scen.name!r}")
    return canonical, n


def _code(value: int) -> str:
    """3371 -> "33.71"."""
    return f"{value // 100:02d}.{value % 100:02d}"


def _start_period(scen: Scenario) -> int:
    start = scen["scenario"]["start"]
    return (start.year - 2000) * 12 + start.month - 1


def run(scen: Scenario, kabkota: str, months: int, workdir: Path | None = None) -> FidelityRun:
    """Mirror `kabkota` of `scen` for `months` months (issuer ledgers under `workdir`, or a
    temporary folder removed afterwards)."""
    regs = regions.load()
    row = regs.kabkota_index(kabkota)
    fr, registry = frame.build(scen)
    p = scen.data
    # a national-context scenario's registry is at two fractions: weighted quotas and deciles
    quota = engine.quotas(p, registry, regs.province_code, fr.kab_rel)
    params = engine.params_from(p, quota, nation.desil_weight(fr.kab_rel))
    first = _start_period(scen)
    periods = list(range(first, first + months))
    seed = int(scen["scenario"]["seed"])
    households = int((registry["kabkota"] == row).sum())
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="kks-fidelity-") as tmp:
            report = run_card_fidelity(registry, params, periods, Path(tmp), seed, kabkota=row)
    else:
        report = run_card_fidelity(registry, params, periods, Path(workdir), seed, kabkota=row)
    return FidelityRun(scenario=scen.name, kabkota=kabkota,
                       kabkota_name=str(regs.kabkota_name[row]), months=months,
                       households=households, report=report)


def reconciliation_rows(fr: FidelityRun) -> list[dict[str, int | str]]:
    """One row per (period, bank) and a TOTAL row per period, then an ALL row."""
    rows: list[dict[str, int | str]] = []
    grand = BankMonth()
    for m in fr.report.months:
        label = period_label(m.period)
        total = BankMonth()
        for bank in sorted(m.by_bank):
            b = m.by_bank[bank]
            rows.append(_row(label, bank, b))
            _add(total, b)
        rows.append(_row(label, "TOTAL", total))
        # stocks (held) are month-end values: the grand total keeps the last month's
        flows = BankMonth(**{**asdict(total), "engine_held": 0, "issuer_held": 0})
        _add(grand, flows)
        grand.engine_held, grand.issuer_held = total.engine_held, total.issuer_held
    rows.append(_row("ALL", "TOTAL", grand))
    return rows


def _add(acc: BankMonth, b: BankMonth) -> None:
    for name, value in asdict(b).items():
        setattr(acc, name, getattr(acc, name) + value)


def _row(period: str, bank: str, b: BankMonth) -> dict[str, int | str]:
    return {"period": period, "bank": bank, "credits": b.credits, "credited_rp": b.credited,
            "loads": b.loads, "loaded_rp": b.loaded, "purchases": b.purchases,
            "redeemed_rp": b.redeemed, "returns": b.returns, "returned_rp": b.returned,
            "engine_held_rp": b.engine_held, "issuer_held_rp": b.issuer_held,
            "mismatches": b.mismatches}


def mismatch_rows(fr: FidelityRun) -> list[dict[str, int | str]]:
    """Every per-household disagreement, the household named by its pseudonym only."""
    return [{"period": period_label(x.period), "pseudonym": x.pseudonym, "bank": x.bank,
             "engine_rp": x.engine, "issuer_rp": x.issuer, "purse_rp": x.purse,
             "card_float_rp": x.card_float, "detail": x.detail}
            for x in fr.report.mismatches]


def _csv(columns: tuple[str, ...], rows: list[dict]) -> bytes:
    buf = io.StringIO()
    wr = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    wr.writeheader()
    wr.writerows(rows)
    return buf.getvalue().encode("utf-8")


def summary(fr: FidelityRun) -> dict:
    """The run's verdict and totals, for fidelity.json."""
    rows = reconciliation_rows(fr)
    return {"scenario": fr.scenario, "kabkota": fr.kabkota, "kabkota_name": fr.kabkota_name,
            "months": [period_label(p) for p in fr.report.periods],
            "households": fr.households, "accounts_by_bank": dict(sorted(fr.report.banks.items())),
            "reconciled": fr.ok, "totals": rows[-1], "failures": len(fr.report.failures()),
            "other_failures": [f for m in fr.report.months
                               for f in m.audit_failures + m.totals_failures]}


def files(fr: FidelityRun, prefix: str = "") -> dict[str, bytes]:
    """reconciliation.csv, mismatches.csv and fidelity.json (under `prefix`)."""
    return {
        f"{prefix}reconciliation.csv": _csv(RECONCILIATION_COLUMNS, reconciliation_rows(fr)),
        f"{prefix}mismatches.csv": _csv(MISMATCH_COLUMNS, mismatch_rows(fr)),
        f"{prefix}fidelity.json": (json.dumps(summary(fr), indent=2, sort_keys=True,
                                              ensure_ascii=False) + "\n").encode("utf-8"),
    }


def _rp(v: int) -> str:
    return f"Rp {v:,}"


def section(fr: FidelityRun, prefix: str = "") -> Section:
    """The report section: verdict, the reconciliation table, the mismatches (if any)."""
    verdict = ("<p><strong>Reconciled</strong>: at every month end the issuer ledgers equal the "
               "engine's balances to the rupiah.</p>" if fr.ok else
               f"<p><strong>NOT reconciled</strong>: {len(fr.report.failures()):,} failures; "
               f"see <code>{html.escape(prefix)}mismatches.csv</code>.</p>")
    head = "".join(f"<th scope=\"col\">{html.escape(c)}</th>" for c in RECONCILIATION_COLUMNS)
    body = []
    for r in reconciliation_rows(fr):
        cells = []
        for c in RECONCILIATION_COLUMNS:
            v = r[c]
            text = _rp(v) if c.endswith("_rp") and isinstance(v, int) else (
                f"{v:,}" if isinstance(v, int) else str(v))
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    mism = mismatch_rows(fr)[:50]
    mism_html = ""
    if mism:
        mh = "".join(f"<th scope=\"col\">{html.escape(c)}</th>" for c in MISMATCH_COLUMNS)
        mb = "".join("<tr>" + "".join(f"<td>{html.escape(str(m[c]))}</td>"
                                      for c in MISMATCH_COLUMNS) + "</tr>" for m in mism)
        mism_html = (f"<h3>Mismatches (first {len(mism)})</h3>"
                     f"<table><thead><tr>{mh}</tr></thead><tbody>{mb}</tbody></table>")
    intro = (f"<p>Kab/kota {html.escape(fr.kabkota)} {html.escape(fr.kabkota_name)}: "
             f"{fr.households:,} simulated households mirrored for {fr.months} month(s) "
             f"({', '.join(period_label(p) for p in fr.report.periods)}) through emulated KKS "
             "cards, EDC terminals and one issuer host per HIMBARA bank (simulated counts, not "
             "scaled by the sample weight).</p>")
    return Section(anchor="card-fidelity", title="Card fidelity",
                   body=intro + verdict + f"<table><thead><tr>{head}</tr></thead><tbody>"
                   + "".join(body) + "</tbody></table>" + mism_html,
                   files=files(fr, prefix))


def manifest(fr: FidelityRun, scen: Scenario) -> dict:
    """What produced the folder: the command, the scenario (resolved) and its input hashes."""
    import sim

    return {"kind": "kks-sim-fidelity", "package_version": sim.__version__,
            "scenario": scen.canonical(), "input_hashes": scen.input_hashes(),
            "kabkota": fr.kabkota, "months": fr.months}


def write(fr: FidelityRun, scen: Scenario, out: Path) -> None:
    """The results folder of `kks sim fidelity`, written atomically."""
    from sim.outputs.folder import write_folder

    sec = section(fr)

    def fill(tmp: Path) -> None:
        (tmp / "manifest.json").write_text(json.dumps(manifest(fr, scen), indent=2,
                                                      sort_keys=True, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
        for rel, data in sec.files.items():
            (tmp / rel).write_bytes(data)
        doc = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
               f"<title>{html.escape(scen.name)}: card fidelity of {html.escape(fr.kabkota)}"
               "</title>\n<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
               "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
               "text-align:right}th{background:#eee}</style></head><body>\n"
               f"<h1>Scenario {html.escape(scen.name)}: card fidelity</h1>\n"
               f"{sec.html()}</body></html>\n")
        (tmp / "report.html").write_text(doc, encoding="utf-8")

    write_folder(out, fill)
