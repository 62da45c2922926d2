"""Backfills and replay through the README's own commands, beside readers, and after kill -9."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from feeds_etl.feeds import REPO_ROOT
from feeds_etl.partitions import hour_key
from feeds_etl.warehouse import LakeConfig, readers
from feeds_etl_tests.conftest import Project
from feeds_etl_tests.test_assets import DERIVED_TABLES, table_contents
from feeds_etl_tests.test_lake import add_item

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUN_TIMEOUT = 240


def hours_ago(hours: int) -> str:
    return hour_key(datetime.now(UTC) - timedelta(hours=hours))


def env_for(project: Project) -> dict[str, str]:
    home = project.root / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "FEEDS_ETL_FEEDS": str(project.feeds_file),
        "FEEDS_ETL_CATALOG": project.lake.catalog,
        "FEEDS_ETL_DATA_PATH": project.lake.data_path,
        "FEEDS_ETL_DATABASE": str(project.root / "feeds.duckdb"),
    }


def make(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=REPO_ROOT,
        env=env_for(project),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )


def test_backfill_twice_gives_identical_tables_in_one_run_each(project: Project) -> None:
    first_run = make(project, "run")
    assert first_run.returncode == 0, first_run.stderr + first_run.stdout
    start, end = hours_ago(6), hours_ago(1)
    results = []
    for _ in range(2):
        done = make(project, "backfill", f"FROM={start}", f"TO={end}")
        assert done.returncode == 0, done.stderr + done.stdout
        assert "6 of 6 past hour(s) have no snapshot" in done.stdout
        results.append(table_contents(project, [*DERIVED_TABLES, "feed_snapshots", "feed_health"]))
    assert results[0] == results[1]

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(env_for(project)["DAGSTER_HOME"])) as instance:
        runs = instance.get_runs()
    backfills = [run for run in runs if run.tags.get("dagster/asset_partition_range_start") == start]
    assert len(backfills) == 2  # each backfill is ONE run over the range
    assert all(run.tags["dagster/asset_partition_range_end"] == end for run in backfills)


def test_invalid_backfill_range_is_a_clear_error(project: Project) -> None:
    done = make(project, "backfill", "FROM=2026-13-01-00:00", f"TO={hours_ago(1)}")
    assert done.returncode != 0
    assert "is not an hourly partition key" in done.stderr


def test_malformed_feed_list_via_make_run(project: Project) -> None:
    project.feeds_file.write_text("feeds:\n  - {name: a, url: a.xml, colour: red}\n")
    done = make(project, "run")
    assert done.returncode == 2
    assert "unknown key(s) ['colour']" in done.stderr and str(project.feeds_file) in done.stderr
    assert not project.catalog.exists()


# A notebook user: one transaction held open for the whole test (one snapshot throughout), and fresh sessions.
READER = r"""
import os, sys, time
import feeds_etl
stop_file = sys.argv[1]
held = feeds_etl.connect()
held.execute("BEGIN")
seen = held.execute("SELECT count(*) FROM feed_snapshots").fetchone()[0]
errors = queries = changed = 0
while not os.path.exists(stop_file):
    try:
        if held.execute("SELECT count(*) FROM feed_snapshots").fetchone()[0] != seen:
            changed += 1
        held.execute("SELECT * FROM search_items('steppe') LIMIT 3").fetchall()
        with feeds_etl.connect() as fresh:
            fresh.execute("SELECT count(*), max(last_seen_at) FROM items").fetchall()
        queries += 1
    except Exception as exc:
        errors += 1
        print("reader error:", exc, file=sys.stderr)
    time.sleep(0.2)
held.execute("COMMIT")
after = held.execute("SELECT count(*) FROM feed_snapshots").fetchone()[0]
print(f"{queries} {errors} {changed} {seen} {after}")
"""


def test_run_and_backfill_together_beside_a_reader(project: Project) -> None:
    assert make(project, "run").returncode == 0  # a database to read exists
    stop = project.root / "stop-reader"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(stop)],
        env=env_for(project),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    env = env_for(project)
    commands = [
        ["make", "--no-print-directory", "run"],
        ["make", "--no-print-directory", "backfill", f"FROM={hours_ago(24)}", f"TO={hours_ago(1)}"],
    ]
    runs = [subprocess.Popen(c, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for c in commands]  # fmt: skip
    outputs = [run.communicate(timeout=RUN_TIMEOUT) for run in runs]
    stop.touch()
    reader_out, reader_err = reader.communicate(timeout=60)
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out + err
    queries, errors, changed, seen, after = map(int, reader_out.split())
    assert errors == 0, reader_err
    assert queries >= 2
    assert changed == 0  # the held transaction kept its snapshot while both runs committed
    assert after > seen  # and the reader's next transaction sees what they added
    assert project.query("SELECT count(*), count(DISTINCT item_id) FROM items")[0] == (322, 322)


def _lock_is_held(lock_path: Path) -> bool:
    if not lock_path.exists():
        return False
    with lock_path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


@pytest.mark.parametrize("nth_lock", [1, 3, 5])
def test_kill_9_mid_run_leaves_previous_state_and_rerun_completes(project: Project, nth_lock: int) -> None:
    """Kill the run the nth time it holds the writer lock (reading or mid-transaction)."""
    env = env_for(project)
    lock_path = project.catalog.with_name(project.catalog.name + ".lock")
    child = subprocess.Popen(
        [sys.executable, "-m", "feeds_etl", "run"], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    seen, was_held = 0, False
    deadline = time.monotonic() + RUN_TIMEOUT
    while child.poll() is None and time.monotonic() < deadline:
        held = _lock_is_held(lock_path)
        if held and not was_held:
            seen += 1
            if seen == nth_lock:
                os.killpg(child.pid, signal.SIGKILL)
                break
        was_held = held
    child.wait(timeout=30)

    if project.catalog.exists():  # the last committed snapshot is whole and readable
        n_items, n_ids = project.query("SELECT count(*), count(DISTINCT item_id) FROM items")[0]
        assert n_items == n_ids
    rerun = subprocess.run(
        [sys.executable, "-m", "feeds_etl", "run"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert project.query("SELECT count(*), count(DISTINCT item_id) FROM items")[0] == (322, 322)
    assert project.query("SELECT count(*) FROM item_text")[0][0] == 322
    assert project.query("SELECT count(*) FROM feed_snapshots WHERE body IS NOT NULL")[0][0] == 5


def test_dagster_cli_partition_range_is_one_run(project: Project) -> None:
    env = env_for(project)
    start, end = hours_ago(3), hours_ago(1)
    done = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "dagster"), "asset", "materialize", "-m", "feeds_etl.definitions",
         "--select", "*", "--partition-range", f"{start}...{end}"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(env["DAGSTER_HOME"])) as instance:
        runs = instance.get_runs()
    assert len(runs) == 1
    assert runs[0].tags["dagster/asset_partition_range_start"] == start
    assert runs[0].tags["dagster/asset_partition_range_end"] == end
    assert project.query("SELECT count(*) FROM partition_log")[0][0] == 3


def test_make_sql_and_make_export_read_the_lake(project: Project) -> None:
    """The README's quick start: `make run` shows each step's progress, one query through `make sql Q=...`, and a
    standalone file from `make export`."""
    run = make(project, "run")
    assert run.returncode == 0
    for line in ("raw_feed_xml - fetch: 5 feeds to do", "cleaned_text - clean: 322 of 322 items (100%)"):
        assert line in run.stdout + run.stderr
    done = make(project, "sql", "Q=SELECT count(*) AS items FROM items")
    assert done.returncode == 0, done.stderr
    assert "322" in done.stdout
    out = project.root / "shared" / "feeds.duckdb"
    exported = make(project, "export", f"OUT={out}")
    assert exported.returncode == 0, exported.stderr
    import duckdb

    with duckdb.connect(str(out), read_only=True) as con:  # plain DuckDB, no extension
        assert con.execute("SELECT count(*) FROM items").fetchone()[0] == 322
        assert con.execute("SELECT count(*) FROM search_items('Khorasan radicalisation')").fetchone()[0] > 0
    missing = make(project, "export")
    assert missing.returncode == 2 and "usage: make export OUT=" in missing.stdout


@contextlib.contextmanager
def lake_on_its_own_disk(path: Path) -> Iterator[Callable[[], None]]:
    """A data path on a small tmpfs (as root; yields "fill it up"), else a directory whose writes are then
    refused (yields "make it read-only"): either way the next write of Parquet fails, as on a full disk."""
    path.mkdir(parents=True)
    if (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    ):

        def fill() -> None:
            with (path / "filler").open("wb") as filler, contextlib.suppress(OSError):
                while True:
                    filler.write(b"\0" * (1 << 20))
                    filler.flush()

        try:
            yield fill
        finally:
            subprocess.run(["umount", "-l", str(path)], check=False)
        return

    def refuse() -> None:
        for directory in [path, *[p for p in path.rglob("*") if p.is_dir()]]:
            directory.chmod(0o555)

    try:
        yield refuse
    finally:
        for directory in [path, *[p for p in path.rglob("*") if p.is_dir()]]:
            directory.chmod(0o755)


def test_a_full_disk_fails_the_run_clearly_and_leaves_the_last_snapshot(project: Project) -> None:
    disk = project.root / "disk"
    with lake_on_its_own_disk(disk) as fill_up:
        env = {**env_for(project), "FEEDS_ETL_DATA_PATH": f"{disk}/"}
        run = [sys.executable, "-m", "feeds_etl", "run"]
        first = subprocess.run(run, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
        assert first.returncode == 0, first.stdout[-2000:]
        lake = LakeConfig(project.lake.catalog, f"{disk}/")
        with readers.connect(config=lake) as con:
            items = con.execute("SELECT count(*) FROM items").fetchone()[0]
        add_item(project.root / "samples" / "bazaar-notes.rss.xml", "after-the-disk-filled-up")
        fill_up()
        done = subprocess.run(run, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
        assert done.returncode != 0
        summary = done.stdout[done.stdout.find("FAILED") :]
        assert "No space left on device" in summary or "Permission denied" in summary, done.stdout[-3000:]
        assert ".parquet" in summary  # the message names the file it could not write
        with readers.connect(config=lake) as con:  # nothing half-written is visible
            assert con.execute("SELECT count(*) FROM items").fetchone()[0] == items
