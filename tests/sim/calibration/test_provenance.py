"""Provenance: every value of scenarios/baseline.toml is sourced (a docs/calibration.md row) or an
estimate (EST with a reason and a plausible range), and the three records agree: the baseline's
comments, `sim.calibration.provenance` and docs/calibration.md."""

from __future__ import annotations

import re
from pathlib import Path

from sim.calibration import provenance as prov
from sim.scenario.loader import load

ROOT = Path(__file__).resolve().parents[3]
BASELINE = ROOT / "scenarios" / "baseline.toml"
DOC = (ROOT / "docs" / "calibration.md").read_text(encoding="utf-8")
IDS = prov.row_ids(DOC)


def _key_comments() -> dict[str, str]:
    """dotted key -> its line's comment, for every `key = value` line of the baseline."""
    out: dict[str, str] = {}
    table = ""
    for line in BASELINE.read_text(encoding="utf-8").splitlines():
        head = re.match(r"^\[([a-z_.]+)\]", line)
        if head:
            table = head.group(1)
            continue
        m = re.match(r"^([a-z_0-9]+)\s*=\s*(.*)$", line)
        if m and table:
            comment = m.group(2).split("#", 1)[1] if "#" in m.group(2) else ""
            out[f"{table}.{m.group(1)}"] = comment
    return out


def test_every_baseline_key_is_sourced_estimated_or_structural() -> None:
    data = load(BASELINE).data
    missing = [k for k in prov.scenario_keys(data) if not prov.covered(k)]
    assert not missing, f"keys with no provenance: {missing}"


def test_every_cited_row_exists_in_the_calibration_page() -> None:
    cited = {r for rows in prov.SOURCED.values() for r in rows}
    cited |= {e.tuned_to for e in prov.ESTIMATES.values() if e.tuned_to}
    cited |= set(re.findall(r"\[([A-Z][A-Z0-9-]+)\]", BASELINE.read_text(encoding="utf-8")))
    assert IDS, "no row ids parsed from docs/calibration.md"
    assert cited - IDS == set(), f"row ids cited but not on the page: {sorted(cited - IDS)}"


def test_baseline_comments_agree_with_the_provenance_table() -> None:
    comments = _key_comments()
    assert len(comments) > 80
    bad = []
    for key, comment in comments.items():
        if key in prov.ESTIMATES and "EST" not in comment:
            bad.append(f"{key}: estimate without EST in its comment")
        rows = prov.SOURCED.get(key)
        if rows and not any(f"[{r}]" in comment for r in rows):
            bad.append(f"{key}: sourced from {rows} but its comment cites none")
        if key not in prov.ESTIMATES and "EST" in comment.split("[")[0]:
            bad.append(f"{key}: comment says EST but the key is not in ESTIMATES")
    assert not bad, "\n".join(bad)


def test_applied_estimates_lie_in_their_plausible_range() -> None:
    data = load(BASELINE).data
    for est in prov.estimates_of(data):
        value = est["value"]
        assert est["lo"] < est["hi"], est["key"]
        assert est["lo"] <= value <= est["hi"], f"{est['key']} = {value} outside its range"


def test_calibration_page_lists_every_estimate_and_what_tuned_it() -> None:
    stale = ("docs/calibration.md is stale: run `python -m sim.calibration.provenance "
             "--write-docs`")
    assert prov.markdown_estimates() in DOC, stale
    assert prov.markdown_tuning() in DOC, stale


def test_estimates_of_respects_conditions() -> None:
    data = load(BASELINE).data
    keys = {e["key"] for e in prov.estimates_of(data)}
    assert "disbursement.service_minutes" in keys  # e-warong channel
    assert "disbursement.bank_cashout_median_days" not in keys  # bank channel only
    bank = load(ROOT / "scenarios" / "dtsen_2025.toml").data
    keys_bank = {e["key"] for e in prov.estimates_of(bank)}
    assert "disbursement.service_minutes" not in keys_bank


def test_run_lists_its_estimates_in_manifest_and_report(tmp_path) -> None:
    import json

    from sim.model.run import run
    from sim.outputs import results as outputs

    scen = load(BASELINE, ['territory.scope="kabkota"', 'territory.codes=["33.71"]',
                           "territory.fraction=0.2", "scenario.months=2",
                           "capacity.verval_per_desa=2"])
    outputs.write(run(scen), tmp_path / "out")
    man = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    keys = {e["key"]: e for e in man["estimates"]}
    assert keys == {e["key"]: e for e in prov.estimates_of(scen.data)}
    assert keys["capacity.verval_per_desa"]["value"] == 2  # the run's value, not the file's
    assert "programmes.bpnt_share" not in keys  # sourced, not an estimate
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert f"Estimates this run depends on ({len(keys)})" in report
    assert "verification.verval_noise" in report
