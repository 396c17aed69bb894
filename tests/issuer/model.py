"""An independent reference model of the issuer ledger (TigerBeetle-auditor style, L-AUDITOR).

It is fed the same requests as the host, predicts each reply from its own plain-dict state, and
checks the host's reply and balances against the prediction. It shares no code with the host.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Model:
    """Balances, exactly-once credit keys and the first answer per idempotency key."""

    bank: str = "BRI"
    balances: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    credited: set[tuple[str, str, str]] = field(default_factory=set)
    answers: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.balances[f"STL-{self.bank}"] = 0
        self.kinds[f"STL-{self.bank}"] = "settlement"

    def malformed(self, op: str, body: dict) -> bool:
        """True if a field of this request has the wrong type or format (the model's own rules:
        identifiers are 1-64 of letters, digits and `._:/-`, starting alnum; amounts are ints in
        1..10^15, never bool; names are text of at most 100 characters)."""
        def ident(name: str) -> bool:
            value = body.get(name)
            return (isinstance(value, str) and 0 < len(value) <= 64 and value[0].isalnum()
                    and value.isascii()
                    and all(c.isalnum() or c in "._:/-" for c in value))

        def name_ok(name: str) -> bool:
            return isinstance(body.get(name), str) and len(body[name]) <= 100

        amount = body.get("amount")
        amount_ok = (type(amount) is int and 1 <= amount <= 10**15)
        if op == "open_account":
            return not (ident("account") and name_ok("holder"))
        if op == "open_merchant":
            return not (ident("merchant") and name_ok("name"))
        if op == "credit":
            return not (all(ident(n) for n in ("programme", "period", "beneficiary", "account"))
                        and amount_ok)
        if op == "settle":
            return not ident("merchant")
        raise AssertionError(f"model has no op {op}")

    def predict(self, op: str, body: dict) -> tuple[bool, dict]:
        """Apply one *new* request to the model; return (ok, expected result fields)."""
        if op == "open_account":
            code = f"SAV-{body['account']}"
            if code in self.balances:
                return False, {}
            self.balances[code] = 0
            self.kinds[code] = "savings"
            return True, {"account": code}
        if op == "open_merchant":
            code = f"MER-{body['merchant']}"
            if code in self.balances:
                return False, {}
            self.balances[code] = 0
            self.kinds[code] = "merchant"
            return True, {"merchant": code}
        if op == "credit":
            k = (body["programme"], body["period"], body["beneficiary"])
            if k in self.credited:
                return False, {}
            self.credited.add(k)
            code = f"SAV-{body['account']}"
            if self.kinds.get(code) != "savings":
                return True, {"state": "rejected"}
            gov = f"GOV-{body['programme']}"
            self.balances.setdefault(gov, 0)
            self.kinds[gov] = "funding"
            self.balances[gov] -= body["amount"]
            self.balances[code] += body["amount"]
            return True, {"state": "credited", "amount": body["amount"]}
        if op == "settle":
            code = f"MER-{body['merchant']}"
            if code not in self.balances:
                return False, {}
            due = self.balances[code]
            self.balances[code] = 0
            self.balances[f"STL-{self.bank}"] += due
            return True, {"amount": due}
        raise AssertionError(f"model has no op {op}")

    def check_reply(self, key: str, op: str, body: dict, raw: bytes) -> None:
        """Check one reply: a replayed key must give the first bytes, a new one the prediction."""
        digest = json.dumps([op, body], sort_keys=True)
        if key in self.answers:
            first_digest_op, first_digest, first = self.answers[key]
            assert (first_digest_op, first_digest) == (op, digest), "mismatch must have raised"
            assert raw == first, f"replay of {key} changed the answer"
            return
        msg = json.loads(raw)
        if self.malformed(op, body):  # answered, never stored: the key stays free
            assert msg["ok"] is False and msg.get("malformed") is True, f"{op} {body}: {msg}"
            return
        assert "malformed" not in msg, f"{op} {body}: host called a valid request malformed"
        ok, expect = self.predict(op, body)
        assert msg["ok"] is ok, f"{op} {body}: model expected ok={ok}, host said {msg}"
        for name, value in expect.items():
            assert msg["result"][name] == value, f"{op}: {name} {msg['result']} vs {expect}"
        self.answers[key] = (op, digest, raw)

    def check_balances(self, ledger_balances: dict[str, int]) -> None:
        """The host's balances must equal the model's, account by account."""
        diff = {k: (ledger_balances.get(k), self.balances.get(k))
                for k in set(ledger_balances) | set(self.balances)
                if ledger_balances.get(k) != self.balances.get(k)}
        assert not diff, f"divergence (host, model): {diff}"
