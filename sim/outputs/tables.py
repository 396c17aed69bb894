"""The data tables of a results folder, their columns as data, and the data dictionary.

`TABLES` names every column of every table with its type, unit, scale and meaning; the writer
builds each table from the run and refuses to write a column the dictionary does not name (or
to leave one out), and `docs/outputs.md` is generated from it (`python -m sim.outputs.tables`;
a test holds the two equal). Categories are decoded: programme names (``bpnt+pkh``), states,
sources and banks are strings in every table, and provinces and kab/kota carry their names
beside their codes.

*Scale*: ``sample`` values are as simulated (one row per simulated household or proposal; to get
territory totals multiply sums by ``weight``, real households per simulated one); ``territory``
values are already scaled; ``-`` is neither (times, codes, shares).

Formats: Parquet (zstd) for every table and CSV (UTF-8, header row, ``,``, empty for missing)
beside it for the small ones (`SMALL`) by default; ``--format csv`` writes CSV only, ``--format
both`` both for every table.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.model.context import STATES, Context
from sim.model.targeting import true_deciles
from sim.registry import privacy, regions
from sim.registry.table import PROG_BPNT, PROG_PBI, PROG_PKH
from sim.scenario.loader import BANKS
from sim.scenario.streams import SOURCE_KEYS

FORMATS = ("parquet", "csv", "both")
SMALL = ("monthly", "queues", "provinces", "decrees", "budget")
STATUS_NAMES = ("not_in_dtks", "in_dtks", "removed", "barred", "died")
SOURCE_NAMES = tuple(sorted(SOURCE_KEYS, key=SOURCE_KEYS.get))


@dataclass(frozen=True)
class Column:
    """One column: Arrow type name, unit, scale (sample, territory or -) and meaning."""

    name: str
    type: str
    unit: str
    scale: str
    meaning: str


#: the two families of targeting errors (docs/calibration.md §6)
_FAMILY_DOCS = {
    "kemensos_inclusion_share": "recipients outside the Kemensos target group (poorest 40%) / "
                                "recipients",
    "kemensos_exclusion_share": "target group not receiving / target group",
    "alatas_inclusion_rate": "non-poor receiving / non-poor (Alatas 2012; poor = poorest "
                             "35.25%)",
    "alatas_exclusion_rate": "poor not receiving / poor (Alatas 2012)",
}


def _c(name: str, type_: str, unit: str, scale: str, meaning: str) -> Column:
    return Column(name, type_, unit, scale, meaning)


_PROV = (_c("province", "string", "code", "-", "province code (PP, Kepmendagri)"),
         _c("province_name", "string", "-", "-", "province name"))
_KAB = (_c("kabkota", "string", "code", "-", "kab/kota code (PP.KK)"),
        _c("kabkota_name", "string", "-", "-", "kab/kota name"))

#: table -> (what one row is, columns)
TABLES: dict[str, tuple[str, tuple[Column, ...]]] = {
    "households": ("one simulated household at the end of the horizon", (
        _c("pseudonym", "string", "-", "-", "keyed HMAC-SHA256 of the NIK (never the NIK)"),
        *_PROV, *_KAB,
        _c("weight", "float64", "households", "-", "real households this row stands for "
           "(1 / fraction)"),
        _c("true_decile", "int8", "1-10", "-", "decile of true per-capita consumption among "
           "the simulated households (1 = poorest)"),
        _c("desil", "int8", "0-10", "-", "DTKS decile the engine ranked (0 = not ranked)"),
        _c("status", "string", "-", "-", "DTKS status: " + ", ".join(STATUS_NAMES)),
        _c("programmes", "string", "-", "-", "programmes held, '+'-joined from bpnt, pkh, pbi "
           "(empty = none)"),
        _c("bank", "string", "-", "-", "HIMBARA bank of the KKS account (empty = none)"),
        _c("card_active", "bool", "-", "-", "the household's KKS is active"),
        _c("balance_rp", "int64", "rupiah", "sample", "BPNT/PKH balance held on the card"),
        _c("unspent_months", "int8", "months", "-", "consecutive months with an unspent "
           "balance"),
        _c("proposal_source", "string", "-", "-", "source of its last proposal: "
           + ", ".join(SOURCE_NAMES) + " (empty = never proposed)"),
        _c("proposal_state", "string", "-", "-", "final state of its last proposal (see "
           "proposals.state; empty = never proposed)"),
    )),
    "proposals": ("one proposal (a household can have several)", (
        _c("proposal", "int64", "-", "-", "proposal number, in arrival order"),
        _c("pseudonym", "string", "-", "-", "keyed HMAC-SHA256 of the household's NIK"),
        *_PROV, *_KAB,
        _c("source", "string", "-", "-", "where it came from: " + ", ".join(SOURCE_NAMES)),
        _c("state", "string", "-", "-", "state at the end of the horizon: "
           + ", ".join(STATES)),
        _c("t_arrive", "float64", "days", "-", "arrival, days since the scenario start"),
        _c("t_dtks", "float64", "days", "-", "decree that put it in DTKS (empty = not by the "
           "horizon: censored)"),
        _c("t_credit", "float64", "days", "-", "first credit (empty = censored or never)"),
        _c("t_redeem", "float64", "days", "-", "first redemption (empty = censored or never)"),
    )),
    "monthly": ("one credit day (a period of the engine)", (
        _c("period", "int64", "-", "-", "engine period: months since January 2000"),
        _c("date", "string", "date", "-", "credit day (ISO)"),
        _c("weight", "float64", "households", "-", "multiply sample columns by it for "
           "territory totals"),
        _c("bpnt_credits", "int64", "KPM", "sample", "BPNT credits posted"),
        _c("pkh_credits", "int64", "KPM", "sample", "PKH credits posted"),
        _c("pbi_credits", "int64", "households", "sample", "PBI-JK premiums paid"),
        _c("credited_rp", "int64", "rupiah", "sample", "BPNT + PKH credited to cards"),
        _c("pbi_premium_rp", "int64", "rupiah", "sample", "PBI-JK premiums paid to BPJS"),
        _c("redeemed_rp", "int64", "rupiah", "sample", "redeemed in the period, after "
           "give-ups"),
        _c("returned_rp", "int64", "rupiah", "sample", "returned to the treasury"),
        _c("held_rp", "int64", "rupiah", "sample", "held on cards after the period"),
        _c("redeemers", "int64", "KPM", "sample", "households that redeemed"),
        _c("proposals_to_date", "int64", "proposals", "sample", "proposals so far"),
        _c("dtks", "int64", "households", "sample", "DTKS size on the credit day"),
        _c("kpm_credited", "int64", "KPM", "sample", "households credited BPNT or PKH"),
        _c("collected", "int64", "KPM", "sample", "credited households that collected "
           "(payout completion = collected / kpm_credited)"),
        _c("gave_up", "int64", "KPM", "sample", "households that drew a redemption and gave "
           "up collecting (balked, reneged, sent home, out of visits)"),
        _c("bpnt_rp", "int64", "rupiah", "sample", "BPNT credited (own and arrears tranches)"),
        _c("pkh_rp", "int64", "rupiah", "sample", "PKH credited (own and arrears tranches)"),
        _c("bpnt_withheld", "int64", "tranches", "sample", "BPNT tranches due but withheld "
           "(KKS not active, or the tranche paused; docs/monthly.md 4.1)"),
        _c("pkh_withheld", "int64", "tranches", "sample", "PKH tranches due but withheld"),
        _c("bpnt_arrears", "int64", "tranches", "sample", "owed BPNT tranches paid with this "
           "one (rapel)"),
        _c("pkh_arrears", "int64", "tranches", "sample", "owed PKH tranches paid with this one"),
    )),
    "budget": ("one programme in one month: money used (sim/outputs/budget.py)", (
        _c("month", "string", "date", "-", "calendar month (YYYY-MM)"),
        _c("programme", "string", "-", "-", "bpnt, pkh, pbi, or the one-off programme's name"),
        _c("credited_rp", "int64", "rupiah", "sample", "credited (BPNT, PKH), premiums paid (PBI) "
           "or paid out (one-off) in the month"),
        _c("kpm", "int64", "KPM", "sample", "households credited or paid"),
        _c("withheld_tranches", "int64", "tranches", "sample", "tranches due but withheld"),
        _c("arrears_tranches", "int64", "tranches", "sample", "owed tranches paid (rapel)"),
        _c("decreed_rp", "int64", "rupiah", "sample", "one-off budget decreed in the month"),
        _c("returned_rp", "int64", "rupiah", "sample", "one-off money not collected, returned"),
        _c("conserved", "int64", "-", "-", "1 when the programme's money adds up"),
        _c("ytd_rp", "int64", "rupiah", "sample", "the programme's money of the fiscal year "
           "(January to December) up to and including the month (with territory.context = "
           "'national': the whole country's, weighted, as the ceiling counts it)"),
        _c("ceiling_rp", "int64", "rupiah", "sample", "the programme's budget line for the "
           "year in force that month (0 = none; sim/model/ceiling.py)"),
    )),
    "queues": ("one stage on one working day at midday", (
        _c("day", "int32", "days", "-", "day since the scenario start"),
        _c("date", "string", "date", "-", "the day (ISO)"),
        _c("stage", "string", "-", "-", "verval, siks, dinsos, kemensos, burekol, printing, "
           "redeem"),
        _c("queued", "int32", "items", "sample", "waiting for a server"),
        _c("busy", "int32", "servers", "sample", "servers at work"),
        _c("servers", "int32", "servers", "sample", "servers of the stage in the model (virtual "
           "units have a real unit's staff; national pools are scaled)"),
    )),
    "decrees": ("one decree (the initial one at day 0, then every decree period): targeting "
                "right after it", (
        _c("period", "int64", "-", "-", "engine period: months since January 2000"),
        _c("date", "string", "date", "-", "day of the decree (ISO)"),
        _c("t", "float64", "days", "-", "time of the decree since the scenario start"),
        *(_c(f"{k}_{p}", "float64", "share", "-",
             f"{p.upper()} right after the decree: " + _FAMILY_DOCS[k])
          for p in ("bpnt", "pkh", "pbi") for k in _FAMILY_DOCS),
    )),
    "provinces": ("one province of the territory", (
        *_PROV,
        _c("households", "int64", "households", "territory", "households"),
        _c("recipients_bpnt", "int64", "KPM", "territory", "BPNT recipients at the horizon"),
        _c("kemensos_inclusion_share_bpnt", "float64", "share", "-", "BPNT recipients outside "
           "the territory-wide target group / BPNT recipients"),
        _c("kemensos_exclusion_share_bpnt", "float64", "share", "-", "target-group households "
           "without BPNT / target group"),
        _c("resources_verval_officers", "int64", "officers", "territory", "verval officers"),
        _c("resources_siks_operators", "int64", "operators", "territory", "SIKS-NG operators"),
        _c("resources_dinsos_officers", "int64", "officers", "territory", "Dinsos officers"),
        _c("resources_burekol_accounts_per_day", "int64", "accounts/day", "territory",
           "burekol capacity of the province's bank branches"),
        _c("resources_ewarong_agents", "int64", "agents", "territory", "e-warong (catchment "
           "rule)"),
        _c("resources_pos_officers", "int64", "officers", "territory", "PT Pos paying "
           "officers"),
        _c("resources_atms", "int64", "ATMs", "territory", "ATMs KPM cash out at "
           "(capacity.atm_per_kecamatan per kecamatan)"),
    )),
}


#: rows per record batch of the per-household and per-proposal tables. They are built, checked
#: and written one batch at a time, so the writer never holds a whole table: at national scale
#: the households table alone would be several GB in the client (docs/distributed.md §5)
BATCH_ROWS = 1 << 17


def _names(codes: np.ndarray, table: tuple[str, ...]) -> list[str]:
    return [table[int(c)] for c in codes]


def _decode(names: pa.Array, codes: np.ndarray) -> pa.Array:
    """The strings ``names[codes]`` as an Arrow array, taken in C++ (no Python string per row)."""
    return names.take(pa.array(np.asarray(codes, dtype=np.int64)))


def _lut(names: Sequence[str]) -> pa.Array:
    return pa.array(list(names), pa.string())


class _KabNames:
    """Province and kab/kota codes and names of registry kab/kota rows, decoded by table
    lookup (one string per kab/kota, taken per row)."""

    def __init__(self) -> None:
        regs = regions.load()
        prov = regs.kabkota_province
        self.province = _lut([f"{int(c):02d}" for c in regs.province_code[prov]])
        self.province_name = _lut([regs.province_name[int(r)] for r in prov])
        self.kabkota = _lut([f"{int(c) // 100:02d}.{int(c) % 100:02d}"
                             for c in regs.kabkota_code])
        self.kabkota_name = _lut(list(regs.kabkota_name))

    def columns(self, kab_rows: np.ndarray) -> dict[str, pa.Array]:
        """The four region columns of rows in kab/kota *kab_rows*."""
        return {name: _decode(getattr(self, name), kab_rows)
                for name in ("province", "province_name", "kabkota", "kabkota_name")}


def _programme_lut() -> list[str]:
    return ["+".join(n for n, bit in (("bpnt", PROG_BPNT), ("pkh", PROG_PKH), ("pbi", PROG_PBI))
                     if b & int(bit)) for b in range(256)]


def _pseudonym_array(niks: np.ndarray, key: privacy.PseudonymKey) -> pa.Array:
    """Pseudonyms of *niks* as an Arrow string array built from one contiguous ASCII buffer."""
    if not len(niks):
        return pa.array([], pa.string())
    texts = privacy.pseudonyms(niks, key).astype(f"S{privacy.PSEUDONYM_CHARS}")
    width = privacy.PSEUDONYM_CHARS
    offsets = np.arange(0, width * (len(texts) + 1), width, dtype=np.int32)
    return pa.StringArray.from_buffers(len(texts), pa.py_buffer(offsets),
                                       pa.py_buffer(texts.tobytes()))


def _last_proposal(rows: np.ndarray, n: int) -> np.ndarray:
    """Per registry row, the number of its last proposal (-1 if none; int32 while the
    proposals fit, as a run's always have: 4 bytes per household, not 8)."""
    last = np.full(n, -1, dtype=np.int32 if len(rows) < 2**31 else np.int64)
    if len(rows):
        back = rows[::-1]
        uniq, first_back = np.unique(back, return_index=True)
        last[uniq] = len(rows) - 1 - first_back
    return last


def _spans(n: int) -> range:
    """Batch starts over *n* rows; one (empty) batch when there are none, for the schema."""
    return range(0, max(n, 1), BATCH_ROWS)


def household_batches(ctx: Context, key: privacy.PseudonymKey) -> Iterator[pa.RecordBatch]:
    """The households table, `BATCH_ROWS` rows at a time (the batches of `households`)."""
    reg = ctx.registry
    n = len(reg)
    last = _last_proposal(np.asarray(ctx.props.row, dtype=np.int64), n)
    decile = true_deciles(ctx)
    none = len(SOURCE_NAMES), len(STATES)  # the "" entry of each lookup
    src = np.append(np.asarray(ctx.props.source, dtype=np.int64), none[0])
    st = np.append(np.asarray(ctx.props.state, dtype=np.int64), none[1])
    kab = _KabNames()
    luts = {"status": _lut(STATUS_NAMES), "programmes": _lut(_programme_lut()),
            "bank": _lut([*BANKS, ""]), "source": _lut([*SOURCE_NAMES, ""]),
            "state": _lut([*STATES, ""])}
    for a in _spans(n):
        b = min(n, a + BATCH_ROWS)
        lp = last[a:b]  # -1 reads the appended "" entry of src and st
        bank = reg["bank"][a:b].astype(np.int64)
        yield pa.RecordBatch.from_pydict({
            "pseudonym": _pseudonym_array(reg["nik"][a:b], key),
            **kab.columns(reg["kabkota"][a:b]),
            "weight": pa.array(np.full(b - a, ctx.frame.weight)),
            "true_decile": pa.array(decile[a:b]),
            "desil": pa.array(reg["desil"][a:b].astype(np.int8)),
            "status": _decode(luts["status"], reg["status"][a:b]),
            "programmes": _decode(luts["programmes"], reg["programmes"][a:b]),
            "bank": _decode(luts["bank"], np.where(bank >= 0, bank, len(BANKS))),
            "card_active": pa.array(ctx.card_active[a:b]),
            "balance_rp": pa.array(reg["balance"][a:b].astype(np.int64)),
            "unspent_months": pa.array(np.minimum(reg["unspent_months"][a:b], 127)
                                       .astype(np.int8)),
            "proposal_source": _decode(luts["source"], src[lp]),
            "proposal_state": _decode(luts["state"], st[lp])})


def households(ctx: Context, key: privacy.PseudonymKey) -> pa.Table:
    """The households table."""
    return pa.Table.from_batches(list(household_batches(ctx, key)))


def proposal_batches(ctx: Context, key: privacy.PseudonymKey) -> Iterator[pa.RecordBatch]:
    """The proposals table, `BATCH_ROWS` rows at a time (the batches of `proposals`)."""
    p = ctx.props
    n = len(p)
    kab = _KabNames()
    luts = {"source": _lut(SOURCE_NAMES), "state": _lut(STATES)}
    for a in _spans(n):
        b = min(n, a + BATCH_ROWS)
        rows = np.asarray(p.row[a:b], dtype=np.int64)
        yield pa.RecordBatch.from_pydict({
            "proposal": pa.array(np.arange(a, b, dtype=np.int64)),
            "pseudonym": _pseudonym_array(ctx.registry["nik"][rows], key),
            **kab.columns(ctx.registry["kabkota"][rows]),
            "source": _decode(luts["source"], np.asarray(p.source[a:b])),
            "state": _decode(luts["state"], np.asarray(p.state[a:b])),
            **{name: pa.array(np.asarray(getattr(p, name)[a:b], dtype=np.float64),
                              from_pandas=name != "t_arrive")
               for name in ("t_arrive", "t_dtks", "t_credit", "t_redeem")}})


def proposals(ctx: Context, key: privacy.PseudonymKey) -> pa.Table:
    """The proposals table."""
    return pa.Table.from_batches(list(proposal_batches(ctx, key)))


def monthly(ctx: Context) -> pa.Table:
    """The monthly table (one row per credit day)."""
    months = ctx.mon.months
    spec = TABLES["monthly"][1]
    out: dict[str, Any] = {}
    for col in spec:
        if col.name == "weight":
            out["weight"] = pa.array([ctx.frame.weight] * len(months), pa.float64())
        else:
            out[col.name] = pa.array([m[col.name] for m in months], _arrow(col.type))
    extra = sorted({k for m in months for k in m} - {c.name for c in spec})
    for name in extra:  # undocumented: fail loudly in `check` rather than drop it
        out[name] = pa.array([m[name] for m in months])
    return pa.table(out)


def queues(ctx: Context) -> pa.Table:
    """The queues table."""
    s = ctx.mon.samples
    return pa.table({
        "day": pa.array([x[0] for x in s], pa.int32()),
        "date": pa.array([ctx.cal.date(float(x[0])).isoformat() for x in s], pa.string()),
        "stage": pa.array([x[1] for x in s], pa.string()),
        "queued": pa.array([x[2] for x in s], pa.int32()),
        "busy": pa.array([x[3] for x in s], pa.int32()),
        "servers": pa.array([x[4] for x in s], pa.int32()),
    })


def decrees(ctx: Context) -> pa.Table:
    """The decrees table (targeting snapshots, `sim.model.targeting`)."""
    snaps = ctx.mon.targeting
    return pa.table({c.name: pa.array([s[c.name] for s in snaps], _arrow(c.type))
                     for c in TABLES["decrees"][1]})


def provinces(by_province: dict[str, dict[str, Any]]) -> pa.Table:
    """The provinces table from `results.by_province`."""
    regs = regions.load()
    codes = sorted(by_province)
    rows = [int(regs.province_lookup[int(c)]) for c in codes]
    out: dict[str, Any] = {"province": pa.array(codes, pa.string()),
                           "province_name": pa.array(_names(np.array(rows, dtype=np.int64),
                                                            regs.province_name), pa.string())}
    for col in TABLES["provinces"][1][2:]:
        out[col.name] = pa.array([by_province[c].get(col.name) for c in codes],
                                 _arrow(col.type))
    return pa.table(out)


def _arrow(name: str) -> pa.DataType:
    return getattr(pa, "bool_" if name == "bool" else name)()


def check(name: str, table: pa.Table | pa.RecordBatch) -> None:
    """Raise AssertionError unless *table* has exactly the dictionary's columns and types."""
    spec = TABLES[name][1]
    got = [(f.name, str(f.type)) for f in table.schema]
    want = [(c.name, "bool" if c.type == "bool" else c.type) for c in spec]
    want = [(n, "double" if t == "float64" else t) for n, t in want]
    if got != want:
        raise AssertionError(f"{name}: columns {got} differ from the data dictionary {want} "
                             "(sim/outputs/tables.py TABLES, docs/outputs.md)")


def _csv_rows(wr: Any, batch: pa.RecordBatch | pa.Table) -> None:
    cols = [c.to_pylist() for c in batch.columns]
    for row in zip(*cols, strict=True):
        wr.writerow(["" if v is None or (isinstance(v, float) and v != v) else
                     (f"{v:.10g}" if isinstance(v, float) else v) for v in row])


def to_csv(table: pa.Table) -> str:
    """CSV text of *table*: header row, ``,``, ``\\n``, empty cells for missing values.

    Floats are written with at most 10 significant digits (``%.10g``): readable, stable, and
    never a 16-digit run that could pass for a NIK.
    """
    buf = io.StringIO()
    wr = csv.writer(buf, lineterminator="\n")
    wr.writerow(table.column_names)
    _csv_rows(wr, table)
    return buf.getvalue()


def _batches_of(table: pa.Table) -> Iterator[pa.RecordBatch]:
    batches = table.to_batches()
    yield from batches or [pa.RecordBatch.from_pylist([], schema=table.schema)]


def write(name: str, table: pa.Table | Iterable[pa.RecordBatch], folder: Path,
          fmt: str) -> list[str]:
    """Write table *name* in *fmt* into *folder*; return the file names written.

    *table* is a whole table or its record batches (`household_batches`), at least one: the
    batches are checked against the data dictionary and written as they come (a Parquet row
    group each, CSV rows as `to_csv` writes them), so only one batch is held at a time.
    """
    batches = iter(_batches_of(table) if isinstance(table, pa.Table) else table)
    first = next(batches)
    check(name, first)
    files = []
    with contextlib.ExitStack() as stack:
        parquet = csv_writer = None
        if fmt in ("parquet", "both"):
            parquet = stack.enter_context(pq.ParquetWriter(folder / f"{name}.parquet",
                                                           first.schema, compression="zstd"))
            files.append(f"{name}.parquet")
        if fmt in ("csv", "both") or (fmt == "parquet" and name in SMALL):
            fh = stack.enter_context(open(folder / f"{name}.csv", "w", encoding="utf-8",
                                          newline=""))
            csv_writer = csv.writer(fh, lineterminator="\n")
            csv_writer.writerow(first.schema.names)
            files.append(f"{name}.csv")
        for batch in itertools.chain([first], batches):
            if batch is not first:
                check(name, batch)
            if parquet is not None and batch.num_rows:
                parquet.write_batch(batch)
            if csv_writer is not None:
                _csv_rows(csv_writer, batch)
    return files


def markdown() -> str:
    """docs/outputs.md: the data dictionary, generated from `TABLES`."""
    lines = ["# Output tables: the data dictionary", "",
             "<!-- generated by `python -m sim.outputs.tables > docs/outputs.md`; a test holds "
             "it equal to sim/outputs/tables.py -->", "",
             "Every results folder of `kks sim run` holds these tables. By default each is "
             "Parquet (zstd), and the small ones (" + ", ".join(SMALL) + ") are also CSV "
             "beside it; `--format csv` writes CSV only and `--format both` both, for every "
             "table. CSV is UTF-8 with a header row; a missing value (a time not reached by "
             "the horizon: censored) is an empty cell. Categories are names, the same in "
             "every table; provinces and kab/kota carry their names beside their codes.", "",
             "*Scale*: `sample` values are as simulated (sum them and multiply by `weight`, "
             "real households per simulated one, for territory totals); `territory` values "
             "are already scaled; `-` is neither.", "",
             "To read them in Python: `pip install -e .[analysis]` (pandas), then "
             "`pandas.read_parquet(\"results/baseline/households.parquet\")`; any spreadsheet "
             "opens the CSV files.", ""]
    for name, (row, cols) in TABLES.items():
        lines += [f"## `{name}`", "", f"One row: {row}.", "",
                  "| column | type | unit | scale | meaning |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| `{c.name}` | {c.type} | {c.unit} | {c.scale} | {c.meaning} |"
                  for c in cols]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - documentation generator
    import sys

    sys.stdout.write(markdown())
