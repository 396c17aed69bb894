"""The KKS combo card: power, APDU transport, the fixed check order, and T=0/T=1 response shaping.

Sans-I/O: `Card(store).power_on()` returns the ATR; `transmit(apdu) -> response` processes one
command. Every command runs the checks in this order and stops at the first failure:
CLA (6E00) -> INS (6D00) -> P1/P2 (6A86) -> lengths (6700) -> security (6982/6983) -> conditions
(6985 ...). Command handlers live in `card.apps`, the table in `card.commands`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from kks_emulator.apdu import (
    SW_BYTES_REMAINING,
    SW_CLA_NOT_SUPPORTED,
    SW_INS_NOT_SUPPORTED,
    SW_MEMORY_FAILURE,
    SW_OK,
    SW_UNKNOWN,
    SW_WRONG_LE,
    SW_WRONG_LENGTH,
    ApduFormatError,
    Command,
    parse_command,
)
from kks_emulator.card import nvm, records
from kks_emulator.card.atr import ATR
from kks_emulator.card.commands import (
    OUT_CASE2,
    OUT_CASE4,
    TABLES,
    CommandSpec,
    table_for,
)
from kks_emulator.card.profile import StaticData, decode_static
from kks_emulator.card.session import Session
from kks_emulator.card.store import PowerCut, Store
from kks_emulator.card.sw import SwError
from kks_emulator.card.t0 import apdu_to_tpdu, parse_tpdu
from kks_emulator.errors import CardError, InputError
from kks_emulator.policy import EmoneyPolicy

PROTOCOLS = ("T=0", "T=1")
_R = TypeVar("_R")


class Card:
    """One emulated KKS card on top of a persistent `Store`.

    rng: a callable n -> n random bytes for challenges (default `secrets.token_bytes`); pass a
    seeded generator only in labelled test setups. protocol: "T=1" (default) or "T=0"; in T=0
    every command first goes through the reader's C-APDU -> C-TPDU mapping (`card.t0`: a case-4
    command arrives without Le), case-4 answers become `61xx` and are fetched with GET RESPONSE,
    and case-2 commands whose Le differs from the data length get `6Cxx`. `last_command` holds
    the bytes the command processing last received (the TPDU in T=0, the APDU in T=1).
    """

    def __init__(self, store: Store, rng: Callable[[int], bytes] | None = None,
                 protocol: str = "T=1") -> None:
        self.store = store
        self._rng = rng or secrets.token_bytes
        self.set_protocol(protocol)
        self._powered = False
        self.static: StaticData | None = None
        self.lifecycle = "off"
        self.s = Session()
        self.last_command = b""
        self._mac: nvm.MacKey | None = None
        # Per-power-session memo of checked records: cell -> (the exact sealed bytes object
        # that passed its CRC + MAC check or that this card wrote, payload, decoded record or
        # None). A hit needs the store to still hold that very object (bytes are immutable),
        # so it returns exactly what a fresh check of the same bytes would.
        self._memo: dict[str, tuple[bytes, bytes, Any]] = {}

    # -- power -------------------------------------------------------------------------------
    def set_protocol(self, protocol: str) -> None:
        """Choose the transmission protocol the reader negotiated ("T=0" or "T=1")."""
        if protocol not in PROTOCOLS:
            raise InputError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
        self.protocol = protocol
        self._t0 = protocol == "T=0"

    @property
    def powered(self) -> bool:
        """Whether the card is powered."""
        return self._powered

    def power_on(self) -> bytes:
        """Cold start: finish or discard an interrupted NVM transaction, load static data,
        return the ATR."""
        self._powered = False
        self._wipe_ram()
        nvm.recover(self.store)
        raw = self.store.read(records.STATIC)
        if not raw:
            self.static, self.lifecycle = None, "blank"
        else:
            try:
                self.static = decode_static(nvm.unseal(records.STATIC, raw))
                self._mac = nvm.MacKey(self.static.record_key)
                self.lifecycle = "personalised"
            except (nvm.IntegrityError, ValueError, KeyError, TypeError, InputError):
                self.static, self.lifecycle = None, "broken"
        self._powered = True
        return ATR

    def _wipe_ram(self) -> None:
        """Forget all RAM state: session, record memo and the session's MAC key."""
        self.s = Session()
        self._memo = {}
        self._mac = None

    def reset(self) -> bytes:
        """Warm reset: RAM state is wiped, the ATR is returned."""
        return self.power_on()

    def power_off(self) -> None:
        """Remove power: all RAM state is lost."""
        self._powered = False
        self._wipe_ram()

    # -- persistent helpers used by the handlers ----------------------------------------------
    def random(self, n: int) -> bytes:
        """n random bytes from the card's generator."""
        return self._rng(n)

    def _key(self) -> nvm.MacKey:
        assert self._mac is not None
        return self._mac

    def read(self, name: str) -> bytes:
        """Payload of a sealed record; `6581` if its integrity check fails."""
        raw = self.store.read(name)
        hit = self._memo.get(name)
        if hit is not None and hit[0] is raw:
            return hit[1]
        try:
            payload = nvm.unseal(name, raw, self._key())
        except nvm.IntegrityError:
            raise SwError(SW_MEMORY_FAILURE) from None
        if type(raw) is bytes:
            self._memo[name] = (raw, payload, None)
        return payload

    def _record(self, name: str, decode: Callable[[bytes], _R]) -> _R:
        """A sealed record, checked and decoded once per distinct stored value."""
        raw = self.store.read(name)
        hit = self._memo.get(name)
        if hit is not None and hit[0] is raw and hit[2] is not None:
            return hit[2]
        rec = decode(self.read(name))
        if type(raw) is bytes:
            self._memo[name] = (raw, self._memo[name][1], rec)
        return rec

    def pin_record(self) -> records.PinRecord:
        """The PIN record."""
        return self._record(records.PIN, records.PinRecord.decode)

    def emv_record(self) -> records.EmvRecord:
        """The EMV counters record."""
        return self._record(records.EMV, records.EmvRecord.decode)

    def purse_record(self) -> records.PurseRecord:
        """The purse record."""
        return self._record(records.PURSE, records.PurseRecord.decode)

    def policy(self) -> EmoneyPolicy:
        """The e-money policy in force: the personalised one, with the registration status
        the issuer last set by PUT DATA (cap and monthly limit follow the status)."""
        assert self.static is not None
        if self.store.read(records.KYC) is None:
            return self.static.policy
        return self.static.policy.with_registered(self.read(records.KYC) == b"\x01")

    def commit(self, updates: dict[str, bytes], decoded: dict[str, Any] | None = None) -> None:
        """Seal and write record payloads in one NVM transaction.

        `decoded` optionally gives the record objects the payloads encode (e.g. the new
        `PurseRecord`), so the next read of those cells needs no decode.
        """
        mac = self._mac
        assert mac is not None
        seal = mac.seal
        sealed = {n: seal(n, p) for n, p in updates.items()}
        nvm.commit(self.store, sealed)
        memo = self._memo
        known = decoded or {}
        for n, value in sealed.items():
            memo[n] = (value, updates[n], known.get(n))

    # -- APDU processing ---------------------------------------------------------------------
    def transmit(self, apdu: bytes) -> bytes:
        """Process one command APDU and return the response APDU (data || SW1 SW2)."""
        if not self._powered:
            raise CardError("card is not powered (call power_on first)")
        raw = bytes(apdu)
        if self._t0:
            raw = apdu_to_tpdu(raw)
        self.last_command = raw
        try:
            data, sw = self._process(raw)
        except PowerCut:
            self._powered = False
            self._wipe_ram()
            raise
        except Exception:  # the card never dies: anything unexpected is 6F00
            s = self.s
            s.out_buffer, s.pending_load, s.challenge = b"", None, None
            data, sw = b"", SW_UNKNOWN
        return data + sw.to_bytes(2, "big")

    def context(self) -> str:
        """The current dispatch context (life cycle or selected application)."""
        if self.lifecycle != "personalised":
            return self.lifecycle
        return self.s.selected

    def _process(self, raw: bytes) -> tuple[bytes, int]:
        s = self.s
        if len(raw) < 4:
            s.out_buffer, s.pending_load, s.challenge = b"", None, None
            return b"", SW_WRONG_LENGTH
        spec, early = self._lookup(raw[0], raw[1], raw[2], raw[3])
        # One-shot transient state is valid for the next command only. GET RESPONSE belongs to
        # the previous command (T=0 fetch), so it keeps the pending load and the challenge.
        name = spec.name if spec is not None else ""
        pending = s.pending_load
        if name != "GET RESPONSE":
            s.out_buffer = b""
            s.pending_load = None
            if name not in ("PIN UNBLOCK", "PUT DATA"):
                s.challenge = None
        if early is not None:
            return b"", early
        assert spec is not None
        try:
            if self._t0:
                cmd = parse_tpdu(raw, spec.takes_data, spec.case1_allowed)
            else:
                cmd = parse_command(raw)
        except ApduFormatError:
            return b"", SW_WRONG_LENGTH
        if len(cmd.data) not in spec.data_lens:
            return b"", SW_WRONG_LENGTH
        if spec.le == "forbidden" and cmd.ne is not None:
            return b"", SW_WRONG_LENGTH
        if spec.le == "required" and cmd.ne is None:
            return b"", SW_WRONG_LENGTH
        if name == "CREDIT FOR LOAD":
            s.pending_load = pending
        try:
            result = spec.handler(self, cmd)
        except SwError as exc:
            return b"", exc.sw if exc.sw is not None else SW_UNKNOWN
        if isinstance(result, tuple):
            return result
        return self._shape(spec, cmd, result, SW_OK)

    def _lookup(self, cla: int, ins: int, p1: int, p2: int
                ) -> tuple[CommandSpec | None, int | None]:
        ctx = self.s.selected if self.lifecycle == "personalised" else self.lifecycle
        table = TABLES.get(ctx) or table_for(ctx)
        if cla not in table.clas:
            return None, SW_CLA_NOT_SUPPORTED
        if ins not in table.inss:
            return None, SW_INS_NOT_SUPPORTED
        spec = table.by_key.get((cla, ins))
        if spec is None:
            return None, SW_CLA_NOT_SUPPORTED
        if not spec.p1p2(p1, p2):
            return spec, spec.p1p2_sw
        return spec, None

    def _shape(self, spec: CommandSpec, cmd: Command, data: bytes, sw: int
               ) -> tuple[bytes, int]:
        """Apply Le / T=0 rules to a successful response."""
        if spec.out == OUT_CASE2:
            return self.shape_case2(cmd.ne, data, cmd.extended)
        if spec.out == OUT_CASE4 and data:
            if self.protocol == "T=0":
                self.s.out_buffer = data
                return b"", SW_BYTES_REMAINING | (min(len(data), 256) & 0xFF)
            if cmd.ne is not None and len(data) > cmd.ne:
                self.s.out_buffer = data[cmd.ne:]
                rest = len(data) - cmd.ne
                return data[:cmd.ne], SW_BYTES_REMAINING | (min(rest, 256) & 0xFF)
        return data, sw

    def shape_case2(self, ne: int | None, data: bytes, extended: bool = False
                    ) -> tuple[bytes, int]:
        """Le rules for commands that only return data: `6Cxx` when Le is wrong (in T=1, Le=00
        accepts any length up to 256)."""
        n = len(data)
        assert ne is not None
        wildcard = self.protocol == "T=1" and ne in (256, 65536)
        if ne == n or (wildcard and n <= ne):
            return data, SW_OK
        if n > 256 and not extended:
            self.s.out_buffer = data[256:] if ne == 256 else b""
            if ne == 256:
                return data[:256], SW_BYTES_REMAINING | (min(n - 256, 256) & 0xFF)
        return b"", SW_WRONG_LE | (n & 0xFF)
