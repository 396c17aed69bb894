"""EMV Book 2 symmetric cryptography: key derivation, MAC algorithm 3, ARQC and ARPC method 1.

- ICC master key: EMV Book 2 Annex A1.4.1 option A. Y is the rightmost 16 digits of PAN || PSN
  (PSN as two digits, left-padded with zeros when shorter), ZL = 3DES(IMK, Y),
  ZR = 3DES(IMK, Y xor FF..FF), MK = ZL || ZR with DES odd parity set.
- Session key: EMV common session key derivation (Book 2 A1.3.1) with R = ATC || 00*6:
  SK = 3DES(MK, ATC || F0 || 00*5) || 3DES(MK, ATC || 0F || 00*5).
- MAC: ISO/IEC 9797-1 MAC algorithm 3 (retail MAC), padding method 2, 8-byte result.
- ARPC method 1 (Book 2 8.2.1): ARPC = 3DES(SK, ARQC xor (ARC || 00*6)).
"""

from __future__ import annotations

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from kks_emulator.crypto import ct
from kks_emulator.errors import InputError


def _check_key(key: bytes) -> None:
    if len(key) != 16:
        raise InputError(f"double-length DES key expected, got {len(key)} bytes")


def tdes_ecb_encrypt(key16: bytes, block: bytes) -> bytes:
    """Two-key triple DES (EDE) ECB encryption of whole 8-byte blocks."""
    _check_key(key16)
    enc = Cipher(TripleDES(key16 + key16[:8]), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def tdes_ecb_decrypt(key16: bytes, block: bytes) -> bytes:
    """Two-key triple DES (EDE) ECB decryption of whole 8-byte blocks."""
    _check_key(key16)
    dec = Cipher(TripleDES(key16 + key16[:8]), modes.ECB()).decryptor()
    return dec.update(block) + dec.finalize()


def des_ecb_encrypt(key8: bytes, block: bytes) -> bytes:
    """Single DES ECB encryption (as 3DES with K1=K2=K3)."""
    enc = Cipher(TripleDES(key8 * 3), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def des_ecb_decrypt(key8: bytes, block: bytes) -> bytes:
    """Single DES ECB decryption."""
    dec = Cipher(TripleDES(key8 * 3), modes.ECB()).decryptor()
    return dec.update(block) + dec.finalize()


def adjust_parity(key: bytes) -> bytes:
    """Set odd parity in the low bit of every byte (DES convention)."""
    out = bytearray()
    for b in key:
        b &= 0xFE
        out.append(b | (0 if bin(b).count("1") % 2 else 1))
    return bytes(out)


def pad_method2(data: bytes, block: int = 8) -> bytes:
    """ISO/IEC 9797-1 padding method 2: append 80 then 00s to a multiple of the block size."""
    data = bytes(data) + b"\x80"
    return data + b"\x00" * (-len(data) % block)


def mac_alg3(key16: bytes, data: bytes) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 with single-DES CBC under KL, final D(KR) then E(KL)."""
    _check_key(key16)
    kl, kr = key16[:8], key16[8:]
    padded = pad_method2(data)
    enc = Cipher(TripleDES(kl * 3), modes.CBC(bytes(8))).encryptor()
    last = (enc.update(padded) + enc.finalize())[-8:]
    return des_ecb_encrypt(kl, des_ecb_decrypt(kr, last))


def pan_psn_block(pan: str, psn: int) -> bytes:
    """The 8-byte Y of option A: rightmost 16 digits of PAN || PSN (two digits), zero padded."""
    if not pan.isdigit() or not 0 <= psn <= 99:
        raise InputError(f"PAN must be digits and PSN 0..99 (got {pan!r}, {psn})")
    digits = (pan + f"{psn:02d}")[-16:].rjust(16, "0")
    return bytes.fromhex(digits)


def derive_icc_master_key(imk: bytes, pan: str, psn: int) -> bytes:
    """ICC master key from the issuer master key, PAN and PSN (EMV option A)."""
    y = pan_psn_block(pan, psn)
    zl = tdes_ecb_encrypt(imk, y)
    zr = tdes_ecb_encrypt(imk, bytes(b ^ 0xFF for b in y))
    return adjust_parity(zl + zr)


def derive_session_key(mk: bytes, atc: int) -> bytes:
    """EMV common session key (Book 2 A1.3.1) for the given 2-byte ATC."""
    if not 0 <= atc <= 0xFFFF:
        raise InputError(f"ATC {atc} is not 2 bytes")
    a = atc.to_bytes(2, "big")
    left = tdes_ecb_encrypt(mk, a + b"\xF0" + bytes(5))
    right = tdes_ecb_encrypt(mk, a + b"\x0F" + bytes(5))
    return left + right


def compute_arqc(session_key: bytes, data: bytes) -> bytes:
    """Application cryptogram (ARQC, TC or AAC): MAC algorithm 3 over the transaction data."""
    return mac_alg3(session_key, data)


def verify_arqc(session_key: bytes, data: bytes, arqc: bytes) -> bool:
    """Constant-time check of a cryptogram."""
    return ct.equal(compute_arqc(session_key, data), arqc)


def compute_arpc(session_key: bytes, arqc: bytes, arc: bytes) -> bytes:
    """ARPC method 1: 3DES(SK, ARQC xor (ARC || 00*6))."""
    if len(arqc) != 8 or len(arc) != 2:
        raise InputError("ARQC must be 8 bytes and ARC 2 bytes")
    x = bytes(a ^ b for a, b in zip(arqc, bytes(arc) + bytes(6), strict=True))
    return tdes_ecb_encrypt(session_key, x)


def verify_arpc(session_key: bytes, arqc: bytes, arc: bytes, arpc: bytes) -> bool:
    """Constant-time check of an ARPC (method 1)."""
    return ct.equal(compute_arpc(session_key, arqc, arc), arpc)


#: Length of the MAC that ends every issuer script command (secure messaging).
SCRIPT_MAC_LEN = 8


def sm_session_key(mk: bytes, ac: bytes) -> bytes:
    """Secure-messaging session key: common session key derivation (EMV Book 2 A1.3) with R =
    the 8-byte application cryptogram, `3DES(MK, R0 R1 F0 R3..R7) || 3DES(MK, R0 R1 0F R3..R7)`."""
    if len(ac) != 8:
        raise InputError("the secure-messaging session key needs the 8-byte cryptogram")
    left = tdes_ecb_encrypt(mk, ac[:2] + b"\xF0" + ac[3:8])
    right = tdes_ecb_encrypt(mk, ac[:2] + b"\x0F" + ac[3:8])
    return left + right


def script_mac_input(cmd_header: bytes, atc: int, ac: bytes, data: bytes) -> bytes:
    """What an issuer script command's MAC covers: CLA INS P1 P2 Lc, ATC, AC, data before the
    MAC (EMV Book 2 §9.2)."""
    return cmd_header + atc.to_bytes(2, "big") + ac + data
