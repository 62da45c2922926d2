"""The working database: schema upgrades in place, and how hourly appends and the daily compaction store rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from feeds_etl.maintenance import compact_warehouse_job
from feeds_etl.resources import WarehouseResource
from feeds_etl.warehouse import Warehouse
from feeds_etl.warehouse.schema import SCHEMA_VERSION
from feeds_etl.warehouse.store import StorageUpgrade, migrate
from feeds_etl.warehouse.text import load_pending_texts
from feeds_etl_tests.conftest import Project
from feeds_etl_tests.test_assets import DERIVED_TABLES, table_contents
from feeds_etl_tests.test_backfill import make


def test_version_7_database_gains_has_body_from_its_bodies(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            """CREATE TABLE feed_snapshots (snapshot_id VARCHAR NOT NULL, feed_id VARCHAR NOT NULL,
               partition_key VARCHAR NOT NULL, fetched_at TIMESTAMPTZ NOT NULL, url VARCHAR NOT NULL,
               final_url VARCHAR, http_status INTEGER, etag VARCHAR, last_modified VARCHAR, content_type VARCHAR,
               content_sha256 VARCHAR, body BLOB, body_bytes BIGINT, outcome VARCHAR NOT NULL, error VARCHAR,
               elapsed_ms DOUBLE)"""
        )
        con.execute(
            """INSERT INTO feed_snapshots VALUES
               ('a', 'f', '2026-11-24-10:00', now(), 'u', NULL, 200, NULL, NULL, NULL, 'h1', 'x'::BLOB, 1, 'new',
                NULL, 1.0),
               ('b', 'f', '2026-11-24-11:00', now(), 'u', NULL, 304, NULL, NULL, NULL, 'h1', NULL, NULL,
                'not_modified', NULL, 1.0)"""
        )
        con.execute("CREATE TABLE _meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("INSERT INTO _meta VALUES ('schema_version', '7')")
    with duckdb.connect(str(path)) as con:
        migrate(con)
        assert con.execute("SELECT snapshot_id, has_body FROM feed_snapshots ORDER BY 1").fetchall() == [
            ("a", True),
            ("b", False),
        ]
        assert con.execute("SELECT value FROM _meta").fetchall() == [(str(SCHEMA_VERSION),)]


def test_version_8_items_table_becomes_a_view_over_its_versions(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        versions = """item_id VARCHAR, entry_sha256 VARCHAR, feed_id VARCHAR, guid VARCHAR, link VARCHAR,
            title VARCHAR, author VARCHAR, published_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, summary_html VARCHAR,
            content_html VARCHAR, categories VARCHAR[]"""
        con.execute(f"CREATE TABLE item_versions ({versions})")
        con.execute(
            """CREATE TABLE items (item_id VARCHAR, feed_id VARCHAR, guid VARCHAR, link VARCHAR, title VARCHAR,
               author VARCHAR, published_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, summary_html VARCHAR,
               content_html VARCHAR, categories VARCHAR[], first_seen_at TIMESTAMPTZ, last_seen_at TIMESTAMPTZ,
               entry_sha256 VARCHAR, version_count INTEGER)"""
        )
        con.execute(
            """INSERT INTO item_versions VALUES
               ('i', 'v1', 'f', 'g', 'l', 'Old title', NULL, NULL, NULL, NULL, '<p>old</p>', ['a']),
               ('i', 'v2', 'f', 'g', 'l', 'New title', NULL, NULL, NULL, NULL, '<p>new</p>', ['b'])"""
        )
        con.execute(
            """INSERT INTO items VALUES ('i', 'f', 'g', 'l', 'New title', NULL, NULL, NULL, NULL, '<p>new</p>', ['b'],
               '2026-11-01 00:00:00+00', '2026-11-02 00:00:00+00', 'v2', 2)"""
        )
        before = con.execute("SELECT * FROM items").fetchall()
        con.execute("CREATE TABLE _meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("INSERT INTO _meta VALUES ('schema_version', '8')")
    with duckdb.connect(str(path)) as con:
        migrate(con)
        kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = 'items'").fetchone()
        assert kind == ("VIEW",)
        assert con.execute("SELECT * FROM items").fetchall() == before
        assert con.execute("SELECT item_id, entry_sha256, version_count FROM item_state").fetchall() == [("i", "v2", 2)]


def test_version_9_search_index_is_numbered_and_still_finds_the_same_items(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE search_terms (item_id VARCHAR NOT NULL, term VARCHAR NOT NULL, tf INTEGER NOT NULL)")
        con.execute("CREATE TABLE search_docs (item_id VARCHAR NOT NULL, doc_length INTEGER NOT NULL)")
        con.execute(
            """INSERT INTO search_terms VALUES ('a', 'run', 2), ('a', 'fast', 1), ('b', 'bread', 2), ('b', 'soup', 1)"""
        )
        con.execute("INSERT INTO search_docs VALUES ('a', 3), ('b', 3)")
        con.execute("CREATE TABLE _meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("INSERT INTO _meta VALUES ('schema_version', '9')")
    with duckdb.connect(str(path)) as con:
        migrate(con)
        rows = con.execute(
            """SELECT item_id, term, tf, doc_length
               FROM search_terms JOIN search_docs USING (doc_id) JOIN search_vocab USING (term_id) ORDER BY ALL"""
        ).fetchall()
        assert rows == [("a", "fast", 1, 3), ("a", "run", 2, 3), ("b", "bread", 2, 3), ("b", "soup", 1, 3)]
        assert con.execute("SHOW TABLES").fetchall().count(("_search_terms_v10",)) == 0
        assert con.execute("SELECT value FROM _meta").fetchall() == [(str(SCHEMA_VERSION),)]


def _row_groups(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return con.execute("SELECT count(DISTINCT row_group_id) FROM pragma_storage_info(?)", [table]).fetchone()[0]


def test_hourly_appends_are_not_rewritten_until_the_daily_compaction(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "feeds.duckdb")
    for hour in range(3):  # three runs, each appending to a table that already holds data
        with warehouse.writing() as con:
            con.execute(
                "INSERT INTO partition_log SELECT ?, 'raw_feed_xml', 'note ' || i FROM range(50) r(i)",
                [f"2026-11-24-{hour:02}:00"],
            )
    with warehouse.reading() as con:
        # Each append kept its own row group: a checkpoint wrote the new rows and left older ones alone.
        assert _row_groups(con, "partition_log") == 3
        rows = con.execute("SELECT * FROM partition_log ORDER BY ALL").fetchall()

    compaction = warehouse.compact(datetime(2026, 11, 25, 3, 40, tzinfo=UTC))
    assert compaction is not None
    assert compaction.row_groups_before["partition_log"] == 3 and compaction.row_groups_after["partition_log"] == 1
    with warehouse.published() as con:
        assert con is not None
        assert _row_groups(con, "partition_log") == 1
        assert con.execute("SELECT * FROM partition_log ORDER BY ALL").fetchall() == rows
        assert con.execute("SELECT value FROM _meta WHERE key = 'compacted_at'").fetchone() == (
            "2026-11-25T03:40:00+00:00",
        )


def _storage_version(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("SELECT tags['storage_version'] FROM duckdb_databases() WHERE NOT internal").fetchone()[0]


def _compression(con: duckdb.DuckDBPyConnection, table: str, column: str) -> set[str]:
    rows = con.execute(
        "SELECT DISTINCT compression FROM pragma_storage_info(?) WHERE column_name = ? AND segment_type <> 'VALIDITY'",
        [table, column],
    ).fetchall()
    return {compression for (compression,) in rows}


LONG_TEXTS = [("feed_snapshots", "body"), ("item_versions", "content_html"), ("item_text", "text")]
PAGE = "<p>" + "Migrant workers wait at the Russian border for the third day. " * 200 + "</p>"


def _write_300_pages(warehouse: Warehouse) -> None:
    with warehouse.writing() as con:
        con.execute(
            """INSERT INTO feed_snapshots (snapshot_id, feed_id, partition_key, fetched_at, url, body, outcome)
               SELECT 's' || i, 'f', '2026-11-24-10:00', now(), 'u', ?::BLOB, 'new' FROM range(300) r(i)""",
            [PAGE],
        )
        con.execute(
            """INSERT INTO item_versions (item_id, entry_sha256, feed_id, content_html)
               SELECT 'i' || i, 'h', 'f', ? FROM range(300) r(i)""",
            [PAGE],
        )
        con.execute(
            """INSERT INTO item_text (item_id, text, word_count, reading_time_minutes, cleaner_version,
               source_sha256) SELECT 'i' || i, ?, 1, 0, '1', 'h' FROM range(300) r(i)""",
            [PAGE],
        )


def test_a_new_database_stores_bodies_html_and_text_compressed(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "feeds.duckdb")
    _write_300_pages(warehouse)
    with warehouse.published() as con:
        assert con is not None
        assert _storage_version(con).startswith("v1.2.0")
        for table, column in LONG_TEXTS:
            assert _compression(con, table, column) == {"ZSTD"}, (table, column)
        assert con.execute("SELECT count(*) FROM item_text WHERE text = ?", [PAGE]).fetchone() == (300,)
    # 300 copies of a 12.6 kB page stored as they are would take 3 x 3.8 MB.
    assert warehouse.database.stat().st_size < 3_000_000


def _made_by_an_earlier_version(warehouse: Warehouse) -> str:
    """An empty working database in DuckDB's default storage format, as feeds_etl made them before; its format."""
    warehouse.work_dir.mkdir(exist_ok=True)
    with duckdb.connect(str(warehouse.work_database)) as con:
        return _storage_version(con)


def test_a_database_made_by_an_earlier_version_keeps_its_storage_format(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "feeds.duckdb")
    before = _made_by_an_earlier_version(warehouse)
    with warehouse.writing() as con:
        con.execute("INSERT INTO partition_log VALUES ('2026-11-24-10:00', 'raw_feed_xml', 'note')")
    with warehouse.published() as con:
        assert con is not None
        assert _storage_version(con) == before and not before.startswith("v1.2")
        assert con.execute("SELECT count(*) FROM partition_log").fetchone() == (1,)


def test_upgrade_storage_rewrites_an_earlier_database_compressed_with_every_row(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "feeds.duckdb")
    assert warehouse.upgrade_storage() is None  # no database yet
    old_format = _made_by_an_earlier_version(warehouse)
    _write_300_pages(warehouse)
    with warehouse.writing() as con:
        con.execute("CREATE TABLE not_ours AS SELECT 42 AS answer")  # carried over, not dropped
    tables = [*(table for table, _ in LONG_TEXTS), "_meta", "not_ours"]
    with warehouse.published() as con:
        assert con is not None and _compression(con, "item_text", "text") != {"ZSTD"}
        before = {table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() for table in tables}

    upgrade = warehouse.upgrade_storage()

    assert upgrade is not None and upgrade.format_before == old_format and upgrade.format_after.startswith("v1.2.0")
    assert upgrade.bytes_after < upgrade.bytes_before / 3
    with warehouse.published() as con:
        assert con is not None and _storage_version(con) == upgrade.format_after
        for table, column in LONG_TEXTS:
            assert _compression(con, table, column) == {"ZSTD"}, (table, column)
        assert {table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() for table in tables} == before
    again = warehouse.upgrade_storage()  # already in the format: left as it is
    assert again == StorageUpgrade(upgrade.format_after, upgrade.format_after, upgrade.bytes_after, upgrade.bytes_after)
    with warehouse.writing() as con:  # and runs go on writing to it
        con.execute("INSERT INTO partition_log VALUES ('2026-11-24-10:00', 'raw_feed_xml', 'note')")


def test_make_upgrade_storage_on_a_database_filled_by_runs(project: Project, current_hour: str) -> None:
    warehouse = Warehouse(project.database)
    _made_by_an_earlier_version(warehouse)
    assert project.materialize(current_hour).success
    tables = ["feed_snapshots", *DERIVED_TABLES]
    before = table_contents(project, tables)
    found = project.query("SELECT item_id FROM search_items('migrant workers Russia')")

    done = make(project, "upgrade-storage")

    assert done.returncode == 0, done.stderr
    assert "rewritten from storage format v1.0.0+ to v1.2.0+" in done.stdout
    assert table_contents(project, tables) == before
    assert project.query("SELECT item_id FROM search_items('migrant workers Russia')") == found != []
    assert project.materialize(current_hour).success
    assert "already in storage format v1.2.0+: nothing to do" in make(project, "upgrade-storage").stdout


def test_compaction_job_runs_and_reports(tmp_path: Path) -> None:
    database = tmp_path / "feeds.duckdb"
    resources = {"warehouse": WarehouseResource(database=str(database))}
    assert compact_warehouse_job.execute_in_process(resources=resources).success  # no database yet: a no-op
    assert not database.exists()
    with Warehouse(database).writing() as con:
        con.execute("INSERT INTO partition_log VALUES ('2026-11-24-00:00', 'raw_feed_xml', 'x')")
    with Warehouse(database).writing() as con:
        con.execute("INSERT INTO partition_log VALUES ('2026-11-24-01:00', 'raw_feed_xml', 'y')")
    result = compact_warehouse_job.execute_in_process(resources=resources)
    assert result.success
    [event] = [e for e in result.all_events if e.is_successful_output]
    metadata = event.step_output_data.metadata
    assert metadata["row_groups_after"].value < metadata["row_groups_before"].value
    assert "partition_log" in metadata["tables_compacted"].value


def _inode(path: Path) -> int:
    return path.stat().st_ino


def test_publishing_rewrites_the_unread_standby_in_place_and_never_a_file_being_read(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "feeds.duckdb")
    standby = tmp_path / ".feeds.duckdb.standby"

    def write(note: str) -> None:
        with warehouse.writing() as con:
            con.execute("INSERT INTO partition_log VALUES ('2026-11-24-00:00', 'raw_feed_xml', ?)", [note])

    def published_notes(con: duckdb.DuckDBPyConnection) -> list[str]:
        return [row[0] for row in con.execute("SELECT note FROM partition_log ORDER BY note").fetchall()]

    write("a")  # first publish: a copy
    write("b")  # the first generation becomes the standby
    assert standby.exists() and _inode(standby) != _inode(tmp_path / "feeds.duckdb")
    recycled = _inode(standby)
    write("c")  # nobody reads the standby: it is brought up to date in place and becomes the published file
    assert _inode(tmp_path / "feeds.duckdb") == recycled
    with warehouse.published() as con:
        assert con is not None and published_notes(con) == ["a", "b", "c"]

    # A reader holds the published generation through two more publishes: it is never written to.
    held = duckdb.connect(str(tmp_path / "feeds.duckdb"), read_only=True)
    try:
        held_inode = _inode(tmp_path / "feeds.duckdb")
        write("d")  # the held file becomes the standby
        write("e")  # the standby is busy: a fresh copy replaces it, the reader keeps its file
        assert held_inode not in {_inode(tmp_path / "feeds.duckdb"), _inode(standby)}
        assert published_notes(held) == ["a", "b", "c"]
    finally:
        held.close()
    with warehouse.published() as con:
        assert con is not None and published_notes(con) == ["a", "b", "c", "d", "e"]
    write("f")  # the standby is free again: in place
    with warehouse.published() as con:
        assert con is not None and published_notes(con) == ["a", "b", "c", "d", "e", "f"]
    with warehouse.reading() as con:
        assert published_notes(con) == ["a", "b", "c", "d", "e", "f"]


def test_writer_keeps_no_wal_and_spills_beside_the_working_database(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "feeds.duckdb")
    with warehouse.writing(publish=False) as con:
        con.execute("INSERT INTO partition_log VALUES ('2026-11-24-00:00', 'raw_feed_xml', 'x')")
        spill_dir = con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
    assert spill_dir == f"{warehouse.work_database}.tmp"  # not `.tmp` in whatever directory the run started in
    assert not Path(f"{warehouse.work_database}.wal").exists()
    with warehouse.reading(threads=1) as con:
        assert con.execute("SELECT current_setting('threads'), count(*) FROM partition_log").fetchone() == (1, 1)


def test_a_session_commits_each_write_at_once_and_rolls_back_a_failed_one(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "feeds.duckdb")
    row = "INSERT INTO partition_log VALUES ('2026-11-24-00:00', 'raw_feed_xml', ?)"
    with warehouse.session(threads=1) as session:
        with session.writing() as con:
            con.execute(row, ["kept"])
        with pytest.raises(RuntimeError), session.writing() as con:
            con.execute(row, ["rolled back"])
            raise RuntimeError("the batch failed")
        with session.reading() as con:
            assert con.execute("SELECT current_setting('threads'), current_setting('memory_limit')").fetchone() == (
                1,
                "244.1 MiB",
            )
            assert con.execute("SELECT note FROM partition_log").fetchall() == [("kept",)]
        assert not Path(f"{warehouse.work_database}.wal").exists()  # checkpointed at once, as `writing` does
    assert not warehouse.database.exists()  # a session never publishes


def test_a_clean_batch_spread_over_a_big_table_is_read_within_a_small_memory_bound(tmp_path: Path) -> None:
    """After a cleaner change, the items of a backfilled hour lie scattered among every other version: the
    batch must be read without ever holding the whole stretch's HTML (a join on it did, and ran out of memory)."""
    con = duckdb.connect(str(tmp_path / "big.duckdb"), config={"threads": 1})
    migrate(con)
    con.execute(
        """INSERT INTO item_versions (item_id, entry_sha256, feed_id, title, content_html)
           SELECT 'i' || n, 'v' || n, 'f', 'title ' || n, repeat('<p>word</p>', 2000) || n FROM range(3000) t(n)"""
    )  # 66 MB of HTML
    con.execute("INSERT INTO item_state SELECT item_id, entry_sha256, now(), now(), 1 FROM item_versions")
    con.execute("CHECKPOINT")
    con.execute("SET memory_limit = '112MB'")
    scattered = [f"i{n}" for n in range(0, 3000, 10)]
    texts = load_pending_texts(con, scattered)
    assert [text.item_id for text in texts] == scattered
    assert texts[-1].html is not None and texts[-1].html.endswith("</p>2990")
