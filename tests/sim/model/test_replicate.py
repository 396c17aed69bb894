"""Replications give the same per-replication results sequentially, on a local process pool and
on a real Dask distributed cluster (S-PAR)."""

from __future__ import annotations

import pytest

from sim.model.replicate import replication_seeds, run_one, run_replications
from tests.sim.model.conftest import SCENARIOS, SMALL

PATH = str(SCENARIOS / "baseline.toml")


@pytest.fixture(scope="module")
def sequential(tmp_path_factory) -> tuple[list[dict], object]:
    """Two replications run one after the other in this process: (KPIs, folder)."""
    folder = tmp_path_factory.mktemp("seq")
    seeds = replication_seeds(20250101, 2)
    rows = [run_one((PATH, list(SMALL), s, str(folder / f"seq{i}"))) for i, s in
            enumerate(seeds)]
    return rows, folder


def test_seeds_are_spawned_and_distinct() -> None:
    s = replication_seeds(5, 4)
    assert len(set(s)) == 4 and s == replication_seeds(5, 4)


def test_process_pool_equals_sequential(tmp_path, sequential) -> None:
    seq, folder = sequential
    rows = run_replications(PATH, list(SMALL), None, 2, tmp_path / "pool", workers=2)
    assert rows == seq
    assert rows[0] != rows[1]
    assert (tmp_path / "pool" / "rep_001" / "kpi.csv").read_bytes() == (
        folder / "seq1" / "kpi.csv").read_bytes()


@pytest.mark.dask
def test_dask_cluster_equals_sequential(tmp_path, sequential, missing_component) -> None:
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        missing_component("dask.distributed is not installed (extra `distributed`)")
    from sim.model.distributed import local_cluster

    seq, folder = sequential
    with local_cluster(2) as cluster:
        rows = run_replications(PATH, list(SMALL), None, 2, tmp_path / "dask",
                                scheduler=cluster.scheduler_address)
    assert rows == seq
    for i in range(2):
        assert (tmp_path / "dask" / f"rep_{i:03d}" / "kpi.csv").read_bytes() == (
            folder / f"seq{i}" / "kpi.csv").read_bytes()
