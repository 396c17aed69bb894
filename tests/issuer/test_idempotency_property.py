"""H-IDEM: only processed requests own their idempotency key (hypothesis, against the model).

Random sequences of new requests (some malformed), replays, corrections (a malformed request
re-sent well formed under the same key) and conflicts (a processed key reused for another body)
are sent to a host and to the independent model of tests/issuer/model.py. After every step the
replies and every balance must agree; a processed key answers its first bytes for ever, a
malformed request leaves no trace (no stored answer, no ledger change), and a conflict raises
`IdempotencyError` without writing anything.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kks_emulator.errors import IdempotencyError

from .conftest import make_host
from .model import Model

IDS = st.sampled_from(["0001", "0002", "0003"])
PERIODS = st.sampled_from(["2026-01", "2026-02"])
#: Values that make a field malformed: wrong type, empty, a space, too long, a bad first char.
BAD_IDS = st.sampled_from(["", "has space", "x" * 65, "-lead", 7, None, "é"])
BAD_AMOUNTS = st.sampled_from([0, -5, 1.5, "200000", True, None, 10**16])


@st.composite
def well_formed(draw) -> tuple[str, dict]:
    """A valid request of one of the model's operations (small pools, so refusals happen)."""
    op = draw(st.sampled_from(["open_account", "open_merchant", "credit", "credit", "settle"]))
    if op == "open_account":
        return op, {"account": draw(IDS), "holder": "KPM"}
    if op == "open_merchant":
        return op, {"merchant": draw(st.sampled_from(["W1", "W2"])), "name": "e-warong"}
    if op == "settle":
        return op, {"merchant": draw(st.sampled_from(["W1", "W2"]))}
    return op, {"programme": draw(st.sampled_from(["BPNT", "PKH"])), "period": draw(PERIODS),
                "beneficiary": draw(st.sampled_from(["B1", "B2", "B3"])),
                "account": draw(IDS), "amount": draw(st.sampled_from([1, 200_000, 750_000]))}


def corrupt(draw, op: str, body: dict) -> dict:
    """The same request with one field made malformed."""
    bad = dict(body)
    if op == "credit" and draw(st.booleans()):
        bad["amount"] = draw(BAD_AMOUNTS)
    else:
        name = draw(st.sampled_from(sorted(n for n in body if n not in ("holder", "name"))))
        bad[name] = draw(BAD_IDS)
    return bad


def ledger_state(host) -> tuple:
    """What a request may change: the ledger digest and the stored answers."""
    stored = host.ledger.conn.execute("SELECT key, response FROM requests ORDER BY key").fetchall()
    return host.ledger.digest(), tuple((k, bytes(r)) for k, r in stored)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_only_processed_requests_own_their_key(tmp_path_factory, data):
    host = make_host(tmp_path_factory.mktemp("idem") / "bri.db")
    model = Model()
    processed: list[tuple[str, str, dict]] = []
    malformed: list[tuple[str, str, dict]] = []
    try:
        for step in range(data.draw(st.integers(5, 35), label="steps")):
            action = data.draw(st.sampled_from(["new", "new", "malformed", "replay", "correct",
                                                "conflict"]), label="action")
            if action == "replay" and (processed or malformed):
                key, op, body = data.draw(st.sampled_from(processed + malformed))
            elif action == "correct" and malformed:
                key, op, _ = data.draw(st.sampled_from(malformed))
                op, body = data.draw(well_formed())  # any valid request may take the free key
                malformed = [m for m in malformed if m[0] != key]
            elif action == "conflict" and processed:
                key, op, body = data.draw(st.sampled_from(processed))
                other_op, other = data.draw(well_formed())
                if (other_op, other) == (op, body):
                    continue
                before = ledger_state(host)
                with pytest.raises(IdempotencyError):
                    host.request(other_op, key, other)
                assert ledger_state(host) == before
                continue
            else:
                key = f"k{step}"
                op, body = data.draw(well_formed())
                if action == "malformed":
                    body = corrupt(data.draw, op, body)
            before = ledger_state(host)
            raw = host.request(op, key, body)
            model.check_reply(key, op, body, raw)
            if json.loads(raw).get("malformed"):
                assert ledger_state(host) == before, "a malformed request left a trace"
                if (key, op, body) not in malformed:
                    malformed.append((key, op, body))
            elif (key, op, body) not in processed:
                processed.append((key, op, body))
            model.check_balances(host.ledger.balances())
        host.audit()
    finally:
        host.close()


def test_the_corrected_request_reuses_the_key(host):
    """The issue's case: a refused malformed request no longer burns its key."""
    host.open_account("a", "0001", "KPM")
    body = {"programme": "BPNT", "period": "2026-11", "beneficiary": "B1", "account": "0001",
            "amount": "200000"}
    first = json.loads(host.request("credit", "c1", body))
    assert first["ok"] is False and first["malformed"] is True
    fixed = host.credit("c1", "BPNT", "2026-11", "B1", "0001", 200_000)
    assert fixed["state"] == "credited" and host.balance("SAV-0001") == 200_000
    with pytest.raises(IdempotencyError):  # now the key is taken
        host.request("credit", "c1", body)


def test_terminal_id_as_printed_or_as_hex():
    """`terminal` is the 8-character id the CLI takes, or the 16 hex digits of its bytes."""
    from kks_emulator.errors import MalformedRequest
    from kks_emulator.issuer.fields import terminal_id

    assert terminal_id({"terminal": "EDCJKT01"}) == b"EDCJKT01"
    assert terminal_id({"terminal": b"EDCJKT01".hex().upper()}) == b"EDCJKT01"
    for bad in ("EDCJKT0", "EDCJKT012", "4544434A4B54303", 12345678, None, "EDC\tKT01"):
        with pytest.raises(MalformedRequest):
            terminal_id({"terminal": bad})


def test_host_opens_from_a_path(tmp_path):
    """`Host("bri.db")` and `Host.open(path)` both build a host over that file."""
    from kks_emulator.issuer.host import Host

    with_str = Host(str(tmp_path / "a.db"))
    with_str.open_account("a", "0001", "KPM")
    with_str.close()
    again = Host.open(tmp_path / "a.db")
    assert again.ledger.find("SAV-0001") is not None
    again.close()
