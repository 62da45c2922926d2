"""health.py as a pure state machine: back-off, Retry-After, gone feeds, confirmed permanent redirects."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from feeds_etl.fetch import FetchResult
from feeds_etl.health import (
    GONE_RETRY,
    MAX_BACKOFF,
    MAX_RETRY_AFTER,
    REDIRECT_CONFIRMATIONS,
    FeedHealth,
    apply_fetch,
    apply_skip,
    backoff_delay,
    fetch_request,
    initial_health,
    reconcile_with_feed_list,
    skip_reason,
)

URL = "http://feeds.example/rss"
NEW_URL = "https://feeds.example/feed.xml"
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def ok(at: datetime, **fields: object) -> FetchResult:
    defaults: dict[str, object] = {"http_status": 200, "body": b"<rss/>", "content_sha256": "sha-1"}
    return FetchResult("f", URL, at, **{**defaults, **fields})  # type: ignore[arg-type]


def failed(at: datetime, status: int | None = 500, **fields: object) -> FetchResult:
    return FetchResult("f", URL, at, http_status=status, error=f"HTTP {status}", **fields)  # type: ignore[arg-type]


def test_success_stores_validators_and_304_keeps_them() -> None:
    health = apply_fetch(initial_health("f", URL), ok(T0, etag='"e1"', last_modified="Mon, 01 Jan 2026 00:00:00 GMT"))
    assert health.status == "ok" and health.last_success_at == T0 and health.last_error is None
    request = fetch_request(health)
    assert (request.url, request.etag, request.last_modified) == (URL, '"e1"', "Mon, 01 Jan 2026 00:00:00 GMT")

    later = T0 + timedelta(hours=1)
    health = apply_fetch(health, FetchResult("f", URL, later, http_status=304, content_sha256="sha-1"))
    assert health.status == "not_modified" and health.etag == '"e1"' and health.last_content_sha256 == "sha-1"
    assert health.last_success_at == later and health.last_status == 304


def test_failures_back_off_exponentially_up_to_a_day() -> None:
    assert [backoff_delay(n) for n in range(1, 8)] == [
        timedelta(0),
        timedelta(hours=2),
        timedelta(hours=4),
        timedelta(hours=8),
        timedelta(hours=16),
        MAX_BACKOFF,
        MAX_BACKOFF,
    ]
    health = apply_fetch(initial_health("f", URL), ok(T0, etag='"e"'))
    now = T0
    health = apply_fetch(health, failed(now))
    assert health.status == "failing" and health.next_attempt_at is None  # retried at the next hourly run
    assert skip_reason(health, now + timedelta(hours=1)) is None
    for failures in range(2, 6):
        now += timedelta(hours=1)
        assert skip_reason(health, now) is None
        health = apply_fetch(health, failed(now))
        assert health.status == "backing_off" and health.consecutive_failures == failures
        assert health.next_attempt_at == now + backoff_delay(failures)
        assert health.etag == '"e"'  # validators survive failures
        reason = skip_reason(health, now + timedelta(minutes=59))
        assert reason is not None and reason.startswith(f"skipped: backing off after {failures} failure(s) until")
        skipped = apply_skip(health, now + timedelta(minutes=59))
        assert skipped.status == "backing_off" and skipped.consecutive_failures == failures
        now = health.next_attempt_at
    health = apply_fetch(health, ok(now))
    assert health.status == "ok" and health.consecutive_failures == 0 and health.next_attempt_at is None


def test_gone_is_checked_weekly_not_hourly() -> None:
    health = apply_fetch(initial_health("f", URL), failed(T0, 410))
    assert health.status == "gone" and health.next_attempt_at == T0 + GONE_RETRY
    for hours in (1, 24, 24 * 6):
        reason = skip_reason(health, T0 + timedelta(hours=hours))
        assert reason is not None and "gone (HTTP 410)" in reason
        assert apply_skip(health, T0 + timedelta(hours=hours)).status == "gone"
    assert skip_reason(health, T0 + GONE_RETRY) is None
    back = apply_fetch(health, ok(T0 + GONE_RETRY))
    assert back.status == "ok" and back.next_attempt_at is None


def test_retry_after_is_honoured_and_capped() -> None:
    health = apply_fetch(initial_health("f", URL), failed(T0, 429, retry_after=T0 + timedelta(minutes=90)))
    assert health.status == "backing_off" and health.next_attempt_at == T0 + timedelta(minutes=90)
    assert skip_reason(health, T0 + timedelta(hours=1)) is not None
    assert skip_reason(health, T0 + timedelta(minutes=90)) is None

    far = apply_fetch(initial_health("f", URL), failed(T0, 503, retry_after=datetime(2099, 1, 1, tzinfo=UTC)))
    assert far.next_attempt_at == T0 + MAX_RETRY_AFTER
    past = apply_fetch(initial_health("f", URL), failed(T0, 503, retry_after=T0 - timedelta(hours=1)))
    assert past.status == "failing" and past.next_attempt_at is None


def test_network_failure_without_status() -> None:
    health = apply_fetch(initial_health("f", URL), failed(T0, None))
    health = apply_fetch(health, replace(failed(T0 + timedelta(hours=1), None), error="deadline exceeded"))
    assert health.status == "backing_off" and health.last_error == "deadline exceeded"
    assert health.last_status is None and health.consecutive_failures == 2


def moved(at: datetime, target: str = NEW_URL) -> FetchResult:
    return ok(at, final_url=target, permanent_redirect=target)


def test_permanent_redirect_adopted_only_after_consecutive_confirmations() -> None:
    health = initial_health("f", URL)
    for n in range(1, REDIRECT_CONFIRMATIONS):
        health = apply_fetch(health, moved(T0 + timedelta(hours=n)))
        assert health.effective_url == URL and health.redirect_target == NEW_URL and health.redirect_seen == n
    health = apply_fetch(health, moved(T0 + timedelta(hours=REDIRECT_CONFIRMATIONS)))
    assert health.effective_url == NEW_URL and health.redirect_target is None and health.redirect_seen == 0
    assert fetch_request(health).url == NEW_URL and health.url == URL


def test_redirect_count_resets_on_anything_but_the_same_move() -> None:
    two = apply_fetch(apply_fetch(initial_health("f", URL), moved(T0)), moved(T0 + timedelta(hours=1)))
    assert two.redirect_seen == 2
    interrupted: dict[str, FeedHealth] = {
        "no redirect": apply_fetch(two, ok(T0 + timedelta(hours=2))),
        "a failure": apply_fetch(two, failed(T0 + timedelta(hours=2))),
    }
    for why, health in interrupted.items():
        assert health.redirect_seen == 0 and health.redirect_target is None, why
        again = apply_fetch(health, moved(T0 + timedelta(hours=3)))
        assert again.effective_url == URL and again.redirect_seen == 1, why
    elsewhere = apply_fetch(two, moved(T0 + timedelta(hours=2), "https://other.example/feed"))
    assert elsewhere.redirect_target == "https://other.example/feed" and elsewhere.redirect_seen == 1
    assert elsewhere.effective_url == URL


def test_changed_url_in_feed_list_starts_afresh() -> None:
    health = apply_fetch(initial_health("f", URL), failed(T0, 410))
    assert reconcile_with_feed_list(health, "f", URL) is health
    fresh = reconcile_with_feed_list(health, "f", NEW_URL)
    assert fresh == initial_health("f", NEW_URL) and fresh.status == "new"
    assert reconcile_with_feed_list(None, "f", URL) == initial_health("f", URL)


def test_a_feed_fetched_fine_but_yielding_no_items_is_no_items_not_failing() -> None:
    import duckdb

    from feeds_etl.health import STATUSES
    from feeds_etl.warehouse.items import mark_parse_failures

    con = duckdb.connect()
    con.execute(
        """CREATE TABLE feed_health (feed_id VARCHAR, status VARCHAR, consecutive_failures INTEGER,
           last_error VARCHAR, last_content_sha256 VARCHAR)"""
    )
    con.execute(
        """CREATE TABLE parsed_contents (feed_id VARCHAR, content_sha256 VARCHAR, entry_count INTEGER,
           error VARCHAR)"""
    )
    con.execute("INSERT INTO feed_health VALUES ('empty', 'ok', 0, NULL, 's1'), ('fine', 'ok', 0, NULL, 's2')")
    con.execute(
        "INSERT INTO parsed_contents VALUES ('empty', 's1', 0, 'no items: the document has no entries'), "
        "('fine', 's2', 3, NULL)"
    )
    mark_parse_failures(con)
    rows = dict(con.execute("SELECT feed_id, (status, consecutive_failures, last_error) FROM feed_health").fetchall())
    assert rows["empty"] == ("no_items", 0, "no items: the document has no entries")
    assert rows["fine"] == ("ok", 0, None)
    assert "no_items" in STATUSES
