"""The scenario reference in docs/scenarios.md, generated from `sim.scenario.schema.SCHEMA`.

``python -m sim.scenario.schema_docs --write`` rewrites the text between `DOC_BEGIN` and
`DOC_END`; ``--check`` (the default) exits 1 when it is out of date. A test keeps the two equal,
so a key added to the schema is documented, with its bounds, in the same commit.
"""

from __future__ import annotations

from sim.scenario.schema import markdown_table

DOC_BEGIN = "<!-- schema:begin (generated: python -m sim.scenario.schema_docs --write) -->"
DOC_END = "<!-- schema:end -->"
DOC_PATH = "docs/scenarios.md"


def with_table(doc: str) -> str:
    """*doc* with the text between `DOC_BEGIN` and `DOC_END` replaced by `markdown_table()`."""
    start, end = doc.index(DOC_BEGIN) + len(DOC_BEGIN), doc.index(DOC_END)
    return doc[:start] + "\n\n" + markdown_table() + "\n" + doc[end:]


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.scenario.schema_docs [--write|--check] [docs/scenarios.md]``: regenerate (or
    check) the scenario reference in the docs from `SCHEMA`."""
    import sys
    from pathlib import Path

    args = list(sys.argv[1:] if argv is None else argv)
    write = "--write" in args
    paths = [a for a in args if not a.startswith("--")] or [DOC_PATH]
    path = Path(paths[0])
    doc = path.read_text(encoding="utf-8")
    fresh = with_table(doc)
    if fresh == doc:
        return 0
    if write:
        path.write_text(fresh, encoding="utf-8")
        return 0
    sys.stderr.write(f"{path}: scenario reference out of date; run python -m "
                     "sim.scenario.schema_docs --write\n")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
