"""feeds_etl.fetch against real loopback servers: conditional GET, deadlines, caps, redirects, concurrency, the
address policy and proxies."""

from __future__ import annotations

import re
import socket
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pycurl
import pytest

from feeds_etl.fetch import (
    USER_AGENT,
    FetchClient,
    FetchRequest,
    FetchResult,
    FetchSettings,
    curl,
    fetch_all,
    fetch_one,
    make_client,
)
from feeds_etl.fetch.addresses import ip_literal, refusal
from feeds_etl.health import REDIRECT_CONFIRMATIONS, apply_fetch, fetch_request, initial_health
from feeds_etl.parse import parse_feed
from feeds_etl_tests.feed_server import TLS_CERT, FeedServer, good_feed, running_feed_server, running_proxy

# The test server is on loopback, which a fetch refuses unless private networks are allowed.
LOOPBACK = FetchSettings(allow_private_networks=True, allow_local_files=True)
SHORT = replace(LOOPBACK, deadline=1.0, connect_timeout=1.0, read_timeout=5.0)


@pytest.fixture
def client() -> Iterator[FetchClient]:
    with make_client(SHORT) as c:
        yield c


def get(
    server: FeedServer, client: FetchClient, path: str, settings: FetchSettings = SHORT, **known: str
) -> FetchResult:
    return fetch_one(FetchRequest("feed", server.url(path), **known), settings, client)


def test_good_feed_then_conditional_get_gives_304_without_body(feed_server: FeedServer, client: FetchClient) -> None:
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
    feed_server: FeedServer, client: FetchClient
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
    feed_server: FeedServer, client: FetchClient, path: str, status: int, retry_in: object
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
def test_total_deadline_holds_whatever_the_server_does(feed_server: FeedServer, client: FetchClient, path: str) -> None:
    started = time.monotonic()
    result = get(feed_server, client, path)
    elapsed = time.monotonic() - started
    assert result.error == "deadline exceeded: no complete response within 1s"
    assert 0.9 <= elapsed < 1.6, elapsed  # read_timeout is 5 s: only the deadline can have stopped it


def test_deadline_holds_across_a_pool_of_hung_feeds(feed_server: FeedServer) -> None:
    requests = [FetchRequest(f"f{n}", feed_server.url(p)) for n, p in enumerate(["/hang", "/trickle"] * 4)]
    started = time.monotonic()
    results = fetch_all(requests, replace(LOOPBACK, deadline=1.0, per_host=8))
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
    feed_server: FeedServer, client: FetchClient, path: str, reason: str
) -> None:
    tracemalloc.start()
    try:
        result = get(feed_server, client, path, replace(LOOPBACK, deadline=10.0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.error == reason and result.body is None
    assert peak < 48 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"  # the server runs in this process too


def test_small_cap_and_gzip_decoding(feed_server: FeedServer, client: FetchClient) -> None:
    result = get(feed_server, client, "/gzip-good")
    assert result.ok and result.body == good_feed("gzipped", 4)
    assert len(parse_feed("gz", result.body, result.content_sha256 or "").entries) == 4
    tiny = get(feed_server, client, "/gzip-good", replace(LOOPBACK, max_bytes=500))
    assert tiny.error == "body larger than the 500 bytes cap (after decompression)"
    members = get(feed_server, client, "/gzip-members")
    assert members.ok and members.body == good_feed("members", 4), members.error
    raw = get(feed_server, client, "/deflate-raw")
    assert raw.ok and raw.body == good_feed("raw-deflate"), raw.error


@pytest.mark.parametrize(
    ("path", "error_start"),
    [
        ("/redirect/loop-a", "redirect loop: "),
        ("/redirect/long-0", "too many redirects (more than 5): "),
        ("/redirect/to-file", "HTTP 301 redirect to a non-HTTP URL refused: file:///etc/passwd"),
        ("/redirect/no-location", "HTTP 301 redirect without a Location header"),
        ("/close-early", "network error: the server closed the connection 9,900 bytes before the end of the body"),
    ],
)
def test_bad_redirects_and_broken_responses_are_errors(
    feed_server: FeedServer, client: FetchClient, path: str, error_start: str
) -> None:
    result = get(feed_server, client, path)
    assert result.error is not None and result.error.startswith(error_start), result.error
    assert result.body is None


def test_a_connection_broken_before_the_response_is_tried_once_more(
    feed_server: FeedServer, client: FetchClient
) -> None:
    """A server hanging up before answering (a stale keep-alive connection, or one the pool closed under us) gets
    one more request on a fresh connection; one that always does is an error after two requests, not more."""
    result = get(feed_server, client, "/drop-first")
    assert result.error is None and result.body == good_feed("dropped")
    assert feed_server.requests["/drop-first"] == 2
    broken = get(feed_server, client, "/drop-always")
    assert broken.error is not None and broken.error == "network error: Empty reply from server", broken.error
    assert feed_server.requests["/drop-always"] == 2
    reset = get(feed_server, client, "/reset-always")
    assert reset.error is not None and reset.error.startswith("network error: Recv failure: Connection reset")
    assert feed_server.requests["/reset-always"] == 2, reset.error


def test_a_body_ended_by_closing_the_connection_is_whole_and_the_connection_not_reused(
    feed_server: FeedServer, client: FetchClient
) -> None:
    first, second = get(feed_server, client, "/until-close"), get(feed_server, client, "/until-close")
    assert first.body == second.body == good_feed("until-close")
    assert feed_server.httpd.connections_opened == 2


def test_urls_with_spaces_and_non_ascii_characters_are_percent_encoded(
    feed_server: FeedServer, client: FetchClient
) -> None:
    feed_server.add_feed("/caf%C3%A9%20news", good_feed("cafe"))  # the server sees the raw request target
    result = get(feed_server, client, "/café news?lang=fr ca")
    assert result.ok and result.body == good_feed("cafe"), result.error
    assert feed_server.requests["/caf%C3%A9%20news"] == 1


@pytest.fixture
def tls_server() -> Iterator[FeedServer]:
    with running_feed_server(tls=True) as server:
        yield server


def trusting_the_test_certificate(settings: FetchSettings = SHORT) -> FetchClient:
    return make_client(settings, TLS_CERT)


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
    assert refused.error is not None and refused.error.startswith("network error: SSL certificate")


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
            (replace(LOOPBACK, deadline=1.0, connect_timeout=5.0), "deadline exceeded: no complete response within 1s"),
            (replace(LOOPBACK, deadline=5.0, connect_timeout=0.5), "timeout: no TLS handshake within connect_timeout"),
        ]:
            started = time.monotonic()
            with trusting_the_test_certificate(settings) as pool:
                result = fetch_one(FetchRequest("silent", url), settings, pool)
            assert result.error == error
            assert time.monotonic() - started < 1.6


def test_redirects_record_final_url_and_only_permanent_chains_count(
    feed_server: FeedServer, client: FetchClient
) -> None:
    chained = get(feed_server, client, "/redirect/chain-1")
    assert chained.ok and chained.final_url == feed_server.url("/good/chained")
    assert chained.permanent_redirect == feed_server.url("/good/chained")
    temporary = get(feed_server, client, "/redirect/temporary")
    assert temporary.ok and temporary.final_url == feed_server.url("/good/temporary")
    assert temporary.permanent_redirect is None
    more = get(feed_server, client, "/redirect/long-0", replace(LOOPBACK, max_redirects=12))
    assert more.ok and more.final_url == feed_server.url("/good/long")


def test_permanent_redirect_is_adopted_after_three_consecutive_fetches(
    feed_server: FeedServer, client: FetchClient
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


def test_file_urls(tmp_path: Path, client: FetchClient) -> None:
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
    results = fetch_all(requests, replace(LOOPBACK, concurrency=8, per_host=3))
    assert [r.feed_id for r in results] == paths
    assert all(r.ok for r in results)
    assert feed_server.max_in_flight == 3


def test_waiting_for_a_host_slot_does_not_count_against_the_deadline(feed_server: FeedServer) -> None:
    paths = [f"/queued/{n}" for n in range(5)]
    for path in paths:
        feed_server.add_feed(path, good_feed("queued"), delay=0.3)
    results = fetch_all(
        [FetchRequest(p, feed_server.url(p)) for p in paths], replace(LOOPBACK, deadline=1.0, per_host=1)
    )
    assert all(r.ok for r in results), [r.error for r in results]
    assert feed_server.max_in_flight == 1


# -- address policy and proxies ----------------------------------------------------------------------


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Addresses libcurl was given a socket for. Only loopback ones get one: nothing leaves this machine."""
    opened: list[str] = []

    def loopback_only(address: Any) -> socket.socket | int:
        opened.append(address.addr[0])
        if address.addr[0] not in ("127.0.0.1", "::1"):
            return pycurl.SOCKET_BAD
        return socket.socket(address.family, address.socktype, address.protocol)

    monkeypatch.setattr(curl, "new_socket", loopback_only)
    return opened


@pytest.mark.parametrize(
    ("address", "allowed", "reason"),
    [
        ("93.184.215.14", False, None),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", False, None),
        ("169.254.169.254", True, "a link-local/metadata address"),
        ("169.254.170.2", True, "a link-local/metadata address"),
        ("fe80::1", True, "a link-local/metadata address"),
        ("100.100.100.200", True, "a link-local/metadata address"),
        ("fd00:ec2::254", True, "a link-local/metadata address"),
        ("::ffff:169.254.169.254", True, "a link-local/metadata address"),
        ("64:ff9b::a9fe:a9fe", True, "a link-local/metadata address"),  # NAT64 form of 169.254.169.254
        ("224.0.0.1", True, "a multicast or reserved address"),
        ("127.0.0.1", False, "a loopback address; allow_private_networks is off"),
        ("127.255.0.9", False, "a loopback address; allow_private_networks is off"),
        ("::1", False, "a loopback address; allow_private_networks is off"),
        ("0.0.0.0", False, "an unspecified address; allow_private_networks is off"),
        ("10.1.2.3", False, "a private address; allow_private_networks is off"),
        ("172.16.0.1", False, "a private address; allow_private_networks is off"),
        ("192.168.1.1", False, "a private address; allow_private_networks is off"),
        ("100.64.0.1", False, "a private address; allow_private_networks is off"),
        ("fd12:3456::1", False, "a private address; allow_private_networks is off"),
        ("::ffff:10.0.0.1", False, "a private address; allow_private_networks is off"),
    ],
)
def test_address_policy(address: str, allowed: bool, reason: str | None) -> None:
    assert refusal(address, allow_private_networks=False) == reason
    expected_when_allowed = reason if allowed else None  # `allowed`: refused even with private networks allowed
    assert refusal(address, allow_private_networks=True) == expected_when_allowed


@pytest.mark.parametrize(
    ("host", "address"),
    [("127.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("feeds.example", None)],
)
def test_old_ipv4_forms_are_recognised_as_addresses(host: str, address: str | None) -> None:
    literal = ip_literal(host)
    assert (str(literal) if literal else None) == address


def test_a_name_resolving_to_loopback_is_refused_before_connecting(
    feed_server: FeedServer, connections: list[str]
) -> None:
    """The check is on the address DNS gave, at connect time: a host name is no way around it."""
    feed_server.add_feed("/good/a", good_feed("a"))
    url = f"http://localhost:{feed_server.port}/good/a"
    closed = replace(SHORT, allow_private_networks=False)
    with make_client(closed) as client:
        refused = fetch_one(FetchRequest("local", url), closed, client)
    assert refused.error is not None
    assert re.fullmatch(
        r"refused: localhost resolves to (127\.0\.0\.1|::1), a loopback address; allow_private_networks is off",
        refused.error,
    ), refused.error
    assert connections == [] and feed_server.httpd.connections_opened == 0

    with make_client(SHORT) as client:
        allowed = fetch_one(FetchRequest("local", url), SHORT, client)
    assert allowed.ok and allowed.body == good_feed("a"), allowed.error
    assert "127.0.0.1" in connections


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://[fe80::1]/", "fe80::1"),
        ("http://100.100.100.200/latest/meta-data/", "100.100.100.200"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "fd00:ec2::254"),
        ("http://[::ffff:169.254.169.254]/", "::ffff:a9fe:a9fe"),
        ("https://169.254.169.254/", "169.254.169.254"),
    ],
)
def test_metadata_addresses_are_refused_even_with_private_networks_allowed(
    url: str, address: str, connections: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert SHORT.allow_private_networks
    started = time.monotonic()
    with make_client(SHORT) as client:
        result = fetch_one(FetchRequest("metadata", url), SHORT, client)
    assert result.error == f"refused: {address} is a link-local/metadata address"
    # Without the check on the URL's literal address, the check at connect time refuses it as well.
    monkeypatch.setattr(curl, "ip_literal", lambda host: None)
    with make_client(SHORT) as client:
        result = fetch_one(FetchRequest("metadata", url), SHORT, client)
    assert result.error is not None and result.error.startswith("refused: "), result.error
    assert result.error.endswith(", a link-local/metadata address"), result.error
    assert connections == []  # no socket was ever made for it
    assert time.monotonic() - started < 1.0


def test_a_redirect_is_checked_at_every_hop(feed_server: FeedServer, connections: list[str]) -> None:
    with make_client(SHORT) as client:
        result = get(feed_server, client, "/redirect/to-metadata")
    assert result.error == "refused: 169.254.169.254 is a link-local/metadata address"
    assert result.final_url is None and set(connections) == {"127.0.0.1"}


def test_file_urls_are_refused_unless_local_files_are_allowed(tmp_path: Path, client: FetchClient) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(good_feed("local"))
    closed = replace(SHORT, allow_local_files=False)
    result = fetch_one(FetchRequest("local", path.as_uri()), closed, client)
    assert result.error == "refused: file: URLs are not allowed; allow_local_files is off" and result.body is None
    assert fetch_one(FetchRequest("local", path.as_uri()), SHORT, client).body == good_feed("local")


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Sets proxy variables for the test, with none of the machine's own left over."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)

    def setenv(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    return setenv


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_requests_go_through_the_proxy_from_the_environment(
    feed_server: FeedServer, proxy_env: Callable[..., None], variable: str
) -> None:
    feed_server.add_feed("/good/a", good_feed("a"))
    with running_proxy(feed_server) as proxy:
        proxy_env(**{variable: proxy.url})
        with make_client(SHORT) as client:
            first = get(feed_server, client, "/good/a")
            again = get(feed_server, client, "/good/a", etag=first.etag or "")
        assert first.ok and first.body == good_feed("a"), first.error
        assert again.not_modified
        assert proxy.requested == [feed_server.url("/good/a")] * 2

        proxy_env(NO_PROXY=f"localhost,127.0.0.1:{feed_server.port}")
        with make_client(SHORT) as client:
            direct = get(feed_server, client, "/good/a")
        assert direct.ok and proxy.requested == [feed_server.url("/good/a")] * 2
    assert feed_server.requests["/good/a"] == 3


def test_through_a_proxy_names_go_to_the_proxy_and_redirects_are_still_checked(
    feed_server: FeedServer, proxy_env: Callable[..., None], connections: list[str]
) -> None:
    """The proxy the operator set is trusted (even on a private address); a redirect to a private address is not."""
    feed_server.add_feed("/good/a", good_feed("a"))
    closed = replace(SHORT, allow_private_networks=False)
    with running_proxy(feed_server) as proxy:
        proxy_env(HTTP_PROXY=proxy.url)
        with make_client(closed) as client:
            named = fetch_one(FetchRequest("named", "http://feeds.example/good/a"), closed, client)
            redirected = fetch_one(FetchRequest("moved", "http://feeds.example/redirect/to-private"), closed, client)
    assert named.ok and named.body == good_feed("a"), named.error
    assert redirected.error == "refused: 10.0.0.1 is a private address; allow_private_networks is off"
    assert proxy.requested == ["http://feeds.example/good/a", "http://feeds.example/redirect/to-private"]
    assert set(connections) == {"127.0.0.1"}
