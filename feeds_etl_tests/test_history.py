"""History import (issue 4): the pure URL logic, and fetch_history against a real loopback HTTP server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from feeds_etl.feeds import Feed, HistoryImport
from feeds_etl.fetch import FetchClient, FetchRequest, FetchResult, FetchSettings, fetch_one, make_client
from feeds_etl.history import detect_mode, fetch_history, next_history_url, wordpress_page_url

ATOM_NS = "http://www.w3.org/2005/Atom"

# --------------------------------------------------------------------------------------------------------------
# Documents


def wp_page(page: int, *, items: int = 3, generator: bool = True, build: str = "") -> bytes:
    """A WordPress-style RSS page: `?p=` guids, the wordpress.org generator."""
    entries = "".join(
        f"<item><title>Post {page}.{n}</title><link>https://blog.example/post-{page}-{n}/</link>"
        f'<guid isPermaLink="false">https://blog.example/?p={page * 100 + n}</guid>'
        f"<pubDate>Mon, 0{page} Jan 2024 0{n}:00:00 +0000</pubDate></item>"
        for n in range(items)
    )
    gen = "<generator>https://wordpress.org/?v=6.5</generator>" if generator else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Blog</title>'
        f"<link>https://blog.example/</link>{gen}<lastBuildDate>{build}</lastBuildDate>{entries}</channel></rss>"
    ).encode()


def plain_rss(ids: list[str], title: str = "Plain") -> bytes:
    entries = "".join(f"<item><title>{i}</title><guid>urn:plain:{i}</guid></item>" for i in ids)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{entries}</channel></rss>'.encode()


def atom_doc(name: str, ids: list[str], prev: str | None, *, entry_prev: str | None = None) -> bytes:
    prev_link = f'<link rel="prev-archive" href="{prev}"/>' if prev else ""
    entry_link = f'<link rel="prev-archive" href="{entry_prev}"/>' if entry_prev else ""
    entries = "".join(
        f"<entry><id>urn:{i}</id><title>{i}</title><updated>2024-01-01T00:00:00Z</updated>{entry_link}</entry>"
        for i in ids
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="{ATOM_NS}"><title>{name}</title><id>urn:{name}</id>'
        f"<updated>2024-01-01T00:00:00Z</updated>{prev_link}{entries}</feed>"
    ).encode()


def rss_with_atom_prev(ids: list[str], prev: str | None) -> bytes:
    link = f'<atom:link rel="prev-archive" href="{prev}"/>' if prev else ""
    entries = "".join(f"<item><title>{i}</title><guid>urn:{i}</guid></item>" for i in ids)
    return (
        f'<?xml version="1.0"?><rss version="2.0" xmlns:atom="{ATOM_NS}"><channel><title>R</title>'
        f"{link}{entries}</channel></rss>"
    ).encode()


# --------------------------------------------------------------------------------------------------------------
# The loopback server


@dataclass
class Site:
    """Routes (path -> page function) and a log of every request, shared with the handler threads."""

    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def log(self, target: str) -> None:
        with self.lock:
            self.requests.append(target)

    def hits(self, prefix: str) -> list[str]:
        with self.lock:
            return [r for r in self.requests if r.startswith(prefix)]


def route(path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
    """Everything the server answers: (status, content type, body)."""
    rss, atom = "application/rss+xml", "application/atom+xml"
    paged = int(query.get("paged", ["1"])[0])
    # A WordPress feed with 4 pages; page 5 and on are 404.
    if path in ("/wp/feed/", "/wp-params/feed/"):
        return (200, rss, wp_page(paged)) if paged <= 4 else (404, "text/html", b"<html>Not found</html>")
    # A WordPress feed whose pages past the end are an empty feed rather than a 404.
    if path == "/wp-empty/feed/":
        return 200, rss, wp_page(paged, items=3 if paged <= 2 else 0)
    # A site that ignores `paged`: the same posts on every page, only lastBuildDate changes.
    if path == "/wp-same/feed/":
        return 200, rss, wp_page(1, build=f"page {paged}")
    # A site that ignores `paged` entirely: byte-identical pages.
    if path == "/wp-identical/feed/":
        return 200, rss, wp_page(1)
    # Page 3 fails with a server error.
    if path == "/wp-500/feed/":
        return (200, rss, wp_page(paged)) if paged != 3 else (500, "text/plain", b"boom")
    # Page 2 is an HTML page with status 200.
    if path == "/wp-html/feed/":
        return (200, rss, wp_page(paged)) if paged == 1 else (200, "text/html", b"<!doctype html><html></html>")
    # An RFC 5005 chain: the current document and 3 archives (one of them RSS with atom:link), relative hrefs.
    if path == "/rfc/current.xml":
        return 200, atom, atom_doc("current", ["c1", "c2"], "archive/3.xml", entry_prev="/never")
    if path == "/rfc/archive/3.xml":
        return 200, atom, atom_doc("a3", ["a3-1", "a3-2"], "2.xml")
    if path == "/rfc/archive/2.xml":
        return 200, rss, rss_with_atom_prev(["a2-1", "a2-2"], "/rfc/archive/1.xml")
    if path == "/rfc/archive/1.xml":
        return 200, atom, atom_doc("a1", ["a1-1"], None)
    # A loop by URL: a -> b -> a.
    if path == "/loop/current.xml":
        return 200, atom, atom_doc("lc", ["l0"], "a.xml")
    if path == "/loop/a.xml":
        return 200, atom, atom_doc("la", ["la"], "b.xml")
    if path == "/loop/b.xml":
        return 200, atom, atom_doc("lb", ["lb"], "a.xml")
    # A loop by content: the archive link points at the current document under another URL.
    if path == "/hashloop/current.xml":
        return 200, atom, atom_doc("hc", ["h1"], "current.xml?copy=1")
    # A prev-archive that points somewhere we must never read.
    if path == "/evil/current.xml":
        return 200, atom, atom_doc("ec", ["e1"], "file:///etc/passwd")
    # Neither WordPress nor RFC 5005.
    if path == "/plain/feed.xml":
        return 200, rss, plain_rss(["p1", "p2"])
    return 404, "text/plain", b"no such page"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Site]]:
    site = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.log(self.path)
            parts = urlsplit(self.path)
            status, content_type, body = route(parts.path, parse_qs(parts.query))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="history-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", site
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


SETTINGS = FetchSettings(connect_timeout=5, read_timeout=5, deadline=15, concurrency=4, allow_private_networks=True)


@pytest.fixture(scope="module")
def client() -> Iterator[FetchClient]:
    with make_client(SETTINGS) as http:
        yield http


def run(base: str, path: str, mode: str, client: FetchClient, max_pages: int = 10) -> list[FetchResult]:
    feed = Feed(name="f", url=base + path, history=HistoryImport(mode=mode, max_pages=max_pages))
    first = fetch_one(FetchRequest(feed.feed_id, feed.url), SETTINGS, client)
    assert first.ok, first.error
    return fetch_history(feed, first, SETTINGS, client)


def paged(result: FetchResult) -> str:
    return parse_qs(urlsplit(result.url).query).get("paged", ["1"])[0]


# --------------------------------------------------------------------------------------------------------------
# fetch_history against the server


@pytest.mark.parametrize("mode", ["wordpress", "auto"])
def test_wordpress_four_pages_then_404(server: tuple[str, Site], client: FetchClient, mode: str) -> None:
    base, site = server
    before = len(site.hits("/wp/feed/"))
    results = run(base, "/wp/feed/", mode, client)
    assert [paged(r) for r in results] == ["2", "3", "4"]
    assert all(r.ok and r.http_status == 200 and r.body for r in results)
    assert [r.body for r in results] == [wp_page(2), wp_page(3), wp_page(4)]
    assert len({r.content_sha256 for r in results}) == 3
    # page 1 (by the test), pages 2-4, and the 404 of page 5 that ended it; nothing after.
    assert site.hits("/wp/feed/")[before:] == [f"/wp/feed/?paged={n}" if n > 1 else "/wp/feed/" for n in range(1, 6)]


def test_wordpress_keeps_other_query_parameters(server: tuple[str, Site], client: FetchClient) -> None:
    base, site = server
    results = run(base, "/wp-params/feed/?lang=en&cat=a%20b", "wordpress", client)
    assert [r.url.split("?", 1)[1] for r in results] == [f"lang=en&cat=a%20b&paged={n}" for n in (2, 3, 4)]
    assert site.hits("/wp-params/feed/?lang=en&cat=a%20b&paged=5")  # asked, answered 404, stopped


def test_wordpress_empty_page_ends_the_archive(server: tuple[str, Site], client: FetchClient) -> None:
    base, site = server
    results = run(base, "/wp-empty/feed/", "wordpress", client)
    assert [paged(r) for r in results] == ["2"]
    assert not site.hits("/wp-empty/feed/?paged=4")


def test_max_pages_bounds_the_walk(server: tuple[str, Site], client: FetchClient) -> None:
    base, site = server
    before = len(site.hits("/wp/feed/"))
    results = run(base, "/wp/feed/", "wordpress", client, max_pages=3)
    assert [paged(r) for r in results] == ["2", "3"]
    assert site.hits("/wp/feed/")[before:] == ["/wp/feed/", "/wp/feed/?paged=2", "/wp/feed/?paged=3"]
    assert run(base, "/wp/feed/", "wordpress", client, max_pages=1) == []


def test_rfc5005_chain_of_three_archives(server: tuple[str, Site], client: FetchClient) -> None:
    base, site = server
    for mode in ("rfc5005", "auto"):
        results = run(base, "/rfc/current.xml", mode, client)
        assert [urlsplit(r.url).path for r in results] == [
            "/rfc/archive/3.xml",
            "/rfc/archive/2.xml",
            "/rfc/archive/1.xml",
        ]
        assert all(r.ok and r.body for r in results)
    assert not site.hits("/never")  # entry-level prev-archive links are not the feed's


def test_rfc5005_chain_is_bounded_by_max_pages(server: tuple[str, Site], client: FetchClient) -> None:
    base, _ = server
    results = run(base, "/rfc/current.xml", "rfc5005", client, max_pages=2)
    assert [urlsplit(r.url).path for r in results] == ["/rfc/archive/3.xml"]


def test_prev_archive_loop_by_url_stops(server: tuple[str, Site], client: FetchClient) -> None:
    base, site = server
    results = run(base, "/loop/current.xml", "rfc5005", client, max_pages=50)
    assert [urlsplit(r.url).path for r in results] == ["/loop/a.xml", "/loop/b.xml"]
    assert len(site.hits("/loop/a.xml")) == 1  # never fetched twice


def test_prev_archive_loop_by_content_stops(server: tuple[str, Site], client: FetchClient) -> None:
    base, site = server
    results = run(base, "/hashloop/current.xml", "rfc5005", client, max_pages=50)
    assert results == []
    assert site.hits("/hashloop/current.xml?copy=1") == ["/hashloop/current.xml?copy=1"]


def test_pages_without_new_items_stop(server: tuple[str, Site], client: FetchClient) -> None:
    base, site = server
    assert run(base, "/wp-same/feed/", "wordpress", client) == []
    assert not site.hits("/wp-same/feed/?paged=3")
    assert run(base, "/wp-identical/feed/", "wordpress", client) == []
    assert not site.hits("/wp-identical/feed/?paged=3")


def test_server_error_is_reported_and_stops(server: tuple[str, Site], client: FetchClient) -> None:
    base, site = server
    results = run(base, "/wp-500/feed/", "wordpress", client)
    assert [paged(r) for r in results] == ["2", "3"]
    assert results[0].ok
    assert results[1].error == "HTTP 500 Internal Server Error" and results[1].http_status == 500
    assert not site.hits("/wp-500/feed/?paged=4")


def test_html_page_is_reported_as_error(server: tuple[str, Site], client: FetchClient) -> None:
    base, _ = server
    results = run(base, "/wp-html/feed/", "wordpress", client)
    assert len(results) == 1 and results[0].error == "not a feed: the server returned an HTML page"


def test_network_error_is_reported(client: FetchClient) -> None:
    # A port that was just free: connection refused on loopback, reported rather than raised.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/feed/"
    feed = Feed(name="f", url=url, history=HistoryImport(mode="wordpress", max_pages=5))
    first = FetchResult("f", url, fetched_at=_now(), http_status=200, body=wp_page(1), content_sha256="x")
    results = fetch_history(feed, first, SETTINGS, client)
    assert len(results) == 1 and results[0].error and results[0].error.startswith("network error")
    assert results[0].url == f"{url}?paged=2"


def test_remote_feed_cannot_lead_to_a_local_file(server: tuple[str, Site], client: FetchClient) -> None:
    base, _ = server
    assert run(base, "/evil/current.xml", "rfc5005", client) == []


def test_auto_on_an_ordinary_feed_does_nothing(server: tuple[str, Site], client: FetchClient) -> None:
    base, site = server
    assert run(base, "/plain/feed.xml", "auto", client) == []
    assert site.hits("/plain/feed.xml") == ["/plain/feed.xml"]


def test_off_failed_or_unmodified_first_page_does_nothing(server: tuple[str, Site], client: FetchClient) -> None:
    base, site = server
    url = base + "/wp/feed/"
    before = len(site.requests)
    on = Feed(name="f", url=url, history=HistoryImport(mode="wordpress"))
    off = Feed(name="f", url=url, history=HistoryImport(mode="off"))
    good = FetchResult("f", url, _now(), http_status=200, body=wp_page(1), content_sha256="x")
    assert fetch_history(off, good, SETTINGS, client) == []
    assert fetch_history(on, FetchResult("f", url, _now(), error="timeout"), SETTINGS, client) == []
    assert fetch_history(on, FetchResult("f", url, _now(), http_status=304), SETTINGS, client) == []
    assert len(site.requests) == before


def test_never_raises(client: FetchClient) -> None:
    feed = Feed(name="f", url="http://127.0.0.1:9/feed/", history=HistoryImport(mode="rfc5005"))
    weird = FetchResult("f", feed.url, _now(), http_status=200, body=b"\x00\xff<feed", content_sha256="y")
    assert fetch_history(feed, weird, SETTINGS, client) == []


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------------------------------------------
# next_history_url, pure


def test_wordpress_urls() -> None:
    feed = "https://blog.example/feed/"
    assert next_history_url(feed, 1, None, "wordpress") == feed
    assert next_history_url(feed, 2, None, "wordpress") == "https://blog.example/feed/?paged=2"
    assert next_history_url(feed + "?lang=en&x=a%20b", 3, None, "wordpress") == (
        "https://blog.example/feed/?lang=en&x=a%20b&paged=3"
    )
    assert next_history_url(feed + "?paged=7&lang=en", 4, None, "wordpress") == feed + "?lang=en&paged=4"
    assert wordpress_page_url(feed + "?paged=7", 1) == feed
    assert next_history_url("https://blog.example/?feed=rss2", 2, None, "wordpress") == (
        "https://blog.example/?feed=rss2&paged=2"
    )
    # `pagedx` is another parameter
    assert next_history_url(feed + "?pagedx=1", 2, None, "wordpress") == feed + "?pagedx=1&paged=2"
    assert next_history_url("file:///tmp/feed.xml", 2, None, "wordpress") is None


def test_off_unknown_and_bad_page_numbers() -> None:
    feed = "https://blog.example/feed/"
    body = atom_doc("x", ["1"], "older.xml")
    assert next_history_url(feed, 2, body, "off") is None
    assert next_history_url(feed, 2, body, "bogus") is None
    assert next_history_url(feed, 0, body, "rfc5005") is None
    assert next_history_url(feed, 2, None, "rfc5005") is None
    assert next_history_url(feed, 2, b"", "rfc5005") is None
    assert next_history_url(feed, 2, b"not xml at all", "auto") is None


def test_rfc5005_urls() -> None:
    feed = "https://ex.example/feeds/current.xml"
    atom = atom_doc("x", ["1"], "archive/9.xml", entry_prev="https://ex.example/entry-level")
    assert next_history_url(feed, 2, atom, "rfc5005") == "https://ex.example/feeds/archive/9.xml"
    # relative hrefs resolve against the page they came from
    assert (
        next_history_url(feed, 3, atom, "rfc5005", base_url="https://ex.example/feeds/archive/10.xml")
        == "https://ex.example/feeds/archive/archive/9.xml"
    )
    rss = rss_with_atom_prev(["1"], "https://archive.example/2019.xml")
    assert next_history_url(feed, 2, rss, "rfc5005") == "https://archive.example/2019.xml"
    assert next_history_url(feed, 2, atom_doc("x", ["1"], None), "rfc5005") is None
    # a WordPress feed without prev-archive is not an RFC 5005 feed
    assert next_history_url(feed, 2, wp_page(1), "rfc5005") is None


def test_rfc5005_scheme_guard() -> None:
    remote = "https://ex.example/feed.xml"
    assert next_history_url(remote, 2, atom_doc("x", ["1"], "file:///etc/passwd"), "rfc5005") is None
    assert next_history_url(remote, 2, atom_doc("x", ["1"], "javascript:alert(1)"), "rfc5005") is None
    local = "file:///srv/feeds/current.xml"
    assert next_history_url(local, 2, atom_doc("x", ["1"], "old.xml"), "rfc5005") == "file:///srv/feeds/old.xml"


def test_no_entity_expansion_or_network() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
        b'<!ENTITY a "&xxe;">]><feed xmlns="http://www.w3.org/2005/Atom"><title>&a;</title>'
        b'<link rel="prev-archive" href="https://ex.example/old.xml"/><entry><id>1</id></entry></feed>'
    )
    # the external entity is dropped, the document still yields its link
    assert next_history_url("https://ex.example/feed.xml", 2, body, "rfc5005") == "https://ex.example/old.xml"
    assert detect_mode(body.replace(b"/etc/passwd", b"/etc/hostname"), "https://ex.example/feed.xml") == "rfc5005"


def test_auto_detection() -> None:
    feed = "https://blog.example/feed/"
    # prev-archive wins, even on a WordPress feed
    both = (
        wp_page(1)
        .replace(b"<channel>", b'<channel><atom:link rel="prev-archive" href="/old"/>')
        .replace(b'version="2.0"', f'version="2.0" xmlns:atom="{ATOM_NS}"'.encode())
    )
    assert next_history_url(feed, 2, both, "auto") == "https://blog.example/old"
    assert detect_mode(both, feed) == "rfc5005"
    # WordPress by generator alone, by `?p=` guids alone, or by an Atom generator uri
    assert next_history_url(feed, 2, wp_page(1), "auto") == feed + "?paged=2"
    no_gen = wp_page(1, generator=False)
    assert next_history_url(feed, 3, no_gen, "auto") == feed + "?paged=3"
    assert detect_mode(no_gen, feed) == "wordpress"
    wp_atom = atom_doc("w", ["1"], None).replace(
        b"<title>w</title>", b'<title>w</title><generator uri="https://wordpress.org/">WordPress</generator>'
    )
    assert next_history_url(feed, 2, wp_atom, "auto") == feed + "?paged=2"
    # neither
    assert next_history_url(feed, 2, plain_rss(["a", "b"]), "auto") is None
    assert detect_mode(plain_rss(["a"]), feed) is None
    assert detect_mode(None, feed) is None
    assert next_history_url(feed, 2, None, "auto") is None
