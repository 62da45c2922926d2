"""`item_text`, `item_links` and the full-text index, re-derived only where the HTML or cleaner changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from feeds_etl.warehouse.items import TOUCHED_ITEMS_SQL
from feeds_etl.warehouse.store import insert_arrow, registered_ids

TEXT_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("text", pa.string()),
        ("word_count", pa.int32()),
        ("language", pa.string()),
        ("reading_time_minutes", pa.float64()),
        ("cleaner_version", pa.string()),
        ("source_sha256", pa.string()),
    ]
)
LINK_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("position", pa.int32()),
        ("url", pa.string()),
        ("domain", pa.string()),
        ("anchor_text", pa.string()),
    ]
)


@dataclass(frozen=True)
class PendingText:
    """An item whose text is missing or was made from other HTML or by another cleaner version."""

    item_id: str
    feed_id: str
    title: str | None
    link: str | None
    html: str | None
    source_sha256: str


# What the text is made from: the item's version (its hash covers title and HTML); a new version, new text.
SOURCE_SHA_SQL = "i.entry_sha256"


def pending_text_ids(con: duckdb.DuckDBPyConnection, first_key: str, last_key: str, cleaner_version: str) -> list[str]:
    """Items seen in the range whose text is missing, or was made from other HTML or by another cleaner.

    In storage order, so a batch of neighbours in this list is one stretch of the table (see
    `load_pending_texts`)."""
    rows = con.execute(
        f"""
        WITH touched AS ({TOUCHED_ITEMS_SQL})
        SELECT i.item_id
        FROM items i JOIN touched USING (item_id) LEFT JOIN item_text t USING (item_id)
        WHERE t.item_id IS NULL OR t.cleaner_version <> $cleaner_version
           OR t.source_sha256 <> {SOURCE_SHA_SQL}
        ORDER BY i.rowid
        """,
        {"first_key": first_key, "last_key": last_key, "cleaner_version": cleaner_version},
    ).fetchall()
    return [row[0] for row in rows]


def load_pending_texts(con: duckdb.DuckDBPyConnection, item_ids: Sequence[str]) -> list[PendingText]:
    """The items to clean: a batch of `pending_text_ids`, so one stretch of the table."""
    if not item_ids:
        return []
    with registered_ids(con, "_pending_ids", "item_id", item_ids):
        # Where the batch lies first (ids only), then its HTML from that stretch alone: the scan skips what
        # lies outside a rowid range, while a join alone reads every item's HTML, once per batch.
        first, last = con.execute(
            "SELECT min(rowid), max(rowid) FROM items SEMI JOIN _pending_ids USING (item_id)"
        ).fetchone()
        rows = con.execute(
            f"""SELECT i.item_id, i.feed_id, i.title, i.link, coalesce(i.content_html, i.summary_html),
                       {SOURCE_SHA_SQL}
                FROM items i SEMI JOIN _pending_ids USING (item_id)
                WHERE i.rowid BETWEEN $first AND $last
                ORDER BY i.rowid""",
            {"first": first, "last": last},
        ).fetchall()
    return [PendingText(*row) for row in rows]


TERM_SCHEMA = pa.schema([("item_id", pa.string()), ("word", pa.string()), ("tf", pa.int32())])


def term_table(item_ids: Sequence[str], terms: Sequence[tuple[list[str], list[int]]]) -> pa.Table:
    """Columnar (item_id, word, tf) straight from each item's word counts, no per-row dicts."""
    ids, words, counts = [], [], []
    for item_id, (item_words, item_counts) in zip(item_ids, terms, strict=True):
        ids.extend([item_id] * len(item_words))
        words.extend(item_words)
        counts.extend(item_counts)
    return pa.table({"item_id": ids, "word": words, "tf": counts}, schema=TERM_SCHEMA)


def save_texts(
    con: duckdb.DuckDBPyConnection,
    texts: Sequence[dict],
    links: Sequence[dict],
    terms: pa.Table,
    stemmer: Stemmer,
) -> int:
    """Replace text, links and search terms of the given items in one go (Arrow bulk loads)."""
    if not texts:
        return 0
    ids = pa.table({"item_id": [t["item_id"] for t in texts]})
    con.register("_text_ids", ids)
    try:
        # The four tables are written together, so an item without text has nothing to replace (a first
        # import then skips four scans of ever larger tables per batch).
        replacing = con.execute("SELECT EXISTS (SELECT 1 FROM item_text SEMI JOIN _text_ids USING (item_id))")
        if replacing.fetchone()[0]:
            for table in ("item_text", "item_links", "search_terms", "search_docs"):
                con.execute(f"DELETE FROM {table} WHERE item_id IN (SELECT item_id FROM _text_ids)")
        insert_arrow(con, "item_text", texts, TEXT_SCHEMA)
        insert_arrow(con, "item_links", links, LINK_SCHEMA)
        index_for_search(con, terms, stemmer)
    finally:
        con.unregister("_text_ids")
    return len(texts)


class Stemmer:
    """Porter stems from DuckDB's fts extension, loaded from the duckdb-extension-fts wheel (offline)."""

    def __init__(self) -> None:
        import duckdb_extension_fts

        version = duckdb.__version__
        path = Path(duckdb_extension_fts.__file__).parent / "extensions" / f"v{version}" / "fts.duckdb_extension"
        if not path.exists():
            raise RuntimeError(f"fts extension for duckdb {version} not found at {path}; reinstall with make")
        self.path = path

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"LOAD '{self.path}'")


def index_for_search(con: duckdb.DuckDBPyConnection, words: pa.Table, stemmer: Stemmer) -> None:
    """Add per-item stemmed term frequencies and lengths; words are counted in Python by the cleaner.

    Only words never seen before are stemmed (the fts extension's Porter stemmer, loaded from the wheel);
    `search_stems` keeps the mapping so queries can stem in plain SQL.
    """
    con.register("_words", words)
    try:
        has_new_words = con.execute(
            "SELECT EXISTS (SELECT 1 FROM _words ANTI JOIN search_stems USING (word))"
        ).fetchall()[0][0]
        if has_new_words:
            stemmer.load(con)
            con.execute(
                """INSERT INTO search_stems
                   SELECT DISTINCT w.word, stem(w.word, 'porter') FROM _words w ANTI JOIN search_stems USING (word)"""
            )
        con.execute(
            """INSERT INTO search_terms
               SELECT w.item_id, s.stem, sum(w.tf)::INTEGER FROM _words w JOIN search_stems s USING (word)
               GROUP BY ALL"""
        )
        con.execute(
            """INSERT INTO search_docs
               SELECT i.item_id, coalesce(sum(w.tf), 0)::INTEGER
               FROM _text_ids i LEFT JOIN _words w USING (item_id) GROUP BY i.item_id"""
        )
    finally:
        con.unregister("_words")
