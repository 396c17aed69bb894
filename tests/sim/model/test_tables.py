"""The data dictionary (docs/outputs.md, sim/outputs/tables.py) matches every column written."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.outputs import results as outputs
from sim.outputs import tables

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from tests.sim.model.conftest import run_small

    out = tmp_path_factory.mktemp("tables") / "run"
    outputs.write(run_small("baseline"), out, fmt="both")
    return out


def test_docs_outputs_md_is_generated_from_the_writer() -> None:
    doc = (ROOT / "docs" / "outputs.md").read_text(encoding="utf-8")
    assert doc == tables.markdown(), "regenerate: python -m sim.outputs.tables > docs/outputs.md"


def test_every_column_written_is_in_the_dictionary_and_back(folder: Path) -> None:
    for name, (_, cols) in tables.TABLES.items():
        want = [c.name for c in cols]
        schema = pq.read_schema(folder / f"{name}.parquet")
        assert schema.names == want, name
        with (folder / f"{name}.csv").open(encoding="utf-8") as fh:
            header = next(csv.reader(fh))
        assert header == want, name
    written = {p.stem for p in folder.glob("*.parquet")}
    assert written == set(tables.TABLES)


def test_categories_are_decoded_and_the_same_in_every_table(folder: Path) -> None:
    hh = pq.read_table(folder / "households.parquet").to_pylist()
    props = pq.read_table(folder / "proposals.parquet")
    states = set(props.column("state").to_pylist())
    assert states and all(isinstance(s, str) for s in states)
    assert {h["proposal_state"] for h in hh} - {""} <= states | set(tables.STATES)
    progs = {h["programmes"] for h in hh}
    # decoded names ("bpnt+pbi"); with PBI-JK in persons nearly every BPNT KPM also holds PBI-JK
    assert "" in progs and any("bpnt" in p.split("+") for p in progs)
    assert {h["province_name"] for h in hh} == {"Jawa Tengah"}
    assert {h["kabkota"] for h in hh} == {"33.71"}
    assert all(h["weight"] == 1.0 for h in hh[:10])


def test_a_table_with_an_undocumented_column_is_refused() -> None:
    import pyarrow as pa

    t = pa.table({"day": pa.array([1], pa.int32()), "surprise": pa.array([2])})
    with pytest.raises(AssertionError, match="data dictionary"):
        tables.check("queues", t)


def test_default_format_puts_csv_beside_the_small_tables_only(tmp_path: Path) -> None:
    from tests.sim.model.conftest import run_small

    outputs.write(run_small("baseline"), tmp_path / "r", fmt="parquet")
    csvs = {p.stem for p in (tmp_path / "r").glob("*.csv")}
    assert csvs == {"kpi", *tables.SMALL}


def test_tables_written_in_batches_are_the_tables_row_for_row(folder: Path, tmp_path: Path,
                                                              monkeypatch) -> None:
    """The per-household and per-proposal tables are built and written a batch at a time (the
    client never holds them whole); split into many odd-sized batches they are the same files
    row for row, and the CSV byte for byte."""
    from tests.sim.model.conftest import run_small

    monkeypatch.setattr(tables, "BATCH_ROWS", 997)
    outputs.write(run_small("baseline"), tmp_path / "r", fmt="both")
    for name in ("households", "proposals"):
        whole = pq.read_table(folder / f"{name}.parquet")
        batched = pq.ParquetFile(tmp_path / "r" / f"{name}.parquet")
        assert whole.num_rows > 2 * 997 and batched.num_row_groups > 2, name
        assert batched.read().equals(whole), name
        assert ((tmp_path / "r" / f"{name}.csv").read_bytes()
                == (folder / f"{name}.csv").read_bytes()), name


def test_an_empty_table_is_written_with_its_columns(tmp_path: Path) -> None:
    import pyarrow as pa

    spec = tables.TABLES["queues"][1]
    empty = pa.table({c.name: pa.array([], tables._arrow(c.type)) for c in spec})
    assert tables.write("queues", empty, tmp_path, "both") == ["queues.parquet", "queues.csv"]
    back = pq.read_table(tmp_path / "queues.parquet")
    assert back.num_rows == 0 and back.schema.names == [c.name for c in spec]
    assert (tmp_path / "queues.csv").read_text(encoding="utf-8") == ",".join(
        c.name for c in spec) + "\n"


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.integers(0, max(n - 1, 0)),
                                             max_size=60 if n else 0))))
def test_last_proposal_of_each_row_matches_a_plain_loop(case) -> None:
    """`_last_proposal` (vectorized) against the per-record loop it replaced."""
    import numpy as np

    n, rows = case
    want = [-1] * n
    for i, row in enumerate(rows):
        want[row] = i
    got = tables._last_proposal(np.asarray(rows, dtype=np.int64), n)
    assert got.tolist() == want


def test_pseudonyms_of_no_rows_are_an_empty_column() -> None:
    """A run without proposals writes an empty proposals table (its batch has no NIK)."""
    import numpy as np
    import pyarrow as pa

    from sim.registry import privacy

    key = privacy.load_key("households", allow_synthetic=True)
    empty = tables._pseudonym_array(np.zeros(0, dtype=np.int64), key)
    assert empty.type == pa.string() and len(empty) == 0
    one = tables._pseudonym_array(np.array([3171012345678901], dtype=np.int64), key)
    assert one.to_pylist() == [privacy.pseudonym(3171012345678901, key)]
