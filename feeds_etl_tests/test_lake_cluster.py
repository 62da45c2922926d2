"""The lake on a PostgreSQL catalog and S3, against real servers (see services.py): the same tables as the
embedded setup, readers, a run and a backfill at once, and clear errors that leave the last snapshot whole."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import pytest

import feeds_etl
from feeds_etl.feeds import REPO_ROOT
from feeds_etl.warehouse import LakeConfig, Warehouse, store
from feeds_etl.warehouse.errors import LakeError
from feeds_etl.warehouse.readers import connect, export
from feeds_etl.warehouse.store import s3_secret_sql
from feeds_etl_tests.conftest import Project
from feeds_etl_tests.services import PostgresServer, S3Endpoint, closed_port, throwaway_postgres
from feeds_etl_tests.test_backfill import RUN_TIMEOUT, env_for, hours_ago

# What each table holds, less the wall-clock time of the fetch that saw an item (each run has its own).
COMPARED = {
    "items": "SELECT * EXCLUDE (first_seen_at, last_seen_at) FROM items",
    "item_text": "SELECT * FROM item_text",
    "item_tags": "SELECT * FROM item_tags",
    "tag_counts": "SELECT * FROM tag_counts",
}


@dataclass
class ClusterProject(Project):
    """The test project with its lake on a PostgreSQL catalog and an S3 bucket."""

    cluster: LakeConfig | None = None
    s3: S3Endpoint | None = None
    bucket: str = ""

    @property
    def lake(self) -> LakeConfig:
        assert self.cluster is not None
        return self.cluster


@pytest.fixture
def cluster(
    project: Project, postgres_database: str, s3_endpoint: S3Endpoint, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> ClusterProject:
    lake = LakeConfig(f"postgres:{postgres_database}", f"s3://{s3_bucket}/lake/")
    for variable, value in s3_endpoint.environ().items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("FEEDS_ETL_CATALOG", lake.catalog)
    monkeypatch.setenv("FEEDS_ETL_DATA_PATH", lake.data_path)
    return ClusterProject(project.root, project.feeds_file, cluster=lake, s3=s3_endpoint, bucket=s3_bucket)


def fingerprints(project: Project) -> dict[str, tuple[int, str]]:
    """Rows and a hash of every row (in a stable order) per compared table."""
    result = {}
    for table, query in COMPARED.items():
        rows = project.query(f"{query} ORDER BY ALL")
        result[table] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return result


def snapshot_of(lake: LakeConfig) -> int:
    con = connect(config=lake)
    try:
        return con.execute("SELECT max(snapshot_id) FROM ducklake_snapshots('lake')").fetchone()[0]
    finally:
        con.close()


def failure_message(result: object) -> str:
    failure = next(event for event in result.all_events if event.is_step_failure)
    return failure.step_failure_data.error.to_string()


@pytest.mark.slow
def test_postgres_and_s3_hold_the_same_tables_as_sqlite_and_local_files(
    project: Project, cluster: ClusterProject, current_hour: str
) -> None:
    assert project.materialize(current_hour).success
    local = fingerprints(project)
    Warehouse.close_all()

    assert cluster.materialize(current_hour).success
    assert fingerprints(cluster) == local
    assert local["items"][0] == 322
    parquet = [key for key in cluster.s3.list_keys(cluster.bucket) if key.endswith(".parquet")]
    assert any(key.startswith("lake/main/item_text/") for key in parquet)


@pytest.mark.slow
def test_connect_and_export_read_the_postgres_and_s3_lake(cluster: ClusterProject, current_hour: str) -> None:
    assert cluster.materialize(current_hour).success
    with feeds_etl.connect() as con:  # FEEDS_ETL_CATALOG / FEEDS_ETL_DATA_PATH / AWS_* from the environment
        assert con.execute("SELECT count(*), count(DISTINCT item_id) FROM items").fetchone() == (322, 322)
        assert con.execute("SELECT count(*) FROM search_items('steppe')").fetchone()[0] > 0
    out = cluster.root / "shared" / "feeds.duckdb"
    counts = export(out)
    assert counts["item_text"] == 322
    with duckdb.connect(str(out), read_only=True) as plain:  # no extension, no server
        assert plain.execute("SELECT count(*) FROM items").fetchone()[0] == 322
        assert plain.execute("SELECT count(*) FROM item_text").fetchone()[0] == 322


@pytest.mark.slow
@pytest.mark.e2e
def test_make_run_and_backfill_at_once_on_postgres(cluster: ClusterProject) -> None:
    env = env_for(cluster)  # the AWS_* variables are in os.environ (monkeypatched)
    assert env["FEEDS_ETL_CATALOG"].startswith("postgres:") and env["AWS_ENDPOINT_URL"] == cluster.s3.url
    start, end = hours_ago(3), hours_ago(1)
    commands = [
        ["make", "--no-print-directory", "run"],
        ["make", "--no-print-directory", "backfill", f"FROM={start}", f"TO={end}"],
    ]
    runs = [subprocess.Popen(c, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for c in commands]  # fmt: skip
    outputs = [run.communicate(timeout=RUN_TIMEOUT) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out[-3000:] + err[-3000:]
    assert cluster.query("SELECT count(*), count(DISTINCT item_id) FROM items")[0] == (322, 322)
    assert cluster.query("SELECT count(*) FROM item_text")[0][0] == 322
    assert cluster.query("SELECT count(*) FROM feed_snapshots WHERE body IS NOT NULL")[0][0] == 5
    # The backfill's past hours have no snapshot: each is noted as such, once.
    noted = cluster.query("SELECT partition_key, count(*) FROM partition_log GROUP BY ALL ORDER BY ALL")
    assert noted == [(hours_ago(hours), 1) for hours in (3, 2, 1)]


# -- clear errors, nothing half-written ------------------------------------------------------------------


@pytest.fixture
def written(cluster: ClusterProject) -> Iterator[tuple[ClusterProject, int]]:
    """A cluster lake with one committed write that reached S3 (more rows than are inlined in the catalog)."""
    with Warehouse(cluster.lake).writing() as con:
        con.execute(
            "INSERT INTO partition_log SELECT 'p' || range, 'test', 'written' FROM range(?)",
            [store.DATA_INLINING_ROW_LIMIT * 3],
        )
    Warehouse.close_all()
    assert any(key.startswith("lake/main/partition_log/") for key in cluster.s3.list_keys(cluster.bucket))
    yield cluster, snapshot_of(cluster.lake)


def assert_unchanged(lake: LakeConfig, snapshot: int) -> None:
    """The catalog opens at the snapshot it had, and its Parquet files read."""
    Warehouse.close_all()
    assert snapshot_of(lake) == snapshot
    con = connect(config=lake)
    try:
        assert (
            con.execute("SELECT count(*), count(DISTINCT partition_key) FROM partition_log").fetchone()
            == (store.DATA_INLINING_ROW_LIMIT * 3,) * 2
        )
    finally:
        con.close()


@pytest.mark.slow
def test_postgres_down_is_a_clear_error(cluster: ClusterProject, current_hour: str) -> None:
    port = closed_port()
    lake = LakeConfig(f"postgres:dbname=feeds host=127.0.0.1 port={port} user=postgres", cluster.lake.data_path)
    with pytest.raises(LakeError, match=rf"PostgreSQL catalog .*port={port}.*Connection refused"):
        connect(config=lake)
    with (
        pytest.raises(LakeError, match=rf"PostgreSQL catalog .*port={port}.*Connection refused"),
        Warehouse(lake).writing(),
    ):
        pass
    down = ClusterProject(cluster.root, cluster.feeds_file, cluster=lake)
    result = down.materialize(current_hour, raise_on_error=False)
    assert not result.success
    assert "Connection refused" in failure_message(result) and f"port={port}" in failure_message(result)


@pytest.mark.slow
def test_unknown_role_and_password_stay_out_of_the_message(
    written: tuple[ClusterProject, int], postgres_server: PostgresServer
) -> None:
    cluster, snapshot = written
    dbname = cluster.lake.catalog.split("dbname=")[1].split()[0]
    catalog = f"postgres:dbname={dbname} host={postgres_server.host} port={postgres_server.port} user=no_such_role "
    lake = LakeConfig(catalog + "password=hunter2", cluster.lake.data_path)
    for attempt in (lambda: connect(config=lake), lambda: Warehouse(lake).writing().__enter__()):
        with pytest.raises(LakeError, match='role "no_such_role" does not exist') as caught:
            attempt()
        assert "hunter2" not in str(caught.value) and "password=***" in str(caught.value)
    assert_unchanged(cluster.lake, snapshot)


@pytest.mark.slow
def test_a_missing_catalog_database_is_created_by_the_first_writer(
    cluster: ClusterProject, postgres_server: PostgresServer
) -> None:
    name = f"feeds_etl_test_new_{cluster.bucket.rsplit('-', 1)[1]}"
    lake = LakeConfig(f"postgres:{postgres_server.dsn(name)}", cluster.lake.data_path)
    try:
        with pytest.raises(LakeError, match=r"no lake yet .*run `make run` first"):
            connect(config=lake)
        with Warehouse(lake).writing() as con:
            con.execute("INSERT INTO partition_log VALUES ('p', 'test', 'first write')")
        assert snapshot_of(lake) > 0
    finally:
        Warehouse.close_all()
        import psycopg

        with psycopg.connect(postgres_server.dsn(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_catalog_directory_that_cannot_be_created(project: Project) -> None:
    blocker = project.root / "not-a-directory"
    blocker.write_text("a file where the catalog's directory would go")
    lake = LakeConfig(str(blocker / "lake" / "feeds.sqlite"), f"{project.root / 'lake'}/")
    with pytest.raises(LakeError, match=r"not-a-directory.*Not a directory"), Warehouse(lake).writing():
        pass
    with pytest.raises(LakeError, match=r"cannot create the lake .*not-a-directory"):
        store.open_lake(lake, read_only=False)
    assert blocker.read_text().startswith("a file")


@pytest.mark.slow
def test_unreachable_s3_endpoint_fails_the_run_and_keeps_the_snapshot(
    written: tuple[ClusterProject, int], monkeypatch: pytest.MonkeyPatch, current_hour: str
) -> None:
    cluster, snapshot = written
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    started = time.monotonic()
    result = cluster.materialize(current_hour, raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert f"cannot use the S3 data path {cluster.lake.data_path}" in message and "Could not connect" in message
    assert time.monotonic() - started < 60
    monkeypatch.setenv("AWS_ENDPOINT_URL", cluster.s3.url)
    assert_unchanged(cluster.lake, snapshot)


@pytest.mark.slow
def test_wrong_s3_secret_is_a_clear_error(written: tuple[ClusterProject, int], monkeypatch: pytest.MonkeyPatch) -> None:
    cluster, snapshot = written
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with (
        pytest.raises(LakeError, match=r"S3 data path .*403.*SignatureDoesNotMatch"),
        Warehouse(cluster.lake).writing(),
    ):
        pass
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", cluster.s3.secret_key)
    assert_unchanged(cluster.lake, snapshot)


@pytest.mark.slow
def test_a_bucket_that_does_not_exist_is_a_clear_error(cluster: ClusterProject, current_hour: str) -> None:
    lake = LakeConfig(cluster.lake.catalog, "s3://feeds-etl-no-such-bucket/lake/")
    with pytest.raises(LakeError, match=r"s3://feeds-etl-no-such-bucket/lake/.*NoSuchBucket"):
        connect(config=lake)
    missing = ClusterProject(cluster.root, cluster.feeds_file, cluster=lake)
    result = missing.materialize(current_hour, raise_on_error=False)
    assert not result.success and "NoSuchBucket" in failure_message(result)
    # Nothing was written anywhere: the catalog database holds no lake yet.
    with pytest.raises(LakeError, match=r"no lake yet|does not exist"):
        connect(config=cluster.lake)


@pytest.mark.slow
def test_a_write_to_an_s3_endpoint_that_stops_answering_fails_in_bounded_time(
    written: tuple[ClusterProject, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that accepts connections and never answers: the write fails after store's timeouts, no hang."""
    cluster, snapshot = written
    monkeypatch.setattr(store, "S3_HTTP_TIMEOUT_SECONDS", 1)
    monkeypatch.setattr(store, "S3_HTTP_RETRIES", 0)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # the kernel completes handshakes; nobody ever reads or answers
        silent_env = {**cluster.s3.environ(), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{silent.getsockname()[1]}"}
        warehouse = Warehouse(cluster.lake)
        started = time.monotonic()
        with pytest.raises((duckdb.Error, LakeError), match="Timeout"), warehouse.writing() as con:
            con.execute(s3_secret_sql(silent_env))
            con.execute("INSERT INTO partition_log SELECT 'late' || range, 'test', 'lost' FROM range(1000)")
        assert time.monotonic() - started < 30
    assert_unchanged(cluster.lake, snapshot)


@pytest.mark.slow
def test_a_throwaway_postgres_is_started_when_none_answers(project: Project) -> None:
    """What the fixtures do on a machine with no PostgreSQL running: initdb, start, serve a lake, stop."""
    with throwaway_postgres() as server:
        assert server.port != 5432 and server.answers()
        with server.database() as dsn:
            lake = LakeConfig(f"postgres:{dsn}", f"{project.root / 'lake'}/")
            with Warehouse(lake).writing() as con:
                con.execute("INSERT INTO partition_log VALUES ('p', 'test', 'on a throwaway server')")
            Warehouse.close_all()
            assert connect(config=lake).execute("SELECT note FROM partition_log").fetchall() == [
                ("on a throwaway server",)
            ]
    assert not server.answers()
