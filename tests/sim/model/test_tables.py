"""The data dictionary (docs/outputs.md, sim/outputs/tables.py) matches every column written."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest

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
