"""The month's change batch: proposals, updates, removal requests (with reasons), in order.

A `ChangeBatch` is columnar, like the registry: record `j` was submitted after record `i` when
`j > i` (docs/monthly.md §1). Data columns are meaningful for `PROPOSE` and `UPDATE` records and
ignored (zero) for `REMOVE`; `reason` is meaningful for `REMOVE` only.

`random_batch` draws a seeded batch from a registry for tests and benchmarks, with every kind of
trouble the engine must handle: invalid NIKs, Dukcapil mismatches, duplicate rows, NIKs and KKs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from kks_emulator.errors import InputError
from sim.registry.table import (
    STATUS_BARRED,
    STATUS_DIED,
    STATUS_IN_DTKS,
    STATUS_REMOVED,
    Registry,
)

# record kinds
PROPOSE = 1
UPDATE = 2
REMOVE = 3
KINDS = {PROPOSE: "propose", UPDATE: "update", REMOVE: "remove"}

# removal reasons (requests 1-5 and 8, engine 6-7); docs/monthly.md §2.5-2.6. `OUT_OF_DTKS` is a
# family that left the register's area (moved); `DIED` a family that left the population: in the
# DTSEN era (`Params.ranks_population`) only `DIED` and the engine's reasons unrank a row
OUT_OF_DTKS = 1
CIVIL_UNREPORTED = 2
RESIGNED = 3
DECLARED_INELIGIBLE = 4
SANGGAH_UPHELD = 5
INVALID = 6
DUPLICATE = 7
DIED = 8
REMOVAL_REASONS = {
    OUT_OF_DTKS: "out_of_dtks", CIVIL_UNREPORTED: "civil_unreported", RESIGNED: "resigned",
    DECLARED_INELIGIBLE: "declared_ineligible", SANGGAH_UPHELD: "sanggah_upheld",
    INVALID: "invalid", DUPLICATE: "duplicate", DIED: "died",
}
REQUEST_REASONS = (OUT_OF_DTKS, CIVIL_UNREPORTED, RESIGNED, DECLARED_INELIGIBLE, SANGGAH_UPHELD,
                   DIED)
#: removal requests after which, in the DTSEN era, the family stays ranked (`STATUS_BARRED`)
BARRING_REASONS = (OUT_OF_DTKS, CIVIL_UNREPORTED, RESIGNED, DECLARED_INELIGIBLE, SANGGAH_UPHELD)


def removed_status(reason: int, ranks_population: bool) -> int:
    """The status a removal with *reason* leaves its row in (docs/monthly.md §2.5-2.6).

    In the DTSEN era (*ranks_population*) a family removed by a request other than death is still
    a family of the population, which DTSEN ranks in full [DTSEN-2025-07][DESIL-METHOD]: it stays
    ranked but is barred from every programme (`STATUS_BARRED`) until an accepted proposal. A
    death, an invalid record (DESIL-0: desil 0 is a family not ranked, a NIK not matched) and a
    duplicate record (the family is ranked under its other record) leave the ranking
    (`STATUS_REMOVED`; a death `STATUS_DIED`, in either era, so that the enumeration of a switch
    to DTSEN can tell the dead apart), as every removal does in the DTKS era, whose register
    ranks only itself.
    """
    if reason == DIED:
        return STATUS_DIED
    return STATUS_BARRED if ranks_population and reason in BARRING_REASONS else STATUS_REMOVED

# reject reasons of records; 1-6 are sim.registry.nik's reason codes (NIK_LENGTH .. NIK_SERIAL)
REJECT_REASONS = {
    1: "nik_length", 2: "nik_province", 3: "nik_kabkota", 4: "nik_kecamatan", 5: "nik_date",
    6: "nik_serial", 7: "kk_invalid", 8: "dukcapil", 9: "bad_score", 10: "not_in_dtks",
    11: "superseded", 12: "duplicate_nik", 13: "duplicate_kk",
}
KK_INVALID, DUKCAPIL, BAD_SCORE, NOT_IN_DTKS, SUPERSEDED, DUPLICATE_NIK, DUPLICATE_KK = range(7, 14)

# programme exit reasons (docs/monthly.md §2.9)
EXIT_REASONS = {1: "removed", 2: "umr", 3: "no_qualifying_member", 4: "desil", 5: "quota"}
EXIT_REMOVED, EXIT_UMR, EXIT_NO_MEMBER, EXIT_DESIL, EXIT_QUOTA = 1, 2, 3, 4, 5

#: data columns carried by PROPOSE/UPDATE records (registry names and dtypes)
DATA_COLUMNS = ("nik", "kk", "size", "n_pregnant", "n_early_child", "n_sd", "n_smp", "n_sma",
                "n_disabled", "n_elderly", "earns_umr", "pmt_score", "dukcapil_match")
MEMBER_COLUMNS = ("n_pregnant", "n_early_child", "n_sd", "n_smp", "n_sma", "n_disabled",
                  "n_elderly")
_DTYPES = {"kind": np.dtype(np.int8), "row": np.dtype(np.int64), "reason": np.dtype(np.int8),
           "nik": np.dtype(np.int64), "kk": np.dtype(np.int64), "earns_umr": np.dtype(np.bool_),
           "pmt_score": np.dtype(np.float32), "dukcapil_match": np.dtype(np.bool_),
           "size": np.dtype(np.uint8), **{c: np.dtype(np.uint8) for c in MEMBER_COLUMNS}}
COLUMNS = ("kind", "row", "reason", *DATA_COLUMNS)


@dataclass(frozen=True)
class ChangeBatch:
    """Columnar change records in submission order (`columns[name][j]` is record `j`)."""

    columns: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        n = None
        for name in COLUMNS:
            if name not in self.columns:
                raise InputError(f"change batch lacks column {name!r}")
            arr = self.columns[name]
            if arr.dtype != _DTYPES[name] or arr.ndim != 1:
                raise InputError(f"change column {name!r}: expected 1-D {_DTYPES[name]}")
            if n is None:
                n = len(arr)
            elif len(arr) != n:
                raise InputError(f"change column {name!r} has {len(arr)} records, expected {n}")
        kinds = self.columns["kind"]
        if n and not np.isin(kinds, list(KINDS)).all():
            raise InputError("change batch: kind must be PROPOSE, UPDATE or REMOVE")
        rem = kinds == REMOVE
        if n and not np.isin(self.columns["reason"][rem], REQUEST_REASONS).all():
            raise InputError("change batch: a REMOVE record needs a request reason 1-5 or 8")

    def __len__(self) -> int:
        return len(self.columns["kind"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def check_rows(self, households: int) -> None:
        """Raise `InputError` if a record targets a row outside `0..households-1`."""
        rows = self.columns["row"]
        if len(rows) and (rows.min() < 0 or rows.max() >= households):
            raise InputError(f"change batch targets rows outside 0..{households - 1}")

    @classmethod
    def from_columns(cls, columns: Mapping[str, np.ndarray | list]) -> ChangeBatch:
        """Build from a mapping; missing data columns are zero, values are cast to their dtypes."""
        n = len(columns["kind"])
        cols = {}
        for name in COLUMNS:
            if name in columns:
                cols[name] = np.ascontiguousarray(np.asarray(columns[name]), dtype=_DTYPES[name])
            else:
                cols[name] = np.zeros(n, dtype=_DTYPES[name])
        return cls(cols)

    @classmethod
    def empty(cls) -> ChangeBatch:
        """A batch without records."""
        return cls({name: np.zeros(0, dtype=_DTYPES[name]) for name in COLUMNS})

    @classmethod
    def concat(cls, batches: list[ChangeBatch]) -> ChangeBatch:
        """Records of `batches` one after the other (earlier batches first)."""
        if not batches:
            return cls.empty()
        return cls({name: np.concatenate([b.columns[name] for b in batches]) for name in COLUMNS})

    def records(self) -> list[dict]:
        """The records as plain Python dicts (for the reference engine)."""
        lists = {name: self.columns[name].tolist() for name in COLUMNS}
        return [{name: lists[name][j] for name in COLUMNS} for j in range(len(self))]


def random_batch(registry: Registry, records: int, seed: int, *, propose: float = 0.45,
                 update: float = 0.35, invalid_nik: float = 0.01, dukcapil: float = 0.01,
                 dup_row: float = 0.02, dup_nik: float = 0.005, dup_kk: float = 0.005,
                 score_sd: float = 0.3, umr_flip: float = 0.02) -> ChangeBatch:
    """A seeded batch of `records` changes against `registry` (vectorized; for tests/benchmarks).

    Shares of kinds: `propose` proposals of rows not in DTKS, `update` updates of DTKS rows, the
    rest removal requests of DTKS rows (reasons uniform over the five). Data records copy the
    row's values with a re-assessed PMT score (+ N(0, score_sd)) and a few flipped `earns_umr` and
    member counts. Trouble injected: `invalid_nik` corrupted NIKs, `dukcapil` unmatched records,
    `dup_row` extra records for an already targeted row, `dup_nik`/`dup_kk` records carrying the
    NIK/KK of another DTKS row.
    """
    if records < 0:
        raise InputError("records must be >= 0")
    n = len(registry)
    if n == 0 or records == 0:
        return ChangeBatch.empty()
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0x6368616E])))
    status = registry["status"]
    u = rng.random(records)
    kind = np.where(u < propose, PROPOSE, np.where(u < propose + update, UPDATE, REMOVE))
    # targets: proposals prefer rows outside DTKS, updates/removals rows inside (if any exist)
    row = rng.integers(0, n, records)
    in_pick = _pick(rng, status, records, inside=True)
    out_pick = _pick(rng, status, records, inside=False)
    if len(out_pick):
        row = np.where(kind == PROPOSE, out_pick, row)
    if len(in_pick):
        row = np.where(kind != PROPOSE, in_pick, row)
    dup = rng.random(records) < dup_row
    if dup.any():
        row[dup] = row[rng.integers(0, records, int(dup.sum()))]
    cols: dict[str, np.ndarray] = {"kind": kind.astype(np.int8), "row": row.astype(np.int64)}
    cols["reason"] = np.where(kind == REMOVE, rng.integers(1, 6, records), 0).astype(np.int8)
    for name in DATA_COLUMNS:
        cols[name] = registry[name][row].copy()
    data = kind != REMOVE
    cols["pmt_score"] = (cols["pmt_score"]
                         + rng.normal(0.0, score_sd, records).astype(np.float32))
    cols["dukcapil_match"] = cols["dukcapil_match"] | (rng.random(records) < 0.9)
    flip = rng.random(records) < umr_flip
    cols["earns_umr"] = cols["earns_umr"] ^ flip
    births = rng.random(records) < 0.03
    cols["n_early_child"] = (cols["n_early_child"] + births).astype(np.uint8)
    cols["size"] = np.minimum(cols["size"].astype(np.int64) + births, 255).astype(np.uint8)
    bad = rng.random(records) < invalid_nik
    cols["nik"] = np.where(bad, cols["nik"] % 10**15, cols["nik"])  # 15 digits: LENGTH
    cols["dukcapil_match"] &= ~(rng.random(records) < dukcapil)
    if len(in_pick):
        other = _pick(rng, status, records, inside=True)
        dn = rng.random(records) < dup_nik
        cols["nik"] = np.where(dn, registry["nik"][other], cols["nik"])
        dk = rng.random(records) < dup_kk
        cols["kk"] = np.where(dk, registry["kk"][other], cols["kk"])
    for name in DATA_COLUMNS:
        cols[name] = np.where(data, cols[name], np.zeros(1, dtype=cols[name].dtype))
    return ChangeBatch.from_columns(cols)


def _pick(rng: np.random.Generator, status: np.ndarray, k: int, *, inside: bool) -> np.ndarray:
    """`k` random rows in DTKS (`inside`) or not, by rejection sampling (no index of all rows);
    empty if there is no such row."""
    n = len(status)
    out = np.zeros(0, dtype=np.int64)
    for _ in range(8):
        cand = rng.integers(0, n, 4 * k + 64)
        cand = cand[(status[cand] == STATUS_IN_DTKS) == inside]
        out = np.concatenate([out, cand])
        if len(out) >= k:
            return out[:k]
    rows = np.flatnonzero((status == STATUS_IN_DTKS) == inside)
    return rows[rng.integers(0, len(rows), k)] if len(rows) else rows
