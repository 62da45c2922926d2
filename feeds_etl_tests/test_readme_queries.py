"""Every SQL block in the README runs as written against the bundled samples, in a plain read-only session."""

from __future__ import annotations

import re

import duckdb
import pytest

from feeds_etl.feeds import REPO_ROOT
from feeds_etl_tests.conftest import Project

README_QUERIES = re.findall(r"```sql\n(.*?)```", (REPO_ROOT / "README.md").read_text(encoding="utf-8"), re.DOTALL)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Project:
    from feeds_etl.partitions import current_hour_key
    from feeds_etl_tests.conftest import SAMPLES

    root = tmp_path_factory.mktemp("readme")
    project = Project(root=root, feeds_file=root / "feeds.yaml", database=root / "feeds.duckdb")
    bundled = (REPO_ROOT / "data" / "feeds.yaml").read_text(encoding="utf-8")
    project.feeds_file.write_text(bundled.replace("data/samples/", f"{SAMPLES}/"), encoding="utf-8")
    assert project.materialize(current_hour_key()).success
    return project


def test_readme_has_a_dozen_queries() -> None:
    assert len(README_QUERIES) >= 12


@pytest.mark.parametrize("sql", README_QUERIES, ids=[f"query{n}" for n in range(len(README_QUERIES))])
def test_readme_query_runs(loaded: Project, sql: str) -> None:
    con = duckdb.connect(str(loaded.database), read_only=True)  # no extension loaded: a plain session
    try:
        rows = con.execute(sql).fetchall()
    finally:
        con.close()
    assert rows, f"query returned nothing on the bundled samples:\n{sql}"


def test_search_ranks_the_novastan_article_first(loaded: Project) -> None:
    top = loaded.query("SELECT title FROM search_items('Khorasan radicalisation') LIMIT 1")[0][0]
    assert top == "Moscow attacks highlight Tajikistan’s radicalisation problem"
