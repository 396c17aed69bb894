"""Issuer links over the network: the EDC's `IssuerLink` as ISO 8583 over TCP or JSON over HTTP.

`open_link("127.0.0.1:8583", terminal_id)` speaks the ISO 8583 subset of docs/host.md (purchase
authorisations, loads and their confirmations, reversals); `open_link("http://127.0.0.1:8080")`
speaks JSON over HTTP and carries every operation (clearing included). Both send the terminal's
idempotency key (ISO: field 48; HTTP: the `Idempotency-Key` header), so a retry after a lost
answer is a replay at the host.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from kks_emulator import tlv
from kks_emulator.errors import IdempotencyError, IssuerError, KksError
from kks_emulator.issuer import iso8583
from kks_emulator.issuer.requests import parse_response

#: How long a client keeps retrying a refused connection (a host that is still starting).
CONNECT_WAIT_S = 5.0


def _connect(address: tuple[str, int], timeout_s: float) -> socket.socket:
    """Connect, retrying a refused connection for up to `CONNECT_WAIT_S` seconds."""
    deadline = time.monotonic() + CONNECT_WAIT_S
    while True:
        try:
            return socket.create_connection(address, timeout_s)
        except ConnectionRefusedError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


def _split_address(addr: str, default_port: int) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if not host:
        host, port = addr, str(default_port)
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise IssuerError(f"host address {addr!r} is not HOST:PORT") from None


class IsoLink:
    """An ISO 8583 connection to the issuer host (2-byte big-endian length header)."""

    def __init__(self, addr: str, terminal_id: bytes, *, timeout_s: float = 10.0,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.address = _split_address(addr, 8583)
        try:
            self.terminal = terminal_id.decode("ascii")
        except UnicodeDecodeError:
            raise IssuerError("ISO 8583 field 41 needs a printable terminal id") from None
        if len(self.terminal) != 8 or not self.terminal.isprintable():
            raise IssuerError("ISO 8583 field 41 needs an 8-character printable terminal id")
        self.timeout_s = timeout_s
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.stan = 0
        self._sock: socket.socket | None = None

    def close(self) -> None:
        """Close the connection (the next call reconnects)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _roundtrip(self, raw: bytes) -> bytes:
        if self._sock is None:
            self._sock = _connect(self.address, self.timeout_s)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.sendall(len(raw).to_bytes(2, "big") + raw)
        size = int.from_bytes(self._read(2), "big")
        return self._read(size)

    def _read(self, n: int) -> bytes:
        assert self._sock is not None
        out = bytearray()
        while len(out) < n:
            chunk = self._sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("issuer host closed the connection")
            out += chunk
        return bytes(out)

    def exchange(self, msg: dict[str, str]) -> dict[str, str]:
        """Send one request (fields 7 and 11 filled in) and return the decoded response.

        A connection lost before the answer is retried once on a new connection with the same
        message (same idempotency key: a replay at the host).
        """
        self.stan = self.stan % 999_999 + 1
        msg = {**msg, "7": self.clock().strftime("%m%d%H%M%S"), "11": f"{self.stan:06d}"}
        raw = iso8583.encode(msg)
        for attempt in (1, 2):
            try:
                reply = iso8583.decode(self._roundtrip(raw))
                break
            except (OSError, ConnectionError) as exc:
                self.close()
                if attempt == 2 or isinstance(exc, ConnectionRefusedError):
                    # refused: `_connect` already waited CONNECT_WAIT_S for the host
                    raise IssuerError(f"issuer host {self.address[0]}:{self.address[1]} "
                                      f"unreachable: {exc}") from None
            except iso8583.FormatError as exc:
                self.close()
                raise IssuerError(f"unreadable answer from the issuer host: {exc}") from None
        if reply.get("t") != iso8583.response_mti(msg["t"]) or reply.get("11") != msg["11"]:
            raise IssuerError(f"issuer answered {reply.get('t')} STAN {reply.get('11')} to "
                              f"{msg['t']} STAN {msg['11']}")
        return reply

    def call(self, op: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """One idempotent request as its ISO 8583 message; a refusal raises `IssuerError`."""
        build = _BUILDERS.get(op)
        if build is None:
            raise IssuerError(f"operation {op} is not in the ISO 8583 subset; give the host "
                              "as http://HOST:PORT for it")
        msg = {"41": self.terminal, **build(body)}
        if 0 < len(key) <= 255 and key.isprintable() and key.isascii():
            msg["48"] = key
        reply = self.exchange(msg)
        rc, reason = reply.get("39", "96"), reply.get("62", "")
        journal = int(reply["37"]) if "37" in reply and op != "reverse" else None
        icc = _icc(reply)
        if op == "authorise_purchase":
            arpc = icc.get(0x91, b"")[:8]
            if rc in ("30", "94", "96", "12"):
                raise _refusal(op, rc, reason)
            return {"approved": rc == "00", "arc": rc, "arpc": arpc.hex().upper() or None,
                    "reason": reason, "journal": journal if rc == "00" else None}
        if rc != "00":
            raise _refusal(op, rc, reason)
        if op == "authorise_load":
            s2 = icc.get(iso8583.TAG_S2)
            if s2 is None or len(s2) != 8:
                raise IssuerError("issuer approved the load without an S2")
            return {"s2": s2.hex().upper(), "journal": journal, "amount": body.get("amount")}
        return {"rc": rc}


def _refusal(op: str, rc: str, reason: str) -> IssuerError:
    cls = IdempotencyError if rc == "94" else IssuerError
    return cls(f"issuer refused {op}: RC {rc} ({iso8583.RC.get(rc, 'unknown')}): {reason}")


def _icc(reply: dict[str, str]) -> dict[int, bytes]:
    if "55" not in reply:
        return {}
    try:
        return tlv.flatten(tlv.decode(bytes.fromhex(reply["55"]), recurse=False))
    except (KksError, ValueError) as exc:
        raise IssuerError(f"issuer answer has a malformed field 55: {exc}") from None


def _pan_psn(card_id: str) -> tuple[str, str]:
    raw = bytes.fromhex(card_id)
    return raw[:8].hex(), f"{raw[8]:03d}"


def _minor(amount: int) -> str:
    return f"{int(amount) * iso8583.AMOUNT_SCALE:012d}"


def _terminal_text(value: str) -> str:
    return bytes.fromhex(value).decode("ascii") if len(value) == 16 else value


def purchase_message(body: dict[str, Any]) -> dict[str, str]:
    """The 0100 of an `authorise_purchase` body (fields 7, 11, 41, 48 added by the link)."""
    data = bytes.fromhex(body["data"])
    items, pos = [], 0
    for tag, size in iso8583.CDOL1:
        items.append((tag, data[pos:pos + size]))
        pos += size
    aip, atc, cvr = data[pos:pos + 2], data[pos + 2:pos + 4], data[pos + 4:pos + 8]
    items += [(0x82, aip), (0x9F36, atc), (0x9F10, b"\x01\x01" + cvr),
              (0x9F26, bytes.fromhex(body["arqc"]))]
    merchant = str(body["merchant"])
    if len(merchant) > 15:
        raise IssuerError("ISO 8583 field 42 holds merchant ids of at most 15 characters")
    return {"t": "0100", "2": str(body["pan"]), "3": iso8583.PROC_PURCHASE,
            "4": _minor(body["amount"]), "23": f"{int(body['psn']):03d}",
            "42": merchant.ljust(15), "49": iso8583.CURRENCY_IDR,
            "55": tlv.encode_many(items).hex().upper()}


def load_message(body: dict[str, Any]) -> dict[str, str]:
    """The 0200 of an `authorise_load` body."""
    pan, psn = _pan_psn(body["card_id"])
    icc = tlv.encode_many([
        (iso8583.TAG_NT, int(body["nt"]).to_bytes(4, "big")),
        (iso8583.TAG_BALANCE, int(body["balance"]).to_bytes(4, "big")),
        (iso8583.TAG_CHALLENGE, bytes.fromhex(body["challenge"])),
        (iso8583.TAG_S1, bytes.fromhex(body["s1"])),
        (iso8583.TAG_TIME, int(body["time"]).to_bytes(4, "big")),
        (iso8583.TAG_PIN, b"\x01" if body.get("pin_verified") is True else b"\x00")])
    return {"t": "0200", "2": pan, "3": iso8583.PROC_LOAD, "4": _minor(body["amount"]),
            "23": psn, "41": _terminal_text(body["terminal"]), "49": iso8583.CURRENCY_IDR,
            "55": icc.hex().upper()}


def confirm_message(body: dict[str, Any]) -> dict[str, str]:
    """The 0220 of a `confirm_load` body."""
    pan, psn = _pan_psn(body["card_id"])
    icc = tlv.encode_many([
        (iso8583.TAG_NT, int(body["nt_after"]).to_bytes(4, "big")),
        (iso8583.TAG_BALANCE, int(body["balance_after"]).to_bytes(4, "big")),
        (iso8583.TAG_S3, bytes.fromhex(body["s3"]))])
    return {"t": "0220", "2": pan, "3": iso8583.PROC_LOAD, "23": psn, "55": icc.hex().upper()}


def reversal_message(body: dict[str, Any]) -> dict[str, str]:
    """The 0400 of a `reverse` body (the journal goes in field 37)."""
    journal = body.get("journal")
    if not isinstance(journal, int) or journal < 0:
        raise IssuerError("a reversal needs the journal number of the original")
    return {"t": "0400", "3": iso8583.PROC_PURCHASE, "37": f"{journal:012d}"}


_BUILDERS: dict[str, Callable[[dict[str, Any]], dict[str, str]]] = {
    "authorise_purchase": purchase_message, "authorise_load": load_message,
    "confirm_load": confirm_message, "reverse": reversal_message}


class HttpLink:
    """JSON over HTTP to the issuer host: `POST /v1/<op>` with an `Idempotency-Key` header."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise IssuerError(f"host URL {url!r} must be http://HOST:PORT")
        self.address = (parts.hostname, parts.port or 80)
        self.timeout_s = timeout_s

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """One HTTP exchange; returns (status, body)."""
        conn = http.client.HTTPConnection(*self.address, timeout=self.timeout_s)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        except OSError as exc:
            raise IssuerError(f"issuer host {self.address[0]}:{self.address[1]} "
                              f"unreachable: {exc}") from None
        finally:
            conn.close()

    def call(self, op: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """One idempotent request; a refusal raises `IssuerError` (`IdempotencyError` on 409)."""
        status, raw = self.request("POST", f"/v1/{op}", json.dumps(body).encode(),
                                   {"Idempotency-Key": key,
                                    "Content-Type": "application/json"})
        if status == 409:
            raise IdempotencyError(json.loads(raw).get("error", "idempotency conflict"))
        if status in (200, 400, 422):
            return parse_response(raw)
        raise IssuerError(f"issuer host answered HTTP {status}: {raw[:200]!r}")


def open_link(addr: str, terminal_id: bytes) -> IsoLink | HttpLink:
    """`http://HOST:PORT` -> `HttpLink`; `HOST:PORT` -> `IsoLink` for this terminal."""
    if addr.startswith("http://"):
        return HttpLink(addr)
    return IsoLink(addr, terminal_id)
