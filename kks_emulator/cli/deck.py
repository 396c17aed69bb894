"""The logic behind `kks card personalize --profile` and `kks card profiles` (test deck)."""

from __future__ import annotations

import os
from pathlib import Path

from kks_emulator.card.deck import DECK_DATE, DECK_PAN, DECK_PIN, personalize_deck, profiles_table


def personalize_deck_file(out: Path, name: str, bank: str) -> str:
    """Write deck card `name` to the new card file `out` (all or nothing); a one-line report."""
    from kks_emulator.card import FileStore

    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        profile = personalize_deck(FileStore(tmp), name, bank)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return (f"personalised {out}: deck card {profile.name} ({profile.description}); "
            f"PAN {DECK_PAN}, PIN {DECK_PIN}; EDC {profile.flow} Rp {profile.amount:,} on "
            f"20{DECK_DATE[:2]}-{DECK_DATE[2:4]}-{DECK_DATE[4:]} must end {profile.outcome}")


def profiles_text() -> str:
    """The deck as an aligned table: name, what it is, the EDC flow, the expected outcome."""
    rows = [("profile", "card", "EDC flow", "expected outcome"), *profiles_table()]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:{widths[0]}}  {r[1]:{widths[1]}}  {r[2]:{widths[2]}}  {r[3]}"
                     for r in rows)
