"""Parsed contents, item versions and the deduplicated `items` table (set-based SQL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from feeds_etl.parse import PARSER_VERSION, ParsedFeed, entry_as_row
from feeds_etl.warehouse.bulk import insert_table, registered, rows_at

_TS = pa.timestamp("us", tz="UTC")

PARSED_SCHEMA = pa.schema(
    [
        ("feed_id", pa.string()),
        ("content_sha256", pa.string()),
        ("parser_version", pa.string()),
        ("feed_title", pa.string()),
        ("entry_count", pa.int32()),
        ("warning", pa.string()),
        ("error", pa.string()),
    ]
)
ENTRY_SCHEMA = pa.schema(
    [
        ("feed_id", pa.string()),
        ("content_sha256", pa.string()),
        ("position", pa.int32()),
        ("item_id", pa.string()),
        ("entry_sha256", pa.string()),
    ]
)
VERSION_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("entry_sha256", pa.string()),
        ("feed_id", pa.string()),
        ("guid", pa.string()),
        ("link", pa.string()),
        ("title", pa.string()),
        ("author", pa.string()),
        ("published_at", _TS),
        ("updated_at", _TS),
        ("published_raw", pa.string()),
        ("summary_html", pa.string()),
        ("content_html", pa.string()),
        ("categories", pa.list_(pa.string())),
        ("teaser", pa.bool_()),
    ]
)


@dataclass(frozen=True)
class PendingContent:
    """An archived body that has not been parsed by the current parser yet."""

    feed_id: str
    content_sha256: str
    body: bytes
    content_type: str | None
    final_url: str | None


@dataclass(frozen=True)
class ItemChanges:
    touched: int
    new: int
    updated: int


# Items seen in a range of hours: the entries of every successful snapshot taken in those hours.
TOUCHED_ITEMS_SQL = """
    SELECT DISTINCT e.item_id
    FROM feed_snapshots s
    JOIN feed_entries e ON e.feed_id = s.feed_id AND e.content_sha256 = s.content_sha256
    WHERE s.partition_key BETWEEN $first_key AND $last_key
      AND s.content_sha256 IS NOT NULL AND s.error IS NULL
"""


def pending_contents(con: duckdb.DuckDBPyConnection, first_key: str, last_key: str) -> list[tuple[str, str, int]]:
    """(feed_id, content_sha256, body size) of contents the range's snapshots reference that the current
    parser has not seen; bodies are loaded batch by batch with `load_contents`, so memory stays flat. In
    storage order, so a batch of neighbours in this list is one stretch of the archive."""
    return con.execute(
        """
        WITH wanted AS (
            SELECT DISTINCT feed_id, content_sha256 FROM feed_snapshots
            WHERE partition_key BETWEEN $first_key AND $last_key
              AND content_sha256 IS NOT NULL AND error IS NULL
        ), todo AS (
            SELECT w.* FROM wanted w
            ANTI JOIN parsed_contents p
              ON p.feed_id = w.feed_id AND p.content_sha256 = w.content_sha256
             AND p.parser_version = $parser_version
        )
        SELECT t.feed_id, t.content_sha256, any_value(s.body_bytes)
        FROM todo t JOIN feed_snapshots s
          ON s.feed_id = t.feed_id AND s.content_sha256 = t.content_sha256 AND s.has_body
        GROUP BY t.feed_id, t.content_sha256
        ORDER BY min(s.rowid)
        """,
        {"first_key": first_key, "last_key": last_key, "parser_version": PARSER_VERSION},
    ).fetchall()


def load_contents(con: duckdb.DuckDBPyConnection, keys: Sequence[tuple[str, str]]) -> list[PendingContent]:
    """Bodies for (feed_id, content_sha256) keys: a batch of `pending_contents`, so one stretch of the archive."""
    if not keys:
        return []
    batch = pa.table({"feed_id": [k[0] for k in keys], "content_sha256": [k[1] for k in keys]})
    with registered(con, "_content_keys", batch):
        # Which archive row holds each body (keys only), then those rows from that stretch alone: the scan skips
        # what lies outside their rowid range, while a join alone reads every stored body, once per batch. No
        # body goes through an aggregate: `any_value` would copy each one twice more.
        rows = con.execute(
            """SELECT min(s.rowid) FROM feed_snapshots s SEMI JOIN _content_keys k
                 ON s.feed_id = k.feed_id AND s.content_sha256 = k.content_sha256
               WHERE s.has_body GROUP BY s.feed_id, s.content_sha256"""
        ).to_arrow_table()
    found = rows_at(con, "feed_snapshots", "feed_id, content_sha256, body, content_type, final_url", rows.column(0))
    return [PendingContent(*row) for row in found]


@dataclass(frozen=True)
class ParsedBatch:
    """What parsing some archived bodies gave, as Arrow tables ready to append: a worker builds one per slice
    of bodies (columns travel back cheaply), the writer concatenates them (`store.concat_fieldwise`)."""

    contents: pa.Table  # PARSED_SCHEMA: one row per body (its warning or error included)
    entries: pa.Table  # ENTRY_SCHEMA: which entries each body listed, in order
    versions: pa.Table  # VERSION_SCHEMA: each distinct (item_id, entry_sha256) once

    @classmethod
    def from_feeds(cls, parsed: Sequence[ParsedFeed], teasers: Sequence[Sequence[bool]]) -> ParsedBatch:
        """`teasers`: per feed, per entry, whether the entry looks like a teaser in its feed."""
        contents = [
            {"feed_id": feed.feed_id, "content_sha256": feed.content_sha256, "parser_version": PARSER_VERSION,
             "feed_title": feed.title, "entry_count": len(feed.entries), "warning": feed.warning, "error": feed.error}
            for feed in parsed
        ]  # fmt: skip
        entries = [
            {"feed_id": feed.feed_id, "content_sha256": feed.content_sha256, "position": position,
             "item_id": entry.item_id, "entry_sha256": entry.entry_sha256}
            for feed in parsed
            for position, entry in enumerate(feed.entries)
        ]  # fmt: skip
        versions = {
            (e.item_id, e.entry_sha256): {**entry_as_row(e), "teaser": teaser}
            for feed, flags in zip(parsed, teasers, strict=True)
            for e, teaser in zip(feed.entries, flags, strict=True)
        }
        return cls(
            pa.Table.from_pylist(contents, schema=PARSED_SCHEMA),
            pa.Table.from_pylist(entries, schema=ENTRY_SCHEMA),
            pa.Table.from_pylist(list(versions.values()), schema=VERSION_SCHEMA),
        )


def save_parsed(con: duckdb.DuckDBPyConnection, batch: ParsedBatch) -> int:
    """Store what each content yielded; item versions are content-addressed, so stored once."""
    if batch.contents.num_rows == 0:
        return 0
    with registered(con, "_parsed_keys", batch.contents.select(["feed_id", "content_sha256"])):
        # Both tables are written together, so a body parsed for the first time (every body of a first import)
        # has nothing to replace: one probe instead of two deletes that scan ever larger tables.
        reparsed = con.execute(
            "SELECT EXISTS (SELECT 1 FROM parsed_contents SEMI JOIN _parsed_keys USING (feed_id, content_sha256))"
        )
        if reparsed.fetchone()[0]:
            for table in ("parsed_contents", "feed_entries"):
                con.execute(
                    f"""DELETE FROM {table} t USING _parsed_keys k
                        WHERE t.feed_id = k.feed_id AND t.content_sha256 = k.content_sha256"""
                )
    insert_table(con, "parsed_contents", batch.contents)
    insert_table(con, "feed_entries", batch.entries)
    if batch.versions.num_rows:
        with registered(con, "_incoming_versions", batch.versions):
            # Two slices may carry the same version (two bodies of one feed listing the same entry).
            con.execute(
                f"""INSERT INTO item_versions ({", ".join(VERSION_SCHEMA.names)})
                   SELECT DISTINCT ON (n.item_id, n.entry_sha256) n.* FROM _incoming_versions n
                   ANTI JOIN item_versions v ON v.item_id = n.item_id AND v.entry_sha256 = n.entry_sha256"""
            )
    return batch.entries.num_rows


def refresh_items(con: duckdb.DuckDBPyConnection, first_key: str, last_key: str) -> ItemChanges:
    """Merge what the range's snapshots saw into `items`.

    first/last_seen_at widen to cover the range's sightings; the row takes the range's latest version
    when that sighting is at least as recent as the row's. `items` is `item_state` joined to the versions,
    so only `item_state` is written. Merging is order-independent and idempotent: materializing any
    partitions, in any order, any number of times, gives the same rows.
    """
    params = {"first_key": first_key, "last_key": last_key}
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _span AS
        SELECT e.item_id,
               min(s.fetched_at) AS first_seen_at,
               max(s.fetched_at) AS last_seen_at,
               arg_max(e.entry_sha256, (s.fetched_at, e.entry_sha256)) AS entry_sha256
        FROM feed_snapshots s
        JOIN feed_entries e ON e.feed_id = s.feed_id AND e.content_sha256 = s.content_sha256
        WHERE s.partition_key BETWEEN $first_key AND $last_key
          AND s.content_sha256 IS NOT NULL AND s.error IS NULL
        GROUP BY e.item_id
        """,
        params,
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _merged AS
        WITH versions AS (
            SELECT f.item_id, count(DISTINCT f.entry_sha256) AS version_count
            FROM feed_entries f SEMI JOIN _span USING (item_id) GROUP BY f.item_id
        )
        SELECT s.item_id,
               least(s.first_seen_at, coalesce(i.first_seen_at, s.first_seen_at)) AS first_seen_at,
               greatest(s.last_seen_at, coalesce(i.last_seen_at, s.last_seen_at)) AS last_seen_at,
               CASE WHEN i.item_id IS NULL OR s.last_seen_at >= i.last_seen_at
                    THEN s.entry_sha256 ELSE i.entry_sha256 END AS entry_sha256,
               i.item_id IS NULL AS is_new,
               i.entry_sha256 AS old_sha256,
               versions.version_count
        FROM _span s JOIN versions USING (item_id) LEFT JOIN item_state i USING (item_id)
        """
    )
    # The HTML stays in item_versions: moving an item to another version, or seeing it again, only
    # rewrites its small item_state row (and only if something in it changed).
    con.execute(
        """DELETE FROM item_state s USING _merged m
           WHERE s.item_id = m.item_id AND (s.entry_sha256 <> m.entry_sha256 OR s.first_seen_at <> m.first_seen_at
                 OR s.last_seen_at <> m.last_seen_at OR s.version_count <> m.version_count)"""
    )
    con.execute(
        """INSERT INTO item_state
           SELECT item_id, entry_sha256, first_seen_at, last_seen_at, version_count
           FROM _merged ANTI JOIN item_state USING (item_id)"""
    )
    new, updated, touched = con.execute(
        """SELECT count(*) FILTER (WHERE is_new),
                  count(*) FILTER (WHERE NOT is_new AND old_sha256 <> entry_sha256),
                  count(*)
           FROM _merged"""
    ).fetchone()
    return ItemChanges(touched=touched, new=new, updated=updated)


def parse_problems(con: duckdb.DuckDBPyConnection, first_key: str, last_key: str) -> list[tuple[str, str, str]]:
    """(feed_id, warning, error) of each feed whose latest content in the range parsed with a warning or an
    error, by feed."""
    return con.execute(
        """
        WITH latest AS (
            SELECT feed_id, content_sha256 FROM feed_snapshots
            WHERE partition_key BETWEEN $first_key AND $last_key
              AND content_sha256 IS NOT NULL AND error IS NULL
            QUALIFY row_number() OVER (PARTITION BY feed_id ORDER BY fetched_at DESC, rowid DESC) = 1
        )
        SELECT l.feed_id, p.warning, p.error
        FROM latest l JOIN parsed_contents p USING (feed_id, content_sha256)
        WHERE p.parser_version = $parser_version AND (p.warning IS NOT NULL OR p.error IS NOT NULL)
        ORDER BY l.feed_id
        """,
        {"first_key": first_key, "last_key": last_key, "parser_version": PARSER_VERSION},
    ).fetchall()


def mark_parse_failures(con: duckdb.DuckDBPyConnection) -> None:
    """A feed whose latest content yielded nothing shows why in `feed_health.last_error` (idempotent)."""
    con.execute(
        """UPDATE feed_health h SET last_error = p.error, status = 'no_items'
           FROM parsed_contents p
           WHERE p.feed_id = h.feed_id AND p.content_sha256 = h.last_content_sha256
             AND p.entry_count = 0 AND p.error IS NOT NULL AND h.status IN ('ok', 'not_modified')"""
    )
