"""C-FUZZ: a seeded mutation fuzzer over valid APDUs (100,000 executions in CI).

Invariants after every response: no 6F00, nothing but a 2-byte SW for errors, response <= 258
bytes for short APDUs, balance <= cap, counter never decreasing, PIN try counter <= limit, and
no persistent write for any answer in the "no state change" range. Inputs that ever broke an
invariant are kept in tests/card/corpus/ and replayed by `test_corpus_regressions`.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from kks_emulator.apdu import encode_command
from kks_emulator.card import Card, MemoryStore
from kks_emulator.pinblock import plain_pin_block
from tests.counts import sized

from .helpers import PIN, T0, loaded, seeded_rng

CORPUS = Path(__file__).parent / "corpus"
NO_STATE = set(range(0x6700, 0x7000)) | {0x6982, 0x6983, 0x6985} | set(range(0x6A80, 0x6A90))
CAP = 20_000_000

SEEDS = [
    encode_command(0x00, 0xA4, 0x04, 0x00, bytes.fromhex("F04B4B535055525345"), 256),
    encode_command(0x00, 0xA4, 0x04, 0x00, bytes.fromhex("A0000006021010"), 256),
    encode_command(0x00, 0xA4, 0x04, 0x00, b"1PAY.SYS.DDF01", 256),
    encode_command(0x00, 0xA4, 0x04, 0x00, b"2PAY.SYS.DDF01", 256),
    encode_command(0x00, 0x20, 0x00, 0x80, plain_pin_block(PIN)),
    encode_command(0x00, 0x20, 0x00, 0x80),
    encode_command(0x80, 0x5C, 0x00, 0x02, b"", 4),
    encode_command(0x80, 0x54, 0, 0, struct.pack(">I8s8sI", 1000, b"TERM0001", b"N" * 8, T0), 256),
    encode_command(0x80, 0x50, 0, 0, struct.pack(">I8sI", 1000, b"TERM0001", T0), 256),
    encode_command(0x80, 0x52, 0, 0, bytes(8), 256),
    encode_command(0x80, 0x5A, 0, 0, b"", 256),
    encode_command(0x80, 0xA8, 0, 0, bytes.fromhex("8303036022"), 256),
    encode_command(0x80, 0xAE, 0x80, 0, bytes(29), 256),
    encode_command(0x80, 0xAE, 0x40, 0, bytes(21), 256),
    encode_command(0x80, 0xCA, 0x9F, 0x17, b"", 256),
    encode_command(0x00, 0xB2, 0x01, 0x0C, b"", 256),
    encode_command(0x00, 0xB2, 0x01, 0x1C, b"", 256),
    encode_command(0x00, 0xC0, 0x00, 0x00, b"", 256),
    encode_command(0x00, 0x84, 0x00, 0x00, b"", 8),
    encode_command(0x84, 0x24, 0x00, 0x00, bytes(8)),
    encode_command(0x84, 0xDA, 0xDF, 0x01, bytes(9)),
    encode_command(0x00, 0x24, 0x00, 0x80, plain_pin_block(PIN) * 2),
    encode_command(0x00, 0x88, 0x00, 0x00, bytes(4), 256),
    encode_command(0x80, 0xAE, 0x90, 0, bytes(29), 256),
    encode_command(0x00, 0xB2, 0x01, 0x14, b"", 256),
    encode_command(0x84, 0x1E, 0x00, 0x00, bytes(8)),
    encode_command(0x84, 0x18, 0x00, 0x00, bytes(8)),
    encode_command(0x84, 0x24, 0x00, 0x02, bytes(16)),
]


def mutate(rng: random.Random, apdu: bytes) -> bytes:
    """One structured or byte-level mutation."""
    b = bytearray(apdu)
    op = rng.randrange(10)
    if op == 0 and b:
        b[rng.randrange(len(b))] = rng.randrange(256)
    elif op == 1 and len(b) > 4:
        b[4] = rng.randrange(256)  # Lc / Le lies
    elif op == 2:
        del b[rng.randrange(len(b) + 1):]  # truncation, also below 4 bytes
    elif op == 3:
        b += rng.randbytes(rng.randint(1, 8))
    elif op == 4 and len(b) >= 4:  # extended length forms, including Lc = 0000 and big Le
        body = bytes(b[5:]) if len(b) > 5 else b""
        lc = rng.choice([0, len(body), rng.randrange(65536)])
        b = b[:4] + b"\x00" + lc.to_bytes(2, "big") + body + rng.randbytes(rng.choice([0, 2]))
    elif op == 5 and len(b) > 5:
        b = b[:-1] if rng.random() < 0.5 else b + b"\x00"  # Le absent / Le 00
    elif op == 6 and len(b) >= 4:
        b[2], b[3] = rng.randrange(256), rng.randrange(256)
    elif op == 7 and len(b) >= 4:
        b[0] = rng.choice([0x00, 0x80, 0x84, 0x0C, 0x01, 0x90, 0xFF, rng.randrange(256)])
    elif op == 8 and len(b) > 5:
        i = rng.randrange(5, len(b))
        b[i] ^= 1 << rng.randrange(8)
    else:
        b = bytearray(rng.randbytes(rng.randint(0, 40)))
    return bytes(b)


def _fuzz(n: int, seed: int, protocol: str = "T=1") -> None:
    rng = random.Random(seed)
    base = loaded(1_000_000).snapshot()
    store = MemoryStore(dict(base))
    card = Card(store, rng=seeded_rng(seed), protocol=protocol)
    card.power_on()
    last_counter = card.purse_record().counter
    for i in range(n):
        if i % 5000 == 0 and i:
            store = MemoryStore(dict(base))
            card = Card(store, rng=seeded_rng(seed + i), protocol=protocol)
            card.power_on()
            last_counter = card.purse_record().counter
        # 30% unmutated seeds keep valid traffic flowing (PIN, selection, value commands)
        apdu = rng.choice(SEEDS) if rng.random() < 0.3 else mutate(rng, rng.choice(SEEDS))
        writes = store.write_count
        resp = card.transmit(apdu)
        sw = (resp[-2] << 8) | resp[-1]
        where = f"iteration {i} seed {seed}: {apdu.hex()} -> {resp.hex()}"
        assert sw != 0x6F00, where
        if len(apdu) <= 261:
            assert len(resp) <= 258, where
        if sw != 0x9000 and resp[-2] != 0x61:
            assert len(resp) == 2, where
        if sw in NO_STATE:
            assert store.write_count == writes, where
        if store.write_count != writes:
            wallet = card.purse_record()
            assert wallet.balance <= CAP, where
            assert wallet.counter >= last_counter, where
            last_counter = wallet.counter
            pin = card.pin_record()
            assert pin.ptc <= pin.ptl, where
        if rng.random() < 0.002:
            card.power_on()


def test_c_fuzz():
    _fuzz(sized(100_000, 10_000_000, "KKS_FUZZ_N"), 1)


def test_c_fuzz_t0():
    """The same fuzzing with the card served in T=0 (every command through the TPDU mapping)."""
    _fuzz(sized(20_000, 2_000_000, "KKS_FUZZ_T0_N"), 3, "T=0")


def test_corpus_regressions():
    base = loaded(1_000_000).snapshot()
    files = sorted(CORPUS.glob("*.hex"))
    assert files, "the regression corpus is missing"
    for path in files:
        card = Card(MemoryStore(dict(base)), rng=seeded_rng(0))
        card.power_on()
        for line in path.read_text().split():
            resp = card.transmit(bytes.fromhex(line))
            assert resp[-2:] != b"\x6F\x00", f"{path.name}: {line}"


@pytest.mark.long
def test_c_fuzz_long(long_counts):
    test_c_fuzz()
