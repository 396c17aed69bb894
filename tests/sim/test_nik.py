"""NIK/No. KK codec and validator, cross-checked with python-stdnum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kks_emulator.errors import InputError
from sim.registry import nik, regions

stdnum_nik = pytest.importorskip("stdnum.id.nik")
from stdnum import numdb  # noqa: E402

GOOD = "3273011708450001"  # Kota Bandung, kec. 01, 17 Aug 1945, man, serial 1


def reason_of(text: str) -> int:
    try:
        nik.validate_nik(text)
    except nik.InvalidNikError as exc:
        return exc.reason
    return nik.OK


def stdnum_knows_region(text: str) -> bool:
    return bool(numdb.get("id/loc").info(text[:4])[0][1])


def test_compose_and_split_round_trip():
    value = nik.compose(np.array([327301]), np.array([57]), np.array([8]), np.array([1945]),
                        np.array([12]))
    assert nik.to_strings(value)[0] == "3273015708450012"
    f = nik.split(value)
    assert [int(f[k][0]) for k in ("province", "kabkota", "kecamatan", "dd", "mm", "yy",
                                   "serial")] == [32, 3273, 327301, 57, 8, 45, 12]


@pytest.mark.parametrize(("text", "reason"), [
    (GOOD, nik.OK),
    ("3273015708450001", nik.OK),            # woman: day + 40
    ("3273017108450001", nik.OK),            # 31 + 40
    ("3273012902000001", nik.OK),            # 29 Feb 2000
    ("3273012902040001", nik.OK),            # 29 Feb 1904/2004
    ("327301170845000", nik.LENGTH),
    ("32730117084500011", nik.LENGTH),
    ("32730117084500a1", nik.LENGTH),
    ("3273 11708450001", nik.LENGTH),
    ("３２７３011708450001", nik.LENGTH),       # full-width digits are not ASCII digits
    ("", nik.LENGTH),
    ("0073011708450001", nik.PROVINCE),
    ("9973011708450001", nik.PROVINCE),
    ("3200011708450001", nik.KABKOTA),
    ("3299011708450001", nik.KABKOTA),
    ("3273001708450001", nik.KECAMATAN),
    ("3273991708450001", nik.KECAMATAN),
    ("3273010008450001", nik.DATE),          # day 00
    ("3273013208450001", nik.DATE),          # day 32
    ("3273014008450001", nik.DATE),          # day 40 (= woman, day 0)
    ("3273017208450001", nik.DATE),          # day 72
    ("3273011700450001", nik.DATE),          # month 00
    ("3273011713450001", nik.DATE),          # month 13
    ("3273013104450001", nik.DATE),          # 31 April
    ("3273012902010001", nik.DATE),          # 29 Feb 1901/2001
    ("3273011708450000", nik.SERIAL),
    ("0000000000000000", nik.PROVINCE),      # first failing check decides
    ("3200000000000000", nik.KABKOTA),
])
def test_scalar_reasons(text, reason):
    assert reason_of(text) == reason
    assert nik.nik_reasons(np.array([text]))[0] == reason
    if len(text) == 16 and text.isdigit() and text.isascii():
        assert nik.nik_reasons(np.array([int(text)], dtype=np.int64))[0] == reason


def test_error_message_names_the_reason_and_masks_the_nik():
    with pytest.raises(nik.InvalidNikError) as info:
        nik.validate_nik("3273011708450000")
    assert isinstance(info.value, InputError)
    message = str(info.value)
    assert "serial 0000" in message and "3273011708450000" not in message
    assert "3273**********00" in message and "\n" not in message


def test_validate_accepts_ints_and_rejects_other_types():
    nik.validate_nik(int(GOOD))
    for bad in (None, 3.5, True, -3273011708450001, 10**16):
        with pytest.raises(nik.InvalidNikError):
            nik.validate_nik(bad)


def test_vectorized_int_range_and_dtype_errors():
    valid, reason = nik.nik_valid(np.array([int(GOOD), -1, 10**16, 10**15], dtype=np.int64))
    assert valid.tolist() == [True, False, False, False]
    assert reason.tolist() == [nik.OK, nik.LENGTH, nik.LENGTH, nik.PROVINCE]
    with pytest.raises(InputError):
        nik.nik_valid(np.array([1.5]))


digits16 = st.text(alphabet="0123456789", min_size=16, max_size=16)


@st.composite
def plausible(draw) -> str:
    """16 digits with a real kecamatan prefix and date-ish fields, so every check gets hit."""
    frame = regions.load()
    kec = frame.kecamatan_code[draw(st.integers(0, frame.n_kecamatan - 1))]
    dd = draw(st.integers(0, 75))
    mm = draw(st.integers(0, 14))
    yy = draw(st.integers(0, 99))
    serial = draw(st.integers(0, 9999))
    return f"{kec:06d}{dd:02d}{mm:02d}{yy:02d}{serial:04d}"


@settings(max_examples=400, deadline=None)
@given(st.one_of(digits16, plausible(), st.text(max_size=20)))
def test_scalar_and_vector_agree_and_match_stdnum(text):
    reason = reason_of(text)
    assert nik.nik_reasons(np.array([text], dtype=object))[0] == reason
    if reason in (nik.LENGTH, nik.DATE):
        # our length/date rules are stdnum's: it must reject these too
        assert not stdnum_nik.is_valid(text) or not (len(text) == 16 and text.isdigit())
    if reason == nik.OK and stdnum_knows_region(text):
        assert stdnum_nik.is_valid(text)
    if reason == nik.SERIAL and stdnum_knows_region(text):
        # stdnum does not check the serial; everything before it passed here
        assert stdnum_nik.is_valid(text)
    if len(text) == 16 and text.isdigit() and text[:4] != "0000" and stdnum_nik.is_valid(text):
        assert reason != nik.DATE


def test_mask():
    assert nik.mask(GOOD) == "3273**********01"
    assert nik.mask("123") == "<3 characters>"
