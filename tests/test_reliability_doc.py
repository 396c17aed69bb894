"""docs/reliability.md stays true: every test it names exists, and every target id the code, tests
and docs cite is defined there."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
#: a target id: two to five capital letters or digits, a dash, then capitals/digits/dashes
ID = re.compile(r"\b([CELPSDHR]-[A-Z0-9]+(?:-[A-Z0-9]+)*)\b")
#: `tests/...py`, `tests/...py::name` or `tests/...py::prefix*` inside backticks
REF = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+)(\*)?)?`")


def _rows() -> dict[str, str]:
    """Target id -> its table row, from the doc."""
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| ([A-Z]-[A-Z0-9-]+) \|", line)
        if m:
            rows[m.group(1)] = line
    return rows


def test_every_named_test_exists() -> None:
    refs = REF.findall(DOC.read_text(encoding="utf-8"))
    assert len(refs) > 40
    for path, name, star in refs:
        f = ROOT / path
        assert f.is_file(), f"docs/reliability.md names {path}, which does not exist"
        if name:
            text = f.read_text(encoding="utf-8")
            pattern = rf"def {re.escape(name)}\w*\(" if star else rf"def {re.escape(name)}\("
            assert re.search(pattern, text), f"{path} has no test {name}{star}"


def test_met_targets_name_a_test_and_open_ones_say_why() -> None:
    rows = _rows()
    assert len(rows) >= 60
    for tid, row in rows.items():
        cells = [c.strip() for c in row.strip("|").split("|")]
        status = cells[-1]
        assert status.split(":")[0].split(" ")[0] in ("met", "partly", "open"), (tid, status)
        if status.startswith("met"):
            assert REF.search(cells[-2]), f"{tid} is marked met without a test"
        if status.startswith("partly"):
            assert ":" in status, f"{tid}: 'partly' must say what is missing"


def test_every_cited_target_id_is_defined() -> None:
    defined = set(_rows())
    files = subprocess.run(["git", "ls-files", "*.py", "*.md"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    cited: dict[str, str] = {}
    for name in files:
        if name == "docs/reliability.md" or not (ROOT / name).is_file():
            continue
        for tid in ID.findall((ROOT / name).read_text(encoding="utf-8", errors="replace")):
            family = tid.split("-")[1]
            # only the families this page defines (C-, E-, L-, P-, S-, D-, H-, R-) with a known
            # prefix; "S-24"-like codes of other tables are not target ids
            if family.isdigit():
                continue
            if any(tid == d or d.startswith(tid + "-") for d in defined):
                continue
            if tid.startswith(("C-", "E-", "L-", "P-", "S-", "D-", "H-", "R-")) and \
                    tid.split("-")[1] in {d.split("-")[1] for d in defined}:
                cited.setdefault(tid, name)
    assert not cited, f"target ids cited but not defined in docs/reliability.md: {cited}"
