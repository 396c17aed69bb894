"""The administrative frame of Indonesia as numpy arrays: provinces, kab/kota, kecamatan, desa.

The four CSV files in `sim/data/` (38 provinces, 514 kabupaten/kota with their Dukcapil population
of December 2024, 7,285 kecamatan, 83,762 desa/kelurahan; Kepmendagri 300.2.2-2138/2025) come from
the MIT-licensed "wilayah" dataset by Cahya DSN; see `sim/data/NOTICE.md`.

Codes are stored as integers without dots: a province `PP` (e.g. 32), a kab/kota `PPKK` (3273), a
kecamatan `PPKKCC` (327301) and a desa `PPKKCCDDDD` (3273012001). Every table is sorted by code,
and each lower level carries the row index of its parent, so a household's `desa` row gives its
kecamatan, kab/kota and province by one gather each. `load()` parses the files once per process.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from importlib import resources

import numpy as np

from kks_emulator.errors import InputError

#: files in `sim/data/`, in parse order
DATA_FILES = ("provinces.csv", "kabkota.csv", "kecamatan.csv", "desa.csv")


@dataclass(frozen=True, eq=False)
class Regions:
    """The frame as parallel arrays, one set per level; `*_name` are tuples of str."""

    province_code: np.ndarray  # int16, PP
    province_name: tuple[str, ...]
    province_population: np.ndarray  # int64, Dukcapil Dec 2024
    kabkota_code: np.ndarray  # int32, PPKK
    kabkota_name: tuple[str, ...]
    kabkota_population: np.ndarray  # int64
    kabkota_province: np.ndarray  # int8, row in the province table
    kecamatan_code: np.ndarray  # int32, PPKKCC
    kecamatan_name: tuple[str, ...]
    kecamatan_kabkota: np.ndarray  # int16, row in the kab/kota table
    desa_code: np.ndarray  # int64, PPKKCCDDDD
    desa_name: tuple[str, ...]
    desa_kecamatan: np.ndarray  # int32, row in the kecamatan table
    desa_kabkota: np.ndarray  # int16
    desa_province: np.ndarray  # int8
    desa_is_kelurahan: np.ndarray  # bool: first digit of DDDD is 1 (urban kelurahan)
    province_lookup: np.ndarray  # int8[100]: PP -> row, -1 if unknown
    kabkota_lookup: np.ndarray  # int16[10_000]: PPKK -> row, -1 if unknown
    kecamatan_lookup: np.ndarray  # int32[1_000_000]: PPKKCC -> row, -1 if unknown

    @property
    def n_province(self) -> int:
        """Number of provinces (38)."""
        return len(self.province_code)

    @property
    def n_kabkota(self) -> int:
        """Number of kabupaten/kota (514)."""
        return len(self.kabkota_code)

    @property
    def n_kecamatan(self) -> int:
        """Number of kecamatan (7,285)."""
        return len(self.kecamatan_code)

    @property
    def n_desa(self) -> int:
        """Number of desa/kelurahan (83,762)."""
        return len(self.desa_code)

    def kabkota_index(self, code: str | int) -> int:
        """Row of a kab/kota given as `"32.73"`, `"3273"` or 3273; `InputError` if unknown."""
        value = _parse_code(code, 4, "kab/kota")
        row = int(self.kabkota_lookup[value])
        if row < 0:
            raise InputError(f"unknown kab/kota code {code!r}")
        return row

    def province_index(self, code: str | int) -> int:
        """Row of a province given as `"32"` or 32; `InputError` if unknown."""
        value = _parse_code(code, 2, "province")
        row = int(self.province_lookup[value])
        if row < 0:
            raise InputError(f"unknown province code {code!r}")
        return row

    def territory_kabkota(self, territory: str | int | list | tuple | None) -> np.ndarray:
        """Rows of the kab/kota covered by `territory` (sorted, unique).

        `territory` is None (the whole country) or one code or a list of codes, each a province
        (`"32"`) or a kab/kota (`"32.73"` / `"3273"`). Unknown codes raise `InputError`.
        """
        if territory is None:
            return np.arange(self.n_kabkota, dtype=np.int64)
        items = [territory] if isinstance(territory, str | int) else list(territory)
        if not items:
            raise InputError("territory: empty list of region codes")
        rows: set[int] = set()
        for item in items:
            digits = str(item).strip().replace(".", "")
            if len(digits) <= 2:
                prov = self.province_index(item)
                rows.update(np.flatnonzero(self.kabkota_province == prov).tolist())
            elif len(digits) == 4:
                rows.add(self.kabkota_index(item))
            else:
                raise InputError(
                    f"territory {item!r}: expected a province (PP) or kab/kota (PP.KK) code")
        return np.array(sorted(rows), dtype=np.int64)


def _parse_code(code: str | int, digits: int, what: str) -> int:
    text = str(code).strip().replace(".", "")
    if not text.isdigit() or len(text) > digits:
        raise InputError(f"{what} code {code!r}: expected {digits} digits")
    return int(text)


def _read(name: str) -> list[list[str]]:
    text = resources.files("sim").joinpath("data", name).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    return rows[1:]


def _parents(child_codes: np.ndarray, parent_codes: np.ndarray, divisor: int,
             what: str) -> np.ndarray:
    keys = child_codes // divisor
    idx = np.searchsorted(parent_codes, keys)
    idx = np.minimum(idx, len(parent_codes) - 1)
    if not np.array_equal(parent_codes[idx], keys):
        bad = child_codes[parent_codes[idx] != keys][0]
        raise InputError(f"regions data: {what} {bad} has no parent")
    return idx


@functools.lru_cache(maxsize=1)
def load() -> Regions:
    """Parse the shipped frame (about 0.2 s, once per process) and return it, cached."""
    prov = _read("provinces.csv")
    kab = _read("kabkota.csv")
    kec = _read("kecamatan.csv")
    des = _read("desa.csv")

    def order(rows: list[list[str]]) -> list[list[str]]:
        return sorted(rows, key=lambda r: int(r[0].replace(".", "")))

    prov, kab, kec, des = order(prov), order(kab), order(kec), order(des)
    province_code = np.array([int(r[0]) for r in prov], dtype=np.int16)
    kabkota_code = np.array([int(r[0].replace(".", "")) for r in kab], dtype=np.int32)
    kecamatan_code = np.array([int(r[0].replace(".", "")) for r in kec], dtype=np.int32)
    desa_code = np.array([int(r[0].replace(".", "")) for r in des], dtype=np.int64)

    kabkota_province = _parents(kabkota_code, province_code.astype(np.int32), 100, "kab/kota")
    kecamatan_kabkota = _parents(kecamatan_code, kabkota_code, 100, "kecamatan")
    desa_kecamatan = _parents(desa_code, kecamatan_code.astype(np.int64), 10_000, "desa")

    province_lookup = np.full(100, -1, dtype=np.int8)
    province_lookup[province_code] = np.arange(len(province_code))
    kabkota_lookup = np.full(10_000, -1, dtype=np.int16)
    kabkota_lookup[kabkota_code] = np.arange(len(kabkota_code))
    kecamatan_lookup = np.full(1_000_000, -1, dtype=np.int32)
    kecamatan_lookup[kecamatan_code] = np.arange(len(kecamatan_code))

    desa_kabkota = kecamatan_kabkota[desa_kecamatan].astype(np.int16)
    regions = Regions(
        province_code=province_code,
        province_name=tuple(r[1] for r in prov),
        province_population=np.array([int(r[4]) for r in prov], dtype=np.int64),
        kabkota_code=kabkota_code,
        kabkota_name=tuple(r[1] for r in kab),
        kabkota_population=np.array([int(r[4]) for r in kab], dtype=np.int64),
        kabkota_province=kabkota_province.astype(np.int8),
        kecamatan_code=kecamatan_code,
        kecamatan_name=tuple(r[1] for r in kec),
        kecamatan_kabkota=kecamatan_kabkota.astype(np.int16),
        desa_code=desa_code,
        desa_name=tuple(r[1] for r in des),
        desa_kecamatan=desa_kecamatan.astype(np.int32),
        desa_kabkota=desa_kabkota,
        desa_province=kabkota_province[desa_kabkota].astype(np.int8),
        desa_is_kelurahan=(desa_code % 10_000) // 1_000 == 1,
        province_lookup=province_lookup,
        kabkota_lookup=kabkota_lookup,
        kecamatan_lookup=kecamatan_lookup,
    )
    for arr in vars(regions).values():
        if isinstance(arr, np.ndarray):
            arr.flags.writeable = False
    return regions
