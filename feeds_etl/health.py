"""Per-feed state between runs: back-off, gone feeds, stable redirects (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from feeds_etl.model import FetchRequest, FetchResult

# A feed that keeps failing is retried after 2, 4, 8 ... hours, at most once a day.
MAX_BACKOFF = timedelta(hours=24)
# A 410 Gone feed is looked at again weekly, in case it comes back.
GONE_RETRY = timedelta(days=7)
# Retry-After values beyond this are treated as this (a misconfigured server must not silence a feed).
MAX_RETRY_AFTER = timedelta(days=2)
# A permanent redirect must be seen on this many consecutive fetches before the feed's URL moves.
REDIRECT_CONFIRMATIONS = 3

# new: never fetched. ok / not_modified: the last fetch succeeded (200 / 304). no_items: the last fetch succeeded
# but its content yielded no items (an empty feed, not a feed, a refused document: last_error says which); it is
# not a failure, so consecutive_failures stays 0 and nothing backs off. failing: the last fetch failed and the
# next run retries it. backing_off: failed repeatedly (or was asked to wait); next_attempt_at says until when.
# gone: HTTP 410, looked at again weekly.
STATUSES = ("new", "ok", "not_modified", "no_items", "failing", "backing_off", "gone")


@dataclass(frozen=True)
class FeedHealth:
    """One row of `feed_health`."""

    feed_id: str
    url: str  # as listed in feeds.yaml
    effective_url: str  # what we fetch: url, or where a confirmed permanent redirect points
    status: str = "new"
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_status: int | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    etag: str | None = None
    last_modified: str | None = None
    last_content_sha256: str | None = None
    redirect_target: str | None = None
    redirect_seen: int = 0


def initial_health(feed_id: str, url: str) -> FeedHealth:
    return FeedHealth(feed_id=feed_id, url=url, effective_url=url)


def reconcile_with_feed_list(health: FeedHealth | None, feed_id: str, url: str) -> FeedHealth:
    """A feed whose listed URL changed starts afresh: its old back-off and validators no longer apply."""
    if health is None or health.url != url:
        return initial_health(feed_id, url)
    return health


def skip_reason(health: FeedHealth, now: datetime) -> str | None:
    """Why this feed is not fetched now, or None when it is due."""
    if health.next_attempt_at is None or now >= health.next_attempt_at:
        return None
    until = health.next_attempt_at.strftime("%Y-%m-%d %H:%M UTC")
    if health.status == "gone":
        return f"skipped: feed is gone (HTTP 410); next check {until}"
    return f"skipped: backing off after {health.consecutive_failures} failure(s) until {until}"


def fetch_request(health: FeedHealth) -> FetchRequest:
    return FetchRequest(
        feed_id=health.feed_id,
        url=health.effective_url,
        etag=health.etag,
        last_modified=health.last_modified,
    )


def backoff_delay(consecutive_failures: int) -> timedelta:
    """The first failure is retried at the next hourly run; then 2h, 4h, 8h ... capped at a day."""
    if consecutive_failures <= 1:
        return timedelta(0)
    return min(timedelta(hours=2 ** (consecutive_failures - 1)), MAX_BACKOFF)


def apply_fetch(health: FeedHealth, result: FetchResult) -> FeedHealth:
    """The feed's state after one fetch attempt."""
    now = result.fetched_at
    attempted = replace(health, last_attempt_at=now, last_status=result.http_status)
    if result.ok:
        return _after_success(attempted, result)
    return _after_failure(attempted, result)


def _after_success(health: FeedHealth, result: FetchResult) -> FeedHealth:
    updated = replace(
        health,
        status="not_modified" if result.not_modified else "ok",
        last_success_at=result.fetched_at,
        consecutive_failures=0,
        last_error=None,
        next_attempt_at=None,
        etag=result.etag or (health.etag if result.not_modified else None),
        last_modified=result.last_modified or (health.last_modified if result.not_modified else None),
        last_content_sha256=result.content_sha256 or health.last_content_sha256,
    )
    return _track_redirect(updated, result.permanent_redirect)


def _track_redirect(health: FeedHealth, target: str | None) -> FeedHealth:
    """Move the feed only after the same permanent redirect was seen on consecutive successful fetches."""
    if target is None or target == health.effective_url:
        return replace(health, redirect_target=None, redirect_seen=0)
    seen = health.redirect_seen + 1 if target == health.redirect_target else 1
    if seen >= REDIRECT_CONFIRMATIONS:
        return replace(health, effective_url=target, redirect_target=None, redirect_seen=0)
    return replace(health, redirect_target=target, redirect_seen=seen)


def _after_failure(health: FeedHealth, result: FetchResult) -> FeedHealth:
    now = result.fetched_at
    failures = health.consecutive_failures + 1
    if result.http_status == 410:
        return replace(
            health,
            status="gone",
            consecutive_failures=failures,
            last_error=result.error,
            next_attempt_at=now + GONE_RETRY,
        )
    if result.retry_after is not None:
        wait = min(max(result.retry_after - now, timedelta(0)), MAX_RETRY_AFTER)
    else:
        wait = backoff_delay(failures)
    return replace(
        health,
        status="backing_off" if wait > timedelta(0) else "failing",
        consecutive_failures=failures,
        last_error=result.error,
        next_attempt_at=now + wait if wait > timedelta(0) else None,
        redirect_target=None,
        redirect_seen=0,
    )


def apply_skip(health: FeedHealth, now: datetime) -> FeedHealth:
    """A skipped feed keeps its state; only its status says why nothing happened."""
    if health.status == "gone":
        return health
    return replace(health, status="backing_off")
