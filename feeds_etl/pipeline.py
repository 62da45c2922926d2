"""The work behind each asset, as plain functions over a Warehouse (no Dagster here).

Each step reads what the previous one stored, does its CPU work outside the writer lock, then writes
in one short transaction. Steps take a range of partition keys, so a backfill is one bulk pass.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import shutil
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa

from feeds_etl import parallel
from feeds_etl.clean import CLEANER_VERSION, clean_item
from feeds_etl.feeds import Feed, FeedList
from feeds_etl.fetch import FetchResult, FetchSettings, fetch_each, make_client
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
from feeds_etl.http_pool import HttpPool
from feeds_etl.parse import ParsedFeed, parse_feed, sniff_not_a_feed
from feeds_etl.parse_fast import parse_feed_fast
from feeds_etl.search import count_terms, token_text
from feeds_etl.tags import normalise_aliases, normalise_tag
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
    contents_parsed_ahead: int = 0
    items_cleaned_ahead: int = 0
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
    publish: bool = True,
    reimport_history: bool = False,
    clean_ahead: bool = True,
) -> ArchiveReport:
    """Fetch every due feed if the range includes the hour under way; past hours are never fetched.
    `clean_ahead`: whether a big import also cleans during the fetch (for a clean step to come; `_WorkAhead`)."""
    current = hour_key(now())
    report = ArchiveReport(fetched_hours=[], archive_only_hours={})
    past = [key for key in partition_keys if key != current]
    if past:
        with warehouse.reading() as con:
            counts = snapshot_store.partition_snapshot_counts(con, min(past), max(past))
        report.archive_only_hours = {key: counts.get(key, {}) for key in past}
    if current in partition_keys:
        report.fetched_hours.append(current)
        _fetch_into_archive(
            warehouse, feed_list, current, settings, now, report, publish, reimport_history, clean_ahead
        )
    if past:
        with warehouse.writing(publish) as con:
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
    publish: bool,
    reimport_history: bool = False,
    clean_ahead: bool = True,
) -> None:
    # One connection for the whole fetch, its batches and its final transaction: a connection per batch starts a
    # new DuckDB instance, whose memory goes back to the kernel when it closes and is faulted in afresh by the next
    # (a 1,000-feed import: 600,000 page faults in the fetching process, 3.6 s of its CPU).
    with warehouse.session(threads=BESIDE_WORKERS) as session:
        staging = cleaned_ahead_dir(warehouse, feed_list) if clean_ahead else None
        due, skipped, snapshots = _fetch_and_store(
            session, feed_list, partition_key, settings, now, report, reimport_history, staging
        )
    if publish:
        with report.timings.measure("store"):
            warehouse.publish()

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
        warehouse.publish()  # the run fails, but why each feed failed must still be visible in SQL
        raise NothingFetched(_all_failed_message(report.failures))


def _fetch_and_store(
    session: Session,
    feed_list: FeedList,
    partition_key: str,
    settings: FetchSettings,
    now: Callable[[], datetime],
    report: ArchiveReport,
    reimport_history: bool,
    staging: Path | None,
) -> tuple[list[Feed], list[FetchResult], list[Snapshot]]:
    """Fetch the due feeds into the archive, batch by batch (texts cleaned ahead go to `staging`; None: parse
    ahead only); returns the feeds due, those skipped (backing off) and every snapshot taken (without bodies)."""
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
    ahead = _WorkAhead(feed_list.by_id(), staging, report)

    def store(pending: list[FetchResult], con: duckdb.DuckDBPyConnection) -> None:
        stored = snapshot_store.stored_hashes(con, [result.feed_id for result in pending])
        classified = [_classify(result, stored, partition_key) for result in pending]
        snapshot_store.save_snapshots(con, classified)
        ahead.save(con)
        already_new = report.new_bytes
        for snap in classified:
            if snap.store_body and snap.result.body is not None:
                report.new_bytes += len(snap.result.body)
            snapshots.append(replace(snap, result=replace(snap.result, body=None)))
            results.append(snapshots[-1].result)
        if already_new < PARALLEL_PARSE_BYTES <= report.new_bytes:  # parsing the new bodies will take the workers
            workers = parallel.default_workers()
            parallel.prestart(workers)
            ahead.workers = workers if workers > 1 else 0  # in-process parsing would hold up the fetch
        ahead.start(con, classified)

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
        ahead.save(con, wait=True)
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
    return due, skipped, snapshots + extra


class _WorkAhead:
    """Parses and cleans the bodies a big import has just stored while the fetch goes on, on the worker
    processes. The fetch leaves part of the cores idle (most of them on a real network), and each body is worked
    on from memory instead of being read back from the archive, its items' HTML too.

    - Parsed contents are stored with a later batch (`parsed_contents` is keyed by content and parser version):
      the parse step finds them parsed and only merges the range into `items`, which stays its job.
    - Texts are staged beside the database by the workers themselves (`text_store.stage_texts`) until the clean
      step takes those still wanted, so no text shows before its item. Versions whose text the cleaner already
      made are not cleaned.

    Nothing is done ahead before the run has enough new bodies to start the workers for (`workers`, set then):
    most hourly runs leave all the work to their steps, as does a dead worker. Without `staging` (the run has no
    clean step) bodies are only parsed."""

    def __init__(self, feeds: dict[str, Feed], staging: Path | None, report: ArchiveReport) -> None:
        self.workers = 0
        self._feeds, self._staging, self._report = feeds, staging, report
        self._in_flight: deque[parallel.InFlight[tuple[items_store.ParsedBatch, int]]] = deque()

    def start(self, con: duckdb.DuckDBPyConnection, snapshots: Sequence[Snapshot]) -> None:
        bodies = [
            items_store.PendingContent(r.feed_id, r.content_sha256, r.body, r.content_type, r.final_url)
            for r in (snap.result for snap in snapshots if snap.outcome == "new")  # what the parse step would parse
            if r.body is not None and r.content_sha256 is not None
        ]
        if not (self.workers and bodies):
            return
        # Without staging (no clean step in the run) the workers only parse: no need to ask which texts are made.
        made = text_store.texts_made(con, {b.feed_id for b in bodies}, CLEANER_VERSION) if self._staging else {}
        jobs = [(body, self._feeds.get(body.feed_id), made.get(body.feed_id, frozenset())) for body in bodies]
        work = functools.partial(_parse_and_clean_slice, staging=self._staging)
        self._in_flight.append(parallel.start_slices(work, jobs, self.workers, BODIES_PER_TASK))

    def save(self, con: duckdb.DuckDBPyConnection, wait: bool = False) -> None:
        """Store what the workers have done (all of it with `wait`, else what is done, and the oldest batch when
        IN_FLIGHT_BATCHES are with them)."""
        while self._in_flight and (wait or self._in_flight[0].done() or len(self._in_flight) > IN_FLIGHT_BATCHES):
            try:
                slices = self._in_flight.popleft().result()
            except Exception:  # a dead worker, a parser bug: the parse and clean steps do (and report) what is missing
                self._in_flight.clear()
                self.workers = 0
                break
            parsed = concat_fieldwise([parsed for parsed, _ in slices])
            items_store.save_parsed(con, parsed)
            self._report.contents_parsed_ahead += parsed.contents.num_rows
            self._report.items_cleaned_ahead += sum(cleaned for _, cleaned in slices)


def _import_history(
    feeds: list[Feed],
    first_pages: list[FetchResult],
    settings: FetchSettings,
    client: HttpPool,
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


def _parse_and_clean_slice(
    jobs: Sequence[tuple[items_store.PendingContent, Feed | None, frozenset[tuple[str, str]]]], staging: Path | None
) -> tuple[items_store.ParsedBatch, int]:
    """Parse some fetched bodies, and clean their items' versions but those whose text is made (the third part of
    each job: (item id, version) pairs) into `staging` (None: parse only). Runs in worker processes, for
    `_WorkAhead`: the texts go to their files from here, never through the fetching process. Returns the parsed
    bodies and the number of texts staged."""
    parsed = [_parse_pending(content) for content, _, _ in jobs]
    if staging is None:
        return items_store.ParsedBatch.from_feeds(parsed), 0
    to_clean: dict[tuple[str, str], tuple[text_store.PendingText, Feed | None]] = {}
    for (_, feed, made), feed_parsed in zip(jobs, parsed, strict=True):
        for entry in feed_parsed.entries:
            key = (entry.item_id, entry.entry_sha256)
            if key not in made and key not in to_clean:
                to_clean[key] = (text_store.PendingText.of_entry(entry), feed)
    cleaned = _clean_slice(list(to_clean.values()))
    text_store.stage_texts(staging, cleaned)
    return items_store.ParsedBatch.from_feeds(parsed), cleaned.texts.num_rows


# Work is done in batches so memory stays flat however many feeds and items a run covers.
PARSE_BATCH_BYTES = 32 * 1024 * 1024
CLEAN_BATCH_ITEMS = 2000
CLEAN_BATCH_CHARS = 32 * 1024 * 1024  # of HTML: long articles make smaller batches
# Smaller ranges are parsed / cleaned in-process (about 0.8 s of work), where the worker pool's start-up
# would cost as much as it saves. Decided per range, not per batch: a batch is smaller than this by design.
PARALLEL_PARSE_BYTES = 16 * 1024 * 1024
PARALLEL_CLEAN_ITEMS = 500
# Bodies per task of `_WorkAhead`: a worker holds their items, trees, words and texts at a time.
BODIES_PER_TASK = 8
# Batches handed to the workers ahead of the one being stored (see `_overlapped`).
IN_FLIGHT_BATCHES = 2


def parse_range(
    warehouse: Warehouse, first_key: str, last_key: str, workers: int | None = None, publish: bool = True
) -> ParseReport:
    """Parse contents the range's snapshots reference (each distinct body once), then refresh `items`."""
    report = ParseReport()
    with warehouse.session(threads=BESIDE_WORKERS) as session:  # one connection for the step (see _fetch_into_archive)
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
            # From the table, not from what this step parsed: the archive step may have parsed ahead, and a
            # re-run parses nothing, yet a broken feed should show up every time.
            for feed_id, warning, error in items_store.parse_problems(con, first_key, last_key):
                if error:
                    report.errors[feed_id] = error
                else:
                    report.warnings[feed_id] = warning
    if publish:
        with report.timings.measure("load"):
            warehouse.publish()
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
    cleaned_ahead: int = 0  # of `cleaned`: texts made during the fetch (`_WorkAhead`)
    links: int = 0
    languages: Counter[str] = field(default_factory=Counter)
    timings: Timings = field(default_factory=Timings)

    def add(self, stored: text_store.CleanedBatch) -> None:
        self.cleaned += stored.texts.num_rows
        self.links += stored.links.num_rows
        self.languages.update(language or "unknown" for language in stored.texts["language"].to_pylist())


# Texts cleaned during a fetch wait here, in the warehouse's working directory, for the clean step.
CLEANED_AHEAD_DIR = "cleaned-ahead"


def cleaned_ahead_dir(warehouse: Warehouse, feed_list: FeedList | None) -> Path:
    """Where `_WorkAhead` stages texts: one directory per cleaner version and set of boilerplate rules, so the
    clean step never takes text made under other rules (the feed list changed between the two steps)."""
    feeds = feed_list.by_id() if feed_list else {}
    rules = [(feed_id, feeds[feed_id].boilerplate) for feed_id in sorted(feeds)]
    key = hashlib.sha256(repr((CLEANER_VERSION, rules)).encode()).hexdigest()[:16]
    return warehouse.work_dir / CLEANED_AHEAD_DIR / key


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
    publish: bool = True,
) -> CleanReport:
    """Clean items seen in the range whose HTML or cleaner version changed since they were last cleaned."""
    report = CleanReport()
    feeds = feed_list.by_id() if feed_list else {}

    def load(
        con: duckdb.DuckDBPyConnection, batch: list[tuple[str, str, int]]
    ) -> list[tuple[text_store.PendingText, Feed | None]]:
        texts = text_store.load_pending_texts(con, [item_id for item_id, _, _ in batch])
        return [(text, feeds.get(text.feed_id)) for text in texts]

    with warehouse.session(threads=BESIDE_WORKERS) as session:  # one connection for the step (see _fetch_into_archive)
        with session.reading() as con, report.timings.measure("read"):
            pending = text_store.pending_text_ids(con, first_key, last_key, CLEANER_VERSION)
        staged = cleaned_ahead_dir(warehouse, feed_list)
        if staged.parent.exists():
            pending = _store_cleaned_ahead(session, staged, pending, report)
        workers = parallel.workers_for(len(pending), PARALLEL_CLEAN_ITEMS, workers)
        batches = list(_batches_by_size(pending, CLEAN_BATCH_CHARS, CLEAN_BATCH_ITEMS))
        for cleaned in _in_workers(session, batches, load, _clean_slice, workers, report.timings, "clean"):
            with report.timings.measure("load"), session.writing() as con:
                text_store.save_texts(con, cleaned)
            report.add(cleaned)
    if publish:
        with report.timings.measure("publish"):
            warehouse.publish()
    return report


def _store_cleaned_ahead(
    session: Session, staged: Path, pending: list[tuple[str, str, int]], report: CleanReport
) -> list[tuple[str, str, int]]:
    """Store the texts cleaned during the fetch that the range still wants, and return what is left to clean.
    Every staged text is then removed, taken or not: one wanted by another range is simply made again."""
    wanted = {item_id: source for item_id, source, _ in pending}
    taken = (text_store.wanted_part(batch, wanted) for batch in text_store.staged_batches(staged))
    # Each worker task staged a few feeds' texts: they are stored 2,000 and more at a time.
    for batch in _joined(taken, CLEAN_BATCH_ITEMS):
        with report.timings.measure("load"), session.writing() as con:
            text_store.save_texts(con, batch)
        report.add(batch)
        report.cleaned_ahead += batch.texts.num_rows
    # A fetch of another run staging at this moment loses texts (or its parsing ahead, if a worker's write
    # fails): its steps then do that work. Staged texts are exact or absent, never wrong.
    shutil.rmtree(staged.parent, ignore_errors=True)
    return [entry for entry in pending if entry[0] in wanted]


def _joined(batches: Iterable[text_store.CleanedBatch], rows: int) -> Iterator[text_store.CleanedBatch]:
    """Consecutive batches joined into batches of at least `rows` texts (the last one maybe fewer)."""
    joined: list[text_store.CleanedBatch] = []
    count = 0
    for batch in batches:
        if batch.texts.num_rows:
            joined.append(batch)
            count += batch.texts.num_rows
        if count >= rows:
            yield concat_fieldwise(joined)
            joined, count = [], 0
    if joined:
        yield concat_fieldwise(joined)


# -- tag_aggregates -------------------------------------------------------------------------------


@dataclass
class TagReport:
    items_tagged: int = 0
    item_tags: int = 0
    distinct_tags: int = 0
    top_tags: list[tuple[str, int]] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)


def tag_range(
    warehouse: Warehouse, feed_list: FeedList | None, first_key: str, last_key: str, publish: bool = True
) -> TagReport:
    report = TagReport()
    aliases = normalise_aliases(feed_list.tag_aliases if feed_list else {})

    def normalise(raw: str) -> str:
        tag = normalise_tag(raw)
        return aliases.get(tag, tag)

    with warehouse.writing(publish) as con, report.timings.measure("aggregate"):
        report.items_tagged = tag_store.refresh_item_tags(
            con, first_key, last_key, normalise, tag_store.aliases_fingerprint(aliases)
        )
        tag_store.rebuild_aggregates(con)
        report.item_tags, report.distinct_tags = con.execute(
            "SELECT count(*), count(DISTINCT tag) FROM item_tags"
        ).fetchone()
        report.top_tags = con.execute(
            "SELECT tag, count(*) AS n FROM item_tags GROUP BY tag ORDER BY n DESC, tag LIMIT 15"
        ).fetchall()
    return report


def first_and_last(keys: Iterable[str]) -> tuple[str, str]:
    ordered = sorted(keys)
    return ordered[0], ordered[-1]
