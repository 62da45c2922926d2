"""`item_text`, `item_links` and the full-text index, re-derived only where the HTML or cleaner changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from feeds_etl.parse import ParsedEntry
from feeds_etl.warehouse.articles import ArticlePage
from feeds_etl.warehouse.bulk import insert_table, registered, registered_ids, rows_at
from feeds_etl.warehouse.items import TOUCHED_ITEMS_SQL

TEXT_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("text", pa.string()),
        ("word_count", pa.int32()),
        ("language", pa.string()),
        ("reading_time_minutes", pa.float64()),
        ("cleaner_version", pa.string()),
        ("source_sha256", pa.string()),
        ("text_source", pa.string()),  # feed | article
        ("article_status", pa.string()),  # article | disallowed | failed | unfetched; None: no article wanted
        ("article_error", pa.string()),
        ("article_url", pa.string()),
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
    teaser: bool | None = None  # as the parser judged it in its feed (None: stored before it did)
    article: ArticlePage | None = None  # the archived article page, when the feed's text is a teaser

    @classmethod
    def of_entry(cls, entry: ParsedEntry) -> PendingText:
        """What `load_pending_texts` loads for this entry's version, from the parsed entry itself."""
        return cls(entry.item_id, entry.feed_id, entry.title, entry.link, entry.html, entry.entry_sha256)


# What the text is made from: the item's current version (its hash covers title and HTML); a new version, new
# text. `items` is item_state joined to item_versions; these queries join them themselves, for the versions'
# storage order (rowid).
CURRENT_VERSIONS_SQL = "item_state s JOIN item_versions v USING (item_id, entry_sha256)"


def pending_text_ids(
    con: duckdb.DuckDBPyConnection, first_key: str, last_key: str, cleaner_version: str
) -> list[tuple[str, str, int, int]]:
    """Items seen in the range whose text is missing, or was made from other HTML or by another cleaner, with
    the version their text must be made from (its hash and row id) and the size of its HTML in characters (so
    batches can be bounded in size, not only in number).

    In storage order, so a batch of neighbours in this list is one stretch of `item_versions` (see
    `load_versions`)."""
    pending = con.execute(
        f"""
        WITH touched AS ({TOUCHED_ITEMS_SQL})
        SELECT s.item_id, s.entry_sha256, v.rowid
        FROM {CURRENT_VERSIONS_SQL} JOIN touched USING (item_id) LEFT JOIN item_text t USING (item_id)
        WHERE t.item_id IS NULL OR t.cleaner_version <> $cleaner_version OR t.source_sha256 <> s.entry_sha256
        ORDER BY v.rowid
        """,
        {"first_key": first_key, "last_key": last_key, "cleaner_version": cleaner_version},
    ).fetchall()
    if not pending:
        return []
    # Sizes apart, from the stretch the pending versions lie in (an hour's are the newest): in the query above,
    # the HTML of every item seen in the range would be read.
    sizes = dict(
        con.execute(
            """SELECT rowid, coalesce(strlen(coalesce(content_html, summary_html)), 0) FROM item_versions
               WHERE rowid BETWEEN $first AND $last""",
            {"first": pending[0][2], "last": pending[-1][2]},
        ).fetchall()
    )
    return [(item_id, source, row, sizes[row]) for item_id, source, row in pending]


def changed_item_ids(con: duckdb.DuckDBPyConnection, first_key: str, last_key: str) -> list[str]:
    """Items seen in the range that are new or whose current version has no text yet (a new cleaner alone
    does not count): the only items whose article pages are fetched."""
    rows = con.execute(
        f"""
        WITH touched AS ({TOUCHED_ITEMS_SQL})
        SELECT s.item_id FROM item_state s JOIN touched USING (item_id) LEFT JOIN item_text t USING (item_id)
        WHERE t.item_id IS NULL OR t.source_sha256 <> s.entry_sha256
        """,
        {"first_key": first_key, "last_key": last_key},
    ).fetchall()
    return [item_id for (item_id,) in rows]


def load_pending_texts(con: duckdb.DuckDBPyConnection, item_ids: Sequence[str]) -> list[PendingText]:
    """The items to clean: a batch of `pending_text_ids`, so mostly one stretch of `item_versions`."""
    if not item_ids:
        return []
    with registered_ids(con, "_pending_ids", "item_id", item_ids):
        # Where the batch's versions lie (ids only), then their HTML from that stretch alone: a scan skips what
        # lies outside a rowid range, while a join alone reads every version's HTML, once per batch. The HTML
        # is never joined on: a join could hold all of the stretch's HTML (a batch of items spread over a big
        # table, as after a cleaner change, ran out of memory).
        versions = con.execute(
            f"SELECT v.rowid FROM {CURRENT_VERSIONS_SQL} SEMI JOIN _pending_ids USING (item_id)"
        ).to_arrow_table()
    return load_versions(con, versions.column(0))


def load_versions(con: duckdb.DuckDBPyConnection, row_ids: pa.Array | pa.ChunkedArray) -> list[PendingText]:
    """The versions at these `item_versions` row ids (as `pending_text_ids` gives them), in storage order."""
    columns = "item_id, feed_id, title, link, coalesce(content_html, summary_html), entry_sha256, teaser"
    return [PendingText(*row) for row in rows_at(con, "item_versions", columns, row_ids)]


def article_candidates(
    con: duckdb.DuckDBPyConnection, item_ids: Sequence[str]
) -> list[tuple[str, str, str | None, bool | None]]:
    """(item_id, feed_id, link, teaser) of the items' current versions: whether an article is wanted, without
    reading any HTML (`teaser` is NULL only for versions stored before the parser judged it)."""
    if not item_ids:
        return []
    with registered_ids(con, "_candidate_ids", "item_id", item_ids):
        return con.execute(
            f"SELECT v.item_id, v.feed_id, v.link, v.teaser FROM {CURRENT_VERSIONS_SQL} SEMI JOIN _candidate_ids "
            "USING (item_id) ORDER BY v.rowid"
        ).fetchall()


# A worker's terms as dictionaries: each row holds its item's place among the slice's item ids and its term's
# among the slice's terms, so each id and term crosses to the writer once. The writer swaps both for the numbers
# of search_docs and search_vocab (`_save_search_index`).
TERM_SCHEMA = pa.schema(
    [
        ("item_id", pa.dictionary(pa.int32(), pa.string())),
        ("term", pa.dictionary(pa.int32(), pa.string())),
        ("tf", pa.int32()),
    ]
)
DOC_SCHEMA = pa.schema([("item_id", pa.string()), ("doc_length", pa.int32())])
STEM_SCHEMA = pa.schema([("word", pa.string()), ("stem", pa.string())])


@dataclass(frozen=True)
class CleanedBatch:
    """What cleaning some items gives, as Arrow tables ready to append: a worker builds one per slice of
    items (columns travel back cheaply), the writer concatenates them (`store.concat_fieldwise`)."""

    texts: pa.Table  # TEXT_SCHEMA
    links: pa.Table  # LINK_SCHEMA
    terms: pa.Table  # TERM_SCHEMA: stemmed term frequencies per item
    docs: pa.Table  # DOC_SCHEMA: words per item (BM25's document length)
    stems: pa.Table  # STEM_SCHEMA: every word of these items and its stem, so queries can stem in plain SQL


def save_texts(con: duckdb.DuckDBPyConnection, batch: CleanedBatch) -> int:
    """Replace text, links and search index rows of the batch's items in one go (Arrow bulk appends)."""
    if batch.texts.num_rows == 0:
        return 0
    with registered(con, "_text_ids", batch.texts.select(["item_id"])):
        # The four tables are written together, so an item without text has nothing to replace (a first
        # import then skips four scans of ever larger tables per batch).
        replacing = con.execute("SELECT EXISTS (SELECT 1 FROM item_text SEMI JOIN _text_ids USING (item_id))")
        if replacing.fetchone()[0]:
            con.execute(
                """DELETE FROM search_terms
                   WHERE doc_id IN (SELECT doc_id FROM search_docs SEMI JOIN _text_ids USING (item_id))"""
            )
            for table in ("item_text", "item_links", "search_docs"):
                con.execute(f"DELETE FROM {table} WHERE item_id IN (SELECT item_id FROM _text_ids)")
    insert_table(con, "item_text", batch.texts)
    insert_table(con, "item_links", batch.links)
    _save_search_index(con, batch)
    return batch.texts.num_rows


def _save_search_index(con: duckdb.DuckDBPyConnection, batch: CleanedBatch) -> None:
    """The batch's documents numbered after the last one, its new terms after the last term, and its term rows
    with both numbers (integers cost a fraction of strings to store: 0.5 s instead of 2.9 s for 5.2 million)."""
    first_doc = con.execute("SELECT coalesce(max(doc_id), 0) + 1 FROM search_docs").fetchone()[0]
    docs = batch.docs.append_column("doc_id", pa.array(range(first_doc, first_doc + batch.docs.num_rows), pa.int32()))
    insert_table(con, "search_docs", docs)
    with registered(con, "_stems", batch.stems):
        con.execute(
            "INSERT INTO search_stems SELECT DISTINCT word, stem FROM _stems ANTI JOIN search_stems USING (word)"
        )
    if batch.terms.num_rows == 0:
        return
    terms = batch.terms.unify_dictionaries()  # one dictionary per column for the whole batch
    items, vocabulary = (terms.column(name).chunk(0).dictionary for name in ("item_id", "term"))
    doc_ids = pc.add(pc.index_in(items, value_set=docs.column("item_id")), first_doc).cast(pa.int32())
    with registered(con, "_batch_terms", pa.table({"term": vocabulary, "position": pa.array(range(len(vocabulary)))})):
        con.execute(
            """INSERT INTO search_vocab
               SELECT (SELECT coalesce(max(term_id), 0) FROM search_vocab) + row_number() OVER (ORDER BY position),
                      term
               FROM _batch_terms ANTI JOIN search_vocab USING (term)"""
        )
        term_ids = (
            con.execute("SELECT v.term_id FROM _batch_terms JOIN search_vocab v USING (term) ORDER BY position")
            .to_arrow_table()
            .column(0)
            .combine_chunks()
        )
    if len(term_ids) != len(vocabulary):
        raise RuntimeError("search_vocab holds a term more than once: the search index is inconsistent")
    numbered = pa.table(
        {
            "doc_id": _decode(terms.column("item_id"), doc_ids),
            "term_id": _decode(terms.column("term"), term_ids),
            "tf": terms.column("tf"),
        }
    )
    insert_table(con, "search_terms", numbered)


def _decode(column: pa.ChunkedArray, values: pa.Array) -> pa.ChunkedArray:
    """A dictionary column whose chunks share one dictionary, with `values[i]` for the dictionary's i-th entry."""
    return pa.chunked_array([pc.take(values, chunk.indices) for chunk in column.chunks], values.type)
