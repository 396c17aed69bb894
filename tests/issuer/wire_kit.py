"""Real ISO 8583 authorisation requests from an in-process test card (tests and benchmarks)."""

from __future__ import annotations

from kks_emulator.terminal import apdus, reader
from kks_emulator.terminal.hostlink import purchase_message
from kks_emulator.terminal.parse import parse_tlv
from tests.terminal.kit import PIN, TERMINAL


def arqc_message(world, amount: int, stan: int, key: str | None = None) -> dict[str, str]:
    """A 0100 carrying a fresh ARQC of the world's card for `amount` rupiah."""
    ex = world.edc.ex
    world.transport.disconnect(unpower=True)
    world.edc.insert()
    card = reader.read_savings(ex)
    reader.verify_pin(ex, PIN)
    cdol1 = (bytes.fromhex(f"{amount * 100:012d}") + bytes(6) + bytes.fromhex("0360") + bytes(5)
             + bytes.fromhex("0360") + bytes.fromhex("261118") + b"\x00" + b"\x01\x02\x03\x04")
    f = parse_tlv(ex.transmit(apdus.generate_ac(0x80, cdol1)).expect("GAC"))
    data = cdol1 + card.aip + f[0x9F36] + f[0x9F10][2:]
    body = {"pan": card.pan, "psn": card.psn, "atc": int.from_bytes(f[0x9F36], "big"),
            "arqc": f[0x9F26].hex(), "data": data.hex(), "amount": amount, "merchant": "W1"}
    msg = {**purchase_message(body), "7": "1118080000", "11": f"{stan:06d}",
           "41": TERMINAL.decode()}
    if key is not None:
        msg["48"] = key
    return msg
