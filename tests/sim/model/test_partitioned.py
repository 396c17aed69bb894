"""One answer however a run is split (issue 11, docs/distributed.md).

A multi-kab/kota territory (four small kab/kota in four provinces at fraction 0.5: four regions,
four months) is run in one process, in 3 local partitions, and on a real Dask `LocalCluster` in
2 and 4 partitions; every results folder must be identical file for file. The same holds for a
scenario with dated ``[[events]]`` (capacities of regional and national pools, engine rules, the
verval threshold, a forced decree, the decree cadence) and a one-off BLT round paid at PT Pos:
event dates are barriers and the round is decided nationally and paid in the regions. A worker
process killed mid-run costs a replay of its partition and changes nothing; a scheduler that
goes away ends `kks sim run` with one line, exit code 2 and no results folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.model.merge import merge
from sim.model.national import National
from sim.model.partition import plan
from sim.model.run import ModelResult, run
from sim.model.windows import run_windows
from sim.outputs import results as outputs
from sim.scenario.loader import load
from tests.sim.model.conftest import ROOT, SCENARIOS

TERRITORY = ('territory.scope="kabkota"',
             'territory.codes=["31.01","65.04","91.19","96.04"]',
             "territory.fraction=0.5", "scenario.months=4")


#: dated events touching every kind of key the split must carry, and a one-off round
EVENTS = """
[[events]]
name = "quarterly decrees, but one now; more officers everywhere; a BLT round"
date = 2025-02-10
decree = true
[events.penetapan]
cadence = "quarterly"
[events.capacity]
verval_per_desa = 2
kemensos_officers = 40
pos_officers_per_kecamatan = 3
[events.oneoff]
amount = 600000
share = 0.2
max_desil = 4
window_days = 30
channel = "pos"
collect_prob = 0.9
[[events]]
name = "stricter verval, new amount"
date = 2025-03-03
[events.verification]
pass_quantile = 0.35
[events.programmes]
bpnt_amount = 250000
"""


#: the same territory whole for a year: a run that cannot end before the scheduler is killed
LONGER = ('territory.scope="kabkota"', 'territory.codes=["33.02"]', "territory.fraction=1.0",
          "scenario.months=12")


def _scen(kind: str = "baseline", tmp: Path | None = None):
    if kind == "baseline":
        return load(SCENARIOS / "baseline.toml", list(TERRITORY))
    assert tmp is not None
    path = tmp / "events.toml"
    path.write_text(f'extends = "{SCENARIOS / "baseline.toml"}"\n{EVENTS}')
    return load(path, list(TERRITORY))


def _files(folder: Path) -> dict[str, str]:
    """Every file of a results folder -> its SHA-256 (the manifest has no timing fields)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> dict[str, str]:
    """The results folder of the run in one process, one partition."""
    out = tmp_path_factory.mktemp("single") / "run"
    outputs.write(run(_scen()), out)
    return _files(out)


@pytest.fixture(scope="module")
def events_scen(tmp_path_factory):
    """The scenario with dated events and a one-off round."""
    return _scen("events", tmp_path_factory.mktemp("events"))


@pytest.fixture(scope="module")
def events_single(tmp_path_factory, events_scen) -> dict[str, str]:
    """The results folder of the events scenario in one process, one partition."""
    out = tmp_path_factory.mktemp("events_single") / "run"
    res = run(events_scen)
    led = res.ctx.oneoff
    # the scenario does what it says: both events applied, one round paid and returned
    assert [e["name"][:5] for e in res.ctx.mon.timeline] == ["quart", "stric"]
    assert len(led.rounds) == 1 and led.paid > 0 and led.budget == (
        led.paid + led.returned + led.outstanding)
    # January (monthly), February (forced, outside the new cadence), April (quarterly)
    assert [p for p, _ in res.ctx.decree_results] == [300, 301, 303]
    assert res.ctx.mon.counts["extra_decrees"] == 1
    outputs.write(res, out)
    return _files(out)


def _dask():
    """`sim.model.distributed.local_cluster`, or None without dask.distributed."""
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        return None
    from sim.model.distributed import local_cluster

    return local_cluster


def test_plan_balances_whole_regions() -> None:
    assert plan([10, 10, 10, 10], 2) == [[0, 1], [2, 3]]
    assert plan([30, 5, 5, 5, 5], 2) == [[0], [1, 2, 3, 4]]
    assert plan([1, 1], 4) == [[0], [1]]
    assert plan([0, 0, 0], 2) == [[0, 1], [2]]
    parts = plan([5, 9, 1, 7, 3, 8], 3)
    assert sorted(r for p in parts for r in p) == list(range(6)) and all(parts)
    # Bali's nine kab/kota (docs/distributed.md §6): consecutive halves are 682,540 / 756,691
    # households; any regions split them 715,513 / 723,718
    bali = [108625, 157366, 176888, 166068, 73593, 85699, 177102, 272420, 221470]
    assert plan(bali, 2) == [[0, 1, 6, 7], [2, 3, 4, 5, 8]]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=1, max_size=12), st.integers(1, 5))
def test_plan_is_a_split_never_worse_than_consecutive_and_near_the_best(households, n) -> None:
    """Every region once, in order within its partition, no empty partition, the largest
    partition no larger than the consecutive split's, and, against every split by brute force,
    within one region of the best."""
    import itertools

    from sim.model.partition import _consecutive

    parts = plan(households, n)
    k = min(n, len(households))
    assert len(parts) == k and all(parts)
    assert sorted(r for p in parts for r in p) == list(range(len(households)))
    assert all(p == sorted(p) for p in parts)
    assert [p[0] for p in parts] == sorted(p[0] for p in parts)

    def largest(ps):
        return max(sum(households[r] for r in p) for p in ps)

    assert largest(parts) <= largest(_consecutive(households, k))
    if len(households) <= 8 and k <= 3:
        best = min(max(sum(h for h, g in zip(households, labels, strict=True) if g == j)
                       for j in range(k))
                   for labels in itertools.product(range(k), repeat=len(households))
                   if len(set(labels)) == k)
        assert largest(parts) <= best + max(households)


def test_local_partitions_equal_single_process(tmp_path, single) -> None:
    scen = _scen()
    res = run(scen, partitions=3)
    assert len(res.ctx.frame.kab_rows) == 4
    outputs.write(res, tmp_path / "three")
    assert _files(tmp_path / "three") == single


def test_partitions_of_regions_not_in_a_row_equal_single_process(tmp_path, single,
                                                                 monkeypatch) -> None:
    """`plan` may put regions that are not consecutive together (the balanced split): regions
    {0, 3} and {1, 2} write the same folder as one process."""
    import sim.model.partition as partition

    monkeypatch.setattr(partition, "plan", lambda households, n: [[0, 3], [1, 2]])
    res = run(_scen(), partitions=2)
    outputs.write(res, tmp_path / "apart")
    assert _files(tmp_path / "apart") == single


def test_events_and_oneoff_local_partitions_equal_single_process(tmp_path, events_scen,
                                                                   events_single) -> None:
    res = run(events_scen, partitions=3)
    outputs.write(res, tmp_path / "three")
    assert _files(tmp_path / "three") == events_single


@pytest.mark.dask
def test_dask_cluster_2_and_4_partitions_equal_single_process(tmp_path, single, events_scen,
                                                              events_single, missing_component,
                                                              monkeypatch) -> None:
    local_cluster = _dask()
    if local_cluster is None:
        missing_component("dask.distributed is not installed (extra `distributed`)")
    import sim.model.distributed as distributed

    with local_cluster(2) as cluster:
        for name, scen, want in (("base", _scen(), single),
                                 ("events", events_scen, events_single)):
            for n in (2, 4):
                res = run(scen, partitions=n, scheduler=cluster.scheduler_address)
                outputs.write(res, tmp_path / f"{name}{n}")
                assert _files(tmp_path / f"{name}{n}") == want, (name, n)
        # partitions of regions not in a row (the balanced split may make them)
        monkeypatch.setattr(distributed, "plan", lambda households, n: [[0, 3], [1, 2]])
        res = run(_scen(), partitions=2, scheduler=cluster.scheduler_address)
        outputs.write(res, tmp_path / "apart")
        assert _files(tmp_path / "apart") == single


def _flat(doc: dict, prefix: str = "") -> dict:
    out: dict = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.dask
def test_local_workers_run_with_the_settings_the_docs_give(missing_component) -> None:
    """`local_cluster`'s workers run without Dask's malloc trim threshold and profiler, and
    docs/dask/kks-workers.yaml (for a user's own cluster) holds exactly those settings."""
    import yaml

    local_cluster = _dask()
    if local_cluster is None:
        missing_component("dask.distributed is not installed (extra `distributed`)")
    from dask.distributed import Client

    from sim.model.distributed import WORKER_CONFIG

    doc = yaml.safe_load((ROOT / "docs" / "dask" / "kks-workers.yaml").read_text("utf-8"))
    assert _flat(doc) == WORKER_CONFIG
    with local_cluster(1) as cluster, Client(cluster) as client:
        trim = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        profiled = client.run(lambda dask_worker: "profile" in dask_worker.periodic_callbacks)
    assert list(trim.values()) == [None]
    assert list(profiled.values()) == [False]


@contextlib.contextmanager
def _two_partitions(scen, missing_component):
    """The national stages of *scen* and its two partitions as actors on a 2-worker
    `LocalCluster`, with the workers' process ids (by worker address)."""
    local_cluster = _dask()
    if local_cluster is None:
        missing_component("dask.distributed is not installed (extra `distributed`)")
    from dask.distributed import Client

    from sim.model.distributed import DaskPartitions

    with local_cluster(2) as cluster, Client(cluster) as client:
        nat = National(scen)
        specs = nat.specs()
        groups = [[specs[r] for r in g] for g in plan([s.households for s in specs], 2)]
        yield nat, DaskPartitions(client, scen, groups, "test cluster"), client.run(os.getpid)


@pytest.mark.dask
def test_killed_worker_costs_a_replay_not_the_run(tmp_path, single, missing_component) -> None:
    scen = _scen()
    with _two_partitions(scen, missing_component) as (nat, parts, pids):
        victim = pids[sorted(pids)[1]]  # the worker holding partition 1
        killed = []

        def progress(done: float, total: float) -> None:
            if not killed and done > 60:
                os.kill(victim, signal.SIGKILL)
                killed.append(done)

        results = run_windows(nat, parts, progress)
        assert killed and parts.restarts >= 1
        events = sum(r.events for r in results)
        res = ModelResult(scenario=scen, ctx=merge(nat, results, parts.read), events=events)
        parts.close()
    outputs.write(res, tmp_path / "recovered")
    assert _files(tmp_path / "recovered") == single


@pytest.mark.dask
def test_worker_killed_before_the_merge_is_replayed_for_its_records(tmp_path, single,
                                                                   missing_component) -> None:
    """The records of a partition are on its worker until the merge reads them: a worker lost
    after the last window is replayed (from the input log on the client's disk) and finished
    again, and the folder does not change."""
    scen = _scen()
    with _two_partitions(scen, missing_component) as (nat, parts, pids):
        results = run_windows(nat, parts)
        assert parts.restarts == 0
        os.kill(pids[sorted(pids)[1]], signal.SIGKILL)  # the worker holding partition 1
        events = sum(r.events for r in results)
        res = ModelResult(scenario=scen, ctx=merge(nat, results, parts.read), events=events)
        assert parts.restarts >= 1
        parts.close()
    outputs.write(res, tmp_path / "recovered")
    assert _files(tmp_path / "recovered") == single


def _wait_for(path: Path, text: str, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in {path}")


@pytest.mark.dask
@pytest.mark.parametrize("after", [1.0, 4.0], ids=["while-starting", "mid-run"])
def test_scheduler_gone_is_one_line_exit_2_nothing_written(tmp_path, missing_component,
                                                           after: float) -> None:
    if _dask() is None:
        missing_component("dask.distributed is not installed (extra `distributed`)")
    bindir = Path(sys.executable).parent
    info = tmp_path / "scheduler.json"
    logs = {name: tmp_path / f"{name}.log" for name in ("scheduler", "worker")}
    # a real key: no warning line about synthetic pseudonyms on stderr
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "5s",
           "KKS_PSEUDONYM_KEY": "5a" * 32}
    sched = subprocess.Popen(
        [str(bindir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
         "--no-dashboard", "--scheduler-file", str(info)],
        stdout=subprocess.DEVNULL, stderr=logs["scheduler"].open("w"), env=env)
    worker = subprocess.Popen(
        [str(bindir / "dask"), "worker", "--scheduler-file", str(info), "--nthreads", "1",
         "--nworkers", "1", "--no-dashboard", "--death-timeout", "5"],
        stdout=subprocess.DEVNULL, stderr=logs["worker"].open("w"), env=env)
    out = tmp_path / "never"
    run_log = tmp_path / "run.log"
    try:
        _wait_for(logs["worker"], "Registered to")
        import json

        address = json.loads(info.read_text())["address"]
        with run_log.open("w") as err:
            cli = subprocess.Popen(
                [str(bindir / "kks"), "sim", "run", str(SCENARIOS / "baseline.toml"),
                 *(x for s in LONGER for x in ("--set", s)), "--scheduler", address,
                 "--out", str(out)], stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT, env=env)
            _wait_for(logs["scheduler"], "Receive client connection")
            # 1 s: the client is building the national stages or starting the actors;
            # 4 s: it has started the windows
            time.sleep(after)
            sched.send_signal(signal.SIGKILL)
            code = cli.wait(timeout=120)
    finally:
        for proc in (sched, worker):
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
    lines = [ln for ln in run_log.read_text().splitlines() if ln.strip()]
    assert code == 2, lines
    assert len(lines) == 1 and "scheduler" in lines[0] and "Traceback" not in lines[0], lines
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".never")]


def test_workers_and_scheduler_mean_where_the_work_runs() -> None:
    """`kks sim run --help` gives both meanings; --partitions with --replications is one line,
    exit 2, before anything runs."""
    kks = str(Path(sys.executable).parent / "kks")
    out = subprocess.run([kks, "sim", "run", "--help"], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    flat = " ".join(out.split())
    assert "partitions of whole kab/kota" in flat and "whole replications" in flat
    r = subprocess.run([kks, "sim", "run", str(SCENARIOS / "baseline.toml"), "--replications",
                        "2", "--partitions", "2", "--out", "/nonexistent/never"],
                       capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "--partitions" in lines[0], r.stderr
