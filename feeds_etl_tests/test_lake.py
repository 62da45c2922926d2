"""The lake itself: snapshots and reading the past, maintenance, the import of a first-design database, and
clear errors when it cannot be opened."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from feeds_etl.maintenance import maintain_lake_job
from feeds_etl.resources import WarehouseResource
from feeds_etl.warehouse import LakeConfig, LakeError, Warehouse, readers
from feeds_etl_tests.conftest import Project

pytestmark = pytest.mark.slow  # real materializations, a few seconds each


def lake_snapshot(result: dg.ExecuteInProcessResult, asset: str = "tag_aggregates") -> int:
    return result.asset_materializations_for_node(asset)[0].metadata["lake_snapshot_id"].value


def data_files(project: Project) -> list[Path]:
    return [path for path in Path(project.lake.data_path).rglob("*") if path.is_file()]


def add_item(feed: Path, guid: str) -> None:
    """A new entry at the top of an RSS sample, as a feed gains one."""
    text = feed.read_text(encoding="utf-8")
    entry = f"<item><title>Entry {guid}</title><guid>{guid}</guid><description>New {guid} text.</description></item>"
    feed.write_text(text.replace("<item>", entry + "<item>", 1), encoding="utf-8")


def test_each_run_is_a_snapshot_and_the_past_stays_readable(project: Project, current_hour: str) -> None:
    first = project.materialize(current_hour)
    assert first.success
    before = lake_snapshot(first)
    add_item(project.root / "samples" / "bazaar-notes.rss.xml", "fresh-one")
    second = project.materialize(current_hour)
    after = lake_snapshot(second)
    assert after > before
    # The snapshot of every asset is in its metadata, in step order.
    steps = [lake_snapshot(second, asset) for asset in ("raw_feed_xml", "parsed_items", "cleaned_text")]
    assert steps == sorted(steps) and steps[-1] <= after
    assert project.query("SELECT count(*) FROM items")[0][0] == 323
    assert project.query(f"SELECT count(*) FROM items AT (VERSION => {before})")[0][0] == 322
    assert project.query(f"SELECT count(*) FROM feed_snapshots AT (VERSION => {before})")[0][0] == 5
    assert project.query("SELECT count(*) FROM feed_snapshots")[0][0] == 10


def test_a_steady_run_adds_storage_for_what_changed_only(project: Project, current_hour: str) -> None:
    assert project.materialize(current_hour).success
    size_before = sum(path.stat().st_size for path in data_files(project))
    add_item(project.root / "samples" / "bazaar-notes.rss.xml", "one-more")
    assert project.materialize(current_hour).success
    added = sum(path.stat().st_size for path in data_files(project)) - size_before
    # One feed's new body and one item: far less than the archive (no copy of the warehouse per run).
    assert added < size_before / 5, (added, size_before)


def test_maintenance_merges_small_files_and_deletes_what_nothing_refers_to(
    project: Project, current_hour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDS_ETL_SNAPSHOT_RETENTION", "1 second")  # every snapshot but the latest expires
    for n in range(3):
        add_item(project.root / "samples" / "bazaar-notes.rss.xml", f"upkeep-{n}")
        assert project.materialize(current_hour).success
    items = project.query("SELECT count(*) FROM items")[0][0]
    orphan = Path(project.lake.data_path) / "main" / "items_orphan.parquet"  # as a killed run leaves one
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"PAR1 half-written")
    resources = {"warehouse": WarehouseResource(catalog=project.lake.catalog, data_path=project.lake.data_path)}
    result = maintain_lake_job.execute_in_process(resources=resources)
    assert result.success
    metadata = next(e.step_output_data.metadata for e in result.all_events if e.is_successful_output)
    assert metadata["files_before"].value > 0 and metadata["mb_after"].value > 0
    # Inlined rows flushed, small files merged, expired files deleted: one data file per table is left.
    per_table = project.query("SELECT max(file_count) FROM ducklake_table_info('lake')")[0][0]
    assert per_table == 1
    assert not orphan.exists()
    assert project.query("SELECT count(*) FROM items")[0][0] == items
    assert project.query("SELECT count(*) FROM ducklake_snapshots('lake')")[0][0] == 1
    latest = project.query("SELECT max(snapshot_id) FROM ducklake_snapshots('lake')")[0][0]
    assert project.query(f"SELECT count(*) FROM items AT (VERSION => {latest})")[0][0] == items


def test_a_first_design_database_is_imported_once_and_left_untouched(
    project: Project, current_hour: str, tmp_path: Path
) -> None:
    assert project.materialize(current_hour).success
    legacy = tmp_path / "legacy" / "feeds.duckdb"
    readers.export(legacy, project.lake)
    con = duckdb.connect(str(legacy))  # the shape of the first design: schema 10, no published_raw
    con.execute("UPDATE _meta SET value = '10' WHERE key = 'schema_version'")
    con.execute("ALTER TABLE item_versions DROP COLUMN published_raw")
    con.execute("DROP TABLE feeds")
    con.close()
    digest = hashlib.sha256(legacy.read_bytes()).hexdigest()

    fresh = Project(tmp_path / "fresh", project.feeds_file)
    fresh.root.mkdir()
    resources = fresh.resources()
    resources["warehouse"] = WarehouseResource(
        catalog=fresh.lake.catalog, data_path=fresh.lake.data_path, legacy_database=str(legacy)
    )
    from feeds_etl.assets import feed_assets

    for _ in range(2):  # the second run finds the import recorded and imports nothing more
        assert dg.materialize(feed_assets, partition_key=current_hour, resources=resources).success
    for table in ("items", "item_text", "item_tags", "tag_counts", "search_terms"):
        assert fresh.query(f"SELECT count(*) FROM {table}") == project.query(f"SELECT count(*) FROM {table}"), table
    # Both runs fetched again, on top of the imported archive.
    assert fresh.query("SELECT count(*) FROM feed_snapshots")[0][0] == 15
    assert fresh.query("SELECT value FROM _meta WHERE key = 'legacy_import'") == [(str(legacy),)]
    assert hashlib.sha256(legacy.read_bytes()).hexdigest() == digest


def test_a_database_of_an_unknown_shape_is_refused_and_nothing_is_imported(
    project: Project, current_hour: str, tmp_path: Path
) -> None:
    legacy = tmp_path / "old.duckdb"
    con = duckdb.connect(str(legacy))
    con.execute("CREATE TABLE _meta (key VARCHAR, value VARCHAR)")
    con.execute("INSERT INTO _meta VALUES ('schema_version', '6')")
    con.close()
    with pytest.raises(Exception, match="schema version 6, expected 10"):
        Warehouse(project.lake).import_legacy(legacy)
    assert project.query("SELECT count(*) FROM _meta WHERE key = 'legacy_import'")[0][0] == 0


def test_a_reader_before_the_first_run_is_told_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match=r"no lake at .* yet: run `make run` first"):
        readers.connect(config=LakeConfig(str(tmp_path / "none.sqlite"), f"{tmp_path}/lake/"))


def test_the_lake_this_process_opened_is_found_and_no_other_is_opened(tmp_path: Path) -> None:
    config = LakeConfig(str(tmp_path / "feeds.sqlite"), f"{tmp_path}/lake/")
    try:
        assert Warehouse.opened(config) is None  # asking opens nothing
        assert not (tmp_path / "feeds.sqlite").exists()
        with Warehouse(config).reading() as con:
            con.execute("SELECT count(*) FROM items").fetchone()
        assert Warehouse.opened(config) is Warehouse(config)
    finally:
        Warehouse.close_all()
    assert Warehouse.opened(config) is None


def test_a_catalog_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    config = LakeConfig(str(blocked / "feeds.sqlite"), f"{tmp_path}/lake/")
    with pytest.raises(LakeError, match=rf"cannot create the lake .*{blocked.name}"), Warehouse(config).reading():
        pass


def test_a_catalog_that_is_not_a_catalog_is_a_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "feeds.sqlite"
    garbage.write_bytes(b"this is not a SQLite database at all" * 100)
    config = LakeConfig(str(garbage), f"{tmp_path}/lake/")
    with pytest.raises(LakeError, match=r"cannot open the lake catalog .*feeds.sqlite"), Warehouse(config).reading():
        pass


def test_extensions_come_from_the_wheels(tmp_path: Path) -> None:
    """A fresh DuckDB home (no extension installed yet) still opens the lake: nothing is downloaded."""
    home = tmp_path / "duckdb-home"
    con = duckdb.connect(config={"extension_directory": str(home), "autoinstall_known_extensions": False})
    from feeds_etl.warehouse.store import load_extensions

    load_extensions(con, ["ducklake", "sqlite"])
    loaded = {name for (name,) in con.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()}
    assert {"ducklake", "sqlite_scanner"} <= loaded
    assert any(home.rglob("ducklake.duckdb_extension"))
    con.close()
