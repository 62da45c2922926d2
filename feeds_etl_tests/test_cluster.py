"""Many machines with real services: Dagster's instance and the lake's catalog in PostgreSQL, the lake's files in
S3 (SeaweedFS), the steps on two Celery workers (Redis or RabbitMQ broker), each worker running from its own copy
of the code in its own directory with its own DAGSTER_HOME, sharing nothing but those services."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from feeds_etl.feeds import REPO_ROOT, Feed
from feeds_etl.shards import shard_of
from feeds_etl.warehouse import LakeConfig
from feeds_etl.warehouse.readers import connect
from feeds_etl_tests.services import (  # noqa: F401  (fixtures)
    S3Endpoint,
    free_port,
    postgres_server,
    s3_endpoint,
)

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
from bench import CorpusServer, write_feed_list  # noqa: E402
from corpus import Corpus  # noqa: E402

FEEDS, ITEMS, HOSTS = 100, 25, 4  # the scale of the scale-out issue's check
RUN_TIMEOUT = 150
PYTHON = str(REPO_ROOT / ".venv" / "bin" / "python")
# The tables a run derives, compared by content (search ids depend on commit order, so through their words).
COMPARED = {
    "items": "SELECT * EXCLUDE (first_seen_at, last_seen_at) FROM items",
    "item_text": "SELECT * FROM item_text",
    "item_links": "SELECT * FROM item_links",
    "item_tags": "SELECT * FROM item_tags",
    "tag_counts": "SELECT * FROM tag_counts",
    "tag_cooccurrence": "SELECT * FROM tag_cooccurrence",
    "search": """SELECT d.item_id, d.doc_length, v.term, t.tf FROM search_terms t
                 JOIN search_docs d USING (doc_id) JOIN search_vocab v USING (term_id)""",
}


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _wait_for(ready, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The machine's Redis at 6379, else a throwaway redis-server (Debian's redis-server package)."""
    if _answers("127.0.0.1", 6379):
        yield "redis://127.0.0.1:6379"
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("no Redis at 127.0.0.1:6379 and no redis-server: apt-get install redis-server")
    port = free_port()
    root = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", root],
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: _answers("127.0.0.1", port), "redis-server")
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def amqp_url() -> Iterator[str]:
    """The machine's RabbitMQ at 5672, else Debian's rabbitmq-server started (and stopped) for the tests."""
    if _answers("127.0.0.1", 5672):
        yield "amqp://guest:guest@127.0.0.1:5672//"
        return
    server = shutil.which("rabbitmq-server") or "/usr/sbin/rabbitmq-server"
    if not os.path.exists(server):
        raise RuntimeError("no RabbitMQ at 127.0.0.1:5672 and none installed: apt-get install rabbitmq-server")
    subprocess.run([server, "-detached"], check=True, timeout=60)
    try:
        _wait_for(lambda: _answers("127.0.0.1", 5672), "rabbitmq-server", timeout=120)
        yield "amqp://guest:guest@127.0.0.1:5672//"
    finally:
        subprocess.run(["rabbitmqctl", "stop"], timeout=120, check=False)


def _purge(broker: str) -> None:
    """A broker left with an earlier run's steps would hand them to these workers."""
    from kombu import Connection

    with Connection(broker, connect_timeout=10) as connection, suppress(Exception):  # no such queue yet
        connection.default_channel.queue_purge("dagster")


@dataclass
class Cluster:
    root: Path
    env: dict[str, str]
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start_worker(self, name: str) -> None:
        """A checkout of its own (the package, dagster.yaml) in its own directory, its own DAGSTER_HOME; one step
        at a time, so two shards running together must be on both workers."""
        checkout = self.root / name
        shutil.copytree(REPO_ROOT / "feeds_etl", checkout / "feeds_etl", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(REPO_ROOT / "dagster.yaml", checkout / "dagster.yaml")
        env = {**self.env, "DAGSTER_HOME": str(checkout / "home"), "PYTHONPATH": str(checkout)}
        log = (checkout / "worker.log").open("wb")
        self.workers[name] = subprocess.Popen(
            [PYTHON, "-m", "feeds_etl", "worker", "--name", name, "--concurrency", "1"],
            cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def log(self, name: str) -> str:
        return (self.root / name / "worker.log").read_text(errors="replace")

    def wait_ready(self) -> None:
        for name in self.workers:
            _wait_for(lambda name=name: f"{name}@" in self.log(name) and " ready." in self.log(name), name, 90)

    def kill(self, name: str) -> None:
        """The machine going away: the worker and its pool processes, SIGKILL."""
        os.killpg(self.workers[name].pid, signal.SIGKILL)
        self.workers[name].wait(timeout=30)

    def stop(self) -> None:
        for process in self.workers.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.workers.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def run(self, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
        """`make run`'s command, from a third directory (the machine where a user types it)."""
        home = self.root / "submitter"
        return subprocess.run(
            [PYTHON, "-m", "feeds_etl", "run"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
            env={**self.env, "DAGSTER_HOME": str(home)},
        )  # fmt: skip

    def tables(self) -> dict[str, list[tuple]]:
        s3 = {key: value for key, value in self.env.items() if key.startswith("AWS_")}
        with pytest.MonkeyPatch.context() as patch:
            for key, value in s3.items():
                patch.setenv(key, value)
            return _tables(LakeConfig(self.env["FEEDS_ETL_CATALOG"], self.env["FEEDS_ETL_DATA_PATH"]))


def _tables(lake: LakeConfig) -> dict[str, list[tuple]]:
    con = connect(read_only=True, config=lake)
    try:
        return {name: con.execute(f"{sql} ORDER BY ALL").fetchall() for name, sql in COMPARED.items()}
    finally:
        con.close()


@pytest.fixture(scope="module")
def corpus_server() -> Iterator[CorpusServer]:
    """FEEDS x ITEMS generated feeds on HOSTS loopback hosts, 300 ms per request (steps long enough to kill)."""
    server = CorpusServer(Corpus(FEEDS, ITEMS), HOSTS, latency_ms=300)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def corpus_feeds(corpus_server: CorpusServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    feeds_file = tmp_path_factory.mktemp("corpus") / "feeds.yaml"
    write_feed_list(feeds_file, corpus_server, range(FEEDS))
    return feeds_file


def _base_env(feeds_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDS_ETL_", "DAGSTER_"))}
    return {**env, "FEEDS_ETL_FEEDS": str(feeds_file), "PYTHONWARNINGS": "ignore"}


@pytest.fixture(scope="module")
def single_machine_tables(corpus_feeds: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple]]:
    """What `make run` on one machine (SQLite catalog, local files, in-process steps) writes from the corpus."""
    root = tmp_path_factory.mktemp("single")
    lake = LakeConfig(str(root / "feeds.sqlite"), f"{root / 'lake'}/")
    env = {**_base_env(corpus_feeds), "FEEDS_ETL_CATALOG": lake.catalog, "FEEDS_ETL_DATA_PATH": lake.data_path,
           "DAGSTER_HOME": str(root / "home")}  # fmt: skip
    done = subprocess.run(
        [PYTHON, "-m", "feeds_etl", "run"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tables = _tables(lake)
    assert len(tables["items"]) == FEEDS * ITEMS
    return tables


@pytest.fixture
def cluster_env(
    corpus_feeds: Path,
    postgres_server,  # noqa: F811  (the fixture imported above)
    s3_endpoint: S3Endpoint,  # noqa: F811
    tmp_path: Path,
) -> Iterator[dict[str, str]]:
    """DESIGN.md's variables for a cluster: a fresh instance database, catalog database and bucket."""
    bucket = f"feeds-etl-{uuid.uuid4().hex[:12]}"
    s3_endpoint.create_bucket(bucket)
    with postgres_server.database() as instance_dsn, postgres_server.database() as catalog_dsn:
        instance = dict(part.split("=", 1) for part in instance_dsn.split())
        yield {
            **_base_env(corpus_feeds),
            **s3_endpoint.environ(),
            "DAGSTER_POSTGRES_URL": (
                f"postgresql://{instance['user']}@{instance['host']}:{instance['port']}/{instance['dbname']}"
            ),
            "FEEDS_ETL_CATALOG": f"postgres:{catalog_dsn}",
            "FEEDS_ETL_DATA_PATH": f"s3://{bucket}/lake/",
            "FEEDS_ETL_EXECUTOR": "celery",
            "FEEDS_ETL_SHARDS": "2",
        }
    s3_endpoint.delete_bucket(bucket)


@pytest.mark.parametrize("broker", ["redis", "amqp"])
def test_two_workers_write_what_one_machine_writes(
    broker: str, request: pytest.FixtureRequest, cluster_env: dict[str, str], single_machine_tables, tmp_path: Path
) -> None:
    url = request.getfixturevalue("redis_url") + "/3" if broker == "redis" else request.getfixturevalue("amqp_url")
    _purge(url)
    cluster = Cluster(tmp_path, {**cluster_env, "FEEDS_ETL_BROKER": url})
    try:
        cluster.start_worker("alpha")
        cluster.start_worker("beta")
        cluster.wait_ready()
        started = time.monotonic()
        done = cluster.run()
        print(f"cluster run: {time.monotonic() - started:.1f} s")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "steps go to the Celery workers" in done.stdout
        # Both workers ran steps, each from its own checkout.
        for name in ("alpha", "beta"):
            assert "succeeded in" in cluster.log(name), cluster.log(name)[-3000:]
        assert cluster.tables() == single_machine_tables
    finally:
        cluster.stop()


def test_worker_killed_mid_run_then_rerun_gives_exact_counts(
    redis_url: str, cluster_env: dict[str, str], single_machine_tables, corpus_server: CorpusServer, tmp_path: Path
) -> None:
    url = redis_url + "/4"
    _purge(url)
    # Redis hands a dead worker's step to another after this long (see cluster.REDIS_VISIBILITY_TIMEOUT_S).
    cluster = Cluster(tmp_path, {**cluster_env, "FEEDS_ETL_BROKER": url, "FEEDS_ETL_REDELIVER_AFTER_S": "10"})
    try:
        cluster.start_worker("alpha")
        cluster.start_worker("beta")
        cluster.wait_ready()
        corpus_server.take_counts()  # from here on, the requests of this run only
        submitter = subprocess.Popen(
            [PYTHON, "-m", "feeds_etl", "run"], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env={**cluster.env, "DAGSTER_HOME": str(tmp_path / "submitter")},
        )  # fmt: skip
        _wait_for(lambda: "execute_plan" in cluster.log("alpha") and "received" in cluster.log("alpha"), "a step", 90)
        # Mid-fetch: the feeds have started to answer (300 ms each), and not all of them yet.
        _wait_for(lambda: sum(corpus_server.counts.values()) > 0, "the first feed answered", 90)
        assert sum(corpus_server.counts.values()) < FEEDS
        cluster.kill("alpha")
        output, _ = submitter.communicate(timeout=RUN_TIMEOUT)
        # Either the step was taken over by beta and the run succeeded, or the run says clearly it failed.
        assert "succeeded" in output or "FAILED" in output, output
        again = cluster.run()
        assert again.returncode == 0, again.stdout + again.stderr
        tables = cluster.tables()
        assert len(tables["items"]) == FEEDS * ITEMS
        assert len({row[0] for row in tables["items"]}) == FEEDS * ITEMS  # no duplicate item
        assert tables == single_machine_tables
    finally:
        cluster.stop()


def test_broker_down_fails_the_run_quickly(cluster_env: dict[str, str], tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, {**cluster_env, "FEEDS_ETL_BROKER": f"redis://127.0.0.1:{free_port()}/0"})
    started = time.monotonic()
    done = cluster.run(timeout=120)
    assert done.returncode != 0
    assert "FAILED" in done.stdout or "Error" in done.stderr + done.stdout
    assert time.monotonic() - started < 90


def test_feeds_of_one_host_share_a_shard() -> None:
    feeds = [Feed(name=f"f{i}", url=f"https://host{i % 5}.example/feed{i}.xml") for i in range(50)]
    for shards in (2, 3, 7):
        by_host: dict[str, set[int]] = {}
        for feed in feeds:
            by_host.setdefault(feed.url.split("/")[2], set()).add(shard_of(feed, shards))
        assert all(len(parts) == 1 for parts in by_host.values())
    assert [shard_of(feed, 4) for feed in feeds] == [shard_of(feed, 4) for feed in feeds]
