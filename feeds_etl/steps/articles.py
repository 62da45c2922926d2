"""cleaned_text's article part: for teaser items of the hour under way, fetch the linked page politely into
`article_pages`; when cleaning, make an item's text from its archived page where the page has the article.
Past hours never fetch: their text comes from the archive alone, so a backfill re-extracts offline."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import duckdb

from feeds_etl.articles import MIN_EXTRA_WORDS, NoArticle, is_html, is_teaser, main_html, wants_article
from feeds_etl.clean import CleanedText, clean_item
from feeds_etl.feeds import Feed, FeedList
from feeds_etl.fetch import FetchRequest, FetchSettings, make_client
from feeds_etl.fetch.polite import PageFetch, Politeness, fetch_pages
from feeds_etl.hours import hour_key
from feeds_etl.model import FetchResult
from feeds_etl.steps.work import Timings
from feeds_etl.warehouse import articles as article_store
from feeds_etl.warehouse import text as text_store
from feeds_etl.warehouse.articles import USABLE, ArticlePage, Validators
from feeds_etl.warehouse.bulk import registered_ids
from feeds_etl.warehouse.store import Session

# Fetched pages are stored in batches of about this size, so memory stays flat on a first import.
STORE_BATCH_BYTES = 32 * 1024 * 1024
# Items stored before the parser judged teasers are read this many at a time (their HTML decides).
READ_BATCH_ITEMS = 2000
UNFETCHED = "not fetched: article pages are fetched only when the hour under way is cleaned"


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ArticleFetching:
    """How cleaned_text may fetch article pages: the feeds' limits, per-host politeness, and the clock that
    says which hour is under way."""

    settings: FetchSettings
    politeness: Politeness = field(default_factory=Politeness)
    now: Callable[[], datetime] = _utc_now


@dataclass
class PageReport:
    """Page fetches of one run, by outcome (article_store.OUTCOMES), and the requests actually sent."""

    outcomes: Counter[str] = field(default_factory=Counter)
    requested: int = 0


def fetch_articles(
    session: Session,
    feed_list: FeedList,
    fetching: ArticleFetching,
    first_key: str,
    last_key: str,
    pending_ids: Collection[str],
    timings: Timings,
) -> PageReport:
    """Fetch the article pages of new or changed teaser items seen in the hour under way (if the range holds
    it) into `article_pages`. Pages are asked for conditionally when the archive holds them."""
    report = PageReport()
    started = fetching.now()
    current = hour_key(started)
    if not first_key <= current <= last_key or not pending_ids:
        return report
    feeds = feed_list.by_id()
    wanting = [feed_id for feed_id, feed in feeds.items() if feed.full_text != "never"]
    if not wanting:  # no feed asks for articles: nothing to read, let alone fetch
        return report
    with timings.measure("read"), session.reading() as con:
        with registered_ids(con, "_wanting_feeds", "feed_id", wanting):
            query = "SELECT item_id FROM items SEMI JOIN _wanting_feeds USING (feed_id)"
            theirs = {item_id for (item_id,) in con.execute(query).fetchall()}
        pending = set(pending_ids) & theirs
        changed = [item_id for item_id in text_store.changed_item_ids(con, current, current) if item_id in pending]
        candidates = text_store.article_candidates(con, changed)
        # Versions stored before the parser judged teasers are judged here, on their HTML alone.
        unjudged = [item_id for item_id, _, _, teaser in candidates if teaser is None]
        judged: dict[str, bool] = {}
        for start in range(0, len(unjudged), READ_BATCH_ITEMS):
            for text in text_store.load_pending_texts(con, unjudged[start : start + READ_BATCH_ITEMS]):
                judged[text.item_id] = is_teaser(text.html)
        links: dict[str, list[str]] = {}  # page URL -> the items linking to it
        for item_id, feed_id, link, teaser in candidates:
            feed = feeds.get(feed_id)
            is_one = judged.get(item_id, False) if teaser is None else teaser
            if feed is not None and link and wants_article(feed.full_text, None, link, is_one):
                links.setdefault(link, []).append(item_id)
        if not links:
            return report
        known = article_store.page_validators(con, list(links))
    requests = [
        FetchRequest(items[0], url, known[url].etag, known[url].last_modified) if url in known else
        FetchRequest(items[0], url)
        for url, items in links.items()
    ]  # fmt: skip
    # What the feed list allows (intranet pages) holds for pages as for feeds.
    settings = replace(
        fetching.settings,
        allow_local_files=False,
        allow_private_networks=feed_list.allow_private_networks,
    )
    stored = {(url, validators.content_sha256) for url, validators in known.items()}
    rows: list[dict[str, object]] = []
    batch_bytes = 0
    client = make_client(settings)
    try:
        with timings.measure("articles"):
            for index, fetched in fetch_pages(requests, settings, client, fetching.politeness, fetching.now):
                outcome, result, keep = _classify(fetched, known.get(requests[index].url), stored)
                report.outcomes[outcome] += 1
                if fetched.disallowed is None:
                    report.requested += 1
                for item_id in links[result.url]:
                    rows.append(article_store.page_row(item_id, result, current, outcome, keep))
                    keep = False  # one body per page, however many items link to it
                batch_bytes += len(result.body or b"")
                if batch_bytes >= STORE_BATCH_BYTES:
                    with timings.measure("load"), session.writing() as con:
                        article_store.save_pages(con, rows)
                    rows, batch_bytes = [], 0
    finally:
        client.close()
    with timings.measure("load"), session.writing() as con:
        article_store.save_pages(con, rows)
    return report


def _classify(
    fetched: PageFetch, known: Validators | None, stored: set[tuple[str, str]]
) -> tuple[str, FetchResult, bool]:
    """(outcome, result as archived, whether its body is stored)."""
    result = fetched.result
    if fetched.disallowed is not None:
        return "disallowed", result, False
    if result.not_modified:
        if known is None:
            return "failed", replace(result, error="HTTP 304 for a page the archive does not hold"), False
        # A 304 means "the page you have": it carries that content, and the validators stay usable.
        carried = replace(
            result,
            content_sha256=known.content_sha256,
            etag=result.etag or known.etag,
            last_modified=result.last_modified or known.last_modified,
        )
        return "not_modified", carried, False
    if not result.ok:
        return "failed", result, False
    body = result.body or b""
    if not is_html(body, result.content_type):
        kind = (result.content_type or "unknown type").split(";", 1)[0]
        return "failed", replace(result, body=None, error=f"not an HTML page ({kind})"), False
    key = (result.url, result.content_sha256 or "")
    if key in stored:
        return "unchanged", result, False
    stored.add(key)
    return "fetched", result, True


def attach_pages(
    con: duckdb.DuckDBPyConnection, texts: Sequence[text_store.PendingText], feeds: dict[str, Feed]
) -> list[text_store.PendingText]:
    """The items to clean, each teaser with its latest archived page (or a page marked unfetched)."""
    wanted = {
        text.item_id
        for text in texts
        if (feed := feeds.get(text.feed_id)) is not None
        and wants_article(feed.full_text, text.html, text.link, text.teaser)
    }
    if not wanted:
        return list(texts)
    pages = article_store.latest_pages(con, sorted(wanted))

    def page_of(text: text_store.PendingText) -> ArticlePage:
        unfetched = ArticlePage(text.item_id, text.link or "", None, "unfetched", None, UNFETCHED)
        return pages.get(text.item_id) or unfetched

    return [replace(text, article=page_of(text)) if text.item_id in wanted else text for text in texts]


def with_page_sizes(
    con: duckdb.DuckDBPyConnection, pending: list[tuple[str, str, int, int]]
) -> list[tuple[str, str, int, int]]:
    """Pending items with their archived page's bytes added to their size, so batches stay bounded."""
    sizes = article_store.page_sizes(con, [item_id for item_id, *_ in pending])
    if not sizes:
        return pending
    return [(item_id, source, row, size + sizes.get(item_id, 0)) for item_id, source, row, size in pending]


@dataclass(frozen=True)
class ItemText:
    """The text an item gets, and where it came from."""

    cleaned: CleanedText
    source: str  # feed | article
    status: str | None  # article | disallowed | failed | unfetched; None: no article wanted
    error: str | None
    url: str | None


def choose_text(pending: text_store.PendingText, feed: Feed | None, from_feed: CleanedText) -> ItemText:
    """The article's main text when its page has more of it than the feed, else the feed's text with the
    reason (runs in worker processes)."""
    page = pending.article
    if page is None:
        return ItemText(from_feed, "feed", None, None, None)
    url = page.final_url or page.url
    if page.outcome not in USABLE or page.body is None:
        status = page.outcome if page.outcome in ("disallowed", "unfetched") else "failed"
        return ItemText(from_feed, "feed", status, page.error or "no page", url)
    try:
        html = main_html(page.body, url, page.content_type)
        article = clean_item(html, pending.title, url, feed.boilerplate if feed else None)
    except NoArticle as exc:
        return ItemText(from_feed, "feed", "failed", str(exc), url)
    except Exception as exc:  # a page that breaks the extractor must not take the batch down
        return ItemText(from_feed, "feed", "failed", f"extraction failed: {type(exc).__name__}: {exc}", url)
    if article.word_count < from_feed.word_count + MIN_EXTRA_WORDS:
        reason = "the page's main text is no longer than the feed's (a paywall, or not the article)"
        return ItemText(from_feed, "feed", "failed", reason, url)
    return ItemText(article, "article", "article", None, url)
