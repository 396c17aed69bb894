"""Command APDUs the EDC sends to a KKS (docs/card.md), built in one place."""

from __future__ import annotations

import struct

from kks_emulator.pinblock import plain_pin_block

SAVINGS_AID = bytes.fromhex("A0000006021010")
PURSE_AID = bytes.fromhex("F0") + b"KKSPURSE"
PSE = b"1PAY.SYS.DDF01"
PPSE = b"2PAY.SYS.DDF01"


def select(name: bytes) -> bytes:
    """SELECT by DF name, first occurrence, FCI requested."""
    return bytes([0x00, 0xA4, 0x04, 0x00, len(name)]) + name + b"\x00"


def read_record(sfi: int, record: int) -> bytes:
    """READ RECORD of `record` in short file `sfi`."""
    return bytes([0x00, 0xB2, record, (sfi << 3) | 4, 0x00])


def get_processing_options(pdol_data: bytes = b"") -> bytes:
    """GET PROCESSING OPTIONS with the PDOL data in template 83 (83 00 without a PDOL)."""
    body = bytes((0x83, len(pdol_data))) + pdol_data
    return bytes((0x80, 0xA8, 0x00, 0x00, len(body))) + body + b"\x00"


def internal_authenticate(ddol_data: bytes) -> bytes:
    """INTERNAL AUTHENTICATE (DDA) with the DDOL data."""
    return bytes((0x00, 0x88, 0x00, 0x00, len(ddol_data))) + ddol_data + b"\x00"



def verify_pin(pin: str) -> bytes:
    """VERIFY with a plaintext PIN block (P2 = 80)."""
    return bytes.fromhex("0020008008") + plain_pin_block(pin)


def generate_ac(p1: int, cdol_data: bytes) -> bytes:
    """GENERATE AC: P1 80 ARQC, 40 TC, 00 AAC."""
    return bytes([0x80, 0xAE, p1, 0x00, len(cdol_data)]) + cdol_data + b"\x00"


def get_data(tag: int) -> bytes:
    """GET DATA for a two-byte tag."""
    return bytes([0x80, 0xCA, tag >> 8, tag & 0xFF, 0x00])


def get_balance() -> bytes:
    """Purse GET BALANCE (4 bytes)."""
    return bytes.fromhex("805C000204")


def get_certificate() -> bytes:
    """Purse GET CERTIFICATE."""
    return bytes.fromhex("805A000000")


def initialize_for_load(amount: int, terminal_id: bytes, time: int) -> bytes:
    """Purse INITIALIZE FOR LOAD: amount(4) terminal id(8) time(4)."""
    return b"\x80\x50\x00\x00\x10" + struct.pack(">I8sI", amount, terminal_id, time) + b"\x00"


def credit_for_load(s2: bytes) -> bytes:
    """Purse CREDIT FOR LOAD with the issuer's S2."""
    return b"\x80\x52\x00\x00\x08" + s2 + b"\x00"


def purchase(amount: int, terminal_id: bytes, nonce: bytes, time: int) -> bytes:
    """Purse PURCHASE: amount(4) terminal id(8) nonce(8) time(4)."""
    return b"\x80\x54\x00\x00\x18" + struct.pack(">I8s8sI", amount, terminal_id, nonce,
                                                   time) + b"\x00"
