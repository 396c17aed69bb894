"""Authorisations per second at the issuer host: in process, and ISO 8583 over loopback TCP.

Group `issuer-authorisation`: one online savings purchase authorisation (ARQC verified, savings
debited, ARC + ARPC answered, SQLite commit), each with a fresh cryptogram from a real test card
(pre-made, so the card's time is not measured):
- `in-process`: `Host.request("authorise_purchase", ...)`;
- `iso8583-loopback`: the same request as a 0100 on one persistent TCP connection to
  `ServerThread` (length header, pyiso8583 encode/decode, the asyncio server, the host thread).
Both ledgers run with fsync off (`durable=False`), so the ratio is the wire's own cost.
Each stores `authorisations_per_s` (1 / median) and, for the wire, `ratio_to_in_process`.
"""

from __future__ import annotations

import pytest

from kks_emulator.issuer import iso8583
from kks_emulator.issuer.host import Host
from kks_emulator.issuer.ledger import Ledger
from kks_emulator.issuer.server import ServerConfig, ServerThread
from kks_emulator.terminal.hostlink import IsoLink
from tests.issuer.wire_kit import arqc_message
from tests.terminal.kit import TERMINAL, make_world

pytestmark = pytest.mark.benchmark

ROUNDS = 600
_medians: dict[str, float] = {}


def _messages(world, n: int) -> list[dict[str, str]]:
    return [arqc_message(world, 1_000, i % 999_999 + 1, key=f"bench-{i}") for i in range(n)]


def _body(msg: dict[str, str]) -> tuple[str, str, dict]:
    op = iso8583.to_operation(msg)
    return op.op, op.key, op.body


def test_in_process(benchmark, tmp_path):
    world = make_world(tmp_path / "bri.db", credit=100_000_000)
    requests = iter([_body(m) for m in _messages(world, ROUNDS + 5)])
    host = world.host

    def one() -> bytes:
        op, key, body = next(requests)
        return host.request(op, key, body)

    benchmark.group = "issuer-authorisation"
    benchmark.pedantic(one, rounds=ROUNDS, iterations=1, warmup_rounds=2)
    median = benchmark.stats.stats.median
    _medians["in-process"] = median
    benchmark.extra_info["authorisations_per_s"] = round(1 / median)


def test_iso8583_loopback(benchmark, tmp_path):
    path = tmp_path / "bri.db"
    world = make_world(path, credit=100_000_000)
    frames = iter([m for m in _messages(world, ROUNDS + 5)])
    world.host.close()
    server = ServerThread(lambda: Host(Ledger(path, durable=False), "BRI"),
                          ServerConfig(http_port=None))
    server.start()
    link = IsoLink("{}:{}".format(*server.server.iso_address), TERMINAL)

    def one() -> dict[str, str]:
        msg = next(frames)
        reply = link.exchange(msg)  # fields 7 and 11 set by the link
        assert reply["39"] == "00"
        return reply

    try:
        benchmark.group = "issuer-authorisation"
        benchmark.pedantic(one, rounds=ROUNDS, iterations=1, warmup_rounds=2)
    finally:
        link.close()
        server.stop()
    median = benchmark.stats.stats.median
    benchmark.extra_info["authorisations_per_s"] = round(1 / median)
    if "in-process" in _medians:
        benchmark.extra_info["ratio_to_in_process"] = round(median / _medians["in-process"], 2)
