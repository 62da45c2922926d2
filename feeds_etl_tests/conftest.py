"""Shared fixtures: a temporary feed list + database, and real materializations against them."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import yaml

from feeds_etl.feeds import REPO_ROOT

warnings.filterwarnings("ignore", category=dg.BetaWarning)

from feeds_etl.assets import feed_assets  # noqa: E402
from feeds_etl.checks import feed_checks  # noqa: E402
from feeds_etl.resources import FeedListResource, FetcherResource, WarehouseResource  # noqa: E402
from feeds_etl.warehouse import LakeConfig, Warehouse  # noqa: E402
from feeds_etl.warehouse.readers import connect  # noqa: E402
from feeds_etl_tests.feed_server import FeedServer, running_feed_server  # noqa: E402

# Real PostgreSQL and S3 servers (started when none runs): postgres_server, postgres_dsn, postgres_database,
# s3_endpoint, s3_bucket.
from feeds_etl_tests.services import (  # noqa: E402, F401
    postgres_database,
    postgres_dsn,
    postgres_server,
    s3_bucket,
    s3_endpoint,
)

SAMPLES = REPO_ROOT / "data" / "samples"


@dataclass
class Project:
    """A throwaway feeds_etl setup: its own feed list and database under tmp_path."""

    root: Path
    feeds_file: Path

    @property
    def lake(self) -> LakeConfig:
        return LakeConfig(str(self.root / "feeds.sqlite"), f"{self.root / 'lake'}/")

    @property
    def catalog(self) -> Path:
        return self.root / "feeds.sqlite"

    def write_feeds(self, feeds: Sequence[dict], tag_aliases: dict | None = None) -> None:
        # Tests read bundled samples from disk and serve feeds on 127.0.0.1.
        # Article pages only where a test asks (`full_text` per feed): tests never reach the internet.
        document: dict = {
            "allow_local_files": True,
            "allow_private_networks": True,
            "defaults": {"full_text": "never"},
            "feeds": list(feeds),
        }
        if tag_aliases:
            document["tag_aliases"] = tag_aliases
        self.feeds_file.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")

    def resources(self, **fetcher: object) -> dict[str, object]:
        return {
            "warehouse": WarehouseResource(catalog=self.lake.catalog, data_path=self.lake.data_path),
            "feed_list": FeedListResource(path=str(self.feeds_file)),
            "fetcher": FetcherResource(**fetcher),
        }

    def materialize(
        self, partition_key: str, selection: Sequence[object] | None = None, raise_on_error: bool = True, **fetcher
    ) -> dg.ExecuteInProcessResult:
        """A real Dagster run of the four assets (and their checks) for one partition."""
        assets = list(selection) if selection is not None else [*feed_assets, *feed_checks]
        return dg.materialize(
            assets,
            partition_key=partition_key,
            resources=self.resources(**fetcher),
            raise_on_error=raise_on_error,
        )

    def query(self, sql: str, params: Sequence[object] | None = None) -> list[tuple]:
        """Read the lake exactly as a user would: `feeds_etl.connect()`, read-only."""
        con = connect(read_only=True, config=self.lake)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A project whose feed list holds copies of every bundled sample."""
    samples = tmp_path / "samples"
    shutil.copytree(SAMPLES, samples, ignore=shutil.ignore_patterns("*.py"))
    proj = Project(root=tmp_path, feeds_file=tmp_path / "feeds.yaml")
    bundled = yaml.safe_load((REPO_ROOT / "data" / "feeds.yaml").read_text(encoding="utf-8"))
    feeds = [{"name": f["name"], "url": str(samples / Path(f["url"]).name)} for f in bundled["feeds"]]
    proj.write_feeds(feeds, bundled.get("tag_aliases"))
    monkeypatch.setenv("FEEDS_ETL_FEEDS", str(proj.feeds_file))
    monkeypatch.setenv("FEEDS_ETL_CATALOG", proj.lake.catalog)
    monkeypatch.setenv("FEEDS_ETL_DATA_PATH", proj.lake.data_path)
    monkeypatch.setenv("FEEDS_ETL_DATABASE", str(tmp_path / "feeds.duckdb"))
    return proj


@pytest.fixture(autouse=True)
def _close_lakes() -> Iterator[None]:
    """Each test's lakes are closed after it (a process keeps one DuckDB instance per lake)."""
    yield
    Warehouse.close_all()


@pytest.fixture
def current_hour() -> str:
    from feeds_etl.partitions import current_hour_key

    return current_hour_key()


@pytest.fixture
def feed_server(tmp_path: Path) -> Iterator[FeedServer]:
    """A loopback HTTP server with good feeds and one route per misbehaviour (see feed_server.py)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-LOCAL-FILE root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    with running_feed_server(secret) as server:
        yield server
