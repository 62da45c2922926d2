"""parsed_items' work: parse the archived bodies of a range of hours (each distinct body once, on worker
processes when there are many), then merge what they list into `items`."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import duckdb

from feeds_etl import parallel, progress
from feeds_etl.articles import teasers_in_feed
from feeds_etl.parse import ParsedFeed, parse_feed
from feeds_etl.parse_fast import parse_feed_fast
from feeds_etl.steps.work import Timings, batches_by_size, in_workers
from feeds_etl.warehouse import Warehouse
from feeds_etl.warehouse import items as items_store
from feeds_etl.warehouse.store import Session


@dataclass
class ParseReport:
    contents_parsed: int = 0
    entries: int = 0
    touched: int = 0
    new_items: int = 0
    updated_items: int = 0
    warnings: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    timings: Timings = field(default_factory=Timings)


def _parse_pending(pending: items_store.PendingContent) -> ParsedFeed:
    """lxml for well-formed UTF-8 feeds (same result, ~5x faster), feedparser for everything else."""
    args = (pending.feed_id, pending.body, pending.content_sha256, pending.content_type, pending.final_url)
    return parse_feed_fast(*args) or parse_feed(*args)


def _parse_slice(pending: Sequence[items_store.PendingContent]) -> items_store.ParsedBatch:
    """Parse some archived bodies into tables ready to store (runs in worker processes)."""
    feeds = [_parse_pending(content) for content in pending]
    # Whether an item is a teaser depends on its feed's other items: judged here, where the whole document is.
    teasers = [teasers_in_feed([entry.html for entry in feed.entries]) for feed in feeds]
    return items_store.ParsedBatch.from_feeds(feeds, teasers)


# Bodies are parsed in batches of about this size, so memory stays flat however many feeds a run covers.
PARSE_BATCH_BYTES = 32 * 1024 * 1024
# Less XML than this is parsed in-process, where starting the worker pool would cost as much as it saves.
# Decided per range, not per batch: a batch is smaller than this by design.
PARALLEL_PARSE_BYTES = 16 * 1024 * 1024


def warm_up_workers(new_bytes: int) -> threading.Thread | None:
    """Called by the fetch as it stores new bodies: once there are enough to parse on the workers, their
    processes start in the background, so the forkserver's imports and the language model (about a second of
    one core) load while the fetch, which leaves a core idle, goes on rather than when the parse begins."""
    return parallel.prestart(parallel.workers_for(new_bytes, PARALLEL_PARSE_BYTES))  # in-process: nothing


def parse_range(
    warehouse: Warehouse,
    first_key: str,
    last_key: str,
    workers: int | None = None,
    feed_ids: Collection[str] | None = None,
    refresh: bool = True,
) -> ParseReport:
    """Parse contents the range's snapshots reference (each distinct body once), then refresh `items`.
    `feed_ids`: only these feeds' contents (a shard); `refresh=False` leaves `items` to `refresh_range`."""
    report = ParseReport()
    with warehouse.session() as session:  # one connection for the step
        with session.reading() as con, report.timings.measure("read"):
            pending = items_store.pending_contents(con, first_key, last_key)
        if feed_ids is not None:
            pending = [content for content in pending if content[0] in feed_ids]
        workers = parallel.workers_for(sum(size or 0 for *_, size in pending), PARALLEL_PARSE_BYTES, workers)

        def load(con: duckdb.DuckDBPyConnection, batch: list[tuple[str, str, int]]) -> list[items_store.PendingContent]:
            return items_store.load_contents(con, [(feed_id, sha) for feed_id, sha, _ in batch])

        batches = list(batches_by_size(pending, PARSE_BATCH_BYTES))
        parsing = progress.stage("parse", len(pending), "feed bodies")
        for parsed in in_workers(session, batches, load, _parse_slice, workers, report.timings, "parse"):
            parsing.advance(parsed.contents.num_rows)
            with report.timings.measure("load"), session.writing() as con:
                report.entries += items_store.save_parsed(con, parsed)
            report.contents_parsed += parsed.contents.num_rows
        if not refresh:
            return report
        session.as_writer()  # the workers are done: the merge may use every core
        _refresh(session, first_key, last_key, report)
    return report


def refresh_range(warehouse: Warehouse, first_key: str, last_key: str, report: ParseReport) -> ParseReport:
    """Merge what every shard parsed for the range into `items` (set-based, so once, after the shards)."""
    with warehouse.session() as session:
        _refresh(session, first_key, last_key, report)
    return report


def _refresh(session: Session, first_key: str, last_key: str, report: ParseReport) -> None:
    with session.writing() as con, report.timings.measure("load"):
        changes = items_store.refresh_items(con, first_key, last_key)
        items_store.mark_parse_failures(con)
        # From the table, not from what this step parsed: a re-run parses nothing, yet a broken feed
        # should show up every time.
        for feed_id, warning, error in items_store.parse_problems(con, first_key, last_key):
            if error:
                report.errors[feed_id] = error
            else:
                report.warnings[feed_id] = warning
    report.touched, report.new_items, report.updated_items = changes.touched, changes.new, changes.updated
