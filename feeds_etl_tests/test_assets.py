"""The four assets through real Dagster materializations against a temporary DuckDB file."""

from __future__ import annotations

import base64

import dagster as dg
import pytest
import yaml

from feeds_etl.assets import cleaned_text, feed_assets, parsed_items, raw_feed_xml, tag_aggregates
from feeds_etl.checks import warehouse_checks
from feeds_etl.warehouse import Warehouse
from feeds_etl.warehouse import items as items_store
from feeds_etl_tests.conftest import Project

pytestmark = pytest.mark.slow  # real materializations, a few seconds each

DERIVED_TABLES = [
    "items",
    "item_versions",
    "feed_entries",
    "parsed_contents",
    "item_text",
    "item_links",
    "item_tags",
    "item_tag_sources",
    "tag_counts",
    "tag_cooccurrence",
    "search_terms",
    "search_docs",
    "search_stems",
]


def table_contents(project: Project, tables: list[str]) -> dict[str, list[tuple]]:
    return {table: project.query(f"SELECT * FROM {table} ORDER BY ALL") for table in tables}


def test_full_run_loads_every_layer(project: Project, current_hour: str) -> None:
    result = project.materialize(current_hour)
    assert result.success
    novastan = project.query(
        """SELECT guid, len(categories), published_at FROM items
           WHERE feed_id = 'novastan-migrants' ORDER BY guid"""
    )
    assert [(guid, n) for guid, n, _ in novastan] == [
        ("https://novastan.org/en/?p=43495", 5),
        ("https://novastan.org/en/?p=48744", 12),
    ]
    assert str(novastan[1][2]) == "2026-06-15 18:23:24+00:00"
    assert project.query("SELECT count(*) FROM items")[0][0] == 322
    assert project.query("SELECT count(*) FROM item_text WHERE word_count > 0")[0][0] == 322
    assert project.query("SELECT count(*) FROM tag_counts")[0][0] > 100
    assert project.query("SELECT count(*) FROM feed_health WHERE status = 'ok'")[0][0] == 5
    # Every check ran, and passed on a good run.
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 7 and all(evaluation.passed for evaluation in evaluations)

    raw = result.asset_materializations_for_node("raw_feed_xml")[0].metadata
    assert raw["feeds_new_content"].value == 5 and raw["feeds_failed"].value == 0
    parsed = result.asset_materializations_for_node("parsed_items")[0].metadata
    assert parsed["new_items"].value == 322 and parsed["dagster/row_count"].value == 322


def test_checks_catch_a_broken_promise_and_run_only_for_selected_assets(project: Project, current_hour: str) -> None:
    assert project.materialize(current_hour).success
    result = project.materialize(current_hour, [cleaned_text, warehouse_checks])
    [evaluation] = result.get_asset_check_evaluations()  # only cleaned_text's check: the other assets did not run
    assert evaluation.check_name == "items_with_html_have_text" and evaluation.passed

    with Warehouse(project.lake).writing() as con:  # an item loses its text behind the pipeline's back
        con.execute(
            """DELETE FROM item_text WHERE item_id =
               (SELECT min(item_id) FROM items WHERE coalesce(content_html, summary_html) IS NOT NULL)"""
        )
    check = dg.AssetCheckKey(dg.AssetKey("cleaned_text"), "items_with_html_have_text")
    checks_only = dg.materialize(
        [*feed_assets, warehouse_checks],
        selection=dg.AssetSelection.checks(check),
        resources=project.resources(),
    )
    [evaluation] = checks_only.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.metadata["items_without_text"].value == 1


def test_tags_are_normalised_and_counted_across_feeds(project: Project, current_hour: str) -> None:
    result = project.materialize(current_hour)
    variants = project.query("SELECT DISTINCT tag_raw FROM item_tags WHERE tag = 'russia' ORDER BY tag_raw", [])
    assert {raw for (raw,) in variants} >= {"Russia", " RUSSIA ", "russia", "Russia.", "Россия"}
    per_item = project.query("SELECT count(*), count(DISTINCT item_id) FROM item_tags WHERE tag = 'russia'")[0]
    assert per_item[0] == per_item[1]  # counted once per item, whatever the spellings
    expected = project.query(
        """SELECT count(*) FROM items
           WHERE list_has_any(list_transform(categories, c -> lower(trim(c, ' .'))), ['russia', 'россия'])"""
    )[0][0]
    total = project.query("SELECT sum(item_count) FROM tag_counts WHERE tag = 'russia'")[0][0]
    assert total == per_item[1] == expected
    # The UI shows the top tags as a table and a chart (an SVG image in the Markdown).
    top_tags = result.asset_materializations_for_node("tag_aggregates")[0].metadata["top_tags"].value
    assert f"| russia | {total} |" in top_tags
    chart = base64.b64decode(top_tags.split("](data:image/svg+xml;base64,", 1)[1].rstrip(")")).decode()
    assert f"<title>russia: {total}</title>" in chart


def test_rematerializing_a_partition_gives_the_same_tables(project: Project, current_hour: str) -> None:
    project.materialize(current_hour)
    first = table_contents(project, DERIVED_TABLES)
    replay = project.materialize(current_hour, selection=[parsed_items, cleaned_text, tag_aggregates])
    assert replay.success
    assert table_contents(project, DERIVED_TABLES) == first


def test_a_new_parser_version_parses_every_body_again_and_replaces_what_it_gave(
    project: Project, current_hour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.materialize(current_hour)
    before = table_contents(project, DERIVED_TABLES)
    monkeypatch.setattr(items_store, "PARSER_VERSION", "next")
    replay = project.materialize(current_hour, selection=[parsed_items])
    assert replay.success
    assert replay.asset_materializations_for_node("parsed_items")[0].metadata["contents_parsed"].value == 5
    assert project.query("SELECT parser_version, count(*) FROM parsed_contents GROUP BY ALL") == [("next", 5)]
    for table in ("feed_entries", "item_versions", "items"):
        assert table_contents(project, [table]) == {table: before[table]}, table


def test_fetching_the_same_hour_twice_keeps_both_attempts_and_adds_no_duplicate(
    project: Project, current_hour: str
) -> None:
    project.materialize(current_hour)
    before = table_contents(project, DERIVED_TABLES)
    project.materialize(current_hour)
    after = table_contents(project, DERIVED_TABLES)
    # Only last_seen_at moves (the items were seen again); every other row is identical.
    without_last_seen = "SELECT * EXCLUDE (last_seen_at) FROM items ORDER BY ALL"
    assert [row[:12] for row in before["items"]] == [row[:12] for row in after["items"]]
    assert project.query(without_last_seen) == project.query(without_last_seen)
    for table in DERIVED_TABLES[1:]:
        assert before[table] == after[table], table
    assert project.query("SELECT count(*), count(DISTINCT item_id) FROM items")[0] == (322, 322)
    assert project.query("SELECT count(*) FROM items WHERE last_seen_at > first_seen_at")[0][0] == 322
    # The archive records both attempts of the hour, the second without a new body.
    outcomes = project.query("SELECT outcome, count(*) FROM feed_snapshots GROUP BY ALL ORDER BY ALL")
    assert outcomes == [("new", 5), ("unchanged", 5)]
    assert project.query("SELECT count(*) FROM feed_snapshots WHERE body IS NOT NULL")[0][0] == 5


def test_downstream_replay_needs_no_source(project: Project, current_hour: str) -> None:
    project.materialize(current_hour)
    before = table_contents(project, DERIVED_TABLES)
    for sample in (project.root / "samples").iterdir():
        sample.unlink()  # the "network" is gone: only the archive remains
    replay = project.materialize(current_hour, selection=[parsed_items, cleaned_text, tag_aggregates])
    assert replay.success
    assert table_contents(project, DERIVED_TABLES) == before


def test_an_updated_entry_updates_the_item_without_duplicating_it(project: Project, current_hour: str) -> None:
    project.materialize(current_hour)
    sample = project.root / "samples" / "novastan-migrants.rss.xml"
    sample.write_bytes(sample.read_bytes().replace(b"I only needed a passport", b"I only needed papers"))
    result = project.materialize(current_hour)
    parsed = result.asset_materializations_for_node("parsed_items")[0].metadata
    assert parsed["new_items"].value == 0 and parsed["updated_items"].value == 1
    rows = project.query(
        """SELECT title, version_count, first_seen_at < last_seen_at FROM items
           WHERE guid = 'https://novastan.org/en/?p=48744'"""
    )
    assert len(rows) == 1 and rows[0][0].startswith("“I only needed papers”") and rows[0][1] == 2 and rows[0][2]
    text = project.query(
        """SELECT t.text FROM item_text t JOIN items i USING (item_id)
           WHERE i.guid = 'https://novastan.org/en/?p=48744'"""
    )[0][0]
    assert "I only needed a passport" not in text


def test_one_broken_feed_does_not_fail_the_run(project: Project, current_hour: str) -> None:
    bad = project.root / "samples" / "broken.xml"
    bad.write_text("<html><body>Please log in</body></html>")
    feeds = [
        {"name": "novastan-migrants", "url": str(project.root / "samples" / "novastan-migrants.rss.xml")},
        {"name": "login-page", "url": str(bad)},
        {"name": "missing", "url": str(project.root / "samples" / "does-not-exist.xml")},
    ]
    project.write_feeds(feeds)
    result = project.materialize(current_hour)
    assert result.success
    health = dict(project.query("SELECT feed_id, last_error FROM feed_health"))
    assert health["novastan-migrants"] is None
    assert "HTML page" in health["login-page"]
    assert "cannot read" in health["missing"]
    raw = result.asset_materializations_for_node("raw_feed_xml")[0].metadata
    assert raw["feeds_failed"].value == 2
    assert "login-page" in raw["failed_feeds"].value and "missing" in raw["failed_feeds"].value
    # The bad body is archived (nothing is lost), flagged with its error.
    assert (
        project.query("SELECT count(*) FROM feed_snapshots WHERE feed_id = 'login-page' AND body IS NOT NULL")[0][0]
        == 1
    )


def test_every_feed_failing_fails_the_run(project: Project, current_hour: str) -> None:
    project.write_feeds([{"name": "missing", "url": str(project.root / "nowhere.xml")}])
    result = project.materialize(current_hour, raise_on_error=False)
    assert not result.success
    # Its failure is still recorded where users look.
    assert "cannot read" in project.query("SELECT last_error FROM feed_health")[0][0]


def test_malformed_feed_list_fails_clearly_and_writes_nothing(project: Project, current_hour: str) -> None:
    project.feeds_file.write_text("feeds:\n  - name: a\n")
    result = project.materialize(current_hour, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "'url' is required" in failure.step_failure_data.error.to_string()
    assert not project.catalog.exists()


@pytest.mark.parametrize("hours_ago", [3])
def test_past_hours_are_never_fetched(project: Project, hours_ago: int) -> None:
    from datetime import UTC, datetime, timedelta

    from feeds_etl.partitions import hour_key

    past = hour_key(datetime.now(UTC) - timedelta(hours=hours_ago))
    result = project.materialize(past)
    assert result.success
    assert project.query("SELECT count(*) FROM feed_snapshots")[0][0] == 0
    assert project.query("SELECT note FROM partition_log WHERE partition_key = ?", [past]) == [
        ("past hour with no snapshot: nothing was fetched",)
    ]
    raw = result.asset_materializations_for_node("raw_feed_xml")[0].metadata
    assert raw["hours_without_snapshots"].value == 1


def test_a_new_cleaner_version_re_derives_the_text(
    project: Project, current_hour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feeds_etl.steps import clean

    project.materialize(current_hour)
    assert project.query("SELECT DISTINCT cleaner_version FROM item_text") == [(clean.CLEANER_VERSION,)]
    monkeypatch.setenv("FEEDS_ETL_WORKERS", "1")  # worker processes would import the real constant
    monkeypatch.setattr(clean, "CLEANER_VERSION", "next")
    result = project.materialize(current_hour, selection=[cleaned_text])
    assert result.asset_materializations_for_node("cleaned_text")[0].metadata["items_cleaned"].value == 322
    assert project.query("SELECT DISTINCT cleaner_version FROM item_text") == [("next",)]
    again = project.materialize(current_hour, selection=[cleaned_text])
    assert again.asset_materializations_for_node("cleaned_text")[0].metadata["items_cleaned"].value == 0


def test_each_asset_commits_what_it_made(project: Project, current_hour: str) -> None:

    assert project.materialize(current_hour, selection=[raw_feed_xml]).success
    assert project.query("SELECT count(*) FROM feed_snapshots")[0][0] == 5
    assert project.query("SELECT count(*) FROM items")[0][0] == 0
    assert project.materialize(current_hour, selection=[parsed_items]).success
    assert project.query("SELECT count(*) FROM items")[0][0] == 322


def test_bodies_stored_in_small_batches_give_the_same_archive(
    project: Project, current_hour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feeds_etl.steps import archive

    # Every fetched body is its own write transaction, stored by the writer thread while the fetch goes on.
    monkeypatch.setattr(archive, "STORE_BATCH_BYTES", 1)
    result = project.materialize(current_hour)
    assert result.success
    assert project.query("SELECT count(*), count(body) FROM feed_snapshots") == [(5, 5)]
    assert project.query("SELECT count(*) FROM feed_health WHERE last_success_at IS NOT NULL") == [(5,)]
    assert project.query("SELECT count(*) FROM items")[0][0] == 322
    raw = result.asset_materializations_for_node("raw_feed_xml")[0].metadata
    assert raw["feeds_new_content"].value == 5


def test_small_batches_on_worker_processes_give_the_same_tables(
    project: Project, current_hour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many parse and clean batches, each handed to worker processes while the previous one is stored."""
    from feeds_etl import parallel
    from feeds_etl.steps import clean, parse

    assert project.materialize(current_hour).success
    fingerprint = """SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM item_versions),
                            (SELECT sum(hash(item_id || text || word_count || coalesce(language, ''))) FROM item_text),
                            (SELECT count(*) FROM item_links), (SELECT sum(tf) FROM search_terms),
                            (SELECT count(*) FROM item_tags)"""
    expected = project.query(fingerprint)
    assert expected[0][0] == 322

    batched = Project(project.root / "batched", project.feeds_file)
    batched.root.mkdir()
    monkeypatch.setattr(parse, "PARSE_BATCH_BYTES", 64 * 1024)
    monkeypatch.setattr(clean, "CLEAN_BATCH_ITEMS", 50)
    monkeypatch.setattr(parse, "PARALLEL_PARSE_BYTES", 0)  # even this small range goes to the worker processes
    monkeypatch.setattr(clean, "PARALLEL_CLEAN_ITEMS", 0)
    monkeypatch.setattr(parallel, "default_workers", lambda: 2)
    result = batched.materialize(current_hour)
    assert result.success
    assert batched.query(fingerprint) == expected
    cleaned = result.asset_materializations_for_node("cleaned_text")[0].metadata
    assert cleaned["items_cleaned"].value == 322


def test_parse_problems_show_on_every_run_of_the_hour(project: Project, current_hour: str) -> None:
    empty = project.root / "samples" / "empty-channel.xml"
    empty.write_text('<rss version="2.0"><channel><title>Quiet</title></channel></rss>')
    project.write_feeds(
        [
            {"name": "novastan-migrants", "url": str(project.root / "samples" / "novastan-migrants.rss.xml")},
            {"name": "quiet", "url": str(empty)},
        ]
    )
    for _ in range(2):  # the second run parses nothing new, and still says which feed yields no items
        result = project.materialize(current_hour)
        assert result.success
        problems = result.asset_materializations_for_node("parsed_items")[0].metadata["feeds_with_parse_problems"]
        assert "| quiet | no items: the document has no entries |" in problems.value
        assert "novastan" not in problems.value


def test_batches_are_bounded_in_size_and_in_count() -> None:
    from feeds_etl.steps.work import batches_by_size

    sizes = [("a", 10), ("b", 10), ("c", 25), ("d", 1), ("e", 1), ("f", 1), ("g", 0)]
    batches = list(batches_by_size(sizes, 20, max_count=3))
    assert [[name for name, _ in batch] for batch in batches] == [["a", "b"], ["c"], ["d", "e", "f"], ["g"]]
    assert [len(batch) for batch in batches_by_size(sizes, 100)] == [7]


def test_placeholder_tags_stay_in_item_tags_but_not_in_the_aggregates(project: Project, current_hour: str) -> None:
    """'Uncategorized' is kept as the feed wrote it; tag_counts, tag_cooccurrence and tag_trends leave it out,
    and so does a tag the feed list adds to `tag_stoplist`."""
    sample = project.root / "samples" / "bazaar-notes.rss.xml"
    text = sample.read_text(encoding="utf-8")
    sample.write_text(text.replace("<category>Climate</category>", "<category>Uncategorized</category>"), "utf-8")
    listed = yaml.safe_load(project.feeds_file.read_text(encoding="utf-8"))
    listed["tag_stoplist"] = ["Water"]
    project.feeds_file.write_text(yaml.safe_dump(listed, allow_unicode=True), encoding="utf-8")
    assert project.materialize(current_hour).success
    assert project.query("SELECT count(*) FROM item_tags WHERE tag = 'uncategorized'")[0][0] == 16
    assert project.query("SELECT count(*) FROM item_tags WHERE tag = 'water'")[0][0] > 0
    for table, where in [
        ("tag_counts", "tag IN ('uncategorized', 'water')"),
        ("tag_cooccurrence", "'uncategorized' IN (tag_a, tag_b) OR 'water' IN (tag_a, tag_b)"),
        ("tag_trends", "tag IN ('uncategorized', 'water')"),
    ]:
        assert project.query(f"SELECT count(*) FROM {table} WHERE {where}")[0][0] == 0, table
    assert project.query("SELECT count(*) FROM tag_counts WHERE tag = 'kyrgyzstan'")[0][0] > 0
