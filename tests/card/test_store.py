"""Stores, the NVM journal and record integrity."""

from __future__ import annotations

import pytest

from kks_emulator.card import Card, FileStore, MemoryStore, PowerCut, nvm, personalize
from kks_emulator.errors import CardError, InputError, StoreError

from .helpers import KEYS, Terminal, profile


def test_seal_unseal_and_tamper():
    key = bytes(16)
    sealed = nvm.seal("purse", b"payload", key)
    assert nvm.unseal("purse", sealed, key) == b"payload"
    with pytest.raises(nvm.IntegrityError):
        nvm.unseal("pin", sealed, key)  # records are bound to their cell name
    with pytest.raises(nvm.IntegrityError):
        nvm.unseal("purse", sealed, b"\x01" * 16)
    with pytest.raises(nvm.IntegrityError):
        nvm.unseal("purse", None, key)
    with pytest.raises(nvm.IntegrityError):
        nvm.unseal("purse", b"\x00", key)
    for i in range(len(sealed)):
        for bit in range(8):
            flipped = bytearray(sealed)
            flipped[i] ^= 1 << bit
            with pytest.raises(nvm.IntegrityError):
                nvm.unseal("purse", bytes(flipped), key)


def test_mac_key_matches_rfc2104_hmac():
    import hashlib
    import hmac
    import random

    rng = random.Random(6)
    for size in (1, 16, 32, 63, 64, 65, 100):
        key = rng.randbytes(size)
        mk = nvm.MacKey(key)
        for n in (0, 1, 30, 64, 200):
            data = rng.randbytes(n)
            assert mk.tag(data) == hmac.new(key, data, hashlib.sha256).digest()[:8]
        payload = rng.randbytes(24)
        assert mk.seal("purse", payload) == nvm.seal("purse", payload, key)
        assert nvm.unseal("purse", nvm.seal("purse", payload, mk), key) == payload


def test_record_memo_never_hides_a_change_in_nvm():
    """The card remembers records it checked (or wrote) only while the store still holds that
    very bytes object: any new value in a cell, even between two commands of one session, is
    checked again (a corrupted one answers 6581)."""
    t = Terminal(Card(MemoryStore(), rng=None))
    personalize(t.card.store, profile(), KEYS)
    t.card.power_on()
    t.select_purse()
    assert t.load(1000).ok and t.balance() == 1000  # purse record written, then read
    store = t.card.store
    good = store.read("purse")
    store._cells["purse"] = bytes(bytearray(good))  # same bytes, new object: checked again
    assert t.balance() == 1000
    flipped = bytearray(good)
    flipped[0] ^= 0x01
    store._cells["purse"] = bytes(flipped)
    assert t.send(0x80, 0x5C, 0, 2, b"", 4).sw == 0x6581
    assert t.verify().ok
    assert t.purchase(10).sw == 0x6581
    store._cells["purse"] = good
    assert t.balance() == 1000
    pin = store.read("pin")
    assert t.verify().ok  # the PIN record was rewritten twice and is remembered
    assert store.read("pin") is not pin
    store._cells["pin"] = store.read("pin")[:-1] + bytes([store.read("pin")[-1] ^ 0x80])
    assert t.verify().sw == 0x6581


def test_journal_recovery_paths():
    store = MemoryStore()
    nvm.commit(store, {"a": b"1", "b": b"2"})
    assert store.read("a") == b"1" and store.read("jnl") == b""
    assert store.write_count == 4
    # journal written, cells not: recovery completes the commit
    store = MemoryStore(fault_hook=lambda k: "write" if k == 1 else None)
    with pytest.raises(PowerCut):
        nvm.commit(store, {"a": b"1", "b": b"2"})
    store.fault_hook = None
    assert nvm.recover(store) is True
    assert (store.read("a"), store.read("b"), store.read("jnl")) == (b"1", b"2", b"")
    # torn journal: discarded
    store = MemoryStore({"a": b"0"}, fault_hook=lambda k: "torn" if k == 1 else None)
    with pytest.raises(PowerCut):
        nvm.commit(store, {"a": b"1"})
    store.fault_hook = None
    assert nvm.recover(store) is False
    assert store.read("a") == b"0"
    assert nvm.recover(store) is False


def test_unknown_fault_mode_rejected():
    store = MemoryStore(fault_hook=lambda k: "explode")
    with pytest.raises(StoreError):
        store.write("a", b"1")


def test_file_store_roundtrip(tmp_path):
    path = tmp_path / "card.kks"
    store = FileStore(path, fsync=False)
    personalize(store, profile(), KEYS)
    t = Terminal(Card(FileStore(path)))
    t.card.power_on()
    t.select_purse()
    assert t.load(5000).ok
    again = Terminal(Card(FileStore(path, create=False)))
    again.card.power_on()
    again.select_purse()
    assert again.balance() == 5000


def test_file_store_errors(tmp_path):
    with pytest.raises(StoreError):
        FileStore(tmp_path / "missing.kks", create=False)
    bad = tmp_path / "bad.kks"
    bad.write_bytes(b"not a card")
    with pytest.raises(StoreError):
        FileStore(bad)
    path = tmp_path / "card.kks"
    personalize(FileStore(path, fsync=False), profile(), KEYS)
    raw = bytearray(path.read_bytes())
    raw[20] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(StoreError, match="CRC"):
        FileStore(path)


def test_file_store_crash_mid_transaction_recovers(tmp_path):
    path = tmp_path / "card.kks"
    personalize(FileStore(path, fsync=False), profile(), KEYS)
    store = FileStore(path, fsync=False)
    t = Terminal(Card(store))
    t.card.power_on()
    t.select_purse()
    store.fault_hook = lambda k, at=store.write_count + 2: "skip" if k == at else None
    with pytest.raises(PowerCut):
        t.load(7000)
    # a new process opens the file: the journal is re-applied at power-on
    t2 = Terminal(Card(FileStore(path)))
    t2.card.power_on()
    t2.select_purse()
    assert t2.balance() == 7000


def test_personalisation_is_closed():
    store = MemoryStore()
    personalize(store, profile(), KEYS)
    with pytest.raises(CardError):
        personalize(store, profile(), KEYS)
    with pytest.raises(InputError, match="issuer keys"):
        personalize(MemoryStore(), profile(bank="BNI"), KEYS)
    for bad in ({"pin": "12345"}, {"pan": "123"}, {"expiry": "3013"}, {"name": "É"},
                {"pin_try_limit": 0}, {"log_size": 0}):
        with pytest.raises(InputError):
            personalize(MemoryStore(), profile(**bad), KEYS)


def test_broken_static_record_refuses_everything():
    store = MemoryStore()
    personalize(store, profile(), KEYS)
    raw = bytearray(store.read("static"))
    raw[5] ^= 0x20
    store = MemoryStore({**store.snapshot(), "static": bytes(raw)})
    t = Terminal(Card(store))
    t.card.power_on()
    assert t.card.lifecycle == "broken"
    assert t.select_purse().sw == 0x6581
    assert t.send(0x80, 0x5C, 0, 2, b"", 4).sw == 0x6E00
