"""ISO/IEC 7816-4 command and response APDU codec (short and extended lengths, cases 1-4).

Pure functions, no I/O. `parse_command` accepts exactly the encodings of ISO 7816-4 §5.1 and raises
`ApduFormatError` for anything else (the card answers that with `6700`). `Ne` follows the
standard: a short Le of `00` means 256, an extended Le of `0000` means 65536.
"""

from __future__ import annotations

from dataclasses import dataclass

from kks_emulator.errors import CardError, InputError

# Status words used by the card (ISO 7816-4 Table 5/6 and the EMV books).
SW_OK = 0x9000
SW_BYTES_REMAINING = 0x6100  # 61xx: xx more bytes with GET RESPONSE
SW_PIN_TRIES = 0x63C0  # 63Cx: verification failed, x tries left
SW_EXEC_ERROR = 0x6400  # execution error, NVM unchanged
SW_MEMORY_FAILURE = 0x6581  # memory failure (integrity check of a record failed)
SW_WRONG_LENGTH = 0x6700
SW_SECURITY = 0x6982  # security status not satisfied
SW_BLOCKED = 0x6983  # authentication method blocked
SW_REF_DATA = 0x6984  # reference data not usable
SW_CONDITIONS = 0x6985  # conditions of use not satisfied
SW_WRONG_DATA = 0x6A80  # incorrect parameters in the data field
SW_NOT_FOUND = 0x6A82  # file or application not found
SW_RECORD_NOT_FOUND = 0x6A83
SW_WRONG_P1P2 = 0x6A86
SW_DATA_NOT_FOUND = 0x6A88  # referenced data (GET DATA tag) not found
SW_WRONG_LE = 0x6C00  # 6Cxx: wrong Le, xx is the exact length
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00
SW_UNKNOWN = 0x6F00


class ApduFormatError(InputError):
    """Bytes that are not a well-formed command or response APDU."""


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command APDU.

    `ne` is the number of response bytes expected (None when Le is absent), `case` the ISO case
    (1-4) and `extended` whether the length fields were extended.
    """

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    ne: int | None = None
    extended: bool = False

    @property
    def case(self) -> int:
        """ISO 7816-4 case: 1 no data no Le, 2 Le only, 3 data only, 4 data and Le."""
        if self.data:
            return 4 if self.ne is not None else 3
        return 2 if self.ne is not None else 1

    @property
    def p1p2(self) -> int:
        """P1 and P2 as one 16-bit integer."""
        return (self.p1 << 8) | self.p2

    def encode(self) -> bytes:
        """Encode back to bytes (same length form as parsed)."""
        return encode_command(self.cla, self.ins, self.p1, self.p2, self.data, self.ne,
                              extended=self.extended)


def parse_command(raw: bytes) -> Command:
    """Parse a command APDU; raise `ApduFormatError` if the length fields are inconsistent."""
    n = len(raw)
    if n < 4:
        raise ApduFormatError(f"command APDU of {n} bytes is shorter than a header")
    cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
    if n == 4:
        return Command(cla, ins, p1, p2)
    b4 = raw[4]
    if n == 5:  # case 2 short
        return Command(cla, ins, p1, p2, b"", b4 or 256)
    if b4 != 0:  # short case 3 or 4
        lc = b4
        if n == 5 + lc:
            return Command(cla, ins, p1, p2, bytes(raw[5:]))
        if n == 6 + lc:
            return Command(cla, ins, p1, p2, bytes(raw[5:5 + lc]), raw[-1] or 256)
        raise ApduFormatError(f"short Lc={lc} does not match APDU length {n}")
    # extended: b4 == 00 and at least 7 bytes
    if n < 7:
        raise ApduFormatError(f"extended length field truncated (APDU length {n})")
    ext = (raw[5] << 8) | raw[6]
    if n == 7:  # case 2 extended
        return Command(cla, ins, p1, p2, b"", ext or 65536, extended=True)
    lc = ext
    if lc == 0:
        raise ApduFormatError("extended Lc of zero")
    if n == 7 + lc:
        return Command(cla, ins, p1, p2, bytes(raw[7:]), None, extended=True)
    if n == 9 + lc:
        le = (raw[-2] << 8) | raw[-1]
        return Command(cla, ins, p1, p2, bytes(raw[7:7 + lc]), le or 65536, extended=True)
    raise ApduFormatError(f"extended Lc={lc} does not match APDU length {n}")


def encode_command(cla: int, ins: int, p1: int, p2: int, data: bytes = b"",
                   ne: int | None = None, *, extended: bool | None = None) -> bytes:
    """Encode a command APDU. `ne` is 1..65536 or None; `extended` None picks the short form
    when it fits."""
    for name, v in (("CLA", cla), ("INS", ins), ("P1", p1), ("P2", p2)):
        if not 0 <= v <= 0xFF:
            raise ApduFormatError(f"{name}={v} is not a byte")
    if len(data) > 65535:
        raise ApduFormatError(f"data of {len(data)} bytes is too long for any APDU")
    if ne is not None and not 1 <= ne <= 65536:
        raise ApduFormatError(f"Ne={ne} is outside 1..65536")
    if extended is None:
        extended = len(data) > 255 or (ne is not None and ne > 256)
    if not extended and (len(data) > 255 or (ne is not None and ne > 256)):
        raise ApduFormatError("data or Ne too long for a short APDU")
    out = bytearray((cla, ins, p1, p2))
    if extended:
        if data:
            out += b"\x00" + len(data).to_bytes(2, "big") + data
            if ne is not None:
                out += (ne & 0xFFFF).to_bytes(2, "big")
        elif ne is not None:
            out += b"\x00" + (ne & 0xFFFF).to_bytes(2, "big")
    else:
        if data:
            out += bytes((len(data),)) + data
        if ne is not None:
            out.append(ne & 0xFF)
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Response:
    """A response APDU: data and the status word."""

    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        """First status byte."""
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        """Second status byte."""
        return self.sw & 0xFF

    @property
    def ok(self) -> bool:
        """True for `9000`."""
        return self.sw == SW_OK

    def encode(self) -> bytes:
        """Data followed by SW1 SW2."""
        return encode_response(self.data, self.sw)

    def expect(self, what: str, *allowed: int) -> bytes:
        """Return the data if the SW is `9000` (or one of `allowed`), else raise `CardError`."""
        if self.sw == SW_OK or self.sw in allowed:
            return self.data
        raise CardError(f"{what} refused", sw=self.sw)


def parse_response(raw: bytes) -> Response:
    """Split a response APDU into data and status word."""
    if len(raw) < 2:
        raise ApduFormatError(f"response APDU of {len(raw)} bytes has no status word")
    return Response(bytes(raw[:-2]), (raw[-2] << 8) | raw[-1])


def encode_response(data: bytes, sw: int) -> bytes:
    """Encode data plus a 16-bit status word."""
    if not 0 <= sw <= 0xFFFF:
        raise ApduFormatError(f"status word {sw} is not 16 bits")
    return bytes(data) + sw.to_bytes(2, "big")
