"""A pcscd for the doc blocks that use the PC/SC stack (started only when such a block runs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kks_emulator.errors import TransportError
from kks_emulator.transport.testing import PcscdDaemon, missing_components
from tests.conftest import skip_or_fail


@pytest.fixture(scope="session")
def docs_pcscd(tmp_path_factory) -> Iterator[PcscdDaemon]:
    """A running pcscd with the vpcd readers; started (and later stopped by PID) if needed."""
    missing = missing_components()
    if missing:
        skip_or_fail("PC/SC stack incomplete: " + "; ".join(missing)
                     + " (run scripts/system-deps.sh)")
    daemon = PcscdDaemon(tmp_path_factory.mktemp("docs-pcscd") / "pcscd.log")
    try:
        daemon.ensure()
    except TransportError as exc:
        daemon.stop()
        skip_or_fail(f"cannot start pcscd ({exc})")
    yield daemon
    daemon.stop()
