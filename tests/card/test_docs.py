"""docs/card.md documents exactly the dispatch table, and explains every command."""

from __future__ import annotations

import re

from kks_emulator.card.commands import COMMANDS

from .doctable import DOC, doc_commands


def test_doc_table_matches_dispatch_table():
    documented = {(d.name, d.contexts, d.cla, d.ins, d.lc, d.le) for d in doc_commands()}
    actual = {(c.name, c.contexts, c.cla, c.ins, c.data_lens, c.le) for c in COMMANDS}
    assert documented == actual


def test_every_command_is_explained_outside_the_table():
    """Each command name appears in prose (a line that is not a table row) of docs/card.md."""
    prose = "\n".join(line for line in DOC.read_text(encoding="utf-8").splitlines()
                      if not line.lstrip().startswith("|"))
    for c in sorted({c.name for c in COMMANDS}):
        assert re.search(rf"\b{re.escape(c)}\b", prose), \
            f"{c} is only in the command table: say what it does in the text"
