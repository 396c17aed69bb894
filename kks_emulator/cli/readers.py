"""`kks readers`: list PC/SC readers, whether a card is present, and its ATR."""

from __future__ import annotations

import json

import click


@click.command("readers")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per reader.")
@click.option("--wait", "wait_s", type=float, default=0.0, show_default=True,
              help="Watch for this many seconds and report card insertions and removals.")
def readers(as_json: bool, wait_s: float) -> None:
    """List PC/SC readers with card presence and ATR (index, name, card, ATR)."""
    from kks_emulator.transport.pcsc import PcscContext

    with PcscContext() as ctx:
        infos = ctx.status()
        if not infos:
            click.echo("no readers (is vsmartcard-vpcd installed, or a reader plugged in?)",
                       err=True)
        for info in infos:
            if as_json:
                click.echo(json.dumps({"index": info.index, "name": info.name,
                                       "card": info.card_present,
                                       "atr": info.atr.hex().upper()}))
            else:
                card = f"card  ATR {info.atr.hex(' ').upper()}" if info.card_present else "empty"
                click.echo(f"{info.index}: {info.name}  {card}")
        if wait_s > 0 and infos:
            _watch(ctx, [i.name for i in infos], wait_s)


def _watch(ctx, names: list[str], wait_s: float) -> None:
    """Print one line per insert/remove event on any of `names` for `wait_s` seconds."""
    import time

    from smartcard import scard

    states = {name: scard.SCARD_STATE_UNAWARE for name in names}
    deadline = time.monotonic() + wait_s
    first = True
    while (left := deadline - time.monotonic()) > 0:
        hresult, changes = scard.SCardGetStatusChange(
            ctx.handle, int(min(left, 1.0) * 1000), list(states.items()))
        if hresult == scard.SCARD_E_TIMEOUT:
            continue
        if hresult != 0:
            from kks_emulator.transport.pcsc import pcsc_error

            raise pcsc_error(hresult, "watch readers")
        for name, state, atr in changes:
            was_present = bool(states[name] & scard.SCARD_STATE_PRESENT)
            now_present = bool(state & scard.SCARD_STATE_PRESENT)
            states[name] = state & ~scard.SCARD_STATE_CHANGED
            if not first and now_present != was_present:
                what = f"inserted, ATR {bytes(atr).hex(' ').upper()}" if now_present else "removed"
                click.echo(f"{name}: card {what}")
        first = False
