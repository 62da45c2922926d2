"""A warehouse of the first design (one DuckDB file, `FEEDS_ETL_DATABASE`) imported into the lake once."""

from __future__ import annotations

from pathlib import Path

import duckdb

from feeds_etl.warehouse.bulk import sql_string
from feeds_etl.warehouse.schema import TABLES
from feeds_etl.warehouse.store import get_meta, set_meta, transaction

# The last schema of the single-file design; older files are brought to it by the release that made them.
LEGACY_SCHEMA_VERSION = 10
IMPORTED_KEY = "legacy_import"


class LegacyImportError(RuntimeError):
    """The old database cannot be imported as it is; nothing was written to the lake."""


def import_once(con: duckdb.DuckDBPyConnection, database: Path) -> dict[str, int] | None:
    """Copy every table of `database` into the lake in one transaction, each count checked; the file itself is
    only read. None when there is nothing to do: no such file, or the lake already imported one."""
    if not database.is_file() or get_meta(con, IMPORTED_KEY) is not None:
        return None
    con.execute(f"ATTACH {sql_string(str(database))} AS legacy (READ_ONLY)")
    try:
        with transaction(con):
            return _copy(con, database)
    finally:
        con.execute("DETACH legacy")


def _copy(con: duckdb.DuckDBPyConnection, database: Path) -> dict[str, int]:
    version = con.execute("SELECT value FROM legacy._meta WHERE key = 'schema_version'").fetchone()
    if version is None or int(version[0]) != LEGACY_SCHEMA_VERSION:
        found = version[0] if version else "unknown"
        raise LegacyImportError(
            f"{database}: schema version {found}, expected {LEGACY_SCHEMA_VERSION}; run `make run` once with "
            "feeds_etl 0.1.0 to bring it up to date, then import it"
        )
    tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'legacy'").fetchall()
    present = {name for (name,) in tables}
    if con.execute("SELECT count(*) FROM feed_snapshots").fetchone()[0]:
        # Never mix two archives: the lake's own runs came first, so the old file stays where it is, unread.
        set_meta(con, IMPORTED_KEY, f"not imported: the lake already held data when {database} was found")
        return {}
    counts: dict[str, int] = {}
    for table in TABLES:
        if table not in present:
            continue
        # By name: columns the lake added since (published_raw) stay NULL.
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM legacy.{table}")
        stored = con.execute(f"SELECT count(*) FROM legacy.{table}").fetchone()[0]
        copied = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if copied != stored:
            raise LegacyImportError(f"{database}: {table} has {stored} rows, the lake got {copied}")
        counts[table] = copied
    aliases = con.execute("SELECT value FROM legacy._meta WHERE key = 'tag_aliases'").fetchone()
    if aliases:
        set_meta(con, "tag_aliases", aliases[0])
    set_meta(con, IMPORTED_KEY, str(database))
    return counts
