"""Fixtures for issuer tests: hosts on temporary SQLite files with a fixed clock."""

from __future__ import annotations

import pytest

from kks_emulator.issuer.host import Host
from kks_emulator.issuer.ledger import Ledger

CLOCK = "2026-11-24T08:00:00+00:00"


def make_host(path, bank: str = "BRI", **kw) -> Host:
    """A host over a ledger at `path` with the fixed test clock, fsync off unless asked."""
    kw.setdefault("durable", False)
    return Host(Ledger(path, clock=lambda: CLOCK, **kw), bank)


@pytest.fixture
def host(tmp_path):
    """A fresh BRI issuer host on a temporary file."""
    h = make_host(tmp_path / "bri.db")
    yield h
    h.close()
