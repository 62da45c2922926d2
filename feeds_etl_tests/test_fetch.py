"""fetch.py against a real loopback server: conditional GET, deadlines, caps, redirects, concurrency."""

from __future__ import annotations

import socket
import ssl
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feeds_etl.fetch import USER_AGENT, FetchRequest, FetchResult, FetchSettings, fetch_all, fetch_one, make_client
from feeds_etl.health import REDIRECT_CONFIRMATIONS, apply_fetch, fetch_request, initial_health
from feeds_etl.http_pool import HttpPool
from feeds_etl.parse import parse_feed
from feeds_etl_tests.feed_server import TLS_CERT, FeedServer, good_feed, running_feed_server

SHORT = FetchSettings(deadline=1.0, connect_timeout=1.0, read_timeout=5.0)


@pytest.fixture
def client() -> Iterator[HttpPool]:
    with make_client(SHORT) as c:
        yield c


def get(server: FeedServer, client: HttpPool, path: str, settings: FetchSettings = SHORT, **known: str) -> FetchResult:
    return fetch_one(FetchRequest("feed", server.url(path), **known), settings, client)


def test_good_feed_then_conditional_get_gives_304_without_body(feed_server: FeedServer, client: HttpPool) -> None:
    feed_server.add_feed("/good/a", good_feed("a"))
    first = get(feed_server, client, "/good/a")
    assert first.ok and first.http_status == 200 and first.body == good_feed("a")
    assert first.etag and first.last_modified and first.final_url == feed_server.url("/good/a")
    assert first.content_sha256 and first.permanent_redirect is None

    by_etag = get(feed_server, client, "/good/a", etag=first.etag)
    by_date = get(feed_server, client, "/good/a", last_modified=first.last_modified)
    for again in (by_etag, by_date):
        assert again.ok and again.not_modified and again.body is None
    assert feed_server.conditional["/good/a"] == 2

    feed_server.update_feed("/good/a", good_feed("a", version=2))
    changed = get(feed_server, client, "/good/a", etag=first.etag)
    assert changed.http_status == 200 and changed.body == good_feed("a", version=2)
    assert feed_server.user_agents == {USER_AGENT}
    assert USER_AGENT.startswith("feeds_etl/") and "+http" in USER_AGENT


def test_not_modified_and_error_answers_keep_the_connection_for_the_next_feed(
    feed_server: FeedServer, client: HttpPool
) -> None:
    # An hourly run is mostly 304s: each one opening a new connection (a TLS handshake on the real web)
    # would cost more than the answer itself.
    feed_server.add_feed("/good/a", good_feed("a"))
    first = get(feed_server, client, "/good/a")
    answers = [get(feed_server, client, "/good/a", etag=first.etag) for _ in range(5)]
    answers += [get(feed_server, client, "/status/404"), get(feed_server, client, "/status/500")]
    assert [a.http_status for a in answers] == [304] * 5 + [404, 500]
    assert feed_server.httpd.connections_opened == 1


@pytest.mark.parametrize(
    ("path", "status", "retry_in"),
    [
        ("/status/500", 500, None),
        ("/status/404", 404, None),
        ("/status/410", 410, None),
        ("/status/429", 429, timedelta(hours=2)),
        ("/status/503", 503, datetime(2099, 10, 21, 7, 28, tzinfo=UTC)),
    ],
)
def test_http_errors_carry_status_and_retry_after(
    feed_server: FeedServer, client: HttpPool, path: str, status: int, retry_in: object
) -> None:
    result = get(feed_server, client, path)
    assert not result.ok and result.http_status == status and result.body is None
    assert result.error is not None and result.error.startswith(f"HTTP {status}")
    if retry_in is None:
        assert result.retry_after is None
    elif isinstance(retry_in, timedelta):
        assert result.retry_after is not None
        assert abs(result.retry_after - result.fetched_at - retry_in) < timedelta(seconds=1)
    else:
        assert result.retry_after == retry_in


@pytest.mark.parametrize("path", ["/hang", "/trickle", "/trickle-headers"])
def test_total_deadline_holds_whatever_the_server_does(feed_server: FeedServer, client: HttpPool, path: str) -> None:
    started = time.monotonic()
    result = get(feed_server, client, path)
    elapsed = time.monotonic() - started
    assert result.error == "deadline exceeded: no complete response within 1s"
    assert 0.9 <= elapsed < 1.6, elapsed  # read_timeout is 5 s: only the deadline can have stopped it


def test_deadline_holds_across_a_pool_of_hung_feeds(feed_server: FeedServer) -> None:
    requests = [FetchRequest(f"f{n}", feed_server.url(p)) for n, p in enumerate(["/hang", "/trickle"] * 4)]
    started = time.monotonic()
    results = fetch_all(requests, FetchSettings(deadline=1.0, per_host=8))
    assert time.monotonic() - started < 2.0
    assert all(r.error and r.error.startswith("deadline exceeded") for r in results)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/huge", "body larger than the 15 MiB cap (on the wire)"),
        ("/huge-declared", "body larger than the 15 MiB cap (1073741824 bytes declared)"),
        ("/gzip-bomb", "body larger than the 15 MiB cap (after decompression)"),
        ("/deflate-bomb", "body larger than the 15 MiB cap (after decompression)"),
        ("/gzip-twice", "unsupported Content-Encoding: gzip, gzip"),
    ],
)
def test_size_caps_stop_huge_bodies_and_bombs_in_bounded_memory(
    feed_server: FeedServer, client: HttpPool, path: str, reason: str
) -> None:
    tracemalloc.start()
    try:
        result = get(feed_server, client, path, FetchSettings(deadline=10.0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.error == reason and result.body is None
    assert peak < 48 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"  # the server runs in this process too


def test_small_cap_and_gzip_decoding(feed_server: FeedServer, client: HttpPool) -> None:
    result = get(feed_server, client, "/gzip-good")
    assert result.ok and result.body == good_feed("gzipped", 4)
    assert len(parse_feed("gz", result.body, result.content_sha256 or "").entries) == 4
    tiny = get(feed_server, client, "/gzip-good", FetchSettings(max_bytes=500))
    assert tiny.error == "body larger than the 500 bytes cap (after decompression)"


@pytest.mark.parametrize(
    ("path", "error_start"),
    [
        ("/redirect/loop-a", "redirect loop: "),
        ("/redirect/long-0", "too many redirects (more than 5): "),
        ("/redirect/to-file", "HTTP 301 redirect to a non-HTTP URL refused: file:///etc/passwd"),
        ("/redirect/no-location", "HTTP 301 redirect without a Location header"),
        ("/close-early", "network error: BodyCutOff: the server closed the connection 9,900 bytes before the end"),
    ],
)
def test_bad_redirects_and_broken_responses_are_errors(
    feed_server: FeedServer, client: HttpPool, path: str, error_start: str
) -> None:
    result = get(feed_server, client, path)
    assert result.error is not None and result.error.startswith(error_start), result.error
    assert result.body is None


def test_a_connection_broken_before_the_response_is_tried_once_more(feed_server: FeedServer, client: HttpPool) -> None:
    """A server hanging up before answering (a stale keep-alive connection, or one the pool closed under us) gets
    one more request on a fresh connection; one that always does is an error after two requests, not more."""
    result = get(feed_server, client, "/drop-first")
    assert result.error is None and result.body == good_feed("dropped")
    assert feed_server.requests["/drop-first"] == 2
    broken = get(feed_server, client, "/drop-always")
    assert broken.error is not None and broken.error.startswith("network error: RemoteDisconnected"), broken.error
    assert feed_server.requests["/drop-always"] == 2


def test_a_body_ended_by_closing_the_connection_is_whole_and_the_connection_not_reused(
    feed_server: FeedServer, client: HttpPool
) -> None:
    first, second = get(feed_server, client, "/until-close"), get(feed_server, client, "/until-close")
    assert first.body == second.body == good_feed("until-close")
    assert feed_server.httpd.connections_opened == 2


def test_urls_with_spaces_and_non_ascii_characters_are_percent_encoded(
    feed_server: FeedServer, client: HttpPool
) -> None:
    feed_server.add_feed("/caf%C3%A9%20news", good_feed("cafe"))  # the server sees the raw request target
    result = get(feed_server, client, "/café news?lang=fr ca")
    assert result.ok and result.body == good_feed("cafe"), result.error
    assert feed_server.requests["/caf%C3%A9%20news"] == 1


@pytest.fixture
def tls_server() -> Iterator[FeedServer]:
    with running_feed_server(tls=True) as server:
        yield server


def trusting_the_test_certificate(settings: FetchSettings = SHORT) -> HttpPool:
    return make_client(settings, ssl.create_default_context(cafile=TLS_CERT))


def test_https_verifies_the_certificate_and_keeps_the_connection(tls_server: FeedServer) -> None:
    tls_server.add_feed("/good/secure", good_feed("secure"))
    with trusting_the_test_certificate() as pool:
        first = get(tls_server, pool, "/good/secure")
        assert first.ok and first.body == good_feed("secure") and first.final_url == tls_server.url("/good/secure")
        again = get(tls_server, pool, "/good/secure", etag=first.etag or "")
        assert again.not_modified and again.body is None
    assert tls_server.httpd.connections_opened == 1
    with make_client(SHORT) as default:  # certifi's CAs: a self-signed certificate is refused
        refused = get(tls_server, default, "/good/secure")
    assert refused.error is not None and refused.error.startswith("network error: SSLCertVerificationError")


@pytest.mark.parametrize("path", ["/hang", "/trickle", "/trickle-headers"])
def test_total_deadline_holds_over_tls(tls_server: FeedServer, path: str) -> None:
    started = time.monotonic()
    with trusting_the_test_certificate() as pool:
        result = get(tls_server, pool, path)
    assert result.error == "deadline exceeded: no complete response within 1s"
    assert 0.9 <= time.monotonic() - started < 1.6


def test_a_tls_handshake_that_never_comes_is_bounded() -> None:
    """The TCP connection is made (the kernel accepts it), but nothing answers the TLS hello."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"https://127.0.0.1:{silent.getsockname()[1]}/feed"
        for settings, error in [
            (FetchSettings(deadline=1.0, connect_timeout=5.0), "deadline exceeded: no complete response within 1s"),
            (FetchSettings(deadline=5.0, connect_timeout=0.5), "timeout: no TLS handshake within connect_timeout"),
        ]:
            started = time.monotonic()
            with trusting_the_test_certificate(settings) as pool:
                result = fetch_one(FetchRequest("silent", url), settings, pool)
            assert result.error == error
            assert time.monotonic() - started < 1.6


def test_redirects_record_final_url_and_only_permanent_chains_count(feed_server: FeedServer, client: HttpPool) -> None:
    chained = get(feed_server, client, "/redirect/chain-1")
    assert chained.ok and chained.final_url == feed_server.url("/good/chained")
    assert chained.permanent_redirect == feed_server.url("/good/chained")
    temporary = get(feed_server, client, "/redirect/temporary")
    assert temporary.ok and temporary.final_url == feed_server.url("/good/temporary")
    assert temporary.permanent_redirect is None
    more = get(feed_server, client, "/redirect/long-0", FetchSettings(max_redirects=12))
    assert more.ok and more.final_url == feed_server.url("/good/long")


def test_permanent_redirect_is_adopted_after_three_consecutive_fetches(
    feed_server: FeedServer, client: HttpPool
) -> None:
    health = initial_health("moved", feed_server.url("/redirect/chain-1"))
    for n in range(1, REDIRECT_CONFIRMATIONS + 1):
        health = apply_fetch(health, fetch_one(fetch_request(health), SHORT, client))
        if n < REDIRECT_CONFIRMATIONS:
            assert health.effective_url == feed_server.url("/redirect/chain-1") and health.redirect_seen == n
    assert health.effective_url == feed_server.url("/good/chained") and health.redirect_seen == 0
    before = feed_server.requests["/redirect/chain-1"]
    after = fetch_one(fetch_request(health), SHORT, client)  # straight to the new URL, conditionally
    assert after.not_modified and feed_server.requests["/redirect/chain-1"] == before


def test_file_urls(tmp_path: Path, client: HttpPool) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(good_feed("local"))
    result = fetch_one(FetchRequest("local", path.as_uri()), SHORT, client)
    assert result.ok and result.body == good_feed("local") and result.final_url == path.as_uri()
    missing = fetch_one(FetchRequest("gone", (tmp_path / "nope.xml").as_uri()), SHORT, client)
    assert missing.error is not None and missing.error.startswith("cannot read")


def test_fetch_all_keeps_order_and_per_host_limit(feed_server: FeedServer) -> None:
    paths = [f"/slow/{n}" for n in range(12)]
    for path in paths:
        feed_server.add_feed(path, good_feed(path[-2:].strip("/")), delay=0.15)
    requests = [FetchRequest(path, feed_server.url(path)) for path in paths]
    results = fetch_all(requests, FetchSettings(concurrency=8, per_host=3))
    assert [r.feed_id for r in results] == paths
    assert all(r.ok for r in results)
    assert feed_server.max_in_flight == 3


def test_waiting_for_a_host_slot_does_not_count_against_the_deadline(feed_server: FeedServer) -> None:
    paths = [f"/queued/{n}" for n in range(5)]
    for path in paths:
        feed_server.add_feed(path, good_feed("queued"), delay=0.3)
    results = fetch_all([FetchRequest(p, feed_server.url(p)) for p in paths], FetchSettings(deadline=1.0, per_host=1))
    assert all(r.ok for r in results), [r.error for r in results]
    assert feed_server.max_in_flight == 1
