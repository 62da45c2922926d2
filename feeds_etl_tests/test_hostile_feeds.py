"""The real assets against a feed list mixing good feeds with every misbehaviour the loopback server has.

One bad feed never fails the run: every good feed loads, every bad one has its reason in
`feed_health.last_error`, nothing from local files gets in, time and memory stay bounded, and a second run
is answered with 304s and stores no new body.
"""

from __future__ import annotations

import resource
import time

from feeds_etl_tests.conftest import Project
from feeds_etl_tests.feed_server import FeedServer, good_feed

# feed name -> route; each must load items
GOOD = {
    "good-a": "/good/a",
    "good-b": "/good/b",
    "gzipped": "/gzip-good",
    "cp1251-wrong-header": "/charset/wrong-header",
    "cp1251-header-only": "/charset/header-only",
    "koi8-r": "/charset/koi8-r",
    "latin-1": "/charset/latin-1",
    "invalid-utf8": "/charset/invalid-utf8",
    "truncated": "/truncated",
    "moved-301-chain": "/redirect/chain-1",
    "temporary-302": "/redirect/temporary",
    "external-dtd": "/xxe-dtd",
}
# feed name -> (route, what feed_health.last_error must start with)
BAD = {
    "http-500": ("/status/500", "HTTP 500"),
    "http-404": ("/status/404", "HTTP 404"),
    "http-410": ("/status/410", "HTTP 410"),
    "http-429": ("/status/429", "HTTP 429"),
    "http-503": ("/status/503", "HTTP 503"),
    "no-content-204": ("/status/204", "empty body"),
    "hang": ("/hang", "deadline exceeded"),
    "trickle": ("/trickle", "deadline exceeded"),
    "trickle-headers": ("/trickle-headers", "deadline exceeded"),
    "huge-1gib": ("/huge", "body larger than the 15 MiB cap"),
    "huge-declared": ("/huge-declared", "body larger than the 15 MiB cap"),
    "gzip-bomb-4gib": ("/gzip-bomb", "body larger than the 15 MiB cap (after decompression)"),
    "deflate-bomb": ("/deflate-bomb", "body larger than the 15 MiB cap (after decompression)"),
    "gzip-twice": ("/gzip-twice", "unsupported Content-Encoding"),
    "close-early": ("/close-early", "network error"),
    "xxe": ("/xxe", "no items: refused: the DOCTYPE declares external entities"),
    "xxe-one-line": ("/xxe-one-line", "no items: refused: the DOCTYPE declares external entities"),
    "billion-laughs": ("/billion-laughs", "no items: refused: the DOCTYPE declares nested entities"),
    "quadratic-blowup": ("/quadratic", "no items: refused: the DOCTYPE declares an oversized entity"),
    "html-page": ("/html", "not a feed: the server returned an HTML page"),
    "html-as-xml": ("/html-as-xml", "not a feed: the server returned an HTML page"),
    "empty": ("/empty", "empty body"),
    "whitespace": ("/whitespace", "empty body"),
    "redirect-loop": ("/redirect/loop-a", "redirect loop"),
    "redirect-too-long": ("/redirect/long-0", "too many redirects"),
    "redirect-to-file": ("/redirect/to-file", "HTTP 301 redirect to a non-HTTP URL refused"),
    "redirect-no-location": ("/redirect/no-location", "HTTP 301 redirect without a Location header"),
}
LEAKS = ("root:x:0:0", "TOP-SECRET", "/bin/bash")
FETCHER = {"deadline": 2.0, "connect_timeout": 2.0, "read_timeout": 5.0, "per_host": 16}


def _text_in_database(project: Project) -> str:
    """Every text value users can query, plus every archived body, as one string."""
    chunks: list[str] = []
    for table, columns in {
        "items": "title, summary_html, content_html, author, link, guid",
        "feed_health": "last_error",
        "feed_snapshots": "error, final_url",
        "item_text": "text",
    }.items():
        for row in project.query(f"SELECT {columns} FROM {table}"):
            chunks.extend(str(v) for v in row if v is not None)
    for (body,) in project.query("SELECT body FROM feed_snapshots WHERE body IS NOT NULL"):
        chunks.append(bytes(body).decode("utf-8", "replace"))
    return "\n".join(chunks)


def test_hostile_feed_list(project: Project, feed_server: FeedServer, current_hour: str) -> None:
    feed_server.add_feed("/good/a", good_feed("a", 5))
    feed_server.add_feed("/good/b", good_feed("b", 2))
    feeds = [{"name": name, "url": feed_server.url(path)} for name, path in GOOD.items()]
    feeds += [{"name": name, "url": feed_server.url(path)} for name, (path, _) in BAD.items()]
    project.write_feeds(feeds)

    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    result = project.materialize(current_hour, **FETCHER)
    first_run_s = time.monotonic() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    grew_mib = (peak_kib - baseline_kib) / 1024
    print(f"\nhostile run: {first_run_s:.1f}s, peak RSS {peak_kib / 1024:.0f} MiB (grew {grew_mib:.0f} MiB)")

    assert result.success
    assert first_run_s < 25, first_run_s
    assert peak_kib < 1.5 * 1024 * 1024  # the whole test process, server included: KiB
    assert peak_kib - baseline_kib < 512 * 1024  # no 1 GiB body, no inflated bomb, no expanded entities

    items = dict(project.query("SELECT feed_id, count(*) FROM items GROUP BY feed_id"))
    assert set(items) == set(GOOD), set(GOOD) ^ set(items)
    assert items["good-a"] == 5 and items["gzipped"] == 4 and items["truncated"] >= 3
    titles = {title for (title,) in project.query("SELECT title FROM items")}
    for expected in ("Новости Сибири", "Новости по заголовку", "Новости в KOI8-R", "Crème brûlée à la française"):
        assert expected in titles
    assert "badbytes новость 2 v1" in titles  # stray invalid bytes do not garble the rest

    health = {row[0]: row[1:] for row in project.query("SELECT feed_id, status, last_error FROM feed_health")}
    for name in GOOD:
        assert health[name][1] is None, (name, health[name])
    for name, (_path, reason) in BAD.items():
        status, error = health[name]
        assert error is not None and error.startswith(reason), (name, error)
        assert status in ("no_items", "failing", "backing_off", "gone"), (name, status)
    assert health["http-410"][0] == "gone"
    assert health["http-429"][0] == "backing_off" and health["http-503"][0] == "backing_off"

    text = _text_in_database(project)
    for leak in LEAKS:
        assert leak not in text, leak

    archive = result.asset_materializations_for_node("raw_feed_xml")[0].metadata
    assert archive["feeds_failed"].value >= len(BAD) - 4  # the XXE/bomb feeds fail at parse time
    failed_table = archive["failed_feeds"].value
    for name in ("hang", "gzip-bomb-4gib", "redirect-loop", "http-410"):
        assert name in failed_table

    bodies = project.query("SELECT count(*) FROM feed_snapshots WHERE body IS NOT NULL")[0][0]
    requests_410 = feed_server.requests["/status/410"]
    started = time.monotonic()
    again = project.materialize(current_hour, **FETCHER)
    print(f"second run: {time.monotonic() - started:.1f}s")
    assert again.success
    assert project.query("SELECT count(*) FROM feed_snapshots WHERE body IS NOT NULL")[0][0] == bodies
    outcomes = dict(
        project.query(
            """SELECT feed_id, outcome FROM feed_snapshots
               QUALIFY row_number() OVER (PARTITION BY feed_id ORDER BY fetched_at DESC) = 1"""
        )
    )
    assert outcomes["good-a"] == outcomes["good-b"] == "not_modified"  # 304 to If-None-Match
    assert outcomes["gzipped"] == "unchanged"  # 200 with the same body: attempt recorded, no body stored
    assert outcomes["http-410"] == outcomes["http-429"] == outcomes["http-503"] == "skipped"
    assert feed_server.requests["/status/410"] == requests_410  # gone feeds are not retried hourly
    assert feed_server.conditional["/good/a"] == 1
    skipped = again.asset_materializations_for_node("raw_feed_xml")[0].metadata["failed_feeds"].value
    assert "skipped: feed is gone" in skipped and "skipped: backing off" in skipped
    assert dict(project.query("SELECT feed_id, count(*) FROM items GROUP BY feed_id")) == items
