"""`history_imports`: which feeds had their older pages imported, so it happens once per feed URL."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import duckdb

from feeds_etl.feeds import Feed
from feeds_etl.model import FetchResult


def imported(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Feed ids whose history was imported from their current listed URL."""
    return {row[0] for row in con.execute("SELECT feed_id FROM history_imports").fetchall()}


def record(
    con: duckdb.DuckDBPyConnection,
    feeds: Mapping[str, Feed],
    pages_by_feed: Mapping[str, list[FetchResult]],
    imported_at: datetime,
) -> None:
    for feed_id, pages in pages_by_feed.items():
        error = next((page.error for page in pages if page.error), None)
        con.execute("DELETE FROM history_imports WHERE feed_id = ?", [feed_id])
        con.execute(
            "INSERT INTO history_imports VALUES (?, ?, ?, ?, ?)",
            [feed_id, feeds[feed_id].url, imported_at, sum(1 for page in pages if page.ok), error],
        )
