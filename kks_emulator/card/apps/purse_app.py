"""The e-money purse application: balance, issuer-authorised load, signed offline purchase, log.

Every value command commits balance, counter, month totals and the log record in one NVM
transaction. The counter NT never wraps: at 0xFFFFFFFF value commands answer 6985.
Month totals follow the WIB calendar month of the transaction time sent by the terminal (loads:
time authenticated by the issuer's S2). The month only moves forward: a time in an earlier month
than the stored one counts into the stored month.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from typing import TYPE_CHECKING

from kks_emulator.apdu import (
    SW_CONDITIONS,
    SW_RECORD_NOT_FOUND,
    SW_SECURITY,
    SW_WRONG_DATA,
    Command,
)
from kks_emulator.card import records
from kks_emulator.card.session import PendingLoad
from kks_emulator.card.sw import SwError
from kks_emulator.crypto import emv, purse
from kks_emulator.policy import month_key

if TYPE_CHECKING:
    from kks_emulator.card.card import Card
    from kks_emulator.card.profile import StaticData
    from kks_emulator.policy import EmoneyPolicy

COUNTER_MAX = 0xFFFFFFFF
BALANCE_MAX = 0xFFFFFFFF
_LOAD_REQ = struct.Struct(">I8sI")
_PURCHASE_REQ = struct.Struct(">I8s8sI")


def get_balance(card: Card, cmd: Command) -> bytes:
    """GET BALANCE: 4-byte balance in rupiah."""
    return card.purse_record().balance.to_bytes(4, "big")


def get_certificate(card: Card, cmd: Command) -> bytes:
    """GET CERTIFICATE: the card certificate issued by the issuer CA."""
    assert card.static is not None
    return card.static.certificate


def read_log(card: Card, rec: int) -> bytes:
    """READ RECORD in SFI 3: record 1 is the newest log record (43-byte canonical record)."""
    st = card.static
    assert st is not None
    wallet = card.purse_record()
    available = min(wallet.log_count, st.log_size)
    if not 1 <= rec <= available:
        raise SwError(SW_RECORD_NOT_FOUND)
    slot = (wallet.log_count - rec) % st.log_size
    return card.read(records.log_cell(slot))


@lru_cache(maxsize=64)
def _month_of_hour(hour: int) -> int:
    """`month_key` of a whole Unix hour. WIB is UTC+7 exactly, so every month starts on a
    whole UTC hour and all seconds of one hour share a month (a pure function, memoised)."""
    return month_key(hour * 3600)


def _month_totals(wallet: records.PurseRecord, time: int) -> tuple[int, int, int]:
    """(month, incoming, all) to which a transaction at `time` is added."""
    mk = _month_of_hour(time // 3600)
    if mk > wallet.month:
        return mk, 0, 0
    return wallet.month, wallet.month_incoming, wallet.month_all


def _check_load(policy: EmoneyPolicy, wallet: records.PurseRecord, amount: int, time: int
                ) -> None:
    if wallet.counter >= COUNTER_MAX:
        raise SwError(SW_CONDITIONS)
    if wallet.balance + amount > policy.cap:
        raise SwError(SW_CONDITIONS)
    _, incoming, everything = _month_totals(wallet, time)
    counted = incoming if policy.limit_basis == "incoming" else everything
    if counted + amount > policy.monthly_limit:
        raise SwError(SW_CONDITIONS)


def initialize_for_load(card: Card, cmd: Command) -> bytes:
    """INITIALIZE FOR LOAD: amount(4) terminal id(8) time(4) -> card id, NT, balance,
    challenge, S1, PIN flag (01: PIN verified in this session; MACed in S1 so the issuer can
    apply its load PIN policy). Policy checks happen here and again at CREDIT FOR LOAD."""
    amount, terminal_id, time = _LOAD_REQ.unpack(cmd.data)
    if amount == 0:
        raise SwError(SW_WRONG_DATA)
    st = card.static
    assert st is not None
    wallet = card.purse_record()
    _check_load(card.policy(), wallet, amount, time)
    challenge = card.random(8)
    pin = card.s.pin_verified
    s1 = purse.load_s1(st.load_key, st.card_id, wallet.counter, wallet.balance, amount,
                       terminal_id, time, challenge, pin)
    card.s.pending_load = PendingLoad(amount, terminal_id, time, challenge, wallet.counter)
    return (st.card_id + wallet.counter.to_bytes(4, "big") + wallet.balance.to_bytes(4, "big")
            + challenge + s1 + (b"\x01" if pin else b"\x00"))


def _append_log(st: StaticData, wallet: records.PurseRecord, record: bytes
                ) -> tuple[str, int]:
    return records.log_cell(wallet.log_count % st.log_size), wallet.log_count + 1


def credit_for_load(card: Card, cmd: Command) -> bytes:
    """CREDIT FOR LOAD: S2 from the issuer -> NT after, balance after, S3."""
    pending = card.s.pending_load
    card.s.pending_load = None
    if pending is None:
        raise SwError(SW_CONDITIONS)
    st = card.static
    assert st is not None
    expected = purse.load_s2(st.load_key, st.card_id, pending.counter, pending.amount,
                             pending.terminal_id, pending.time, pending.challenge)
    if not purse.mac_equal(expected, cmd.data):
        raise SwError(SW_SECURITY)
    wallet = card.purse_record()
    if wallet.counter != pending.counter:
        raise SwError(SW_CONDITIONS)
    _check_load(card.policy(), wallet, pending.amount, pending.time)
    month, incoming, everything = _month_totals(wallet, pending.time)
    counter = wallet.counter + 1
    balance = wallet.balance + pending.amount
    record = purse.TransactionRecord(st.card_id, counter, pending.amount, balance,
                                     pending.terminal_id, pending.challenge, pending.time,
                                     purse.TYPE_LOAD).encode()
    cell, log_count = _append_log(st, wallet, record)
    new = records.PurseRecord(balance, counter, month, incoming + pending.amount,
                              everything + pending.amount, log_count)
    card.commit({records.PURSE: new.encode(), cell: record}, {records.PURSE: new})
    return (counter.to_bytes(4, "big") + balance.to_bytes(4, "big")
            + purse.load_s3(st.load_key, st.card_id, counter, balance))


def purchase(card: Card, cmd: Command) -> bytes:
    """PURCHASE: amount(4) terminal id(8) terminal nonce(8) time(4) -> record(43) || DER sig."""
    amount, terminal_id, nonce, time = _PURCHASE_REQ.unpack(cmd.data)
    if amount == 0:
        raise SwError(SW_WRONG_DATA)
    st = card.static
    assert st is not None
    if amount >= st.pin_threshold and not card.s.pin_verified:
        raise SwError(SW_SECURITY)
    wallet = card.purse_record()
    if wallet.counter >= COUNTER_MAX or amount > wallet.balance:
        raise SwError(SW_CONDITIONS)
    month, incoming, everything = _month_totals(wallet, time)
    if st.policy.limit_basis == "all":
        policy = card.policy()
        if everything + amount > policy.monthly_limit:
            raise SwError(SW_CONDITIONS)
    counter = wallet.counter + 1
    balance = wallet.balance - amount
    # the canonical record (`purse.TransactionRecord.encode`), packed directly: every field
    # is already in range (9-byte card id, 8-byte terminal id and nonce from the 24-byte data)
    record = purse.encode_record(purse.TYPE_PURCHASE, st.card_id, counter, amount, balance,
                                 terminal_id, nonce, time)
    cell, log_count = _append_log(st, wallet, record)
    new = records.PurseRecord(balance, counter, month, incoming, everything + amount, log_count)
    card.commit({records.PURSE: new.encode(), cell: record}, {records.PURSE: new})
    card.s.pin_verified = False  # one PIN entry per purchase
    return record + purse.sign(st.sign_key, record)


def registration_mac_input(challenge: bytes, value: bytes) -> bytes:
    """What the issuer MACs for PUT DATA DF01: header with Lc, card challenge, new status."""
    return bytes((0x84, 0xDA, 0xDF, 0x01, 0x09)) + challenge + value


def put_registration(card: Card, cmd: Command) -> bytes:
    """PUT DATA DF01 (issuer script): set the registration status (00/01). Data = status(1) ||
    MAC alg. 3 under the card's script key over header || challenge || status, the challenge
    from the GET CHALLENGE just before. Balance and month-to-date totals are kept; the new cap
    and monthly limit apply from the next command."""
    challenge = card.s.challenge
    card.s.challenge = None
    if challenge is None:
        raise SwError(SW_CONDITIONS)
    st = card.static
    assert st is not None
    value, mac = cmd.data[:1], cmd.data[1:]
    expected = emv.mac_alg3(st.mk_smi, registration_mac_input(challenge, value))
    if not purse.mac_equal(expected, mac):
        raise SwError(SW_SECURITY)
    if value not in (b"\x00", b"\x01"):
        raise SwError(SW_WRONG_DATA)
    card.purse_record()  # refuse on a corrupted purse (6581) like every value command
    card.commit({records.KYC: value})
    return b""
