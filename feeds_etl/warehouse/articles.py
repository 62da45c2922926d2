"""`article_pages`: every fetch of an item's article page, bodies stored once per page URL and content, so the
text can be extracted again offline (a backfill, a new cleaner) and reruns send conditional requests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from feeds_etl.model import FetchResult
from feeds_etl.warehouse.bulk import insert_table, registered_ids, rows_at

_TS = pa.timestamp("us", tz="UTC")

PAGE_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("url", pa.string()),
        ("final_url", pa.string()),
        ("fetched_at", _TS),
        ("partition_key", pa.string()),
        ("http_status", pa.int32()),
        ("etag", pa.string()),
        ("last_modified", pa.string()),
        ("content_type", pa.string()),
        ("content_sha256", pa.string()),
        ("body", pa.binary()),
        ("body_bytes", pa.int64()),
        ("has_body", pa.bool_()),
        ("elapsed_ms", pa.float64()),
        ("outcome", pa.string()),
        ("error", pa.string()),
    ]
)

# fetched: a body not archived before; unchanged: 200 with an archived body; not_modified: 304;
# failed: no usable page (HTTP error, network, caps, not HTML); disallowed: robots.txt, never requested.
OUTCOMES = ("fetched", "unchanged", "not_modified", "failed", "disallowed")
USABLE = ("fetched", "unchanged", "not_modified")


@dataclass(frozen=True)
class Validators:
    """What the archive knows of a page URL: its stored content and the validators for a conditional GET."""

    content_sha256: str
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class ArticlePage:
    """An item's latest page fetch as archived, with the body it refers to (None when it failed)."""

    item_id: str
    url: str
    final_url: str | None
    outcome: str  # OUTCOMES, or "unfetched": never fetched (only the hour under way fetches)
    content_type: str | None = None
    error: str | None = None
    body: bytes | None = None


def page_validators(con: duckdb.DuckDBPyConnection, urls: Sequence[str]) -> dict[str, Validators]:
    """Per page URL, the content of its latest usable fetch and that fetch's validators."""
    if not urls:
        return {}
    with registered_ids(con, "_page_urls", "url", urls):
        rows = con.execute(
            f"""SELECT url, content_sha256, etag, last_modified FROM article_pages SEMI JOIN _page_urls USING (url)
                WHERE outcome IN {USABLE}
                QUALIFY row_number() OVER (PARTITION BY url ORDER BY fetched_at DESC, rowid DESC) = 1"""
        ).fetchall()
    return {url: Validators(sha, etag, last_modified) for url, sha, etag, last_modified in rows}


def page_row(
    item_id: str, result: FetchResult, partition_key: str, outcome: str, store_body: bool
) -> dict[str, object]:
    return {
        "item_id": item_id,
        "url": result.url,
        "final_url": result.final_url,
        "fetched_at": result.fetched_at,
        "partition_key": partition_key,
        "http_status": result.http_status,
        "etag": result.etag,
        "last_modified": result.last_modified,
        "content_type": result.content_type,
        "content_sha256": result.content_sha256,
        "body": result.body if store_body else None,
        "body_bytes": len(result.body) if result.body is not None else None,
        "has_body": store_body and result.body is not None,
        "elapsed_ms": result.elapsed_ms,
        "outcome": outcome,
        "error": result.error,
    }


def save_pages(con: duckdb.DuckDBPyConnection, rows: Sequence[dict[str, object]]) -> int:
    return insert_table(con, "article_pages", pa.Table.from_pylist(list(rows), schema=PAGE_SCHEMA))


# Each item's latest page fetch (the row the item's text is made from).
_LATEST_SQL = """
    SELECT item_id, url, final_url, outcome, content_type, error, content_sha256, body_bytes
    FROM article_pages SEMI JOIN _page_items USING (item_id)
    QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY fetched_at DESC, rowid DESC) = 1
"""


def page_sizes(con: duckdb.DuckDBPyConnection, item_ids: Sequence[str]) -> dict[str, int]:
    """Bytes of each item's latest archived page (so cleaning batches can be bounded in size)."""
    if not item_ids:
        return {}
    with registered_ids(con, "_page_items", "item_id", item_ids):
        latest = f"WITH latest AS ({_LATEST_SQL}) "
        rows = con.execute(
            latest
            + """SELECT l.item_id, any_value(p.body_bytes) FROM latest l
                        JOIN article_pages p ON p.url = l.url AND p.content_sha256 = l.content_sha256 AND p.has_body
                        WHERE l.outcome IN ('fetched', 'unchanged', 'not_modified') GROUP BY l.item_id"""
        ).fetchall()
    return dict(rows)


def latest_pages(con: duckdb.DuckDBPyConnection, item_ids: Sequence[str]) -> dict[str, ArticlePage]:
    """Each item's latest page fetch, with its body from wherever the archive holds it (a 304 or an unchanged
    page points to an earlier row). Bodies are read by row id, so only their stretch of the table is scanned."""
    if not item_ids:
        return {}
    with registered_ids(con, "_page_items", "item_id", item_ids):
        latest = con.execute(_LATEST_SQL).fetchall()
        body_rows = con.execute(
            f"""WITH latest AS ({_LATEST_SQL})
                SELECT min(p.rowid) FROM article_pages p
                JOIN latest l ON p.url = l.url AND p.content_sha256 = l.content_sha256
                WHERE p.has_body AND l.outcome IN {USABLE}
                GROUP BY p.url, p.content_sha256"""
        ).to_arrow_table()
    columns = "url, content_sha256, body, content_type"
    bodies = {(url, sha): (body, kind) for url, sha, body, kind in rows_at(con, "article_pages", columns, body_rows[0])}
    pages = {}
    for item_id, url, final_url, outcome, content_type, error, sha, _ in latest:
        body, stored_type = bodies.get((url, sha), (None, None)) if outcome in USABLE else (None, None)
        if outcome in USABLE and body is None:
            outcome, error = "failed", "the archived page's body is missing"
        pages[item_id] = ArticlePage(item_id, url, final_url, outcome, content_type or stored_type, error, body)
    return pages
