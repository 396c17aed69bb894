"""`kks issuer serve`: the issuer host on the wire (ISO 8583 over TCP, JSON over HTTP).

The logic is in `kks_emulator.issuer.server`; this module parses options, prints the bound
addresses on one line (`iso8583 HOST:PORT http HOST:PORT`, so scripts using port 0 can read
them) and runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click

from kks_emulator.errors import InputError


@click.command("serve")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Issuer ledger (SQLite file); default: the group's --db / KKS_ISSUER_DB.")
@click.option("--port", type=click.IntRange(0, 65535), default=8583, show_default=True,
              help="ISO 8583 TCP port (0: any free port).")
@click.option("--http-port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="JSON over HTTP port (0: any free port).")
@click.option("--no-http", is_flag=True, help="Serve ISO 8583 only.")
@click.option("--bind", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--frame-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds a client may take to send one whole frame before it is dropped.")
@click.pass_context
def serve(ctx: click.Context, db: Path | None, port: int, http_port: int, no_http: bool,
          bind: str, frame_timeout: float) -> None:
    """Serve the issuer host over ISO 8583 (2-byte length header) and JSON over HTTP."""
    from kks_emulator.issuer.host import Host
    from kks_emulator.issuer.server import HostWorker, IssuerServer, ServerConfig

    obj = ctx.obj or {}
    path = db or obj.get("db")
    if path is None:
        raise InputError("give the issuer ledger with --db FILE (or KKS_ISSUER_DB)")
    path.parent.mkdir(parents=True, exist_ok=True)
    bank = obj.get("bank", "BRI")
    worker = HostWorker(lambda: Host.open(str(path), bank))
    config = ServerConfig(bind, port, None if no_http else http_port, frame_timeout)
    try:
        asyncio.run(_run(IssuerServer(worker, config), path, bank))
    except OSError as exc:
        raise InputError(f"cannot listen on {bind}: {exc.strerror or exc}") from None
    finally:
        worker.close()


async def _run(server, path: Path, bank: str) -> None:
    await server.start()
    host, port = server.iso_address
    iso = f"{host}:{port}"
    http = "off"
    if server.http_address:
        http = "http://{}:{}".format(*server.http_address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    click.echo(f"iso8583 {iso} http {http} ledger {path} ({bank})", nl=True)
    await stop.wait()
    await server.close()
