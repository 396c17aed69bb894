"""E-money limits: E-CAP, E-MONTH (WIB month boundary), E-BASIS and the presets."""

from __future__ import annotations

import datetime as dt

import pytest

from kks_emulator.errors import InputError
from kks_emulator.policy import BI_2018, BI_2022_07, WIB, EmoneyPolicy, month_key

from .helpers import T0, fresh_store, powered


def wib(y, m, d, hh=0, mm=0, ss=0) -> int:
    return int(dt.datetime(y, m, d, hh, mm, ss, tzinfo=WIB).timestamp())


def card_with(policy: EmoneyPolicy):
    t = powered(fresh_store(policy=policy))
    t.select_purse()
    return t


def spend(t, amount, time):
    assert t.verify().ok
    r = t.purchase(amount, time=time)
    assert r.ok, hex(r.sw)


def test_presets():
    assert (BI_2018.cap, BI_2018.monthly_limit, BI_2018.registered) == (2_000_000, 20_000_000,
                                                                        False)
    r18 = BI_2018.with_registered(True)
    assert (r18.cap, r18.monthly_limit) == (10_000_000, 20_000_000)
    r22 = BI_2022_07.with_registered(True)
    assert (r22.cap, r22.monthly_limit) == (20_000_000, 40_000_000)
    assert r22.with_registered(False) == BI_2022_07
    assert BI_2022_07.effective_from == dt.date(2022, 7, 1)
    with pytest.raises(InputError):
        BI_2018.with_basis("outgoing")


def test_month_key_wib_boundary():
    assert month_key(wib(2026, 11, 30, 23, 59, 59)) == 202611
    assert month_key(wib(2026, 12, 1, 0, 0, 0)) == 202612
    # 17:00 UTC on the last day is already the 1st in WIB
    assert month_key(int(dt.datetime(2026, 11, 30, 17, 0, tzinfo=dt.UTC).timestamp())) == 202612
    assert month_key(int(dt.datetime(2026, 11, 30, 16, 59, 59, tzinfo=dt.UTC).timestamp())) \
        == 202611


@pytest.mark.parametrize("preset", [BI_2018, BI_2022_07], ids=["2018", "2022"])
@pytest.mark.parametrize("registered", [False, True])
def test_e_cap(preset, registered):
    policy = preset.with_registered(registered)
    t = card_with(policy)
    assert t.load(policy.cap - 1000).ok
    before = t.card.store.snapshot()
    assert t.init_load(1001).sw == 0x6985
    assert t.card.store.snapshot() == before
    assert t.load(1000).ok
    assert t.balance() == policy.cap
    assert t.init_load(1).sw == 0x6985


SMALL = EmoneyPolicy(name="TEST", registered=False, cap=1000, monthly_limit=3000)


@pytest.mark.parametrize(("total", "ok"), [(2999, True), (3000, True), (3001, False)])
def test_e_month_limit(total, ok):
    t = card_with(SMALL)
    day = wib(2026, 11, 2, 9)
    loaded = 0
    for i in range(31):
        amount = min(1000, total - loaded)
        if amount <= 0:
            break
        if loaded + amount > 3000:
            before = t.card.store.snapshot()
            assert t.init_load(amount, time=day + i * 3600).sw == 0x6985
            assert t.card.store.snapshot() == before
            assert not ok
            return
        assert t.load(amount, time=day + i * 3600).ok
        loaded += amount
        spend(t, amount, day + i * 3600 + 60)
    assert ok and loaded == total


def test_e_month_boundary_resets_and_no_going_back():
    t = card_with(SMALL)
    last_nov = wib(2026, 11, 30, 23, 59, 59)
    for _ in range(3):
        assert t.load(1000, time=last_nov).ok
        spend(t, 1000, last_nov)
    assert t.init_load(1, time=last_nov).sw == 0x6985
    first_dec = wib(2026, 12, 1, 0, 0, 0)
    assert t.load(1000, time=first_dec).ok
    spend(t, 1000, first_dec)
    # a terminal sending an old date cannot reopen November's allowance: it counts into December
    for _ in range(2):
        assert t.load(1000, time=last_nov).ok
        spend(t, 1000, last_nov)
    assert t.init_load(1, time=last_nov).sw == 0x6985
    assert t.init_load(1, time=first_dec + 86400).sw == 0x6985
    assert t.load(1000, time=wib(2027, 1, 1)).ok


@pytest.mark.parametrize("basis", ["incoming", "all"])
def test_e_basis(basis):
    policy = EmoneyPolicy(name="TEST", registered=False, cap=1000, monthly_limit=1500,
                          limit_basis=basis)
    t = card_with(policy)
    assert t.load(1000, time=T0).ok
    t.verify()
    r = t.purchase(600, time=T0)
    if basis == "all":
        assert r.sw == 0x6985  # 1000 + 600 counted
        t.verify()
        assert t.purchase(500, time=T0).ok  # exactly the limit
        assert t.init_load(1, time=T0).sw == 0x6985
    else:
        assert r.ok  # purchases do not count
        assert t.load(500, time=T0).ok
        assert t.init_load(1, time=T0).sw == 0x6985


def _set_registered(t, value: bytes, key: bytes | None = None):
    from kks_emulator.card.apps.purse_app import registration_mac_input
    from kks_emulator.crypto import emv

    from .helpers import CARD_KEYS

    ch = t.send(0x00, 0x84, 0, 0, b"", 8).data
    mac = emv.mac_alg3(key or CARD_KEYS.mk_smi, registration_mac_input(ch, value))
    return t.send(0x84, 0xDA, 0xDF, 0x01, value + mac)


def test_e_reg_upgrade_mid_month():
    t = card_with(BI_2022_07)  # unregistered: cap 2 jt, 20 jt a month
    day = wib(2026, 11, 10, 9)
    assert t.load(2_000_000, time=day).ok
    assert t.init_load(1, time=day).sw == 0x6985
    for _ in range(9):  # 18 jt more incoming this month
        spend(t, 2_000_000, day)
        assert t.load(2_000_000, time=day).ok
    spend(t, 2_000_000, day)
    assert t.init_load(1, time=day).sw == 0x6985  # 20 jt monthly limit reached
    before = t.card.store.snapshot()
    assert _set_registered(t, b"\x01", key=bytes(16)).sw == 0x6982
    assert t.send(0x84, 0xDA, 0xDF, 0x01, bytes(9)).sw == 0x6985  # no challenge
    assert _set_registered(t, b"\x02").sw == 0x6A80
    assert t.card.store.snapshot() == before
    assert _set_registered(t, b"\x01").ok
    # new cap (20 jt) and limit (40 jt) from now; the month's 20 jt incoming carries over
    assert t.load(20_000_000, time=day).ok
    assert t.init_load(1, time=day).sw == 0x6985  # cap
    spend(t, 20_000_000, day)
    assert t.init_load(1, time=day).sw == 0x6985  # 40 jt incoming this month
    assert t.load(20_000_000, time=wib(2026, 12, 1)).ok
    from kks_emulator.card.info import card_info
    info = card_info(t.card.store)
    assert (info["registered"], info["cap"], info["monthly_limit"]) == (True, 20_000_000,
                                                                         40_000_000)
