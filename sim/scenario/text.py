"""Scenario bytes to TOML text: UTF-8 with or without a byte-order mark, anything else named.

A scenario file may hold any bytes. `decode` accepts UTF-8 (a leading UTF-8 BOM is dropped, as
editors on Windows write one) and turns everything else into a `ConfigError` that says what the
bytes look like (UTF-16 or UTF-32, binary data, Latin-1/Windows-1252 text, a file too large), so
the user learns how to fix it, on one line.
"""

from __future__ import annotations

import codecs

from kks_emulator.errors import ConfigError

#: a scenario is a few kilobytes; a larger file is not a scenario
MAX_SCENARIO_BYTES = 1 << 20

_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
              (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))
_SAVE_AS = "save the file as UTF-8"


def decode(raw: bytes, where: str) -> str:
    """The text of scenario bytes *raw* read from *where*, or a one-line `ConfigError`."""
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ConfigError(where, "<file>", f"a scenario file of at most {MAX_SCENARIO_BYTES:,} "
                          f"bytes (found {len(raw):,})")
    for bom, name in _WIDE_BOMS:
        if raw.startswith(bom):
            raise ConfigError(where, "<file>", f"UTF-8 text (found {name} with a byte-order "
                              f"mark; {_SAVE_AS})")
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    nul = raw.find(b"\x00")
    if nul >= 0:
        if _looks_utf16(raw):
            raise ConfigError(where, "<file>", f"UTF-8 text (found UTF-16 without a byte-order "
                              f"mark; {_SAVE_AS})")
        raise ConfigError(where, "<file>", f"a text file (found binary data: a NUL byte at "
                          f"byte {nul})")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        guess = ("Latin-1 or Windows-1252 text?" if _mostly_text(raw)
                 else "binary data?")
        raise ConfigError(where, "<file>", f"UTF-8 text (byte 0x{raw[exc.start]:02X} at line "
                          f"{line}, column {col} is not UTF-8; {guess} {_SAVE_AS})") from None


def _looks_utf16(raw: bytes) -> bool:
    """True when every other byte of the first 64 is NUL, as in ASCII text stored as UTF-16."""
    head = raw[:64]
    if len(head) < 4:
        return False
    even, odd = head[0::2], head[1::2]
    return even.count(0) >= len(even) * 0.8 or odd.count(0) >= len(odd) * 0.8


def _mostly_text(raw: bytes) -> bool:
    """True when most bytes are printable ASCII or whitespace (a text file in an 8-bit code)."""
    sample = raw[:4096]
    printable = sum(1 for b in sample if 32 <= b < 127 or b in (9, 10, 13))
    return printable >= 0.9 * len(sample)
