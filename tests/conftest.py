"""Shared test policy.

Real components are started for real (pcscd, vpcd, Dask LocalCluster). When a machine truly lacks
one, `missing_component(reason)` skips the test with a loud reason; under CI (`KKS_REQUIRE_ALL=1`,
set by `.ci/run`) the same call fails the test instead, so CI can never go green by skipping.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_ALL = os.environ.get("KKS_REQUIRE_ALL") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip loudly on a developer machine without the component; fail under KKS_REQUIRE_ALL=1."""
    message = f"MISSING COMPONENT: {reason}"
    if REQUIRE_ALL:
        pytest.fail(message + " (KKS_REQUIRE_ALL=1: CI must not skip)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def long_counts(monkeypatch):
    """Run the test at its long counts (`tests.counts.sized` reads KKS_LONG=1)."""
    monkeypatch.setenv("KKS_LONG", "1")


@pytest.fixture
def missing_component():
    """The `skip_or_fail` policy as a fixture, for tests that discover a missing component."""
    return skip_or_fail


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Repeat every skip for a missing component in capitals at the end of the run."""
    skipped = terminalreporter.stats.get("skipped", [])
    loud = [r for r in skipped if "MISSING COMPONENT" in str(r.longrepr)]
    if loud:
        title = f"{len(loud)} TESTS SKIPPED FOR MISSING COMPONENTS"
        terminalreporter.write_sep("!", title, red=True)
        for rep in loud:
            terminalreporter.write_line(f"  {rep.nodeid}: {rep.longrepr[2]}")
