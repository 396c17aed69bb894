"""Parse the command table of docs/card.md (shared by the docs test and the SW sweep)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "card.md"
ALL = ["none", "pse", "ppse", "savings", "purse", "blank", "broken"]


@dataclass(frozen=True)
class DocCommand:
    """One row of the documented command table."""

    name: str
    contexts: frozenset[str]
    cla: int
    ins: int
    lc: frozenset[int]
    le: str


def _lc(text: str) -> frozenset[int]:
    text = text.strip()
    if text == "—":
        return frozenset({0})
    out: set[int] = set()
    for part in text.split("/"):
        if "-" in part:
            lo, hi = part.split("-")
            out.update(range(int(lo), int(hi) + 1))
        else:
            out.add(int(part))
    return frozenset(out)


def doc_commands() -> list[DocCommand]:
    """Rows of the table under '## Commands'."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index("## Commands")
    rows = []
    for line in lines[start:]:
        if line.startswith("## ") and line != "## Commands":
            break
        if not line.startswith("| ") or line.startswith("| Command") or line.startswith("| ---"):
            continue
        cells = [c.strip() for c in line.replace("\\|", "¦").strip("|").split("|")]
        name, ctx, cla, ins, _p1, _p2, lc, le = cells[:8]
        contexts = frozenset(ALL if ctx == "all" else [c.strip() for c in ctx.split(",")])
        rows.append(DocCommand(name, contexts, int(cla, 16), int(ins, 16), _lc(lc),
                               "forbidden" if le == "—" else le))
    return rows
