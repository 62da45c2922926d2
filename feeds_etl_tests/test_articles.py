"""Full text: the `auto` rule, main-text extraction, polite page fetching, and the article path through real
materializations against the loopback feed server (robots.txt, conditional reruns, hostile pages, backfill)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from html import escape

import pytest

from feeds_etl.articles import NoArticle, is_teaser, main_html, teasers_in_feed, wants_article
from feeds_etl.assets import cleaned_text, parsed_items, raw_feed_xml
from feeds_etl.feeds import load_feed_list
from feeds_etl.fetch import FetchRequest, FetchResult, FetchSettings, make_client
from feeds_etl.fetch.polite import Politeness, Robots, fetch_pages
from feeds_etl.steps import articles, clean
from feeds_etl.warehouse import Warehouse
from feeds_etl_tests.conftest import Project
from feeds_etl_tests.feed_server import FeedServer

WORDS = ["river", "harbour", "lantern", "orchard", "meadow", "quarry", "summit", "canyon", "glacier", "prairie",
         "tundra", "estuary", "delta", "lagoon", "plateau", "valley", "ridge", "basin", "fjord", "marsh"]  # fmt: skip


def prose(seed: int, words: int) -> str:
    """Distinct sentences: `words` words starting at WORDS[seed]."""
    chosen = [WORDS[(seed * 7 + n * 3) % len(WORDS)] for n in range(words)]
    return " ".join(" ".join(chosen[i : i + 12]).capitalize() + "." for i in range(0, len(chosen), 12))


ARTICLE_PARAGRAPHS = [f"Paragraph {n} of the story. " + prose(n, 60) for n in range(1, 4)]

# A real site's page: the article amid navigation, a cookie banner, share widgets, related posts and a footer.
ARTICLE_PAGE = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>The story</title>
<script>window.dataLayer = [];</script><style>.x{{color:red}}</style></head><body>
<header><nav class="site-nav"><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li>
<li><a href="/sport">Sport</a></li><li><a href="/subscribe">Subscribe today</a></li></ul></nav></header>
<div id="cookie-banner" class="cookie-consent">We use cookies to personalise content and ads. By clicking
Accept all you agree to our cookie policy. <button>Accept all</button> <button>Manage settings</button></div>
<main><article class="post"><h1>The story</h1><p class="byline">By A. Writer, 24 November 2026</p>
{"".join(f"<p>{p}</p>" for p in ARTICLE_PARAGRAPHS)}
<div class="share-buttons"><a href="https://twitter.com/share">Share on Twitter</a>
<a href="https://facebook.com/sharer">Share on Facebook</a><a href="mailto:?">Email this story</a></div>
</article>
<aside class="related-posts"><h2>Related posts</h2><ul>
<li><a href="/other-1">Ten things you missed this weekend in the valley</a></li>
<li><a href="/other-2">Why the harbour festival moved to spring this year</a></li>
<li><a href="/other-3">Readers' letters: on lanterns and glaciers</a></li></ul></aside></main>
<footer class="site-footer"><p>Copyright 2026 Example Media Group. All rights reserved.</p>
<p><a href="/privacy">Privacy policy</a> | <a href="/terms">Terms of use</a> | <a href="/contact">Contact us</a></p>
</footer></body></html>"""
CHROME = ["cookie", "Accept all", "Share on", "Related posts", "Ten things you missed", "All rights reserved", "Sport"]

PAYWALL_PAGE = """<!DOCTYPE html><html><head><title>Premium</title></head><body><nav><a href="/">Home</a></nav>
<article><h1>Premium story</h1><p>{teaser}</p><div class="paywall"><p>Subscribe to keep reading.</p></div>
</article><footer>Copyright Example</footer></body></html>"""


def teaser_html(n: int, url: str) -> str:
    return f'<p>{prose(n, 25)} […]</p><p><a href="{url}">Continue reading →</a></p>'


def rss_feed(title: str, items: list[tuple[str, str, str]]) -> bytes:
    """An RSS 2.0 feed of (guid, link, description HTML)."""
    entries = "".join(
        f'<item><guid isPermaLink="false">{guid}</guid><title>{guid}</title><link>{escape(link)}</link>'
        f"<description>{escape(html)}</description><pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate></item>"
        for guid, link, html in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{entries}</channel></rss>'.encode()


# -- the auto rule and extraction --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "teaser"),
    [
        ("<p>" + prose(1, 40) + "</p>", True),  # short
        ("<p>" + prose(1, 300) + "</p>", False),  # full text
        ("<p>" + prose(1, 300) + " […]</p>", True),
        ("<p>" + prose(1, 300) + " [...]</p>", True),
        ("<p>" + prose(1, 300) + "…</p>", True),
        ("<p>" + prose(1, 300) + '</p><p><a href="x">Continue reading <span>The story</span> →</a></p>', True),
        ("<p>" + prose(1, 300) + '</p><p><a href="x">Read more »</a></p>', True),
        ("<p>" + prose(1, 300) + ' <a href="x">(more…)</a></p>', True),
        # WordPress's footer follows excerpts and full posts alike: the excerpt's own end counts.
        ("<p>" + prose(1, 300) + " […]</p><p>The post <a>X</a> appeared first on <a>Site</a>.</p>", True),
        ("<p>" + prose(1, 300) + "</p><p>The post <a>X</a> appeared first on <a>Site</a>.</p>", False),
        ("<p>" + prose(1, 300) + "</p><p>Read more about glaciers in " + prose(2, 40) + "</p>", False),
        (None, True),
    ],
)
def test_auto_rule_tells_teasers_from_full_text(html: str | None, teaser: bool) -> None:
    assert is_teaser(html) is teaser


def test_a_short_item_is_a_teaser_only_in_a_feed_that_does_not_carry_full_text() -> None:
    full, short = "<p>" + prose(1, 300) + "</p>", "<p>" + prose(2, 30) + "</p>"
    excerpt = "<p>" + prose(3, 300) + " […]</p>"
    assert teasers_in_feed([full, full, short]) == [False, False, False]  # a short post among full articles
    assert teasers_in_feed([full, short, excerpt]) == [False, False, True]  # an excerpt's ending always counts
    assert teasers_in_feed([short, short, full]) == [True, True, False]  # an excerpt feed with one long item
    assert teasers_in_feed([short]) == [True]
    assert teasers_in_feed([full, short]) == [False, False]  # half of the items carry full text
    assert teasers_in_feed([]) == []


def test_modes_and_links_decide_whether_an_article_is_wanted() -> None:
    short, full = "<p>Short.</p>", "<p>" + prose(1, 300) + "</p>"
    assert wants_article("auto", short, "https://example.com/a")
    assert not wants_article("auto", full, "https://example.com/a")
    assert wants_article("always", full, "http://example.com/a")
    assert not wants_article("never", short, "https://example.com/a")
    # As the parser judged the item in its feed (`teasers_in_feed`), whatever its HTML alone would say.
    assert not wants_article("auto", short, "https://example.com/a", teaser=False)
    assert wants_article("auto", full, "https://example.com/a", teaser=True)
    for link in (None, "", "file:///etc/passwd", "mailto:a@example.com", "/relative", "http://"):
        assert not wants_article("always", short, link)


def test_main_text_keeps_the_article_and_drops_the_page_chrome() -> None:
    extracted = main_html(ARTICLE_PAGE.encode(), "https://example.com/story", "text/html; charset=utf-8")
    for paragraph in ARTICLE_PARAGRAPHS:
        assert paragraph in extracted
    for chrome in CHROME:
        assert chrome not in extracted
    with pytest.raises(NoArticle, match="not an HTML page"):
        main_html(b"%PDF-1.7 ...", "https://example.com/a.pdf", "application/pdf")
    with pytest.raises(NoArticle, match="no article text"):
        main_html(b"<html><body><script>var page = 1;</script></body></html>", None, "text/html")


def test_robots_answers_follow_rfc_9309() -> None:
    now = datetime.now(UTC)

    def answer(status: int | None, body: bytes = b"", error: str | None = None) -> Robots:
        return Robots.from_fetch(FetchResult("robots.txt", "u", now, http_status=status, body=body, error=error))

    agent = "feeds_etl/0.1.0 (+https://example.com)"
    rules = answer(200, b"User-agent: *\nDisallow: /private/\n\nUser-agent: feeds_etl\nDisallow: /only-us\n")
    assert rules.refusal_for("https://h/only-us", agent) == "disallowed by robots.txt"
    assert rules.refusal_for("https://h/private/x", agent) is None  # our own group replaces the * group
    assert answer(404, error="HTTP 404").refusal_for("https://h/private/x", agent) is None
    for failed in (answer(503, error="HTTP 503"), answer(429, error="HTTP 429"), answer(None, error="timeout")):
        assert "robots.txt unavailable" in (failed.refusal_for("https://h/a", agent) or "")


def test_pages_keep_to_two_connections_and_the_delay_per_host(feed_server: FeedServer) -> None:
    feed_server.add_feed("/robots.txt", b"User-agent: *\nDisallow: /private/\n", "text/plain")
    for n in range(6):
        feed_server.add_feed(f"/slow/{n}", ARTICLE_PAGE.encode(), "text/html", delay=0.6)
    requests = [FetchRequest(f"item-{n}", feed_server.url(f"/slow/{n}")) for n in range(6)]
    requests.append(FetchRequest("item-private", feed_server.url("/private/page")))
    settings = FetchSettings(allow_private_networks=True, deadline=10)
    with make_client(settings) as client:
        started = time.monotonic()
        got = dict(fetch_pages(requests, settings, client, Politeness(per_host=2, min_delay=0.2)))
        elapsed = time.monotonic() - started
    assert got[6].disallowed == "disallowed by robots.txt" and feed_server.requests["/private/page"] == 0
    assert all(got[n].result.ok for n in range(6))
    assert feed_server.max_in_flight == 2
    assert feed_server.requests["/robots.txt"] == 1
    assert elapsed >= 6 * 0.2  # robots.txt, then six pages, each start at least 0.2 s after the one before


# -- through the assets ---------------------------------------------------------------------------------


HOSTILE = {
    "huge": "/huge",
    "slow": "/hang",
    "loop": "/redirect/loop-a",
    "bomb": "/gzip-bomb",
    "missing": "/status/404",
    "pdf": "/articles/report.pdf",
    "paywall": "/articles/premium",
    "private": "/private/members-only",
}
LIMITS = {"deadline": 3.0, "max_bytes": 2 * 1024 * 1024, "article_min_delay": 0.0}


@pytest.fixture
def teaser_site(feed_server: FeedServer, project: Project) -> FeedServer:
    """A teaser feed whose items link to good, disallowed and hostile pages; a full-text feed; a `never` feed."""
    server = feed_server
    server.add_feed("/robots.txt", b"User-agent: *\nDisallow: /private/\n", "text/plain")
    for n in (1, 2):
        server.add_feed(f"/articles/story-{n}", ARTICLE_PAGE.replace("The story", f"Story {n}").encode(), "text/html")
    server.add_feed("/articles/report.pdf", b"%PDF-1.7 not a page", "application/pdf")
    server.add_feed("/articles/premium", PAYWALL_PAGE.format(teaser=prose(9, 25)).encode(), "text/html")
    good = [(f"story-{n}", server.url(f"/articles/story-{n}"), teaser_html(n, "#")) for n in (1, 2)]
    bad = [(name, server.url(path), teaser_html(9 if name == "paywall" else 5, "#")) for name, path in HOSTILE.items()]
    server.add_feed("/teasers.xml", rss_feed("Teasers", good + bad))
    full = [(f"full-{n}", server.url(f"/full/{n}"), f"<p>{prose(n, 250)}</p>") for n in range(3)]
    full.append(("full-short", server.url("/full/short"), f"<p>{prose(7, 30)}</p>"))  # a short post, no excerpt
    server.add_feed("/full.xml", rss_feed("Full text", full))
    never = [(f"never-{n}", server.url(f"/never/{n}"), teaser_html(n, "#")) for n in range(2)]
    server.add_feed("/never.xml", rss_feed("Never", never))
    project.write_feeds(
        [
            {"name": "teasers", "url": server.url("/teasers.xml"), "full_text": "auto"},
            {"name": "full", "url": server.url("/full.xml"), "full_text": "auto"},
            {"name": "quiet", "url": server.url("/never.xml"), "full_text": "never"},
        ]
    )
    return server


def texts(project: Project) -> dict[str, tuple]:
    rows = project.query(
        """SELECT i.guid, t.text, t.text_source, t.article_status, t.article_error
           FROM item_text t JOIN items i USING (item_id)"""
    )
    return {guid: tuple(rest) for guid, *rest in rows}


def test_teasers_get_their_articles_politely_and_failures_keep_the_teaser(
    project: Project, teaser_site: FeedServer, current_hour: str
) -> None:
    started = time.monotonic()
    result = project.materialize(current_hour, **LIMITS)
    assert result.success and time.monotonic() - started < 60
    got = texts(project)

    for n in (1, 2):
        text, source, status, error = got[f"story-{n}"]
        assert (source, status, error) == ("article", "article", None)
        for paragraph in ARTICLE_PARAGRAPHS:
            assert paragraph in text
        for chrome in CHROME:
            assert chrome not in text

    expected = {
        "huge": "larger than",
        "slow": "deadline",
        "loop": "redirect loop",
        "bomb": "after decompression",
        "missing": "HTTP 404",
        "pdf": "not an HTML page (application/pdf)",
        "paywall": "no longer than the feed's",
        "private": "disallowed by robots.txt",
    }
    for name, reason in expected.items():
        text, source, status, error = got[name]
        assert source == "feed" and reason in error, (name, error)
        assert status == ("disallowed" if name == "private" else "failed")
        assert text.startswith(prose(9 if name == "paywall" else 5, 25)[:40])  # the feed's teaser stays the text
    assert teaser_site.requests["/private/members-only"] == 0
    assert teaser_site.requests["/robots.txt"] == 1
    assert any("feeds_etl/" in agent for agent in teaser_site.user_agents)

    # Full-text items under `auto`, and every item of a `never` feed: no page requested.
    assert not [path for path in teaser_site.requests if path.startswith(("/full/", "/never/"))]
    assert {got[f"full-{n}"][1:] for n in (0, 1, 2, "short")} == {("feed", None, None)}, got["full-0"]
    assert {got[f"never-{n}"][1:] for n in range(2)} == {("feed", None, None)}
    # The teaser stays in items.
    assert project.query("SELECT count(*) FROM items WHERE guid = 'story-1' AND summary_html LIKE '%[…]%'") == [(1,)]

    per_feed = project.query(
        "SELECT feed_id, teasers, with_article, disallowed, failed, unfetched FROM feed_articles ORDER BY feed_id"
    )
    assert per_feed == [("full", 0, 0, 0, 0, 0), ("quiet", 0, 0, 0, 0, 0), ("teasers", 10, 2, 1, 7, 0)]
    metadata = result.asset_materializations_for_node("cleaned_text")[0].metadata
    assert metadata["items_with_article"].value == 2
    assert metadata["articles_disallowed"].value == 1
    assert metadata["articles_failed"].value == 7
    assert metadata["article_pages_fetched"].value == 9  # every page but the disallowed one


def test_rerun_asks_conditionally_and_a_backfill_re_extracts_offline(
    project: Project, teaser_site: FeedServer, current_hour: str
) -> None:
    assert project.materialize(current_hour, **LIMITS).success
    first = texts(project)
    assert first["story-1"][1] == "article"
    requests_before = sum(teaser_site.requests.values())

    # The same hour again with nothing new: no item changed, so no page is asked for.
    assert project.materialize(current_hour, **LIMITS).success
    assert teaser_site.requests["/articles/story-1"] == 1

    # story-1's teaser changes: its page is asked for again, conditionally; the 304 keeps the article.
    items = [("story-1", teaser_site.url("/articles/story-1"), teaser_html(3, "#"))]
    teaser_site.update_feed("/teasers.xml", rss_feed("Teasers", items))
    assert project.materialize(current_hour, **LIMITS).success
    assert teaser_site.requests["/articles/story-1"] == 2 and teaser_site.conditional["/articles/story-1"] == 1
    assert texts(project)["story-1"][:3] == (first["story-1"][0], "article", "article")
    outcomes = project.query("SELECT outcome FROM article_pages WHERE url LIKE '%/story-1' ORDER BY fetched_at")
    assert outcomes == [("fetched",), ("not_modified",)]

    # An hour later, the hour is past: cleaning it again (here: after losing every text) uses the archive only.
    requests_before = sum(teaser_site.requests.values())
    store = Warehouse(project.lake)
    with store.writing() as con:
        con.execute("DELETE FROM item_text")
    later = articles.ArticleFetching(FetchSettings(allow_private_networks=True), Politeness(min_delay=0))
    later = articles.ArticleFetching(later.settings, later.politeness, lambda: datetime.now(UTC) + timedelta(hours=1))
    report = clean.clean_range(store, load_feed_list(project.feeds_file), current_hour, current_hour, fetching=later)
    assert sum(teaser_site.requests.values()) == requests_before
    assert report.pages.get("requested", 0) == 0 and report.articles["article"] == 2
    again = texts(project)
    assert again["story-1"][:3] == (first["story-1"][0], "article", "article")
    assert again["story-2"] == first["story-2"]
    assert again["private"][2:] == ("disallowed", "disallowed by robots.txt")


def test_a_lake_from_before_full_text_gains_the_new_columns(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from feeds_etl.warehouse import schema, store

    new_columns = ("text_source", "article_status", "article_error", "article_url")
    old_tables = {name: ddl for name, ddl in schema.TABLES.items() if name != "article_pages"}
    old_tables["item_text"] = ",".join(
        line for line in schema.TABLES["item_text"].split(",") if line.split()[0] not in new_columns
    )
    with monkeypatch.context() as old:
        for module in (schema, store):
            old.setattr(module, "TABLES", old_tables)
        old.setattr(schema, "VIEWS", {name: sql for name, sql in schema.VIEWS.items() if name != "feed_articles"})
        old.setattr(store, "SCHEMA_VERSION", 13)
        old.setattr(store, "NOT_INLINED", tuple(name for name in store.NOT_INLINED if name != "article_pages"))
        with Warehouse(project.lake).writing() as con:
            con.execute("INSERT INTO item_text VALUES ('old', 'text', 1, 'en', 0.1, 'v', 's')")
        Warehouse.close_all()
    with Warehouse(project.lake).reading() as con:  # the pipeline's first connection migrates
        con.execute("SELECT 1")
    assert project.query("SELECT text_source, article_status FROM item_text") == [("feed", None)]
    assert project.query("SELECT count(*) FROM article_pages") == [(0,)]
    assert project.query("SELECT count(*) FROM feed_articles") == [(0,)]


def test_versions_stored_before_teasers_were_judged_are_judged_on_their_html(
    project: Project, teaser_site: FeedServer, current_hour: str
) -> None:
    assert project.materialize(current_hour, selection=[raw_feed_xml, parsed_items], **LIMITS).success
    # The teaser feed's 10 items and the `never` feed's 2: how an item looks, whatever its feed's mode.
    assert project.query("SELECT count(*) FROM items WHERE teaser") == [(12,)]
    with Warehouse(project.lake).writing() as con:  # as a lake from before the parser judged them
        con.execute("UPDATE item_versions SET teaser = NULL")
    assert project.materialize(current_hour, selection=[cleaned_text], **LIMITS).success
    got = texts(project)
    assert got["story-1"][1:] == ("article", "article", None)
    # On its HTML alone, a short item is a teaser.
    assert got["full-short"][1:] == ("feed", "failed", "HTTP 404 Not Found")
