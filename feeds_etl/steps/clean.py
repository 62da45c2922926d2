"""cleaned_text's work: readable text, links, language and the search index of every item seen in a range whose
HTML or cleaner changed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from feeds_etl import parallel, progress
from feeds_etl.clean import CLEANER_VERSION, clean_item
from feeds_etl.feeds import Feed, FeedList
from feeds_etl.search import count_terms, token_text
from feeds_etl.steps import articles
from feeds_etl.steps.work import Timings, batches_by_size, in_workers
from feeds_etl.warehouse import Warehouse
from feeds_etl.warehouse import text as text_store
from feeds_etl.warehouse.bulk import registered_ids

# Items are cleaned in batches of at most this many, and of at most this much HTML (long articles make smaller
# batches), so memory stays flat.
CLEAN_BATCH_ITEMS = 2000
CLEAN_BATCH_CHARS = 32 * 1024 * 1024
# Fewer items than this are cleaned in-process, where starting the worker pool would cost as much as it saves.
PARALLEL_CLEAN_ITEMS = 500


@dataclass
class CleanReport:
    cleaned: int = 0
    links: int = 0
    languages: Counter[str] = field(default_factory=Counter)
    timings: Timings = field(default_factory=Timings)
    pages: Counter[str] = field(default_factory=Counter)  # article page fetches by outcome, "requested": sent
    articles: Counter[str] = field(default_factory=Counter)  # items by article_status

    def add(self, stored: text_store.CleanedBatch) -> None:
        self.cleaned += stored.texts.num_rows
        self.links += stored.links.num_rows
        self.languages.update(language or "unknown" for language in stored.texts["language"].to_pylist())
        self.articles.update(status for status in stored.texts["article_status"].to_pylist() if status)


def _clean_slice(jobs: Sequence[tuple[text_store.PendingText, Feed | None]]) -> text_store.CleanedBatch:
    """Clean some items and index their words for search (runs in worker processes)."""
    texts, links, tokens = [], [], []
    for pending, feed in jobs:
        chosen = articles.choose_text(
            pending, feed, clean_item(pending.html, pending.title, pending.link, feed.boilerplate if feed else None)
        )
        cleaned = chosen.cleaned
        texts.append(
            {"item_id": pending.item_id, "text": cleaned.text, "word_count": cleaned.word_count,
             "language": cleaned.language, "reading_time_minutes": cleaned.reading_time_minutes,
             "cleaner_version": CLEANER_VERSION, "source_sha256": pending.source_sha256,
             "text_source": chosen.source, "article_status": chosen.status, "article_error": chosen.error,
             "article_url": chosen.url}
        )  # fmt: skip
        links += [
            {"item_id": pending.item_id, "position": n, "url": link.url, "domain": link.domain,
             "anchor_text": link.anchor_text}
            for n, link in enumerate(cleaned.links)
        ]  # fmt: skip
        tokens.append(token_text(pending.title, cleaned.text))
    counts = count_terms(tokens)
    item_ids = pa.array([pending.item_id for pending, _ in jobs], pa.string())
    # Each term row's item and stem as indices into the slice's item ids and stems (dictionary arrays): hundreds
    # of terms per item, but each string crosses to the writer once.
    terms = {
        "item_id": pa.DictionaryArray.from_arrays(counts.document, item_ids),
        "term": pa.DictionaryArray.from_arrays(counts.term, pa.array(counts.terms, pa.string())),
        "tf": counts.tf,
    }
    return text_store.CleanedBatch(
        texts=pa.Table.from_pylist(texts, schema=text_store.TEXT_SCHEMA),
        links=pa.Table.from_pylist(links, schema=text_store.LINK_SCHEMA),
        terms=pa.table(terms, schema=text_store.TERM_SCHEMA),
        docs=pa.table({"item_id": item_ids, "doc_length": counts.lengths}, schema=text_store.DOC_SCHEMA),
        stems=pa.table(
            {"word": list(counts.stems), "stem": list(counts.stems.values())}, schema=text_store.STEM_SCHEMA
        ),
    )


def clean_range(
    warehouse: Warehouse,
    feed_list: FeedList | None,
    first_key: str,
    last_key: str,
    workers: int | None = None,
    feed_ids: Collection[str] | None = None,
    fetching: articles.ArticleFetching | None = None,
) -> CleanReport:
    """Clean items seen in the range whose HTML or cleaner version changed since they were last cleaned;
    `feed_ids`: only those feeds' items (a shard). With `fetching`, teasers of the hour under way get their
    article pages fetched first; otherwise (and for past hours) articles come from the archive alone."""
    report = CleanReport()
    feeds = feed_list.by_id() if feed_list else {}

    def load(
        con: duckdb.DuckDBPyConnection, batch: list[tuple[str, str, int, int]]
    ) -> list[tuple[text_store.PendingText, Feed | None]]:
        texts = text_store.load_versions(con, pa.array([row for _, _, row, _ in batch], pa.int64()))
        texts = articles.attach_pages(con, texts, feeds)
        return [(text, feeds.get(text.feed_id)) for text in texts]

    with warehouse.session() as session:  # one connection for the step
        with session.reading() as con, report.timings.measure("read"):
            pending = text_store.pending_text_ids(con, first_key, last_key, CLEANER_VERSION)
            if feed_ids is not None and pending:
                with registered_ids(con, "_shard_feeds", "feed_id", feed_ids):
                    mine = {
                        row[0]
                        for row in con.execute(
                            "SELECT item_id FROM items SEMI JOIN _shard_feeds USING (feed_id)"
                        ).fetchall()
                    }
                pending = [row for row in pending if row[0] in mine]
        if fetching is not None and feed_list is not None:
            pages = articles.fetch_articles(
                session, feed_list, fetching, first_key, last_key, [row[0] for row in pending], report.timings
            )
            report.pages.update(pages.outcomes)
            report.pages["requested"] += pages.requested
        if pending:
            with session.reading() as con, report.timings.measure("read"):
                pending = articles.with_page_sizes(con, pending)
        workers = parallel.workers_for(len(pending), PARALLEL_CLEAN_ITEMS, workers)
        batches = list(batches_by_size(pending, CLEAN_BATCH_CHARS, CLEAN_BATCH_ITEMS))
        cleaning = progress.stage("clean", len(pending), "items")
        for cleaned in in_workers(session, batches, load, _clean_slice, workers, report.timings, "clean"):
            cleaning.advance(cleaned.texts.num_rows)
            with report.timings.measure("load"), session.writing() as con:
                text_store.save_texts(con, cleaned)
            report.add(cleaned)
    return report
