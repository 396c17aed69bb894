"""NIK and No. KK: vectorized composition and a validator with reasons for rejection.

A NIK (Nomor Induk Kependudukan) has 16 digits and no check digit::

    PP KK CC DDMMYY SSSS
    PP KK CC   province, kab/kota and kecamatan of first registration (Kemendagri codes)
    DD         day of birth, +40 for women (01-31 men, 41-71 women)
    MM YY      month and two-digit year of birth (century ambiguous)
    SSSS       serial 0001-9999 per identical 12-digit prefix

A No. KK (family card number) has the same shape with the card's issue date in place of the birth
date (no +40). In the registry both are int64; a value below 10^15 stands for a NIK written with
leading zeros (province "00", which is unknown). The validator follows python-stdnum's
`stdnum.id.nik` for the date (a 29 February is accepted when 19YY or 20YY is a leap year) but
checks the region against the shipped 2025 frame down to the kecamatan, where stdnum checks only
the first four digits against its own, older table.
"""

from __future__ import annotations

import numpy as np

from kks_emulator.errors import InputError
from sim.registry import regions as _regions

#: reason codes returned by `nik_reasons` (uint8)
OK = 0
LENGTH = 1
PROVINCE = 2
KABKOTA = 3
KECAMATAN = 4
DATE = 5
SERIAL = 6

REASONS: dict[int, str] = {
    OK: "valid",
    LENGTH: "not exactly 16 decimal digits",
    PROVINCE: "unknown province code (digits 1-2)",
    KABKOTA: "unknown kabupaten/kota code (digits 3-4)",
    KECAMATAN: "unknown kecamatan code (digits 5-6)",
    DATE: "invalid birth date (DD must be 01-31, or 41-71 for women; MM 01-12; a real date)",
    SERIAL: "serial 0000 (digits 13-16 must be 0001-9999)",
}

_NIK_MAX = 10**16
_CHUNK = 1 << 22  # rows per pass in nik_reasons, to bound temporaries at national scale
_DAYS = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


class InvalidNikError(InputError):
    """A NIK failed validation; `reason` is one of the codes in `REASONS`."""

    def __init__(self, nik: str, reason: int) -> None:
        self.reason = reason
        super().__init__(f"invalid NIK {mask(nik)}: {REASONS[reason]}")


def mask(nik: str | int) -> str:
    """A NIK for logs and messages: region digits and the last two kept, the rest starred."""
    text = str(nik)
    if len(text) != 16 or not text.isdigit():
        return f"<{len(text)} characters>"
    return text[:4] + "*" * 10 + text[-2:]


def compose(region6: np.ndarray, day: np.ndarray, month: np.ndarray, year: np.ndarray,
            serial: np.ndarray) -> np.ndarray:
    """Build int64 numbers PPKKCC DDMMYY SSSS from arrays (year may be 4-digit; kept mod 100).

    For a NIK pass the birth day already +40 for women; for a No. KK pass the issue date.
    """
    out = np.asarray(region6, dtype=np.int64) * 10**10
    out += np.asarray(day, dtype=np.int64) * 10**8
    out += np.asarray(month, dtype=np.int64) * 10**6
    out += (np.asarray(year, dtype=np.int64) % 100) * 10**4
    out += np.asarray(serial, dtype=np.int64)
    return out


def split(nik: np.ndarray) -> dict[str, np.ndarray]:
    """Fields of int64 NIKs: province, kabkota (PPKK), kecamatan (PPKKCC), dd, mm, yy, serial."""
    nik = np.asarray(nik, dtype=np.int64)
    region = nik // 10**10
    return {
        "province": region // 10_000,
        "kabkota": region // 100,
        "kecamatan": region,
        "dd": (nik // 10**8) % 100,
        "mm": (nik // 10**6) % 100,
        "yy": (nik // 10**4) % 100,
        "serial": nik % 10_000,
    }


def _as_int64(niks: np.ndarray | list) -> tuple[np.ndarray, np.ndarray]:
    """Integer values and a mask of well-formed entries (16 digits / in range)."""
    arr = np.asarray(niks)
    if arr.dtype.kind in "iu":
        values = arr.astype(np.int64, copy=False)
        return values, (values >= 0) & (values < _NIK_MAX)
    if arr.dtype.kind in "USO":
        text = arr.astype(str)
        # ASCII digits only (str.isdigit would also accept other scripts' digits)
        good = (np.char.str_len(text) == 16) & (np.char.str_len(np.char.strip(text, "0123456789"))
                                                 == 0)
        values = np.zeros(text.shape, dtype=np.int64)
        if good.any():
            values[good] = text[good].astype(np.int64)
        return values, good
    raise InputError(f"NIKs must be integers or strings, not {arr.dtype}")


def nik_reasons(niks: np.ndarray | list) -> np.ndarray:
    """Vectorized check: a uint8 reason code per NIK (0 = valid; first failing check decides).

    Accepts int64 arrays (the registry's dtype) or arrays of 16-character strings. Checks, in
    order: length, province, kab/kota, kecamatan, birth date, serial.
    """
    arr = np.asarray(niks)
    if arr.ndim == 1 and len(arr) > _CHUNK:
        out = np.empty(len(arr), dtype=np.uint8)
        for lo in range(0, len(arr), _CHUNK):
            out[lo:lo + _CHUNK] = nik_reasons(arr[lo:lo + _CHUNK])
        return out
    reg = _regions.load()
    values, wellformed = _as_int64(arr)
    values = np.where(wellformed, values, 0)
    f = split(values)
    reason = np.zeros(values.shape, dtype=np.uint8)

    prov_ok = reg.province_lookup[f["province"]] >= 0
    kab_ok = reg.kabkota_lookup[f["kabkota"]] >= 0
    kec_ok = reg.kecamatan_lookup[f["kecamatan"]] >= 0

    dd, mm, yy = f["dd"], f["mm"], f["yy"]
    day = np.where(dd > 40, dd - 40, dd)
    day_range = ((dd >= 1) & (dd <= 31)) | ((dd >= 41) & (dd <= 71))
    month_ok = (mm >= 1) & (mm <= 12)
    max_day = _DAYS[np.clip(mm, 0, 12)]
    max_day = np.where((mm == 2) & (yy % 4 != 0), 28, max_day)
    date_ok = day_range & month_ok & (day <= max_day)
    serial_ok = f["serial"] > 0

    # assign from the last check to the first so the first failing check wins
    reason[~serial_ok] = SERIAL
    reason[~date_ok] = DATE
    reason[~kec_ok] = KECAMATAN
    reason[~kab_ok] = KABKOTA
    reason[~prov_ok] = PROVINCE
    reason[~wellformed] = LENGTH
    return reason


def nik_valid(niks: np.ndarray | list) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized check: `(valid, reason)`, a bool array and the uint8 reason codes."""
    reason = nik_reasons(niks)
    return reason == OK, reason


def validate_nik(nik: str | int) -> None:
    """Check one NIK given as a 16-digit string (or int); raise `InvalidNikError` with the reason.

    Separators (spaces, dots, dashes) are not accepted: a NIK field holds digits only.
    """
    if isinstance(nik, bool) or not isinstance(nik, str | int | np.integer):
        raise InvalidNikError(str(nik), LENGTH)
    text = nik if isinstance(nik, str) else f"{int(nik):016d}"
    if len(text) != 16 or not text.isdigit() or not text.isascii():
        raise InvalidNikError(text, LENGTH)
    reason = int(nik_reasons(np.array([int(text)], dtype=np.int64))[0])
    if reason != OK:
        raise InvalidNikError(text, reason)


def to_strings(niks: np.ndarray) -> np.ndarray:
    """int64 NIKs as zero-padded 16-character strings (numpy `<U16`); out-of-range stays as is."""
    values = np.asarray(niks, dtype=np.int64)
    return np.char.zfill(values.astype(str), 16)
