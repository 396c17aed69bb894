"""docs/card.md documents exactly the dispatch table."""

from __future__ import annotations

from kks_emulator.card.commands import COMMANDS

from .doctable import DOC, doc_commands


def test_doc_table_matches_dispatch_table():
    documented = {(d.name, d.contexts, d.cla, d.ins, d.lc, d.le) for d in doc_commands()}
    actual = {(c.name, c.contexts, c.cla, c.ins, c.data_lens, c.le) for c in COMMANDS}
    assert documented == actual


def test_every_command_has_a_section_line():
    text = DOC.read_text(encoding="utf-8")
    for c in COMMANDS:
        assert text.count(c.name) >= 2, f"{c.name} only appears in the table"
