"""The shipped APDU scripts through pcscd, and the card-side trace of `kks card serve --trace`."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from kks_emulator.transport.testing import ServedProcess, kks_command, virtual_reader

from .conftest import make_card_file, serve_argv

pytestmark = pytest.mark.pcsc

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "apdu"
READER = virtual_reader(1)
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def script(path: Path, *extra: str) -> subprocess.CompletedProcess:
    """`kks card script PATH --reader "Virtual PCD 00 01"`."""
    return subprocess.run([*kks_command(), "card", "script", str(path), "--reader", READER,
                           *extra], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("protocol", ["T=1", "T=0"])
def test_shipped_scripts_pass_through_pcscd_and_are_traced(pcscd, pcsc_logs, tmp_path,
                                                           protocol):
    card, trace = make_card_file(tmp_path / "c.kks"), tmp_path / "trace.jsonl"
    server = ServedProcess(serve_argv(card, 1, "--protocol", protocol, "--trace", str(trace)),
                           slot=1, log_path=pcsc_logs / f"scripts-{protocol[-1]}.log").start()
    try:
        ran = 0
        for path in sorted(SCRIPTS.glob("*.apdu")):
            if path.name.startswith("t0-") != (protocol == "T=0"):
                continue
            out = script(path, "--protocol", protocol)
            assert out.returncode == 0 and " 0 failed" in out.stdout, out.stdout + out.stderr
            ran += 1
        assert ran >= (3 if protocol == "T=1" else 1)
        wrong = tmp_path / "wrong.apdu"
        wrong.write_text("00A4040009F04B4B53505552534500 => * 6A82\n")  # the purse exists
        out = script(wrong, "--protocol", protocol)
        assert out.returncode == 1 and "FAIL" in out.stdout and "1 of 1 step(s) failed" in \
            out.stderr
    finally:
        assert server.stop() == 0, server.tail()
    lines = [json.loads(x) for x in trace.read_text().splitlines()]
    assert all(STAMP.match(x["t"]) for x in lines)
    assert [x["t"] for x in lines] == sorted(x["t"] for x in lines)
    events = {x["event"] for x in lines}
    assert {"power_on", "apdu"} <= events and events <= {"power_on", "power_off", "reset", "apdu"}
    apdus = [x for x in lines if x["event"] == "apdu"]
    assert all(x["protocol"] == protocol for x in apdus)
    first = next(x for x in apdus if x["c"] == "805C000204")
    assert first["sw"] == "9000" and first["r"] == "0007A120" and first["us"] >= 0  # Rp 500,000
    assert any(x["sw"] == "63C2" for x in apdus) == (protocol == "T=1")
