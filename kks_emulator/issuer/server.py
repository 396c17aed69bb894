"""The issuer host on the wire: ISO 8583 over TCP (2-byte length header) and JSON over HTTP.

One asyncio loop serves both listeners; every host call runs in one worker thread that owns the
`Host` (and its SQLite connection), in arrival order, so concurrent retries of one request
serialise there and the idempotency log answers all but the first from storage. A client that
stalls mid-frame is dropped after `frame_timeout_s` without holding up anyone else.

Framing (ISO 8583): each message is preceded by its length as 2 bytes, big-endian (1..8192).
A length of 0 or above the limit, or a connection closed mid-frame, ends the connection; a frame
that is not a valid message is answered with response code 30 when its MTI can be read.

HTTP: `POST /v1/<op>` with header `Idempotency-Key` and a JSON object body; `GET /v1/health`;
`GET /v1/accounts/<code>` (balance). Answers are the host's stored bytes (docs/host.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kks_emulator.errors import IdempotencyError, IssuerError
from kks_emulator.issuer import iso8583
from kks_emulator.issuer.host import Host

MAX_FRAME = 8192
MAX_HTTP_HEAD = 16 * 1024
MAX_HTTP_BODY = 1 << 20


class HostWorker:
    """The host, owned by one thread: `call(fn)` runs `fn(host)` there and returns its value."""

    def __init__(self, make_host: Callable[[], Host]) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="issuer-host")
        self.host: Host = self._pool.submit(make_host).result()

    async def call(self, fn: Callable[[Host], Any]) -> Any:
        """Run `fn(host)` in the host's thread (exceptions propagate)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, self.host)

    def call_sync(self, fn: Callable[[Host], Any]) -> Any:
        """Run `fn(host)` in the host's thread from outside the event loop; wait for it."""
        return self._pool.submit(fn, self.host).result()

    def close(self) -> None:
        """Close the host in its thread and stop the thread."""
        self._pool.submit(self.host.close).result()
        self._pool.shutdown()


async def handle_iso_message(worker: HostWorker, raw: bytes) -> bytes | None:
    """Answer one ISO 8583 message (no length header); None when not even its MTI is readable."""
    msg: dict[str, str] | None = None
    try:
        msg = iso8583.decode(raw)
        op = iso8583.to_operation(msg)
    except iso8583.FormatError as exc:
        mti = raw[:4].decode("ascii", "replace")
        if not (len(mti) == 4 and mti[0] == "0" and mti[1] in "1248" and mti[2] in "02"):
            return None
        return iso8583.encode(iso8583.format_error_response(msg or {"t": mti}, exc))
    if op.op is None:
        return iso8583.encode(iso8583.network_response(msg, op))
    try:
        stored = await worker.call(lambda host: host.request(op.op, op.key, op.body))
    except IdempotencyError as exc:
        return iso8583.encode(iso8583.conflict_response(msg, exc))
    except IssuerError as exc:  # refused before any handler (cannot happen for valid messages)
        return iso8583.encode(iso8583.format_error_response(msg, exc))
    return iso8583.encode(iso8583.host_response(msg, op, stored))


@dataclass
class ServerConfig:
    """Where and how to listen."""

    host: str = "127.0.0.1"
    iso_port: int = 0
    http_port: int | None = 0
    frame_timeout_s: float = 10.0
    idle_timeout_s: float = 300.0


class IssuerServer:
    """Both listeners over one `HostWorker`; `start()` binds, `serve_forever()` runs."""

    def __init__(self, worker: HostWorker, config: ServerConfig) -> None:
        self.worker = worker
        self.config = config
        self._iso: asyncio.base_events.Server | None = None
        self._http: asyncio.base_events.Server | None = None
        self._clients: set[asyncio.Task] = set()
        self.connections = 0

    @property
    def iso_address(self) -> tuple[str, int]:
        """(host, port) of the ISO 8583 listener."""
        assert self._iso is not None
        return self._iso.sockets[0].getsockname()[:2]

    @property
    def http_address(self) -> tuple[str, int] | None:
        """(host, port) of the HTTP listener, if any."""
        return self._http.sockets[0].getsockname()[:2] if self._http is not None else None

    async def start(self) -> None:
        """Bind the listeners (port 0 picks a free port)."""
        cfg = self.config
        self._iso = await asyncio.start_server(self._iso_client, cfg.host, cfg.iso_port,
                                               backlog=2048)
        if cfg.http_port is not None:
            self._http = await asyncio.start_server(self._http_client, cfg.host, cfg.http_port,
                                                    backlog=2048)

    async def close(self) -> None:
        """Stop listening and end every open connection."""
        for server in (self._iso, self._http):
            if server is not None:
                server.close()
        clients = list(self._clients)
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        for server in (self._iso, self._http):
            if server is not None:
                await server.wait_closed()

    def _track(self) -> asyncio.Task | None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
            task.add_done_callback(self._clients.discard)
        return task

    async def _iso_client(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        cfg = self.config
        self.connections += 1
        self._track()
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(2), cfg.idle_timeout_s)
                    size = int.from_bytes(head, "big")
                    if not 0 < size <= MAX_FRAME:
                        return
                    raw = await asyncio.wait_for(reader.readexactly(size), cfg.frame_timeout_s)
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                reply = await handle_iso_message(self.worker, raw)
                if reply is None:
                    return
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except ConnectionError:
            return
        finally:
            writer.close()

    async def _http_client(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
        self._track()
        try:
            status, body = await self._http_exchange(reader)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, ValueError):
            status, body = 400, _json({"ok": False, "error": "malformed HTTP request"})
        head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        try:
            writer.write(head.encode("ascii") + body)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _http_exchange(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.config.frame_timeout_s)
        if len(head) > MAX_HTTP_HEAD:
            return 400, _json({"ok": False, "error": "request head too large"})
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if not 0 <= length <= MAX_HTTP_BODY:
            return 413, _json({"ok": False, "error": "body too large"})
        raw = await asyncio.wait_for(reader.readexactly(length), self.config.frame_timeout_s)
        return await http_route(self.worker, method, path, headers, raw)


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            409: "Conflict", 413: "Payload Too Large", 422: "Unprocessable Entity"}


def _json(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


async def http_route(worker: HostWorker, method: str, path: str, headers: dict[str, str],
                     raw: bytes) -> tuple[int, bytes]:
    """Status and body of one HTTP request (docs/host.md, "JSON over HTTP")."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if parts[:1] != ["v1"] or len(parts) < 2:
        return 404, _json({"ok": False, "error": f"no such path {path}"})
    if parts[1:] == ["health"] and method == "GET":
        return 200, _json({"ok": True, "bank": worker.host.bank})
    if parts[1] == "accounts" and len(parts) == 3 and method == "GET":
        code = parts[2]
        try:
            balance = await worker.call(lambda host: host.balance(code))
        except IssuerError as exc:
            return 404, _json({"ok": False, "error": str(exc)})
        return 200, _json({"ok": True, "account": code, "balance": balance})
    if len(parts) != 2:
        return 404, _json({"ok": False, "error": f"no such path {path}"})
    if method != "POST":
        return 405, _json({"ok": False, "error": "operations are POST"})
    op, key = parts[1], headers.get("idempotency-key", "")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return 400, _json({"ok": False, "op": op, "error": "body is not JSON",
                           "malformed": True})
    try:
        stored = await worker.call(lambda host: host.request(op, key, body))
    except IdempotencyError as exc:
        return 409, _json({"ok": False, "op": op, "error": str(exc)})
    except IssuerError as exc:
        status = 404 if "unknown operation" in str(exc) else 400
        return status, _json({"ok": False, "op": op, "error": str(exc), "malformed": True})
    answer = json.loads(stored)
    if answer.get("ok"):
        return 200, stored
    return (400 if answer.get("malformed") else 422), stored


class ServerThread:
    """An `IssuerServer` on its own event loop in a daemon thread (tests, benchmarks, demos)."""

    def __init__(self, make_host: Callable[[], Host], config: ServerConfig | None = None) -> None:
        self.worker = HostWorker(make_host)
        self.server = IssuerServer(self.worker, config or ServerConfig())
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="issuer-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.start())
        self._ready.set()
        self.loop.run_forever()
        self.loop.close()

    def start(self) -> ServerThread:
        """Start serving; returns once both listeners are bound."""
        self._thread.start()
        if not self._ready.wait(10):
            raise IssuerError("issuer server did not start within 10 s")
        return self

    def stop(self) -> None:
        """Stop serving and close the host."""
        async def shutdown() -> None:
            await self.server.close()
            asyncio.get_running_loop().call_soon(self.loop.stop)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self._thread.join(10)
        self.worker.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
