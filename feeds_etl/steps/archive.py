"""raw_feed_xml's work: fetch every due feed politely into the archive (`feed_snapshots`) and keep each feed's
state (`feed_health`, `feeds`). Past hours are never fetched: the archive is what it is."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import duckdb

from feeds_etl import progress
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
from feeds_etl.model import Snapshot
from feeds_etl.parse import sniff_not_a_feed
from feeds_etl.steps.parse import warm_up_workers
from feeds_etl.steps.work import BESIDE_WORKERS, Timings
from feeds_etl.warehouse import Warehouse
from feeds_etl.warehouse import history as history_store
from feeds_etl.warehouse import snapshots as snapshot_store
from feeds_etl.warehouse.store import Session


class NothingFetched(RuntimeError):
    """Every feed failed: the run has nothing to show and should say so loudly."""

    def __init__(self, message: str, report: ArchiveReport | None = None) -> None:
        super().__init__(message)
        self.report = report  # what was stored and why each feed failed (a shard's caller merges it)


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
    feed_ids: Collection[str] | None = None,
) -> ArchiveReport:
    """Fetch every due feed (of `feed_ids` only, for a shard) if the range includes the hour under way; past
    hours are never fetched."""
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
        _fetch_into_archive(warehouse, feed_list, current, allowed, now, report, reimport_history, feed_ids)
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
    feed_ids: Collection[str] | None = None,
) -> None:
    with warehouse.session(threads=BESIDE_WORKERS) as session:
        due, skipped, snapshots = _fetch_and_store(
            session, feed_list, partition_key, settings, now, report, reimport_history, feed_ids
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
        raise NothingFetched(_all_failed_message(report.failures), report)


def _fetch_and_store(
    session: Session,
    feed_list: FeedList,
    partition_key: str,
    settings: FetchSettings,
    now: Callable[[], datetime],
    report: ArchiveReport,
    reimport_history: bool,
    feed_ids: Collection[str] | None = None,
) -> tuple[list[Feed], list[FetchResult], list[Snapshot]]:
    """Fetch the due feeds into the archive, batch by batch; returns the feeds due, those skipped (backing off)
    and every snapshot taken (without bodies)."""
    feeds = [f for f in feed_list.enabled if feed_ids is None or f.feed_id in feed_ids]
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
        warm_up_workers(report.new_bytes)

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
            fetching = progress.stage("fetch", len(due), "feeds")
            for _index, result in fetch_each([fetch_request(health[f.feed_id]) for f in due], settings, client, now):
                fetching.advance()
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
