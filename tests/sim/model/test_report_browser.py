"""report.html in a real browser: Debian's Chromium, headless, driven by Playwright.

The report of a run with ``--baseline`` is opened from disk; the test fails on any console
message of type error or warning, on a page error, on an image that does not decode, on a
missing heading, section or table header, and on a table without header cells. A full-page
screenshot (and its print layout as PDF) are saved as artifacts under pytest's tmp dir; their
paths are printed (`-s` shows them).

No browser is downloaded: Playwright drives ``/usr/bin/chromium`` (scripts/system-deps.sh
installs the Debian package), or the one ``KKS_CHROMIUM`` names.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kks_emulator.cli.main import main
from tests.sim.model.conftest import ROOT

SMALL = ["--set", 'territory.scope="kabkota"', "--set", 'territory.codes=["33.71"]',
         "--set", "territory.fraction=0.05", "--set", "scenario.months=3"]
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]
HEADINGS = ["How to read these numbers", "Headline KPIs", "Differs from baseline",
            "All KPIs by group", "Proposals by state", "Plots", "By province"]


def _chromium(missing_component) -> str:
    path = os.environ.get("KKS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        missing_component("Chromium (Debian package `chromium`, scripts/system-deps.sh) is not "
                          "installed: report.html cannot be checked in a browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing_component("the Python package playwright (dev extra) is not installed")
    return path


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    a, b = base / "baseline", base / "verval"
    assert main(["sim", "run", str(ROOT / "scenarios" / "baseline.toml"), "--out", str(a),
                 *SMALL]) == 0
    assert main(["sim", "run", str(ROOT / "scenarios" / "verval_officers.toml"), "--out",
                 str(b), "--baseline", str(a), *SMALL]) == 0
    return a, b


def test_report_reads_in_a_real_browser(reports, tmp_path, missing_component) -> None:
    from playwright.sync_api import sync_playwright

    exe = _chromium(missing_component)
    report = reports[1] / "report.html"
    problems: list[str] = []
    profile = tmp_path / "chromium-profile"
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile), executable_path=exe, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1100, "height": 900}, offline=True)
        try:
            page = ctx.new_page()
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.goto(report.as_uri(), wait_until="load")
            images = page.evaluate("""() => Promise.all([...document.images].map(async img => {
                let decoded = true;
                try { await img.decode(); } catch (e) { decoded = false; }
                return {alt: img.alt, decoded, w: img.naturalWidth, h: img.naturalHeight};
            }))""")
            headings = page.eval_on_selector_all("h2", "els => els.map(e => e.textContent)")
            h1 = page.inner_text("h1")
            tables = page.evaluate("""() => [...document.querySelectorAll('table')].map(t => ({
                caption: t.caption ? t.caption.textContent : '',
                th: t.querySelectorAll('thead th').length,
                rows: t.querySelectorAll('tbody tr').length}))""")
            headline = page.inner_text("#headline table")
            baseline = page.inner_text("#baseline")
            banner = page.inner_text(".banner")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            pdf = tmp_path / "report-print.pdf"
            page.emulate_media(media="print")
            page.pdf(path=str(pdf), format="A4")
        finally:
            ctx.close()
    print(f"\nreport screenshot: {shot}\nprint layout: {pdf}")
    assert problems == []
    assert len(images) == 5
    for img in images:
        assert img["decoded"] and img["w"] > 100 and img["h"] > 100, img
        assert len(img["alt"]) > 40, img  # a description, not a file name
    assert h1 == "Scenario verval_officers"
    for heading in HEADINGS:
        assert heading in headings, (heading, headings)
    assert len(tables) >= 10
    for t in tables:
        assert t["th"] >= 2 and t["rows"] >= 1 and t["caption"], t
    # labels, units and formatted numbers, not raw keys and 1.9055e+10
    assert "Credited to KKS (BPNT + PKH)" in headline and "Rp " in headline
    assert " days" in headline and "%" in headline and "e+" not in headline
    assert "capacity.verval_per_desa" in baseline and "Noise: UNKNOWN" in baseline
    assert "NOT protective" in banner
    assert shot.stat().st_size > 50_000 and pdf.read_bytes()[:5] == b"%PDF-"
