"""`kks card serve` and `kks card apdu --reader`: the card on a real PC/SC stack.

`serve` puts a card file into pcscd's vsmartcard reader ("Virtual PCD 00 0<slot>") so that every
PC/SC program (pcsc_scan, opensc-tool, scriptor, pyscard, our own terminal) can talk to it.
`apdu --reader` sends raw APDUs through any PC/SC reader instead of to a card file in process.

`attach(card_group)` adds both to H1's `kks card` group; nothing here imports pyscard until a
command runs.
"""

from __future__ import annotations

import random
import signal
from pathlib import Path

import click

from kks_emulator.cli.apdu_text import echo_exchange, parse_hex_apdus
from kks_emulator.errors import InputError

#: Hidden test option: "INS:K:MODE,..." (hex INS, 1-based write index, skip|write|torn).
_TEAR_HELP = ("Test only: cut power at write K of the next command with INS (hex), mode "
              "skip|write|torn; comma-separated entries are used in order.")


def parse_tear_plan(text: str | None) -> list[tuple[int, int, str]]:
    """Parse `INS:K:MODE,...` into [(ins, k, mode), ...]."""
    from kks_emulator.card import CUT_MODES

    plan: list[tuple[int, int, str]] = []
    for item in filter(None, (text or "").split(",")):
        try:
            ins_hex, k_text, mode = item.split(":")
            ins, k = int(ins_hex, 16), int(k_text)
        except ValueError:
            raise InputError(f"--tear {item!r}: expected INS:K:MODE, e.g. 54:2:skip") from None
        if mode not in CUT_MODES or k < 1 or not 0 <= ins <= 0xFF:
            raise InputError(f"--tear {item!r}: K >= 1, INS one byte, MODE one of {CUT_MODES}")
        plan.append((ins, k, mode))
    return plan


class TearingCard:
    """Wraps a `Card` and arms the store's fault hook for the commands named in a tear plan.

    The k-th NVM write of the next command whose INS matches the head of the plan is cut with
    the given mode (the store raises `PowerCut`); the server then drops the connection, which
    PC/SC programs see as the card being pulled mid-command.
    """

    def __init__(self, card, plan: list[tuple[int, int, str]]) -> None:
        self.card = card
        self.plan = list(plan)
        self.atr = getattr(card, "atr", None)

    def power_on(self) -> bytes:
        """Power the wrapped card on."""
        return self.card.power_on()

    def power_off(self) -> None:
        """Power the wrapped card off."""
        self.card.power_off()

    def reset(self) -> bytes:
        """Warm-reset the wrapped card."""
        return self.card.reset()

    def transmit(self, apdu: bytes) -> bytes:
        """Pass the APDU on; arm the fault hook first if the plan says so."""
        store = self.card.store
        if self.plan and len(apdu) >= 2 and apdu[1] == self.plan[0][0]:
            _, k, mode = self.plan.pop(0)
            at = store.write_count + k
            store.fault_hook = lambda i, at=at, mode=mode: mode if i == at else None
        try:
            return self.card.transmit(apdu)
        finally:
            store.fault_hook = None


@click.command("serve")
@click.argument("card_file", metavar="CARD", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--vpcd", "vpcd_address", metavar="HOST[:PORT]",
              help="Where vpcd listens [default: 127.0.0.1, port 35963 + slot].")
@click.option("--slot", type=click.IntRange(0, 15), default=0, show_default=True,
              help='vpcd slot; slot N is the reader "Virtual PCD 00 0N".')
@click.option("--protocol", type=click.Choice(["T=0", "T=1"]), default="T=1", show_default=True,
              help="How the card frames answers (vpcd cannot tell the card what the reader "
                   "negotiated, so match the terminal's protocol).")
@click.option("--insert-after", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Start with the card out of the reader and insert it after SECONDS.")
@click.option("--remove-after", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Pull the card out SECONDS after start (it stays out until SIGUSR1).")
@click.option("--test-rng", type=int, default=None, metavar="SEED",
              help="Test mode: deterministic card challenges from SEED (never for real use).")
@click.option("--tear", "tear_plan", default=None, hidden=True, help=_TEAR_HELP)
@click.option("--reinsert-after", type=click.FloatRange(min=0.45), default=0.6,
              show_default=True, hidden=True,
              help="After a power cut, seconds until the card is back in the reader.")
@click.option("--no-fsync", is_flag=True,
              help="Skip fsync on card writes: the file stays consistent if this process dies "
                   "(temp file + rename), but an OS crash may roll back recent writes.")
@click.option("--volatile", is_flag=True,
              help="Serve a copy of CARD held in memory; every change is discarded at exit "
                   "(for benchmarks and demos that must not touch the file).")
@click.option("-q", "--quiet", is_flag=True, help="Do not report connection events.")
@click.option("--trace", "trace_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Append a card-side trace to FILE: timestamped JSON lines of every power "
                   "event and APDU (command, response, SW, protocol).")
def serve(card_file: Path, vpcd_address: str | None, slot: int, protocol: str,
          insert_after: float | None, remove_after: float | None, test_rng: int | None,
          tear_plan: str | None, reinsert_after: float, no_fsync: bool, volatile: bool,
          quiet: bool, trace_file: Path | None = None) -> None:
    """Serve card file CARD to pcscd as the reader "Virtual PCD 00 0<slot>" until stopped.

    Needs pcscd with the vsmartcard-vpcd driver. The card reconnects with back-off when pcscd
    restarts. SIGINT/SIGTERM stop it cleanly between commands; SIGUSR1 inserts the card and
    SIGUSR2 pulls it out. Power off and reset from PC/SC act like a real power cycle.
    """
    from kks_emulator.card import Card, FileStore, MemoryStore, PowerCut
    from kks_emulator.transport.vpcd import VPCD_BASE_PORT, VPCD_HOST, VpcdServer
    from kks_emulator.transport.vpcd import parse_vpcd_address as parse_address

    host, port = VPCD_HOST, VPCD_BASE_PORT + slot
    if vpcd_address:
        host, port = parse_address(vpcd_address)
        if ":" not in vpcd_address:
            port = VPCD_BASE_PORT + slot
    plan = parse_tear_plan(tear_plan)
    store = FileStore(card_file, create=False, fsync=not no_fsync)
    if volatile:
        store = MemoryStore(store.snapshot())
    rng = random.Random(test_rng).randbytes if test_rng is not None else None
    card = Card(store, rng=rng, protocol=protocol)
    served = TearingCard(card, plan) if plan else card
    trace = None
    if trace_file is not None:
        from kks_emulator.transport.trace import TracingCard

        try:
            trace = trace_file.open("a", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--trace {trace_file}: {exc.strerror}") from None
        served = TracingCard(served, trace, protocol)

    def report(text: str) -> None:
        if not quiet:
            click.echo(f"kks card serve: {text}", err=True)

    server = VpcdServer(served, host, port, inserted=insert_after is None, on_event=report,
                        power_loss=(PowerCut,), reinsert_after_s=reinsert_after)
    if insert_after is not None:
        server.schedule(insert_after, insert=True)
    if remove_after is not None:
        server.schedule(remove_after, insert=False)
    previous = {sig: signal.getsignal(sig) for sig in
                (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)}
    signal.signal(signal.SIGINT, lambda *_: server.stop())
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    signal.signal(signal.SIGUSR1, lambda *_: server.insert())
    signal.signal(signal.SIGUSR2, lambda *_: server.remove())
    report(f"serving {card_file} ({protocol}) on vpcd {host}:{port} "
           f"(reader \"Virtual PCD 00 {port - VPCD_BASE_PORT:02d}\"); Ctrl-C to stop")
    try:
        stats = server.serve_forever()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # Every NVM write of FileStore is already durable (temp file + fsync + rename), and the
        # loop only stops between commands, so the card file is consistent here.
        card.power_off()
        close = getattr(store, "close", None)
        if callable(close):
            close()
        if trace is not None:
            trace.close()
    report(f"stopped after {stats.apdus} APDUs, {stats.connections} vpcd connection(s)")


def _apdu_via_reader(reader: str, apdus: tuple[str, ...], protocol: str | None,
                     timeout: float, unpower: bool) -> None:
    from kks_emulator.transport.pcsc import PcscTransport

    commands = parse_hex_apdus(apdus, min_len=4)
    protocols = {"T=0": "T0", "T=1": "T1", None: "any"}[protocol]
    transport = PcscTransport(reader, timeout_s=timeout, protocols=protocols,
                              on_event=lambda text: click.echo(text, err=True))
    try:
        atr = transport.connect()
        click.echo(f"ATR {atr.hex().upper()} ({transport.reader}, {transport.protocol})")
        for command in commands:
            echo_exchange(command, transport.transmit(command))
        transport.disconnect(unpower=unpower)
    finally:
        transport.close()


def _with_reader(original: click.Command) -> click.Command:
    """H1's in-process `kks card apdu CARD HEX...`, plus `--reader NAME HEX...` for PC/SC."""

    @click.command("apdu", help=(original.help or "").rstrip()
                   + "\n\nWith --reader NAME (name, substring or index; see `kks readers`) "
                     "there is no CARD: the APDUs go raw through that PC/SC reader.")
    @click.argument("args", metavar="[CARD] HEX...", nargs=-1, required=True)
    @click.option("--protocol", type=click.Choice(["T=0", "T=1"]), default=None,
                  help="In process: the card's protocol [T=1]. With --reader: the protocol to "
                       "ask the reader for [any the ATR offers].")
    @click.option("--reader", default=None, metavar="NAME",
                  help="Send through this PC/SC reader instead of to a card file.")
    @click.option("--timeout", type=click.FloatRange(min=0), default=10.0, show_default=True,
                  help="With --reader: seconds to wait for a card.")
    @click.option("--unpower", is_flag=True, help="With --reader: power the card off at the end.")
    @click.pass_context
    def apdu(ctx: click.Context, args: tuple[str, ...], protocol: str | None,
             reader: str | None, timeout: float, unpower: bool) -> None:
        if reader is not None:
            _apdu_via_reader(reader, args, protocol, timeout, unpower)
            return
        if len(args) < 2:
            raise click.UsageError("give CARD and at least one HEX APDU (or --reader NAME)")
        ctx.invoke(original, card_file=Path(args[0]), apdus=args[1:],
                   protocol=protocol or "T=1")

    return apdu


def attach(card_group: click.Group) -> None:
    """Add `serve` to `kks card` and give its `apdu` command the `--reader` variant."""
    card_group.add_command(serve)
    from kks_emulator.cli.card_script import script

    card_group.add_command(script)
    original = card_group.commands.get("apdu")
    if original is not None:
        card_group.add_command(_with_reader(original))
