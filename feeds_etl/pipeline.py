"""The work behind each asset, as plain functions over a Warehouse (no Dagster here).

Each step reads what the previous one stored, does its CPU work outside the writer lock, then writes
in one short transaction. Steps take a range of partition keys, so a backfill is one bulk pass.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TypeVar

import duckdb
import pyarrow as pa

from feeds_etl import parallel
from feeds_etl.clean import CLEANER_VERSION, clean_item
from feeds_etl.feeds import Feed, FeedList
from feeds_etl.fetch import FetchClient, FetchResult, FetchSettings, fetch_each, make_client
from feeds_etl.health import (
    FeedHealth,
    apply_fetch,
    apply_skip,
    fetch_request,
    reconcile_with_feed_list,
    skip_reason,
)
from feeds_etl.history import fetch_history
from feeds_etl.hours import hour_key
from feeds_etl.parse import ParsedFeed, parse_feed, sniff_not_a_feed
from feeds_etl.parse_fast import parse_feed_fast
from feeds_etl.search import count_terms, token_text
from feeds_etl.tags import normalise_aliases, normalise_tag, stoplist
from feeds_etl.warehouse import Warehouse
from feeds_etl.warehouse import history as history_store
from feeds_etl.warehouse import items as items_store
from feeds_etl.warehouse import snapshots as snapshot_store
from feeds_etl.warehouse import tags as tag_store
from feeds_etl.warehouse import text as text_store
from feeds_etl.warehouse.snapshots import Snapshot
from feeds_etl.warehouse.store import Session, concat_fieldwise

B = TypeVar("B")
R = TypeVar("R")
T = TypeVar("T")
S = TypeVar("S", bound=tuple)

# DuckDB threads for the batch reads and writes done beside the workers (or the fetch): these bulk appends gain
# nothing from a second thread, which only takes CPU from the workers (25,000-item clean: 4 s of CPU).
BESIDE_WORKERS = 1


class NothingFetched(RuntimeError):
    """Every feed failed: the run has nothing to show and should say so loudly."""


@dataclass
class Timings:
    """Seconds per phase, shown in the UI. Batch writes are timed around `warehouse.writing`, so their commit
    and checkpoint count too."""

    seconds: dict[str, float] = field(default_factory=dict)

    def measure(self, name: str) -> _Timer:
        return _Timer(self, name)


class _Timer:
    def __init__(self, timings: Timings, name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *_exc: object) -> None:
        spent = time.perf_counter() - self.start
        self.timings.seconds[self.name] = round(self.timings.seconds.get(self.name, 0.0) + spent, 3)


# -- raw_feed_xml ---------------------------------------------------------------------------------


@dataclass
class ArchiveReport:
    fetched_hours: list[str]
    archive_only_hours: dict[str, dict[str, int]]  # past hours: what the archive already held
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)  # feed_id -> reason
    skipped: dict[str, str] = field(default_factory=dict)
    new_bytes: int = 0
    history_pages: int = 0
    timings: Timings = field(default_factory=Timings)

    @property
    def attempted(self) -> int:
        return sum(self.outcomes.values()) - self.outcomes.get("skipped", 0)


# Fetched bodies are stored in batches of about this size, so memory stays flat as the feed list grows. Each
# batch's checkpoint writes only its own rows (the warehouse does not vacuum on routine checkpoints).
STORE_BATCH_BYTES = 32 * 1024 * 1024


def archive_feeds(
    warehouse: Warehouse,
    feed_list: FeedList,
    partition_keys: Sequence[str],
    settings: FetchSettings,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    reimport_history: bool = False,
) -> ArchiveReport:
    """Fetch every due feed if the range includes the hour under way; past hours are never fetched."""
    current = hour_key(now())
    report = ArchiveReport(fetched_hours=[], archive_only_hours={})
    past = [key for key in partition_keys if key != current]
    if past:
        with warehouse.reading() as con:
            counts = snapshot_store.partition_snapshot_counts(con, min(past), max(past))
        report.archive_only_hours = {key: counts.get(key, {}) for key in past}
    if current in partition_keys:
        report.fetched_hours.append(current)
        # What the feed list allows (local files, intranet feeds) holds for every request and redirect.
        allowed = replace(
            settings,
            allow_local_files=feed_list.allow_local_files,
            allow_private_networks=feed_list.allow_private_networks,
        )
        _fetch_into_archive(warehouse, feed_list, current, allowed, now, report, reimport_history)
    if past:
        with warehouse.writing() as con:
            for key in past:
                if not report.archive_only_hours[key]:
                    snapshot_store.note_partition(
                        con, key, "raw_feed_xml", "past hour with no snapshot: nothing was fetched"
                    )
    return report


def _fetch_into_archive(
    warehouse: Warehouse,
    feed_list: FeedList,
    partition_key: str,
    settings: FetchSettings,
    now: Callable[[], datetime],
    report: ArchiveReport,
    reimport_history: bool = False,
) -> None:
    with warehouse.session(threads=BESIDE_WORKERS) as session:
        due, skipped, snapshots = _fetch_and_store(
            session, feed_list, partition_key, settings, now, report, reimport_history
        )

    for snap in snapshots:
        if snap.outcome == "history":
            report.history_pages += 1
            continue
        report.outcomes[snap.outcome] += 1
        if snap.outcome == "failed":
            report.failures[snap.result.feed_id] = snap.result.error or "unknown error"
    if feed_list.enabled and not due and skipped:
        return  # everything is backing off: nothing to do is not a failure
    if due and report.outcomes.get("failed", 0) == len(due):
        raise NothingFetched(_all_failed_message(report.failures))


def _fetch_and_store(
    session: Session,
    feed_list: FeedList,
    partition_key: str,
    settings: FetchSettings,
    now: Callable[[], datetime],
    report: ArchiveReport,
    reimport_history: bool,
) -> tuple[list[Feed], list[FetchResult], list[Snapshot]]:
    """Fetch the due feeds into the archive, batch by batch; returns the feeds due, those skipped (backing off)
    and every snapshot taken (without bodies)."""
    feeds = feed_list.enabled
    with session.reading() as con:
        known = snapshot_store.load_health(con)
    health = {f.feed_id: reconcile_with_feed_list(known.get(f.feed_id), f.feed_id, f.url) for f in feeds}

    started = now()
    due: list[Feed] = []
    skipped: list[FetchResult] = []
    for feed in feeds:
        reason = skip_reason(health[feed.feed_id], started)
        if reason is None:
            due.append(feed)
        else:
            report.skipped[feed.feed_id] = reason
            skipped.append(FetchResult(feed.feed_id, health[feed.feed_id].effective_url, started, error=reason))
            health[feed.feed_id] = apply_skip(health[feed.feed_id], started)

    with session.reading() as con:
        opted_in = {f.feed_id for f in due if f.history.mode != "off"}
        history_due = opted_in if reimport_history else opted_in - history_store.imported(con)
    client = make_client(settings)
    results: list[FetchResult] = []  # without bodies once stored: only the health update reads them
    first_pages: list[FetchResult] = []  # with bodies: history import starts from them
    snapshots: list[Snapshot] = []
    batch: list[FetchResult] = []

    def store(pending: list[FetchResult], con: duckdb.DuckDBPyConnection) -> None:
        stored = snapshot_store.stored_hashes(con, [result.feed_id for result in pending])
        classified = [_classify(result, stored, partition_key) for result in pending]
        snapshot_store.save_snapshots(con, classified)
        for snap in classified:
            if snap.store_body and snap.result.body is not None:
                report.new_bytes += len(snap.result.body)
            snapshots.append(replace(snap, result=replace(snap.result, body=None)))
            results.append(snapshots[-1].result)

    def store_alone(pending: list[FetchResult]) -> None:
        with report.timings.measure("store"), session.writing() as con:
            store(pending, con)

    # Full batches are stored by one writer thread while the fetch goes on (DuckDB releases the GIL); at most
    # one batch waits for it, so memory stays flat however many feeds there are.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
    storing: Future[None] | None = None
    try:
        with report.timings.measure("fetch"):
            batch_bytes = 0
            for _index, result in fetch_each([fetch_request(health[f.feed_id]) for f in due], settings, client, now):
                result = _complete(result, health[result.feed_id])
                batch.append(result)
                if result.feed_id in history_due:
                    first_pages.append(result)
                batch_bytes += len(result.body or b"")
                if batch_bytes >= STORE_BATCH_BYTES:
                    if storing is not None:
                        storing.result()
                    storing = writer.submit(store_alone, batch)
                    batch, batch_bytes = [], 0
            if storing is not None:
                storing.result()
        with report.timings.measure("history"):
            history_pages = _import_history(
                [f for f in due if f.feed_id in history_due], first_pages, settings, client, now
            )
    finally:
        writer.shutdown()  # waits for a store under way, also when the fetch failed
        client.close()

    with session.writing() as con, report.timings.measure("store"):
        store(batch, con)  # the last batch (a steady hour's only one) shares the final transaction
        stored = snapshot_store.stored_hashes(con, [f.feed_id for f in due])
        extra = [Snapshot(result, partition_key, "skipped", False) for result in skipped]
        for pages in history_pages.values():
            extra += [_history_snapshot(page, stored, partition_key) for page in pages]
        snapshot_store.save_snapshots(con, extra)
        report.new_bytes += sum(len(snap.result.body or b"") for snap in extra if snap.store_body)
        history_store.record(con, feed_list.by_id(), history_pages, started)
        for result in results:
            health[result.feed_id] = apply_fetch(health[result.feed_id], result)
        snapshot_store.save_health(con, health.values(), set(feed_list.by_id()))
        snapshot_store.save_feeds(con, feed_list.feeds)
    return due, skipped, snapshots + extra


def _import_history(
    feeds: list[Feed],
    first_pages: list[FetchResult],
    settings: FetchSettings,
    client: FetchClient,
    now: Callable[[], datetime],
) -> dict[str, list[FetchResult]]:
    """Older pages of opt-in feeds, once per feed (and again if its URL changes), in parallel."""
    if not feeds:
        return {}
    first = {result.feed_id: result for result in first_pages}
    jobs = [(feed, first[feed.feed_id]) for feed in feeds if first[feed.feed_id].ok]
    with ThreadPoolExecutor(max_workers=max(1, min(settings.concurrency, len(jobs) or 1))) as pool:
        pages = pool.map(lambda job: fetch_history(job[0], job[1], settings, client, now=now), jobs)
        return {feed.feed_id: list(found) for (feed, _), found in zip(jobs, pages, strict=True)}


def _history_snapshot(page: FetchResult, stored: set[tuple[str, str]], partition_key: str) -> Snapshot:
    new = page.body is not None and (page.feed_id, page.content_sha256) not in stored
    if new:
        stored.add((page.feed_id, page.content_sha256))
    return Snapshot(page, partition_key, "history", new)


def _complete(result: FetchResult, health: FeedHealth) -> FetchResult:
    """A 304 means 'the content you have': it carries that hash, so its items count as seen again.
    An HTML page or empty body is a failure for the user, but its bytes are still archived."""
    if result.not_modified:
        return replace(result, content_sha256=health.last_content_sha256)
    if not result.ok:
        return result
    reason = sniff_not_a_feed(result.body)
    return result if reason is None else replace(result, error=reason)


def _classify(result: FetchResult, stored: set[tuple[str, str]], partition_key: str) -> Snapshot:
    if result.not_modified:
        return Snapshot(result, partition_key, "not_modified", False)
    if not result.ok:
        # A failed body (an HTML page, say) is kept when it is new: bad input loses nothing.
        keep = result.body is not None and (result.feed_id, result.content_sha256) not in stored
        return Snapshot(result, partition_key, "failed", keep)
    if (result.feed_id, result.content_sha256) in stored:
        return Snapshot(result, partition_key, "unchanged", False)
    stored.add((result.feed_id, result.content_sha256))
    return Snapshot(result, partition_key, "new", True)


def _all_failed_message(failures: dict[str, str]) -> str:
    lines = [f"  {feed_id}: {reason}" for feed_id, reason in sorted(failures.items())]
    return "every feed failed, nothing was fetched:\n" + "\n".join(lines)


# -- parsed_items ---------------------------------------------------------------------------------


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
    return items_store.ParsedBatch.from_feeds([_parse_pending(content) for content in pending])


# Work is done in batches so memory stays flat however many feeds and items a run covers.
PARSE_BATCH_BYTES = 32 * 1024 * 1024
CLEAN_BATCH_ITEMS = 2000
CLEAN_BATCH_CHARS = 32 * 1024 * 1024  # of HTML: long articles make smaller batches
# Smaller ranges are parsed / cleaned in-process (about 0.8 s of work), where the worker pool's start-up
# would cost as much as it saves. Decided per range, not per batch: a batch is smaller than this by design.
PARALLEL_PARSE_BYTES = 16 * 1024 * 1024
PARALLEL_CLEAN_ITEMS = 500
# Batches handed to the workers ahead of the one being stored (see `_overlapped`).
IN_FLIGHT_BATCHES = 2


def parse_range(warehouse: Warehouse, first_key: str, last_key: str, workers: int | None = None) -> ParseReport:
    """Parse contents the range's snapshots reference (each distinct body once), then refresh `items`."""
    report = ParseReport()
    with warehouse.session(threads=BESIDE_WORKERS) as session:  # one connection for the step
        with session.reading() as con, report.timings.measure("read"):
            pending = items_store.pending_contents(con, first_key, last_key)
        workers = parallel.workers_for(sum(size or 0 for *_, size in pending), PARALLEL_PARSE_BYTES, workers)

        def load(con: duckdb.DuckDBPyConnection, batch: list[tuple[str, str, int]]) -> list[items_store.PendingContent]:
            return items_store.load_contents(con, [(feed_id, sha) for feed_id, sha, _ in batch])

        batches = list(_batches_by_size(pending, PARSE_BATCH_BYTES))
        for parsed in _in_workers(session, batches, load, _parse_slice, workers, report.timings, "parse"):
            with report.timings.measure("load"), session.writing() as con:
                report.entries += items_store.save_parsed(con, parsed)
            report.contents_parsed += parsed.contents.num_rows
        session.as_writer()  # the workers are done: the merge may use every core
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
    return report


def _in_workers(
    session: Session,
    batches: Sequence[B],
    load: Callable[[duckdb.DuckDBPyConnection, B], Sequence[T]],
    work: Callable[[Sequence[T]], R],
    workers: int,
    timings: Timings,
    waiting: str,
) -> Iterator[R]:
    """Each batch's input loaded through `session`, `work` done on it by the workers (slice by slice, concatenated
    field by field). Two batches are with the workers while the caller stores one (`_overlapped`)."""

    def start(batch: B) -> parallel.InFlight[R]:
        with session.reading() as con, timings.measure("read"):
            loaded = load(con, batch)
        return parallel.start_slices(work, loaded, workers)

    for slices in _overlapped(batches, start, timings, waiting):
        yield concat_fieldwise(slices)


def _overlapped(
    batches: Sequence[B], start: Callable[[B], parallel.InFlight[R]], timings: Timings, waiting: str
) -> Iterator[list[R]]:
    """Each batch's results in turn. IN_FLIGHT_BATCHES (two) batches are with the workers at any time: while
    the caller stores one batch and reads the input of the one after next, the workers already compute the
    next, so they never wait for the (mostly single-threaded) database work. `waiting`: the timing that counts
    the time spent waiting for the workers."""
    in_flight: deque[parallel.InFlight[R]] = deque()
    pending = iter(batches)
    for batch in itertools.islice(pending, IN_FLIGHT_BATCHES):
        in_flight.append(start(batch))
    while in_flight:
        with timings.measure(waiting):
            done = in_flight.popleft().result()
        following = next(pending, None)
        if following is not None:
            in_flight.append(start(following))
        yield done


def _batches_by_size(pending: list[S], limit: int, max_count: int | None = None) -> Iterator[list[S]]:
    """Consecutive batches of at most `limit` in size (each entry's last field; a bigger entry alone) and at
    most `max_count` entries."""
    batch: list[S] = []
    size = 0
    for entry in pending:
        if batch and (size + (entry[-1] or 0) > limit or len(batch) == max_count):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += entry[-1] or 0
    if batch:
        yield batch


# -- cleaned_text ---------------------------------------------------------------------------------


@dataclass
class CleanReport:
    cleaned: int = 0
    links: int = 0
    languages: Counter[str] = field(default_factory=Counter)
    timings: Timings = field(default_factory=Timings)

    def add(self, stored: text_store.CleanedBatch) -> None:
        self.cleaned += stored.texts.num_rows
        self.links += stored.links.num_rows
        self.languages.update(language or "unknown" for language in stored.texts["language"].to_pylist())


def _clean_slice(jobs: Sequence[tuple[text_store.PendingText, Feed | None]]) -> text_store.CleanedBatch:
    """Clean some items and index their words for search (runs in worker processes)."""
    texts, links, tokens = [], [], []
    for pending, feed in jobs:
        cleaned = clean_item(pending.html, pending.title, pending.link, feed.boilerplate if feed else None)
        texts.append(
            {"item_id": pending.item_id, "text": cleaned.text, "word_count": cleaned.word_count,
             "language": cleaned.language, "reading_time_minutes": cleaned.reading_time_minutes,
             "cleaner_version": CLEANER_VERSION, "source_sha256": pending.source_sha256}
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
) -> CleanReport:
    """Clean items seen in the range whose HTML or cleaner version changed since they were last cleaned."""
    report = CleanReport()
    feeds = feed_list.by_id() if feed_list else {}

    def load(
        con: duckdb.DuckDBPyConnection, batch: list[tuple[str, str, int]]
    ) -> list[tuple[text_store.PendingText, Feed | None]]:
        texts = text_store.load_pending_texts(con, [item_id for item_id, _, _ in batch])
        return [(text, feeds.get(text.feed_id)) for text in texts]

    with warehouse.session(threads=BESIDE_WORKERS) as session:  # one connection for the step
        with session.reading() as con, report.timings.measure("read"):
            pending = text_store.pending_text_ids(con, first_key, last_key, CLEANER_VERSION)
        workers = parallel.workers_for(len(pending), PARALLEL_CLEAN_ITEMS, workers)
        batches = list(_batches_by_size(pending, CLEAN_BATCH_CHARS, CLEAN_BATCH_ITEMS))
        for cleaned in _in_workers(session, batches, load, _clean_slice, workers, report.timings, "clean"):
            with report.timings.measure("load"), session.writing() as con:
                text_store.save_texts(con, cleaned)
            report.add(cleaned)
    return report


# -- tag_aggregates -------------------------------------------------------------------------------


@dataclass
class TagReport:
    items_tagged: int = 0
    item_tags: int = 0
    distinct_tags: int = 0
    top_tags: list[tuple[str, int]] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)


def tag_range(warehouse: Warehouse, feed_list: FeedList | None, first_key: str, last_key: str) -> TagReport:
    report = TagReport()
    aliases = normalise_aliases(feed_list.tag_aliases if feed_list else {})

    def normalise(raw: str) -> str:
        tag = normalise_tag(raw)
        return aliases.get(tag, tag)

    with warehouse.writing() as con, report.timings.measure("aggregate"):
        report.items_tagged = tag_store.refresh_item_tags(
            con, first_key, last_key, normalise, tag_store.aliases_fingerprint(aliases)
        )
        tag_store.save_stoplist(con, stoplist(feed_list.tag_stoplist if feed_list else ()))
        tag_store.rebuild_aggregates(con)
        report.item_tags, report.distinct_tags = con.execute(
            "SELECT count(*), count(DISTINCT tag) FROM item_tags"
        ).fetchone()
        report.top_tags = con.execute(
            """SELECT tag, count(*) AS n FROM item_tags WHERE tag NOT IN (SELECT tag FROM tag_stoplist)
               GROUP BY tag ORDER BY n DESC, tag LIMIT 15"""
        ).fetchall()
    return report


def first_and_last(keys: Iterable[str]) -> tuple[str, str]:
    ordered = sorted(keys)
    return ordered[0], ordered[-1]
