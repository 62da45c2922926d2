"""The archive (`feed_snapshots`) and per-feed state (`feed_health`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict

import duckdb
import pyarrow as pa

from feeds_etl.feeds import Feed
from feeds_etl.health import FeedHealth
from feeds_etl.model import FetchResult, Snapshot
from feeds_etl.warehouse.bulk import insert_arrow, registered_ids

_TS = pa.timestamp("us", tz="UTC")

SNAPSHOT_SCHEMA = pa.schema(
    [
        ("snapshot_id", pa.string()),
        ("feed_id", pa.string()),
        ("partition_key", pa.string()),
        ("fetched_at", _TS),
        ("url", pa.string()),
        ("final_url", pa.string()),
        ("http_status", pa.int32()),
        ("etag", pa.string()),
        ("last_modified", pa.string()),
        ("content_type", pa.string()),
        ("content_sha256", pa.string()),
        ("body", pa.binary()),
        ("body_bytes", pa.int64()),
        ("outcome", pa.string()),
        ("error", pa.string()),
        ("elapsed_ms", pa.float64()),
        ("has_body", pa.bool_()),
    ]
)

HEALTH_SCHEMA = pa.schema(
    [
        ("feed_id", pa.string()),
        ("url", pa.string()),
        ("effective_url", pa.string()),
        ("status", pa.string()),
        ("last_attempt_at", _TS),
        ("last_success_at", _TS),
        ("last_status", pa.int32()),
        ("consecutive_failures", pa.int32()),
        ("last_error", pa.string()),
        ("next_attempt_at", _TS),
        ("etag", pa.string()),
        ("last_modified", pa.string()),
        ("last_content_sha256", pa.string()),
        ("redirect_target", pa.string()),
        ("redirect_seen", pa.int32()),
        ("in_feed_list", pa.bool_()),
    ]
)

OUTCOMES = ("new", "unchanged", "not_modified", "failed", "skipped", "history")


def snapshot_id(result: FetchResult) -> str:
    key = f"{result.feed_id}\x1f{result.fetched_at.isoformat()}\x1f{result.url}"
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def load_health(con: duckdb.DuckDBPyConnection) -> dict[str, FeedHealth]:
    cursor = con.execute(f"SELECT {', '.join(HEALTH_SCHEMA.names)} FROM feed_health")
    names = [d[0] for d in cursor.description]
    health = {}
    for row in cursor.fetchall():
        record = dict(zip(names, row, strict=True))
        record.pop("in_feed_list")
        health[record["feed_id"]] = FeedHealth(**record)
    return health


def stored_hashes(con: duckdb.DuckDBPyConnection, feed_ids: Iterable[str]) -> set[tuple[str, str]]:
    """(feed_id, content_sha256) pairs whose body the archive already holds."""
    ids = list(feed_ids)
    if not ids:
        return set()
    with registered_ids(con, "_feed_ids", "feed_id", ids):
        rows = con.execute(
            """SELECT DISTINCT feed_id, content_sha256 FROM feed_snapshots SEMI JOIN _feed_ids USING (feed_id)
               WHERE has_body"""
        ).fetchall()
    return {(feed_id, sha) for feed_id, sha in rows}


def save_snapshots(con: duckdb.DuckDBPyConnection, snapshots: Sequence[Snapshot]) -> int:
    rows = []
    for snap in snapshots:
        result = snap.result
        body = result.body if snap.store_body else None
        rows.append(
            {
                "snapshot_id": snapshot_id(result),
                "feed_id": result.feed_id,
                "partition_key": snap.partition_key,
                "fetched_at": result.fetched_at,
                "url": result.url,
                "final_url": result.final_url,
                "http_status": result.http_status,
                "etag": result.etag,
                "last_modified": result.last_modified,
                "content_type": result.content_type,
                "content_sha256": result.content_sha256,
                "body": body,
                "body_bytes": len(result.body) if result.body is not None else None,
                "outcome": snap.outcome,
                "error": result.error,
                "elapsed_ms": result.elapsed_ms,
                "has_body": body is not None,
            }
        )
    return insert_arrow(con, "feed_snapshots", rows, SNAPSHOT_SCHEMA)


def save_health(con: duckdb.DuckDBPyConnection, health: Iterable[FeedHealth], listed_feed_ids: set[str]) -> int:
    """Replace the health rows given; feeds no longer listed stay, flagged `in_feed_list = false`."""
    rows = [{**asdict(h), "in_feed_list": h.feed_id in listed_feed_ids} for h in health]
    if rows:
        with registered_ids(con, "_health_ids", "feed_id", [r["feed_id"] for r in rows]):
            con.execute("DELETE FROM feed_health WHERE feed_id IN (SELECT feed_id FROM _health_ids)")
    insert_arrow(con, "feed_health", rows, HEALTH_SCHEMA)
    with registered_ids(con, "_listed_ids", "feed_id", listed_feed_ids):
        con.execute("UPDATE feed_health SET in_feed_list = feed_id IN (SELECT feed_id FROM _listed_ids)")
    return len(rows)


FEED_SCHEMA = pa.schema(
    [
        ("feed_id", pa.string()),
        ("url", pa.string()),
        ("title", pa.string()),
        ("feed_group", pa.string()),
        ("html_url", pa.string()),
        ("enabled", pa.bool_()),
        ("full_text", pa.string()),
    ]
)


def save_feeds(con: duckdb.DuckDBPyConnection, feeds: Iterable[Feed]) -> int:
    """The `feeds` table becomes the feed list as it is now."""
    rows = [
        {"feed_id": f.feed_id, "url": f.url, "title": f.title, "feed_group": f.group, "html_url": f.html_url,
         "enabled": f.enabled, "full_text": f.full_text}
        for f in feeds
    ]  # fmt: skip
    con.execute("DELETE FROM feeds")
    return insert_arrow(con, "feeds", rows, FEED_SCHEMA)


def partition_snapshot_counts(
    con: duckdb.DuckDBPyConnection, first_key: str, last_key: str
) -> dict[str, dict[str, int]]:
    """{partition_key: {outcome: count}} for the archive of a range of hours."""
    counts: dict[str, dict[str, int]] = {}
    rows = con.execute(
        """SELECT partition_key, outcome, count(*) FROM feed_snapshots
           WHERE partition_key BETWEEN ? AND ? GROUP BY ALL""",
        [first_key, last_key],
    ).fetchall()
    for key, outcome, count in rows:
        counts.setdefault(key, {})[outcome] = count
    return counts


def note_partition(con: duckdb.DuckDBPyConnection, partition_key: str, asset: str, note: str) -> None:
    """Record what a run did for an hour when that is 'nothing', so it is visible in SQL."""
    con.execute(
        "DELETE FROM partition_log WHERE partition_key = ? AND asset = ?",
        [partition_key, asset],
    )
    con.execute("INSERT INTO partition_log VALUES (?, ?, ?)", [partition_key, asset, note])
