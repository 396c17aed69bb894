"""Known-answer tests: EMV ARQC/ARPC recomputed independently, purse MACs, ECDSA and records.

The EMV functions below are written out here with raw DES/3DES-ECB primitives from
`cryptography`, without calling `kks_emulator.crypto.emv`, so the card's cryptograms are checked
by a second implementation of EMV Book 2.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kks_emulator import tlv
from kks_emulator.card import MemoryStore
from kks_emulator.crypto import emv, purse
from kks_emulator.keys import IssuerKeys, card_signing_key_for_tests

from .helpers import CARD_KEYS, CDOL1_DATA, PAN, fresh_store, powered

# ---- an independent EMV Book 2 implementation -------------------------------------------------


def _e(key: bytes, block: bytes) -> bytes:
    k = key + key[:8] if len(key) == 16 else key * 3
    enc = Cipher(TripleDES(k), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def _d(key8: bytes, block: bytes) -> bytes:
    dec = Cipher(TripleDES(key8 * 3), modes.ECB()).decryptor()
    return dec.update(block) + dec.finalize()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def ind_mk(imk: bytes, pan: str, psn: int) -> bytes:
    y = bytes.fromhex((pan + f"{psn:02d}")[-16:])
    raw = _e(imk, y) + _e(imk, _xor(y, b"\xFF" * 8))
    return bytes((b & 0xFE) | (bin(b & 0xFE).count("1") % 2 == 0) for b in raw)


def ind_sk(mk: bytes, atc: int) -> bytes:
    a = atc.to_bytes(2, "big")
    return _e(mk, a + b"\xF0" + bytes(5)) + _e(mk, a + b"\x0F" + bytes(5))


def ind_mac(key: bytes, data: bytes) -> bytes:
    data = data + b"\x80"
    data += bytes(-len(data) % 8)
    h = bytes(8)
    for i in range(0, len(data), 8):
        h = _e(key[:8], _xor(h, data[i:i + 8]))
    return _e(key[:8], _d(key[8:], h))


def ind_arpc(sk: bytes, arqc: bytes, arc: bytes) -> bytes:
    return _e(sk, _xor(arqc, arc + bytes(6)))


# ---- KATs (values also published in docs/card.md) --------------------------------------------

KEYS = IssuerKeys.test_issuer("BRI")
ARQC_INPUT = bytes.fromhex("00000001000000000000000003600000000000036026112400112233441800000180"
                           "800300")


def test_test_issuer_keys_are_the_documented_ones():
    assert KEYS.imk_ac.hex().upper() == "0E0D6DDAD08F8620CDECFB26DC645BFB"
    assert KEYS.imk_smi.hex().upper() == "45BCC7A8B0FE041A89613E10641620A8"
    assert KEYS.purse_master.hex().upper() == "D02734825E6584A12315247DD48B75D1"
    assert KEYS.ca_key.private_numbers().private_value == int(
        "D6E52B44D45331F0CC5EB13EFE8CA71C981207AA69720F83C56C778FCE998053", 16)


def test_kat_master_and_session_keys():
    mk = ind_mk(KEYS.imk_ac, PAN, 1)
    assert mk.hex().upper() == "6B38ABF2F74C15C1E962459725E35285"
    assert emv.derive_icc_master_key(KEYS.imk_ac, PAN, 1) == mk
    assert ind_mk(KEYS.imk_smi, PAN, 1).hex().upper() == "D9C18529A17AFD37620E07A1B562041C"
    sk = ind_sk(mk, 1)
    assert sk.hex().upper() == "763B2A10C2E7C7FB2A1B3E098F78EDA2"
    assert emv.derive_session_key(mk, 1) == sk


def test_kat_arqc_arpc():
    sk = ind_sk(ind_mk(KEYS.imk_ac, PAN, 1), 1)
    arqc = ind_mac(sk, ARQC_INPUT)
    assert arqc.hex().upper() == "C1622398DEA11C3A"
    assert emv.compute_arqc(sk, ARQC_INPUT) == arqc
    assert emv.verify_arqc(sk, ARQC_INPUT, arqc)
    assert not emv.verify_arqc(sk, ARQC_INPUT, bytes(8))
    arpc = ind_arpc(sk, arqc, b"00")
    assert arpc.hex().upper() == "4091F4FB60161B7D"
    assert emv.compute_arpc(sk, arqc, b"00") == arpc
    assert emv.verify_arpc(sk, arqc, b"00", arpc)


def test_mac_alg3_iso9797_padding_edge():
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    for n in (0, 7, 8, 9, 16):
        data = bytes(range(n))
        assert emv.mac_alg3(key, data) == ind_mac(key, data)


def test_card_arqc_verifies_with_independent_implementation():
    t = powered(fresh_store(oda="none"))  # AIP 1800, the profile the KAT was published for
    assert t.select_savings().ok and t.gpo().ok and t.verify().ok
    r = t.gac(0x80, CDOL1_DATA)
    assert r.ok
    f = tlv.flatten(tlv.decode(r.data))
    atc = int.from_bytes(f[0x9F36], "big")
    cvr = f[0x9F10][2:]
    assert f[0x9F27] == b"\x80" and atc == 1 and cvr == bytes.fromhex("80800300")
    sk = ind_sk(ind_mk(KEYS.imk_ac, PAN, 1), atc)
    data = CDOL1_DATA + bytes.fromhex("1800") + f[0x9F36] + cvr
    assert data == ARQC_INPUT
    assert f[0x9F26] == ind_mac(sk, data) == bytes.fromhex("C1622398DEA11C3A")
    # second GENERATE AC: ARPC method 1 from the independent code gives a TC
    arpc = ind_arpc(sk, f[0x9F26], b"00")
    r2 = t.gac(0x40, b"00" + arpc + b"00" + bytes(5) + bytes.fromhex("11223344"))
    f2 = tlv.flatten(tlv.decode(r2.data))
    assert r2.ok and f2[0x9F27] == b"\x40"
    cdol2 = b"00" + arpc + b"00" + bytes(5) + bytes.fromhex("11223344")
    assert f2[0x9F26] == ind_mac(sk, cdol2 + bytes.fromhex("1800") + f2[0x9F36] + f2[0x9F10][2:])
    assert t.get_data(0x9F13).data == bytes.fromhex("9F13020001")


def test_kat_rfc4493_cmac_and_load_macs():
    # RFC 4493 example 2 validates the AES-CMAC primitive used for the purse
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    msg = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
    assert purse.cmac(key, msg).hex() == "070a16b46b4d4144f79bdd9dd04a287c"
    cid = bytes.fromhex("601350001234567801")
    kl = purse.derive_load_key(KEYS.purse_master, cid)
    c = cmac.CMAC(algorithms.AES(KEYS.purse_master))
    c.update(b"KKS-LOAD" + cid)
    assert kl == c.finalize() == CARD_KEYS.load_key
    assert kl.hex().upper() == "1753606DC96041DC17FCE1A031C9504C"
    ch = bytes.fromhex("0102030405060708")
    assert purse.load_s1(kl, cid, 0, 0, 100000, b"TERM0001", 1764000000, ch, True).hex().upper() \
        == "E4F4276D5A6EB379"
    c = cmac.CMAC(algorithms.AES(kl))  # the S1 layout, byte for byte (docs/card.md)
    c.update(b"S1" + cid + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
             + (100000).to_bytes(4, "big") + b"TERM0001" + (1764000000).to_bytes(4, "big") + ch
             + b"\x01")
    assert c.finalize()[:8] == bytes.fromhex("E4F4276D5A6EB379")
    assert purse.load_s1(kl, cid, 0, 0, 100000, b"TERM0001", 1764000000, ch, False).hex() \
        .upper() == "21DC55C67B6787CB"
    s2 = purse.load_s2(kl, cid, 0, 100000, b"TERM0001", 1764000000, ch)
    c = cmac.CMAC(algorithms.AES(kl))
    c.update(b"S2" + cid + (0).to_bytes(4, "big") + (100000).to_bytes(4, "big") + b"TERM0001"
             + (1764000000).to_bytes(4, "big") + ch)
    assert s2 == c.finalize()[:8] == bytes.fromhex("57E6D4B04E590419")
    assert purse.load_s3(kl, cid, 1, 100000).hex().upper() == "5DFB831F4EE6BCFC"


RECORD_HEX = ("010160135000123456780100000002000061A8000124F85445524D303030314E4F4E4345303031"
              "69248164")
SIG_HEX = ("3046022100E17E8307C33F02ABDC1B683867875A7693EC5F96980748CE19ADB1FFF0D639D3022100"
           "8CEA6432D1DE9D4DF83A2AB31A373BB5E9FBD3979C82998CAAF96FD9AFDF95A2")
CARD_POINT_HEX = ("048C0492E2DE8546D2A920F508CEC8ECC1D60F40BAB2127ADD2D05AB643ADB4C522714216AD"
                  "7783495666E625EBF4FE0509397E7BF70E03619AA6DBFBF82315151")


def test_kat_record_encoding():
    rec = purse.TransactionRecord(bytes.fromhex("601350001234567801"), 2, 25000, 75000,
                                  b"TERM0001", b"NONCE001", 1764000100)
    assert rec.encode().hex().upper() == RECORD_HEX
    assert purse.TransactionRecord.decode(bytes.fromhex(RECORD_HEX)) == rec
    with pytest.raises(purse.RecordError):
        purse.TransactionRecord.decode(bytes.fromhex(RECORD_HEX)[:-1])
    with pytest.raises(purse.RecordError):
        purse.TransactionRecord.decode(b"\x02" + bytes.fromhex(RECORD_HEX)[1:])


def test_kat_signature_fixed_key():
    pub = purse.load_public_point(bytes.fromhex(CARD_POINT_HEX))
    assert purse.public_point(card_signing_key_for_tests("BRI", PAN, 1).public_key()) == \
        bytes.fromhex(CARD_POINT_HEX)
    assert purse.verify(pub, bytes.fromhex(RECORD_HEX), bytes.fromhex(SIG_HEX))
    tampered = bytearray(bytes.fromhex(RECORD_HEX))
    tampered[20] ^= 1
    assert not purse.verify(pub, bytes(tampered), bytes.fromhex(SIG_HEX))


#: RFC 6979 deterministic signature of RECORD_HEX by the BRI test card key (docs/card.md KATs).
DET_SIG_HEX = ("3045022028058D72FB97CBC5A41432C9590B0022D8DB84951126089BE20226A71DEC0FC2022100"
               "CAC02D7DBA1585974D717AF084F340644CFF2A479711C3EF47C8F7C386571029")
#: RFC 6979 appendix A.2.5: P-256, SHA-256, message "sample" (private key x, nonce k, r).
RFC6979_X = 0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721
RFC6979_K = 0xA6E3C57DD01ABE90086538398355DD4C3B17AA873382B0F24D6129493D8AAD60
RFC6979_R = 0xEFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def test_kat_rfc6979_appendix_a25():
    """purse.sign derives k as RFC 6979 does: r is the RFC's, s = k^-1 (h + r x) mod n is
    recomputed here with integer arithmetic from the RFC's k."""
    import hashlib

    key = ec.derive_private_key(RFC6979_X, ec.SECP256R1())
    r, s = decode_dss_signature(purse.sign(key, b"sample"))
    h = int.from_bytes(hashlib.sha256(b"sample").digest(), "big")
    assert r == RFC6979_R
    assert s == pow(RFC6979_K, -1, P256_N) * (h + RFC6979_R * RFC6979_X) % P256_N


def test_kat_card_signature_is_deterministic():
    """Fixed key + fixed record -> fixed signature bytes, and the card's PURCHASE answer is
    exactly record || that signature."""
    key = card_signing_key_for_tests("BRI", PAN, 1)
    record = bytes.fromhex(RECORD_HEX)
    assert purse.sign(key, record).hex().upper() == DET_SIG_HEX
    assert purse.verify(purse.load_public_point(bytes.fromhex(CARD_POINT_HEX)), record,
                        bytes.fromhex(DET_SIG_HEX))
    t = powered()
    t.select_purse()
    assert t.load(100_000).ok and t.verify().ok
    r = t.purchase(25_000, time=1764000100)
    assert r.ok and r.data.hex().upper() == RECORD_HEX + DET_SIG_HEX


def test_same_card_state_and_command_give_the_same_answer():
    """Two cards with the same NVM answer the same APDUs byte for byte (signatures included);
    another terminal nonce gives another record and another signature."""
    base = powered()
    base.select_purse()
    assert base.load(100_000).ok
    cells = base.card.store.snapshot()
    logs = []
    for _ in range(2):
        t = powered(MemoryStore(dict(cells)))
        t.select_purse()
        assert t.verify().ok and t.purchase(1_000).ok
        assert t.verify().ok and t.purchase(1_000, nonce=b"NONCE002").ok
        logs.append(t.log)
    assert logs[0] == logs[1]
    first, second = logs[0][2][1], logs[0][4][1]
    assert first[purse.RECORD_LEN:-2] != second[purse.RECORD_LEN:-2]


def test_ber_and_malleable_encodings_rejected():
    sig = bytes.fromhex(SIG_HEX)
    pub = purse.load_public_point(bytes.fromhex(CARD_POINT_HEX))
    msg = bytes.fromhex(RECORD_HEX)
    # long-form length (BER, not DER) of the same (r, s)
    ber = b"\x30\x81" + sig[1:]
    assert not purse.is_strict_der(ber) and not purse.verify(pub, msg, ber)
    assert not purse.verify(pub, msg, sig + b"\x00")
    r, s = decode_dss_signature(sig)
    assert r > 0 and s > 0


def test_card_signature_and_certificate():
    t = powered()
    t.select_purse()
    assert t.load(100_000).ok and t.verify().ok
    r = t.purchase(25_000, time=1764000100)
    assert r.ok
    record, sig = r.data[:purse.RECORD_LEN], r.data[purse.RECORD_LEN:]
    cert_raw = t.send(0x80, 0x5A, 0, 0, b"", 256)
    cert, card_pub = purse.verify_certificate(cert_raw.data, KEYS.ca_public_key)
    assert cert.card_id == bytes.fromhex("601350001234567801") and cert.bank == "BRI"
    assert cert.public_key == bytes.fromhex(CARD_POINT_HEX)
    card_pub.verify(sig, record, ec.ECDSA(__import__("cryptography.hazmat.primitives.hashes",
                                                      fromlist=["SHA256"]).SHA256()))
    other = IssuerKeys.test_issuer("BNI")
    with pytest.raises(purse.RecordError):
        purse.verify_certificate(cert_raw.data, other.ca_public_key)


def _der(r_bytes: bytes, s_bytes: bytes) -> bytes:
    body = b"\x02" + bytes((len(r_bytes),)) + r_bytes + b"\x02" + bytes((len(s_bytes),)) + s_bytes
    return b"\x30" + bytes((len(body),)) + body


def test_signature_encoding_edge_cases_rejected():
    pub = purse.load_public_point(bytes.fromhex(CARD_POINT_HEX))
    msg = bytes.fromhex(RECORD_HEX)
    r, s = decode_dss_signature(bytes.fromhex(SIG_HEX))
    rb, sb = r.to_bytes(33, "big"), s.to_bytes(33, "big")  # both have the top bit set
    assert purse.verify(pub, msg, _der(rb, sb))
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    bad = [
        _der(b"\x00" + rb, sb),  # extra leading zero (non-minimal INTEGER)
        _der(rb[1:], sb),  # negative r (missing zero byte)
        _der(b"\x00", sb),  # r = 0
        _der(rb, b"\x01"),  # s = 1
        _der(b"\x00" + n.to_bytes(32, "big"), sb),  # r = n
        _der(rb, sb)[:-1],  # truncated
        _der(rb, sb) + b"\x00",  # trailing byte
        b"",
    ]
    for sig in bad:
        assert not purse.verify(pub, msg, sig), sig.hex()
    # (r, n - s) is a valid signature too: replay protection must not rely on signature bytes
    high = encode_dss(r, n - s)
    assert purse.verify(pub, msg, high)


def encode_dss(r: int, s: int) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    return encode_dss_signature(r, s)
