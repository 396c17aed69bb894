"""The EDC's EMV contact kernel for the savings application (EMV Book 3 §10), a reference a
terminal developer can diff their own kernel against.

Steps, each leaving its mark in the TVR (95) and TSI (9B):
1. application selection (Book 1 §12, `terminal.selection`), GPO with the PDOL, READ RECORD;
2. offline data authentication (`terminal.oda`): CDA if card and terminal support it, else DDA,
   else SDA; failures set TVR byte 1 (40 SDA, 08 DDA, 04 CDA failed), none possible 80;
3. processing restrictions: expired application (byte 2 bit 40), not yet effective (20);
4. cardholder verification (`terminal.cvm`): plaintext PIN by the ICC after checking the PIN
   try counter (GET DATA 9F17: 0 sets byte 3 bit 20 and the PIN is not asked);
5. terminal risk management (Book 3 §10.6): floor limit (byte 4 bit 80); random transaction
   selection below the floor limit (bit 10; target and maximum percentages and a threshold in
   the config, off by default in the EDC); velocity checking when the card gives its lower and
   upper consecutive offline limits (9F14, 9F23): ATC (GET DATA 9F36) minus last online ATC
   (9F13) above the lower limit sets bit 40, above the upper bit 20, a last online ATC of 0
   sets "new card" (byte 2 bit 08), unreadable counters set both bits and "ICC data missing"
   (byte 1 bit 20); TSI 08;
6. terminal action analysis: TVR against TAC | IAC denial -> AAC, online -> ARQC, else TC
   (absent IACs: denial 00.., online and default FF.., Book 3 §10.7);
7. first GENERATE AC (CDA requested with P1 bit 10); a CDA signature that does not verify sets
   byte 1 bit 04 and the transaction is declined;
8. online authorisation (ARQC) at the issuer; issuer scripts of template 71 before and 72 after
   the second GENERATE AC, with their results in 9F5B (per script: 20 success or 1n failed at
   command n, then the script id); TVR byte 5 bit 20/10 on a failed script.

Not done by this kernel: exception file, online PIN, signature.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kks_emulator import tlv
from kks_emulator.errors import CardError, KksError, TransportError
from kks_emulator.terminal import apdus, cvm, oda, reader, selection
from kks_emulator.terminal.exchange import Exchange
from kks_emulator.terminal.parse import CardResponseError, as_int, parse_tlv

AMOUNT_SCALE = 100
IDR = bytes.fromhex("0360")
#: Terminal action codes of the EDC (bytes 1-5 of the TVR).
TAC_DENIAL = bytes.fromhex("4C60800000")  # ODA failed, expired / not effective, CV failed
TAC_ONLINE = bytes.fromhex("000000F800")  # floor, velocity limits, random, forced online
TAC_DEFAULT = bytes.fromhex("4C6080F800")
TERMINAL_AIDS = [selection.TerminalAid(bytes.fromhex("A000000602"), partial=True)]


class Tvr:
    """Terminal verification results (95), 5 bytes, set bit by bit with a log of reasons."""

    def __init__(self) -> None:
        self.value = bytearray(5)
        self.reasons: list[str] = []

    def set(self, byte: int, bit: int, reason: str) -> None:
        """Set bit `bit` of byte `byte` (1-based, as the book numbers them)."""
        self.value[byte - 1] |= bit
        self.reasons.append(f"TVR byte {byte} bit {bit:02X}: {reason}")

    def hits(self, mask: bytes) -> bool:
        """Whether any set bit is also set in `mask`."""
        return any(a & b for a, b in zip(self.value, mask, strict=True))

    def hex(self) -> str:
        """The TVR in hex."""
        return self.value.hex().upper()


@dataclass
class KernelConfig:
    """EDC settings: floor limit (rupiah), action codes, online capability, CA keys."""

    floor_limit: int = 100_000
    #: random transaction selection (percent, 0-99; rupiah threshold); max 0 = off
    random_target: int = 0
    random_max: int = 0
    random_threshold: int = 0
    tac_denial: bytes = TAC_DENIAL
    tac_online: bytes = TAC_ONLINE
    tac_default: bytes = TAC_DEFAULT
    online: bool = True
    oda_keys: oda.OdaKeys = field(default_factory=oda.OdaKeys.test)


@dataclass
class EmvOutcome:
    """What the kernel decided and why: outcome, TVR, TSI, CID, steps, script results."""

    outcome: str
    reason: str
    tvr: str = "0000000000"
    tsi: str = "0000"
    cid: int | None = None
    arc: str = ""
    oda: str = ""
    script_results: str = ""
    steps: list[str] = field(default_factory=list)
    journal: int | None = None

    @property
    def approved(self) -> bool:
        """Approved offline or online."""
        return self.outcome.startswith("APPROVED")


def _sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()  # noqa: S324 (EMV Book 2 mandates SHA-1)


class Kernel:
    """One EMV transaction over an `Exchange`, with an issuer link for online authorisation."""

    def __init__(self, ex: Exchange, issuer: Any, merchant: str, config: KernelConfig,
                 rng: Callable[[int], bytes]) -> None:
        self.ex = ex
        self.issuer = issuer
        self.merchant = merchant
        self.cfg = config
        self.rng = rng
        self.tvr = Tvr()
        self.tsi = bytearray(2)
        self.steps: list[str] = []
        self.oda = ""
        self.iad = b""
        self.cvm_results = b""

    def _step(self, text: str) -> None:
        self.steps.append(text)

    def _out(self, outcome: str, reason: str, **kw: Any) -> EmvOutcome:
        self._step(f"outcome: {outcome} ({reason})")
        return EmvOutcome(outcome, reason, self.tvr.hex(), self.tsi.hex().upper(),
                          steps=self.steps + self.tvr.reasons, **kw)

    # -- the transaction -------------------------------------------------------------------
    def purchase(self, amount: int, pin: str, date: str) -> EmvOutcome:
        """Run a purchase of `amount` rupiah on date `date` (YYMMDD) with PIN `pin`."""
        try:
            return self._purchase(amount, pin, date)
        except selection.NoApplication as exc:
            return self._out("TERMINATED", str(exc))
        except (CardError, TransportError) as exc:
            return self._out("TERMINATED", f"card error: {exc}")

    def _purchase(self, amount: int, pin: str, date: str) -> EmvOutcome:
        chosen = selection.select_application(self.ex, TERMINAL_AIDS)
        self._step(f"selected {chosen.candidate.aid.hex().upper()} ({chosen.method})")
        card = reader.read_savings(self.ex, chosen.fci)
        f = dict(card.fields)
        self._step(f"GPO: AIP {card.aip.hex().upper()} AFL {card.afl.hex().upper()}; "
                   f"{len(f)} data objects read")
        rid = chosen.candidate.aid[:5]
        icc = self._oda(card, f, rid, date)
        self._restrictions(f, date)
        amount_minor = amount * AMOUNT_SCALE
        self._cvm(card.cvm_list, amount_minor, pin)
        self._risk(f, amount)
        requested = self._action_analysis(f)
        return self._generate(card, f, icc, requested, amount, date)

    def _oda(self, card: reader.SavingsData, f: dict[int, bytes], rid: bytes,
             date: str) -> tuple[bytes, bytes] | None:
        aip = card.aip[0]
        keys = self.cfg.oda_keys
        if aip & 0x01:
            self.oda = "CDA"
            self.tsi[0] |= 0x80
            try:
                if card.oda_record_error:
                    raise oda.OdaError("an ODA record is not template 70")
                icc = oda.icc_public_key(keys, rid, f, card.pan, date, card.static_data)
                self._step("CDA: issuer and ICC certificates recovered and checked")
                return icc
            except oda.OdaError as exc:
                self.tvr.set(1, 0x04, f"CDA failed: {exc}")
                return None
        if aip & 0x20:
            self.oda = "DDA"
            self.tsi[0] |= 0x80
            try:
                icc = oda.icc_public_key(keys, rid, f, card.pan, date, card.static_data)
                ddol = f.get(0x9F49, bytes.fromhex("9F3704"))
                un = self.rng(4)
                data = reader.dol_data(ddol, {0x9F37: un})
                r = self.ex.transmit(apdus.internal_authenticate(data)).expect(
                    "INTERNAL AUTHENTICATE")
                sdad = parse_tlv(r).get(0x9F4B) if r[:1] == b"\x77" else tlv.decode_one(r).value
                oda.verify_dynamic(icc, sdad or b"", data)
                self._step("DDA: signed dynamic data verified")
            except oda.OdaError as exc:
                self.tvr.set(1, 0x08, f"DDA failed: {exc}")
            return None
        if aip & 0x40:
            self.oda = "SDA"
            self.tsi[0] |= 0x80
            try:
                if card.oda_record_error:
                    raise oda.OdaError("an ODA record is not template 70")
                dac = oda.verify_sda(keys, rid, f, card.pan, date, card.static_data)
                self._step(f"SDA: signed static data verified, DAC {dac.hex().upper()}")
            except oda.OdaError as exc:
                self.tvr.set(1, 0x40, f"SDA failed: {exc}")
            return None
        self.oda = ""
        self.tvr.set(1, 0x80, "offline data authentication was not performed")
        return None

    def _restrictions(self, f: dict[int, bytes], date: str) -> None:
        expiry = f.get(0x5F24, b"").hex()
        effective = f.get(0x5F25, b"").hex()
        if expiry and expiry < date:
            self.tvr.set(2, 0x40, f"application expired {expiry}")
        if effective and effective > date:
            self.tvr.set(2, 0x20, f"application not yet effective ({effective})")

    def _cvm(self, cvm_list: bytes, amount_minor: int, pin: str) -> None:
        def perform(code: int) -> tuple[bool, int, str]:
            if code == cvm.CVM_NO_CVM:
                return True, 0, "no CVM required"
            r = self.ex.transmit(apdus.get_data(0x9F17))
            tries = r.data[3] if r.ok and len(r.data) == 4 else None
            if tries == 0:
                return False, 0x20, "PIN try limit exceeded (9F17 = 0): PIN not asked"
            note = "last PIN try" if tries == 1 else ""
            resp = self.ex.transmit(apdus.verify_pin(pin))
            if resp.ok:
                return True, 0, (note + "; " if note else "") + "offline plaintext PIN verified"
            if resp.sw in (0x6983, 0x63C0):
                return False, 0x20, "PIN try limit exceeded at VERIFY"
            return False, 0, f"PIN refused ({resp.sw:04X})"

        result = cvm.process(cvm_list, amount_minor, perform)
        self.tsi[0] |= 0x40
        self.cvm_results = result.results
        for note in result.notes:
            self._step(f"CVM: {note}")
        for bit, why in ((0x80, "cardholder verification was not successful"),
                         (0x40, "unrecognised CVM"), (0x20, "PIN try limit exceeded")):
            if result.tvr_byte3 & bit:
                self.tvr.set(3, bit, why)

    def _risk(self, f: dict[int, bytes], amount: int) -> None:
        """Terminal risk management: floor limit, random selection, velocity checking."""
        cfg = self.cfg
        if amount > cfg.floor_limit:
            self.tvr.set(4, 0x80, f"amount {amount} above the floor limit {cfg.floor_limit}")
        elif cfg.random_max > 0:
            draw = 1 + self.rng(1)[0] % 99  # 1..99
            if amount < cfg.random_threshold:
                percent = cfg.random_target
            else:
                span = max(1, cfg.floor_limit - cfg.random_threshold)
                percent = cfg.random_target + (cfg.random_max - cfg.random_target) * (
                    amount - cfg.random_threshold) // span
            if draw <= percent:
                self.tvr.set(4, 0x10, f"selected randomly for online processing ({draw} <= "
                             f"{percent}%)")
        lower, upper = f.get(0x9F14), f.get(0x9F23)
        if lower is not None and upper is not None and len(lower) == 1 and len(upper) == 1:
            atc_r = self.ex.transmit(apdus.get_data(0x9F36))
            last_r = self.ex.transmit(apdus.get_data(0x9F13))
            if (not atc_r.ok or not last_r.ok or len(atc_r.data) != 5
                    or len(last_r.data) != 5):
                self.tvr.set(1, 0x20, "ICC data missing: ATC or last online ATC")
                self.tvr.set(4, 0x40, "lower consecutive offline limit (counters unreadable)")
                self.tvr.set(4, 0x20, "upper consecutive offline limit (counters unreadable)")
            else:
                atc = int.from_bytes(atc_r.data[3:], "big")
                last = int.from_bytes(last_r.data[3:], "big")
                offline = atc - last
                self._step(f"velocity: ATC {atc}, last online ATC {last}, {offline} offline")
                if last == 0:
                    self.tvr.set(2, 0x08, "new card (last online ATC 0)")
                if offline > lower[0]:
                    self.tvr.set(4, 0x40, f"{offline} consecutive offline transactions > "
                                 f"lower limit {lower[0]}")
                if offline > upper[0]:
                    self.tvr.set(4, 0x20, f"{offline} consecutive offline transactions > "
                                 f"upper limit {upper[0]}")
        self.tsi[0] |= 0x08

    def _action_analysis(self, f: dict[int, bytes]) -> int:
        iac_denial = f.get(0x9F0E, bytes(5))
        iac_online = f.get(0x9F0F, b"\xFF" * 5)
        denial = bytes(a | b for a, b in zip(self.cfg.tac_denial, iac_denial, strict=True))
        online = bytes(a | b for a, b in zip(self.cfg.tac_online, iac_online, strict=True))
        if self.tvr.hits(denial):
            self._step(f"action analysis: TVR {self.tvr.hex()} hits denial codes: ask AAC")
            return 0x00
        if self.cfg.online and self.tvr.hits(online):
            self._step(f"action analysis: TVR {self.tvr.hex()} hits online codes: ask ARQC")
            return 0x80
        self._step(f"action analysis: TVR {self.tvr.hex()}: ask TC (offline approval)")
        return 0x40

    def _generate(self, card: reader.SavingsData, f: dict[int, bytes],
                  icc: tuple[bytes, bytes] | None, requested: int, amount: int,
                  date: str) -> EmvOutcome:
        un = self.rng(4)
        values = dict(reader.TERMINAL_DATA)
        values.update({0x9F02: bytes.fromhex(f"{amount * AMOUNT_SCALE:012d}"),
                       0x9F03: bytes(6), 0x95: bytes(self.tvr.value), 0x9A: bytes.fromhex(date),
                       0x9C: b"\x00", 0x9F37: un})
        cdol1 = reader.dol_data(card.cdol1, values)
        cda = icc is not None and requested != 0x00
        p1 = requested | (0x10 if cda else 0)
        resp = self.ex.transmit(apdus.generate_ac(p1, cdol1))
        if not resp.ok:
            return self._out("TERMINATED", f"card refused GENERATE AC ({resp.sw:04X})")
        first = parse_tlv(resp.data)
        cid = as_int(first.get(0x9F27, b""), "CID", 1)
        atc = as_int(first.get(0x9F36, b""), "ATC", 2)
        ac = first.get(0x9F26)
        self.iad = first.get(0x9F10, b"")
        self._step(f"GENERATE AC P1 {p1:02X}: card answered CID {cid:02X}, ATC {atc}")
        if cda and cid & 0xC0:
            ac = self._check_cda(resp.data, icc, card.pdol_data + cdol1, un, cid)
            if ac is None:
                if cid & 0xC0 == 0x80:
                    self._second(card, f, cdol1, un, b"Z3", bytes(8), 0x00)
                return self._out("DECLINED OFFLINE", "CDA failed", cid=cid, oda=self.oda)
        if cid & 0xC0 == 0x00:
            why = "terminal asked AAC" if requested == 0x00 else "card declined (AAC)"
            return self._out("DECLINED OFFLINE" if requested == 0x00 else "DECLINED BY CARD",
                             why, cid=cid, oda=self.oda)
        if cid & 0xC0 == 0x40:
            return self._out("APPROVED OFFLINE", "card accepted offline (TC)", cid=cid,
                             oda=self.oda)
        return self._online(card, f, cdol1, un, atc, ac or b"", amount, cid)

    def _check_cda(self, raw: bytes, icc: tuple[bytes, bytes] | None, signed_data: bytes,
                   un: bytes, cid: int) -> bytes | None:
        try:
            items = tlv.decode_one(raw).children
        except KksError as exc:
            raise CardResponseError(f"malformed GENERATE AC answer: {exc}") from None
        by = {i.tag: i.value for i in items}
        if 0x9F4B not in by or icc is None:
            self.tvr.set(1, 0x04, "CDA failed: no signed dynamic data in the answer")
            return None
        try:
            dd = oda.verify_dynamic(icc, by[0x9F4B], un)
            n = dd[0]
            if len(dd) < n + 30 or dd[1 + n] != cid:
                raise oda.OdaError("CDA: CID in the signature differs from 9F27")
            others = b"".join(tlv.encode(i.tag, i.value) for i in items if i.tag != 0x9F4B)
            if _sha1(signed_data + others) != dd[10 + n:30 + n]:
                raise oda.OdaError("CDA: transaction data hash mismatch")
        except oda.OdaError as exc:
            self.tvr.set(1, 0x04, f"CDA failed: {exc}")
            return None
        self._step("CDA: signature verified, cryptogram recovered")
        return dd[2 + n:10 + n]

    def _second(self, card: reader.SavingsData, f: dict[int, bytes], cdol1: bytes, un: bytes,
                arc: bytes, arpc: bytes, p1: int) -> tuple[int, bytes]:
        values = {0x8A: arc, 0x91: arpc + arc, 0x95: bytes(self.tvr.value), 0x9F37: un}
        cdol2 = reader.dol_data(card.cdol2, values)
        resp = self.ex.transmit(apdus.generate_ac(p1, cdol2))
        if not resp.ok:
            return -1, resp.data
        cid2 = as_int(parse_tlv(resp.data).get(0x9F27, b""), "CID", 1)
        self._step(f"second GENERATE AC P1 {p1:02X}: card answered CID {cid2:02X}")
        return cid2, resp.data

    def _scripts(self, templates: list[bytes], tag: int, results: bytearray) -> None:
        for raw in templates:
            try:
                item = tlv.decode_one(raw)
            except KksError:
                continue
            if item.tag != tag:
                continue
            sid = next((c.value for c in item.children if c.tag == 0x9F18), bytes(4))
            status = 0x20
            for n, c in enumerate((c for c in item.children if c.tag == 0x86), start=1):
                r = self.ex.transmit(c.value)
                self._step(f"issuer script {sid.hex().upper()} command {n}: "
                           f"{c.value[:4].hex().upper()} -> {r.sw:04X}")
                if r.sw >> 8 not in (0x90, 0x62, 0x63):
                    status = 0x10 | min(n, 15)
                    self.tvr.set(5, 0x20 if tag == 0x71 else 0x10,
                                 f"issuer script failed {'before' if tag == 0x71 else 'after'}"
                                 " the final GENERATE AC")
                    break
            results += bytes((status,)) + sid[:4].rjust(4, b"\x00")
            self.tsi[0] |= 0x04

    def _online(self, card: reader.SavingsData, f: dict[int, bytes], cdol1: bytes, un: bytes,
                atc: int, ac: bytes, amount: int, cid: int) -> EmvOutcome:
        data = cdol1 + card.aip + atc.to_bytes(2, "big") + self.iad[2:]
        key = f"arqc:{card.pan}:{card.psn}:{atc}"
        try:
            auth = self.issuer.call("authorise_purchase", key, {
                "pan": card.pan, "psn": card.psn, "atc": atc, "arqc": ac.hex().upper(),
                "data": data.hex().upper(), "amount": amount,
                "merchant": self.merchant})
        except KksError as exc:
            self._step(f"online authorisation impossible: {exc}")
            default = bytes(a | b for a, b in zip(self.cfg.tac_default,
                                                  f.get(0x9F0D, b"\xFF" * 5), strict=True))
            p1 = 0x00 if self.tvr.hits(default) else 0x40
            cid2, _ = self._second(card, f, cdol1, un, b"Z3", bytes(8), p1)
            if cid2 >= 0 and cid2 & 0xC0 == 0x40:
                return self._out("APPROVED OFFLINE", "unable to go online; card accepted",
                                 cid=cid2, oda=self.oda)
            return self._out("DECLINED OFFLINE", "unable to go online", cid=cid2, oda=self.oda)
        self.tsi[0] |= 0x10
        arc = str(auth.get("arc", "05")).encode()[:2].ljust(2, b"0")
        arpc = bytes.fromhex(auth["arpc"]) if auth.get("arpc") else bytes(8)
        approved = bool(auth.get("approved"))
        templates = [bytes.fromhex(h) for h in auth.get("scripts", []) or []]
        results = bytearray()
        self._scripts(templates, 0x71, results)
        cid2, _ = self._second(card, f, cdol1, un, arc, arpc, 0x40 if approved else 0x00)
        self._scripts(templates, 0x72, results)
        journal = auth.get("journal")
        common = {"cid": cid2, "arc": arc.decode(), "oda": self.oda,
                  "script_results": results.hex().upper()}
        if approved and cid2 & 0xC0 == 0x40:
            return self._out("APPROVED ONLINE", str(auth.get("reason")), journal=journal,
                             **common)
        if approved:
            self.issuer.call("reverse", f"reverse:{key}", {
                "journal": journal, "memo": "card declined after issuer approval"})
            return self._out("DECLINED BY CARD", "card declined after issuer approval",
                             **common)
        return self._out("DECLINED ONLINE", f"issuer: {auth.get('reason')}", **common)
