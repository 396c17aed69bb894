"""Card profile, personalisation and the decoded static data a powered card keeps in RAM.

`personalize(store, profile, issuer_keys)` is the perso bureau: it writes every persistent record
in one NVM transaction and closes personalisation (a personalised store cannot be personalised
again, and the card offers no personalisation INS at all).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from kks_emulator.card import nvm, records
from kks_emulator.card.store import Store
from kks_emulator.crypto import oda, purse, rsa
from kks_emulator.crypto.rsa import RsaKey
from kks_emulator.errors import CardError, InputError
from kks_emulator.keys import IssuerKeys, card_id, card_signing_key_for_tests
from kks_emulator.policy import BI_2022_07, EmoneyPolicy

STATIC_VERSION = 1
LOG_SIZE_MAX = 50
#: AIP byte 1 per ODA choice (EMV Book 3 Annex C1): 40 SDA, 20 DDA, 01 CDA, plus 10 cardholder
#: verification and 08 terminal risk management ("none" is the AIP 1800 of the first KKS cards);
#: the ODA cards also announce 04 issuer authentication.
ODA_METHODS = {"none": 0x18, "sda": 0x5C, "dda": 0x7C, "cda": 0x7D}
#: Deliberate ODA defects: "sda-corrupt" (a byte of the signed static data 93 flipped),
#: "cda-wrong" (the CDA signature covers a wrong transaction data hash), "issuer-expired"
#: (issuer certificate expired 12/24), "issuer-revoked" (issuer certificate serial on the test
#: revocation list).
ODA_FAULTS = frozenset({"", "sda-corrupt", "cda-wrong", "issuer-expired", "issuer-revoked"})
GAC_POLICIES = ("online", "offline", "decline")
#: Issuer certificate expiry (MMYY) and serial of the test issuers, normal and deck variants.
ISSUER_CERT_EXPIRY = "1235"
ISSUER_CERT_EXPIRED = "1224"
ISSUER_CERT_SERIAL = bytes.fromhex("000001")
ISSUER_CERT_REVOKED_SERIAL = bytes.fromhex("0000DE")


@dataclass(frozen=True)
class CardProfile:
    """What the issuer personalises into one KKS card.

    pin_threshold: purchases of at least this many rupiah need a verified PIN (0 = always, the
    BPNT default). initial_atc / initial_counter let a re-issued or test card start its EMV ATC
    and purse counter elsewhere than 0. test_mode makes the card's ECDSA key deterministic.
    """

    bank: str
    pan: str
    pin: str
    psn: int = 1
    name: str = "KPM TEST"
    expiry: str = "3012"  # YYMM
    effective: str = "2501"  # YYMM
    pin_try_limit: int = 3
    pin_threshold: int = 0
    policy: EmoneyPolicy = field(default_factory=lambda: BI_2022_07.with_registered(True))
    log_size: int = 10
    initial_atc: int = 0
    initial_counter: int = 0
    country: str = "0360"
    currency: str = "0360"
    test_mode: bool = False
    #: offline data authentication the savings AIP announces: "cda" (SDA, DDA and CDA), "dda"
    #: (SDA and DDA), "sda" or "none"
    oda: str = "cda"
    #: a deliberate ODA defect for test-deck cards (see ODA_FAULTS)
    oda_fault: str = ""
    #: card risk management of the first GENERATE AC: "online" (TC or ARQC asked: ARQC),
    #: "offline" (a TC asked for is granted), "decline" (always AAC)
    gac_policy: str = "online"
    #: the savings CVM list (8E) as hex: X amount, Y amount, CV rules
    cvm_list: str = "00000000000000000100"
    #: lower and upper consecutive offline limits (9F14, 9F23) as 4 hex digits, "" = none
    offline_limits: str = ""

    def validate(self) -> None:
        """Raise `InputError` for any field a card cannot hold."""
        card_id(self.pan, self.psn)
        if self.oda not in ODA_METHODS:
            raise InputError(f"oda must be one of {sorted(ODA_METHODS)}, got {self.oda!r}")
        if self.oda_fault not in ODA_FAULTS:
            raise InputError(f"oda_fault must be one of {sorted(ODA_FAULTS)}")
        if self.gac_policy not in GAC_POLICIES:
            raise InputError(f"gac_policy must be one of {GAC_POLICIES}")
        try:
            cvm = bytes.fromhex(self.cvm_list)
        except ValueError:
            raise InputError("cvm_list must be hex") from None
        if len(cvm) < 10 or len(cvm) % 2 or len(cvm) > 40:
            raise InputError("cvm_list is X(4) Y(4) then 1..16 two-byte CV rules")
        if self.offline_limits and (len(self.offline_limits) != 4 or any(
                c not in "0123456789abcdefABCDEF" for c in self.offline_limits)):
            raise InputError("offline_limits is 4 hex digits: lower (9F14) and upper (9F23)")
        if len(self.pin) != 6 or not self.pin.isdigit():
            raise InputError("the KKS PIN has exactly 6 digits")
        for label, v in (("expiry", self.expiry), ("effective", self.effective)):
            if len(v) != 4 or not v.isdigit() or not 1 <= int(v[2:]) <= 12:
                raise InputError(f"{label} must be YYMM, got {v!r}")
        if not 1 <= self.pin_try_limit <= 15:
            raise InputError("pin_try_limit must be 1..15")
        if not 1 <= self.log_size <= LOG_SIZE_MAX:
            raise InputError(f"log_size must be 1..{LOG_SIZE_MAX}")
        if not 0 <= self.initial_atc <= 0xFFFF or not 0 <= self.initial_counter <= 0xFFFFFFFF:
            raise InputError("initial ATC / counter out of range")
        if not 0 <= self.pin_threshold <= 0xFFFFFFFF:
            raise InputError("pin_threshold out of range")
        try:
            name = self.name.encode("ascii")
        except UnicodeEncodeError:
            raise InputError("cardholder name must be ASCII") from None
        if not 2 <= len(name) <= 26 or len(self.bank) > 4 or not self.bank.isascii():
            raise InputError("name must be 2..26 chars and bank at most 4 ASCII chars")


@dataclass(frozen=True)
class StaticData:
    """The personalised, read-only part of the card, decoded once per power-on."""

    bank: str
    pan: str
    psn: int
    name: str
    expiry: str
    effective: str
    pin_threshold: int
    policy: EmoneyPolicy
    log_size: int
    country: str
    currency: str
    card_id: bytes
    mk_ac: bytes
    mk_smi: bytes
    load_key: bytes
    record_key: bytes
    sign_key: ec.EllipticCurvePrivateKey
    certificate: bytes
    test_mode: bool
    aip: bytes = bytes.fromhex("1800")
    mk_smc: bytes = b""
    cvm_list: bytes = bytes.fromhex("00000000000000000100")
    offline_limits: bytes = b""
    gac_policy: str = "online"
    oda_fault: str = ""
    ca_index: int = 0
    issuer_cert: bytes = b""
    issuer_rem: bytes = b""
    issuer_exp: bytes = b""
    icc_cert: bytes = b""
    icc_rem: bytes = b""
    icc_exp: bytes = b""
    ssad: bytes = b""
    icc_key: RsaKey | None = None


def _policy_json(p: EmoneyPolicy) -> dict:
    d = asdict(p)
    d["effective_from"] = p.effective_from.isoformat()
    return d


def _policy_from_json(d: dict) -> EmoneyPolicy:
    import datetime as dt
    d = dict(d)
    d["effective_from"] = dt.date.fromisoformat(d["effective_from"])
    return EmoneyPolicy(**d)


def encode_static(profile: CardProfile, keys: IssuerKeys, sign_key: ec.EllipticCurvePrivateKey,
                  record_key: bytes) -> bytes:
    """The JSON payload of the static record."""
    ck = keys.card_keys(profile.pan, profile.psn)
    cert = purse.issue_certificate(keys.ca_key, profile.bank, ck.card_id, profile.expiry,
                                   sign_key.public_key())
    scalar = sign_key.private_numbers().private_value.to_bytes(32, "big")
    doc = {
        "v": STATIC_VERSION, "bank": profile.bank, "pan": profile.pan, "psn": profile.psn,
        "name": profile.name, "expiry": profile.expiry, "effective": profile.effective,
        "pin_threshold": profile.pin_threshold, "policy": _policy_json(profile.policy),
        "log_size": profile.log_size, "country": profile.country, "currency": profile.currency,
        "mk_ac": ck.mk_ac.hex(), "mk_smi": ck.mk_smi.hex(), "mk_smc": ck.mk_smc.hex(),
        "load_key": ck.load_key.hex(),
        "record_key": record_key.hex(), "sign_key": scalar.hex(), "certificate": cert.hex(),
        "test_mode": profile.test_mode, "aip": f"{ODA_METHODS[profile.oda]:02X}00",
        "cvm_list": profile.cvm_list.upper(), "gac_policy": profile.gac_policy,
        "offline_limits": profile.offline_limits.upper(),
        "oda_fault": profile.oda_fault,
    }
    if profile.oda != "none":
        doc["oda"] = _oda_fields(profile, keys, decode_static(json.dumps(doc).encode()))
    return json.dumps(doc, sort_keys=True).encode()


def _oda_fields(profile: CardProfile, keys: IssuerKeys, st: StaticData) -> dict:
    """The RSA chain of a card (EMV Book 2): CA -> issuer certificate -> ICC certificate, the
    signed static data, and the ICC key, with the profile's deliberate defect if any."""
    from kks_emulator.card.apps import savings

    ca = rsa.test_ca_key(oda.TEST_CA_INDEX)
    issuer = keys.rsa
    if issuer is None:
        raise InputError(f"issuer {keys.bank} has no RSA key: personalise with oda='none'")
    expiry = ISSUER_CERT_EXPIRED if profile.oda_fault == "issuer-expired" else ISSUER_CERT_EXPIRY
    serial = (ISSUER_CERT_REVOKED_SERIAL if profile.oda_fault == "issuer-revoked"
              else ISSUER_CERT_SERIAL)
    issuer_cert, issuer_rem = oda.issuer_certificate(ca, issuer, oda.issuer_id(profile.pan),
                                                     expiry, serial)
    if profile.test_mode:
        icc = rsa.test_icc_key(profile.bank, profile.pan, profile.psn)
    else:
        icc = rsa.generate(1024)
    static = savings.oda_static_data(st)
    card_expiry = profile.expiry[2:] + profile.expiry[:2]  # YYMM -> MMYY
    icc_serial = hashlib.sha256(f"ICC-SERIAL|{profile.pan}|{profile.psn}".encode()).digest()[:3]
    icc_cert, icc_rem = oda.icc_certificate(issuer, icc, profile.pan, card_expiry, icc_serial,
                                            static)
    dac = hashlib.sha256(f"DAC|{profile.pan}|{profile.psn}".encode()).digest()[:2]
    ssad = oda.signed_static_data(issuer, dac, static)
    if profile.oda_fault == "sda-corrupt":
        ssad = ssad[:-1] + bytes((ssad[-1] ^ 0x01,))
    return {"ca_index": oda.TEST_CA_INDEX, "issuer_cert": issuer_cert.hex(),
            "issuer_rem": issuer_rem.hex(), "issuer_exp": issuer.exponent.hex(),
            "icc_cert": icc_cert.hex(), "icc_rem": icc_rem.hex(), "icc_exp": icc.exponent.hex(),
            "ssad": ssad.hex(), "icc_key": icc.to_json()}


def decode_static(payload: bytes) -> StaticData:
    """Parse the static record payload (already integrity-checked)."""
    d = json.loads(payload)
    if d.get("v") != STATIC_VERSION:
        raise nvm.IntegrityError("static record has an unknown version")
    scalar = int(d["sign_key"], 16)
    return StaticData(
        bank=d["bank"], pan=d["pan"], psn=d["psn"], name=d["name"], expiry=d["expiry"],
        effective=d["effective"], pin_threshold=d["pin_threshold"],
        policy=_policy_from_json(d["policy"]), log_size=d["log_size"], country=d["country"],
        currency=d["currency"], card_id=card_id(d["pan"], d["psn"]),
        mk_ac=bytes.fromhex(d["mk_ac"]), mk_smi=bytes.fromhex(d["mk_smi"]),
        load_key=bytes.fromhex(d["load_key"]), record_key=bytes.fromhex(d["record_key"]),
        sign_key=ec.derive_private_key(scalar, ec.SECP256R1()),
        certificate=bytes.fromhex(d["certificate"]), test_mode=d["test_mode"],
        aip=bytes.fromhex(d.get("aip", "1800")), mk_smc=bytes.fromhex(d.get("mk_smc", "")),
        cvm_list=bytes.fromhex(d.get("cvm_list", "00000000000000000100")),
        gac_policy=d.get("gac_policy", "online"), oda_fault=d.get("oda_fault", ""),
        offline_limits=bytes.fromhex(d.get("offline_limits", "")),
        **_decode_oda(d.get("oda")),
    )


def _decode_oda(o: dict | None) -> dict:
    if not o:
        return {}
    return {"ca_index": o["ca_index"], "icc_key": RsaKey.from_json(o["icc_key"]),
            **{k: bytes.fromhex(o[k]) for k in ("issuer_cert", "issuer_rem", "issuer_exp",
                                               "icc_cert", "icc_rem", "icc_exp", "ssad")}}


def pin_bcd(pin: str) -> bytes:
    """6 PIN digits as 3 BCD bytes."""
    return bytes.fromhex(pin)


def personalize(store: Store, profile: CardProfile, issuer_keys: IssuerKeys) -> None:
    """Write a fresh card's persistent state in one transaction and close personalisation."""
    profile.validate()
    if issuer_keys.bank != profile.bank:
        raise InputError(f"issuer keys are {issuer_keys.bank}'s, profile is {profile.bank}'s")
    nvm.recover(store)
    if store.read(records.STATIC):
        raise CardError("card is already personalised (personalisation is closed)")
    if profile.test_mode:
        sign_key = card_signing_key_for_tests(profile.bank, profile.pan, profile.psn)
        record_key = purse.cmac(issuer_keys.purse_master, b"KKS-TEST-RECORD" +
                                card_id(profile.pan, profile.psn))
    else:
        sign_key = ec.generate_private_key(ec.SECP256R1())
        record_key = secrets.token_bytes(16)
    static = encode_static(profile, issuer_keys, sign_key, record_key)
    pin = records.PinRecord(profile.pin_try_limit, profile.pin_try_limit, pin_bcd(profile.pin))
    emv = records.EmvRecord(profile.initial_atc, profile.initial_atc, 0)
    wallet = records.PurseRecord(0, profile.initial_counter, 0, 0, 0, 0)
    nvm.commit(store, {
        records.STATIC: nvm.seal(records.STATIC, static),
        records.PIN: nvm.seal(records.PIN, pin.encode(), record_key),
        records.EMV: nvm.seal(records.EMV, emv.encode(), record_key),
        records.PURSE: nvm.seal(records.PURSE, wallet.encode(), record_key),
    })
