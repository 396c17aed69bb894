"""`kks issuer serve` as a process and `kks terminal ... --host`: the documented journey."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from kks_emulator.transport.testing import terminate

KKS = [sys.executable, "-m", "kks_emulator.cli.main"]
PAN = "6013010000000001"


def kks(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `kks ARGS` in `cwd`; return the finished process."""
    return subprocess.run([*KKS, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_serve_and_terminal_over_both_wires(tmp_path):
    for args in (["card", "personalize", "card.kks", "--bank", "BRI", "--pan", PAN, "--pin",
                  "123456", "--test-mode"],
                 ["issuer", "--db", "bri.db", "open", "0001", "--holder", "K", "--pan", PAN],
                 ["issuer", "--db", "bri.db", "open-merchant", "W1", "--name", "e-warong"],
                 ["issuer", "--db", "bri.db", "credit", "--period", "2026-11", "--beneficiary",
                  "K", "--account", "0001", "--amount", "200000"]):
        assert kks(*args, cwd=tmp_path).returncode == 0
    server = subprocess.Popen([*KKS, "issuer", "serve", "--db", "bri.db", "--port", "0",
                               "--http-port", "0"], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        first = server.stdout.readline().split()
        assert first[0] == "iso8583" and first[2] == "http", first
        iso, http = first[1], first[3]
        out = kks("terminal", "load", "card.kks", "--amount", "50000", "--pin", "123456",
                  "--host", iso, cwd=tmp_path)
        assert out.returncode == 0 and "purse balance Rp 50,000" in out.stdout, out.stderr
        out = kks("terminal", "purchase", "card.kks", "--amount", "30000", "--pin", "123456",
                  "--batch", "day.jsonl", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        # clearing is not in the ISO 8583 subset: one line, exit 2; over HTTP it works
        out = kks("terminal", "upload", "--batch", "day.jsonl", "--host", iso, cwd=tmp_path)
        assert out.returncode == 2 and "http://" in out.stderr and "Traceback" not in out.stderr
        out = kks("terminal", "upload", "--batch", "day.jsonl", "--host", http, cwd=tmp_path)
        assert out.returncode == 0 and "cleared 1 record(s) for Rp 30,000" in out.stdout, out
        with urllib.request.urlopen(f"{http}/v1/accounts/MER-W1", timeout=10) as resp:
            assert json.loads(resp.read())["balance"] == 30_000
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(20)
        except subprocess.TimeoutExpired:
            code = terminate(server, 5)
    assert code == 0, server.stderr.read()


def test_serve_without_a_ledger_is_one_line(tmp_path):
    out = kks("issuer", "serve", "--port", "0", cwd=tmp_path)
    assert out.returncode == 2 and "--db" in out.stderr and len(out.stderr.splitlines()) == 1


def test_unreachable_host_is_one_line(tmp_path):
    assert kks("card", "personalize", "card.kks", "--bank", "BRI", "--pan", PAN, "--pin",
               "123456", "--test-mode", cwd=tmp_path).returncode == 0
    out = kks("terminal", "load", "card.kks", "--amount", "1000", "--pin", "123456", "--host",
              "127.0.0.1:9", cwd=tmp_path)
    assert out.returncode == 2 and "unreachable" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
