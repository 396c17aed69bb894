"""T=0 transmission: the C-APDU -> C-TPDU mapping of a T=0 reader, and the card's TPDU parser.

A T=0 card never sees an APDU, it sees a TPDU: a 5-byte header `CLA INS P1 P2 P3` and, when the
command sends data, P3 bytes of data (ISO/IEC 7816-3 §10.3, §12.2; EMV Book 1 §9.3.1). The
reader's transport layer maps each command case (ISO/IEC 7816-3 §12.2.2, §12.2.3):

- case 1 `CLA INS P1 P2` -> `CLA INS P1 P2 00`
- case 2S `... Le` -> unchanged (P3 = Le; 00 asks for 256 bytes)
- case 3S `... Lc data` -> unchanged
- case 4S `... Lc data Le` -> `... Lc data`: **Le is never sent**; the card answers `61xx` and
  the data is fetched with GET RESPONSE
- case 2E -> `... P3` with P3 = Ne when Ne <= 256 (00 for 256), else 00
- case 3E/4E with Nc <= 255 -> `... Nc data` (short, no Le)
- case 3E/4E with Nc > 255 -> ENVELOPE (`CLA C2 00 00 FF` + the first 255 bytes of the APDU);
  the KKS card does not implement ENVELOPE and answers `6D00`

vpcd forwards the client's APDU verbatim (it implements no transport layer), so a KKS card served
in T=0 applies this mapping itself before its command processing: the command processing is then
exactly that of a T=0 card. A byte string that is no well-formed APDU is passed on unchanged and
the card answers by its length rules (`6700`).
"""

from __future__ import annotations

from kks_emulator.apdu import ApduFormatError, Command, parse_command

INS_ENVELOPE = 0xC2


def apdu_to_tpdu(raw: bytes) -> bytes:
    """The C-TPDU a T=0 reader sends to the card for the C-APDU `raw` (ISO/IEC 7816-3 §12.2)."""
    n = len(raw)
    if n < 4:
        return raw
    if n == 4:  # case 1
        return raw + b"\x00"
    try:
        cmd = parse_command(raw)
    except ApduFormatError:
        return raw
    if not cmd.extended:
        if cmd.data and cmd.ne is not None:  # case 4S: Le is not transmitted
            return raw[:-1]
        return raw  # case 2S, 3S
    header = raw[:4]
    if not cmd.data:  # case 2E
        ne = cmd.ne or 0
        return header + bytes((ne & 0xFF if ne <= 256 else 0,))
    if len(cmd.data) <= 255:  # case 3E / 4E with a short data field
        return header + bytes((len(cmd.data),)) + cmd.data
    return bytes((raw[0], INS_ENVELOPE, 0x00, 0x00, 0xFF)) + raw[:255]


def parse_tpdu(raw: bytes, takes_data: bool, case1_allowed: bool) -> Command:
    """Decode a T=0 C-TPDU as the card does: P3 is Lc for a command that sends data, else Le.

    takes_data: the command accepts a data field (then P3 = Lc, and P3 = 00 with no data is a
    case-1 command when `case1_allowed`); otherwise P3 is Le (00 = 256). Raises
    `ApduFormatError` when the byte count does not match P3.
    """
    if len(raw) < 5:
        raise ApduFormatError(f"T=0 TPDU of {len(raw)} bytes has no P3")
    cla, ins, p1, p2, p3 = raw[0], raw[1], raw[2], raw[3], raw[4]
    if takes_data:
        if p3 == 0:
            if len(raw) == 5 and case1_allowed:
                return Command(cla, ins, p1, p2)
            raise ApduFormatError("P3 = 00 where the command needs data")
        if len(raw) != 5 + p3:
            raise ApduFormatError(f"P3 = {p3} but {len(raw) - 5} data bytes followed")
        return Command(cla, ins, p1, p2, bytes(raw[5:]))
    if len(raw) != 5:
        raise ApduFormatError("data sent to a command that only returns data")
    return Command(cla, ins, p1, p2, b"", p3 or 256)
