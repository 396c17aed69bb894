"""C-PIN-TIME: secrets (PINs, MACs, cryptograms) are never compared with == or != in the card or
the shared crypto; every such comparison goes through hmac.compare_digest."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "kks_emulator"
FILES = [*sorted((ROOT / "card").rglob("*.py")), *sorted((ROOT / "crypto").glob("*.py"))]
SECRET_WORDS = ("pin", "mac", "s2", "arpc", "arqc", "expected", "candidate")
#: Reviewed exceptions: the CRC-32 of a sealed record is an integrity check over data the card
#: already holds (the record MAC itself is compared with compare_digest on the next line).
ALLOWED = {"zlib.crc32(tagged + mac) != struct.unpack('>I', sealed[-4:])[0]"}


def _names(node: ast.AST) -> list[str]:
    out = []
    for sub in ast.walk(node):
        name = sub.id if isinstance(sub, ast.Name) else getattr(sub, "attr", None)
        if isinstance(name, str) and not name.isupper():  # constants are public
            out.append(name.lower())
    return out


def _violations(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq | ast.NotEq)
                                                 for op in node.ops):
            names = _names(node)
            # lengths and counters of secrets are not secrets
            if any(isinstance(s, ast.Call) and getattr(s.func, "id", "") == "len"
                   for s in ast.walk(node)):
                continue
            hits = [n for n in names if any(w in n for w in SECRET_WORDS)
                    and not n.startswith(("ptc", "ptl", "pin_len", "mac_key"))]
            if hits and ast.unparse(node) not in ALLOWED:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_no_equality_on_secrets():
    report = {}
    for path in FILES:
        bad = _violations(path.read_text())
        if bad:
            report[str(path.relative_to(ROOT))] = bad
    assert report == {}


def test_checker_catches_a_naive_comparison():
    assert _violations("if candidate == rec.pin_bcd:\n    pass\n")
    assert _violations("ok = expected_mac != data\n")
    assert not _violations("ok = hmac.compare_digest(candidate, rec.pin_bcd)\n")
