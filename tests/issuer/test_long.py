"""The `long` variants: the same tests at their nightly counts (`pytest -m long`).

Each sets KKS_LONG=1, which `sized()` reads at call time, and runs the CI test body:
L-AUDITOR 50,000 ops, L-REPLAY 100,000 replays, L-MISMATCH 50,000, C-REPLAY 10,000 records.
"""

from __future__ import annotations

import pytest

from . import test_clearing, test_ledger

pytestmark = [pytest.mark.long, pytest.mark.usefixtures("long_counts")]


def test_auditor_long(host):
    test_ledger.test_auditor_model_agrees_after_every_operation(host, 99)


def test_replay_long(tmp_path):
    test_ledger.test_replay_gives_identical_answers_and_no_double_posting(tmp_path)


def test_mismatch_long(host):
    test_ledger.test_mismatch_is_an_explicit_error_and_ledger_unchanged(host)


def test_c_replay_long(host):
    test_clearing.test_replayed_records_are_refused(test_clearing.fund(host))
