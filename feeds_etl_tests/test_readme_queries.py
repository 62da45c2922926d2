"""Every SQL block in the README runs as written against the bundled samples: through `feeds_etl.connect()` (the
lake, extensions loaded) and in a plain DuckDB session on `make export`'s file (no extension at all)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from feeds_etl.feeds import REPO_ROOT
from feeds_etl.warehouse import readers
from feeds_etl_tests.conftest import Project

pytestmark = pytest.mark.slow  # real materializations, a few seconds each

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
README_QUERIES = re.findall(r"```sql\n(.*?)```", README, re.DOTALL)
# Queries that read the past (`AT (VERSION => n)`, `ducklake_snapshots`) need the lake: an export holds the present.
PRESENT_QUERIES = [sql for sql in README_QUERIES if " AT (" not in sql and "ducklake_" not in sql]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Project:
    from feeds_etl.partitions import current_hour_key
    from feeds_etl_tests.conftest import SAMPLES

    root = tmp_path_factory.mktemp("readme")
    project = Project(root=root, feeds_file=root / "feeds.yaml")
    bundled = (REPO_ROOT / "data" / "feeds.yaml").read_text(encoding="utf-8")
    project.feeds_file.write_text(bundled.replace("data/samples/", f"{SAMPLES}/"), encoding="utf-8")
    assert project.materialize(current_hour_key()).success
    assert project.materialize(current_hour_key()).success  # a second snapshot, for the history example
    return project


@pytest.fixture(scope="module")
def exported(loaded: Project) -> Path:
    out = loaded.root / "export" / "feeds.duckdb"
    readers.export(out, loaded.lake)
    return out


def test_readme_has_a_dozen_queries() -> None:
    assert len(README_QUERIES) >= 12
    assert any(" AT (VERSION => " in sql for sql in README_QUERIES)  # reading the past is documented


@pytest.mark.parametrize("sql", README_QUERIES, ids=[f"query{n}" for n in range(len(README_QUERIES))])
def test_readme_query_runs_on_the_lake(loaded: Project, sql: str) -> None:
    rows = loaded.query(sql)
    assert rows, f"query returned nothing on the bundled samples:\n{sql}"


@pytest.mark.parametrize("sql", PRESENT_QUERIES, ids=[f"query{n}" for n in range(len(PRESENT_QUERIES))])
def test_readme_query_runs_on_an_export_without_extensions(exported: Path, sql: str) -> None:
    con = duckdb.connect(str(exported), read_only=True, config={"autoload_known_extensions": False})
    try:
        rows = con.execute(sql).fetchall()
    finally:
        con.close()
    assert rows, f"query returned nothing on the export:\n{sql}"


def test_the_export_holds_what_the_lake_holds(loaded: Project, exported: Path) -> None:
    con = duckdb.connect(str(exported), read_only=True)
    try:
        for table in ("items", "item_text", "item_tags", "tag_counts", "feed_snapshots", "feeds"):
            assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == tuple(
                loaded.query(f"SELECT count(*) FROM {table}")[0]
            ), table
    finally:
        con.close()


def test_search_ranks_the_novastan_article_first(loaded: Project) -> None:
    top = loaded.query("SELECT title FROM search_items('Khorasan radicalisation') LIMIT 1")[0][0]
    assert top == "Moscow attacks highlight Tajikistan’s radicalisation problem"
