"""The columnar household registry: one numpy array per attribute, indexed by household row.

Both clocks read and write the same arrays: the SimPy flow model (per-household events) and the
vectorized monthly engine (`sim.hotpath.monthly`) with its plain twin (`sim.hotpath.reference`).
Columns have
compact fixed dtypes listed in `SCHEMA`; money is integer rupiah (int64). On disk a registry is a
folder with one `.npy` file per column and `meta.json` (schema version, row count, seed, and
`synthetic: true`), so loading is a handful of sequential reads (optionally memory-mapped).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kks_emulator.errors import RegistryError

SCHEMA_VERSION = 2

# Programme bits in `programmes` / `eligible` masks.
PROG_BPNT = np.uint8(1)  # Program Sembako / BPNT
PROG_PKH = np.uint8(2)
PROG_PBI = np.uint8(4)  # PBI-JK (KIS PBI)

# `status` codes: where a household stands in DTKS/DTSEN.
STATUS_NOT_IN_DTKS = 0
STATUS_IN_DTKS = 1
STATUS_REMOVED = 2
#: DTSEN era only (`Params.ranks_population`): removed from the register by a request other than
#: death, so barred from every programme until an accepted proposal, but still a family of the
#: population and ranked in its deciles: DTSEN ranks every family [DTSEN-2025-07][DESIL-METHOD]
#: (docs/monthly.md §2.5, §2.7)
STATUS_BARRED = 3
#: removed by the request `DIED` (either era): the family left the population, so it is never
#: ranked and the DTKS -> DTSEN enumeration does not enter it (`sim.model.enumeration`)
STATUS_DIED = 4
#: statuses ranked in the national deciles (docs/monthly.md §2.7)
RANKED_STATUSES = (STATUS_IN_DTKS, STATUS_BARRED)

#: column name -> (dtype, meaning). Static attributes come from `sim.registry.population`;
#: state columns are written by the monthly engine and the flow model.
SCHEMA: dict[str, tuple[np.dtype, str]] = {
    # identity and place
    "nik": (np.dtype(np.int64), "16-digit NIK of the household head (synthetic)"),
    "kk": (np.dtype(np.int64), "16-digit No. KK (family card number, synthetic)"),
    "desa": (np.dtype(np.int32), "row in the desa table of sim.registry.regions"),
    "kabkota": (np.dtype(np.int16), "row in the kab/kota table (0..513)"),
    "province": (np.dtype(np.int8), "row in the province table (0..37)"),
    # members (enough for PKH components)
    "size": (np.dtype(np.uint8), "household members"),
    "n_pregnant": (np.dtype(np.uint8), "pregnant or post-partum members"),
    "n_early_child": (np.dtype(np.uint8), "children aged 0-6"),
    "n_sd": (np.dtype(np.uint8), "primary-school pupils (SD, 7-12)"),
    "n_smp": (np.dtype(np.uint8), "junior-secondary pupils (SMP, 13-15)"),
    "n_sma": (np.dtype(np.uint8), "senior-secondary pupils (SMA, 16-18)"),
    "n_disabled": (np.dtype(np.uint8), "members with severe disability"),
    "n_elderly": (np.dtype(np.uint8), "members aged 60 or more"),
    "earns_umr": (np.dtype(np.bool_), "a member earns at least the regional minimum wage"),
    "n_other_jkn": (np.dtype(np.uint8), "members (never the head) covered by another JKN "
                    "segment, so not PBI-JK when the household holds it (`pbi_persons`)"),
    # welfare
    "consumption": (np.dtype(np.int32), "true monthly consumption per capita, rupiah"),
    "pmt_score": (np.dtype(np.float32), "PMT welfare score = log truth + noise (lower = poorer)"),
    "dukcapil_match": (np.dtype(np.bool_), "record is padan (matched) with the civil registry"),
    # state
    "status": (np.dtype(np.int8), "STATUS_* code in DTKS/DTSEN"),
    "desil": (np.dtype(np.int8), "national welfare decile 1-10 (0 = not ranked)"),
    "programmes": (np.dtype(np.uint8), "PROG_* bits of the programmes received"),
    "bank": (np.dtype(np.int8), "HIMBARA bank of the KKS account (-1 = none)"),
    "balance": (np.dtype(np.int64), "KKS balance from BPNT and PKH credits, rupiah"),
    "unspent_months": (np.dtype(np.uint8), "consecutive months with an unspent BPNT balance"),
}


def pbi_persons(size: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Persons who hold PBI-JK in households of *size* members holding it, *other* of whom are
    covered by another JKN segment: ``size - min(other, size - 1)``, the head always counted (a
    household of no members counts none). PBI-JK is a person's [PBI-DEACT-2026]; the quota, the
    premium, the rounds and the deciles' deactivations count these persons. Same dtype as
    *size* (uint8 in the registry: no temporaries wider than a byte)."""
    size = np.asarray(size)
    head = (size > 0).astype(size.dtype)
    return size - np.minimum(np.asarray(other).astype(size.dtype), size - head)


def pbi_persons_at(registry: Mapping[str, np.ndarray], rows=slice(None)) -> np.ndarray:
    """`pbi_persons` of the households *rows* (an index array, a bool mask or a slice) of
    *registry* (a `Registry` or its columns)."""
    return pbi_persons(registry["size"][rows], registry["n_other_jkn"][rows])


def pbi_persons_of(size: int, other: int) -> int:
    """`pbi_persons` of one household, in plain Python ints (the reference twin's)."""
    return size - min(other, max(size - 1, 0))


@dataclass
class Registry:
    """Household registry: equal-length numpy columns named and typed by `SCHEMA`."""

    columns: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = None
        for name, arr in self.columns.items():
            if name not in SCHEMA:
                raise RegistryError(f"unknown registry column {name!r}")
            dtype = SCHEMA[name][0]
            if arr.dtype != dtype:
                raise RegistryError(f"column {name!r} has dtype {arr.dtype}, expected {dtype}")
            if arr.ndim != 1:
                raise RegistryError(f"column {name!r} is not one-dimensional")
            if n is None:
                n = len(arr)
            elif len(arr) != n:
                raise RegistryError(f"column {name!r} has {len(arr)} rows, expected {n}")
        missing = [c for c in SCHEMA if c not in self.columns]
        if missing:
            raise RegistryError(f"registry lacks columns: {', '.join(missing)}")

    def __len__(self) -> int:
        return len(self.columns["nik"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __iter__(self) -> Iterator[str]:
        return iter(SCHEMA)

    @property
    def nbytes(self) -> int:
        """Bytes held by all columns."""
        return sum(a.nbytes for a in self.columns.values())

    def copy(self) -> Registry:
        """A deep copy (every column copied)."""
        return Registry({k: v.copy() for k, v in self.columns.items()}, dict(self.meta))

    @classmethod
    def empty(cls, n: int) -> Registry:
        """A registry of `n` zeroed rows (bank set to -1)."""
        cols = {name: np.zeros(n, dtype=dt) for name, (dt, _) in SCHEMA.items()}
        cols["bank"][:] = -1
        return cls(cols)

    @classmethod
    def from_columns(cls, columns: Mapping[str, np.ndarray], meta: dict | None = None) -> Registry:
        """Build from a mapping, casting each column to its schema dtype."""
        cols = {name: np.ascontiguousarray(columns[name], dtype=SCHEMA[name][0])
                for name in SCHEMA if name in columns}
        return cls(cols, dict(meta or {}))


def save(registry: Registry, out: Path) -> None:
    """Write `registry` to folder `out` (created): one `.npy` per column plus `meta.json`."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegistryError(f"{out}: cannot create registry folder ({exc.strerror})") from None
    # meta.json is written last and removed first, so an interrupted save never looks complete
    (out / "meta.json").unlink(missing_ok=True)
    for name in SCHEMA:
        np.save(out / f"{name}.npy", registry.columns[name], allow_pickle=False)
    meta = dict(registry.meta)
    meta.update(schema_version=SCHEMA_VERSION, households=len(registry), synthetic=True)
    (out / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def load(folder: Path, mmap: bool = False) -> Registry:
    """Read a registry written by `save`; `mmap=True` maps columns read-only instead of reading."""
    folder = Path(folder)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise RegistryError(f"{folder}: not a registry (no meta.json)")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise RegistryError(f"{meta_path}: not valid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{meta_path}: unreadable ({exc})") from None
    if not isinstance(meta, dict):
        raise RegistryError(f"{meta_path}: expected a JSON object")
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise RegistryError(
            f"{folder}: schema version {meta.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    cols = {}
    for name in SCHEMA:
        path = folder / f"{name}.npy"
        if not path.is_file():
            raise RegistryError(f"{folder}: missing column file {path.name}")
        try:
            cols[name] = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise RegistryError(f"{path}: unreadable column ({reason})") from None
    reg = Registry(cols, meta)
    if len(reg) != meta.get("households"):
        raise RegistryError(f"{folder}: {len(reg)} rows, meta.json says {meta.get('households')}")
    return reg
