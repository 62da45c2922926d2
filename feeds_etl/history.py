"""Opt-in history import (issue 4): pull a feed's older pages so a new user starts with months of data.

Two archive conventions are supported, chosen per feed by `history.mode` in feeds.yaml (see `HistoryImport`):

* ``wordpress`` -- WordPress pages its feed with a query parameter: page 1 is the plain feed URL, page N is
  the same URL with ``paged=N`` (other query parameters are kept byte for byte). Pages past the end answer
  404 or an empty feed.
* ``rfc5005`` -- each archive document links the next older one with ``<link rel="prev-archive" href=".."/>``
  (Atom), or ``<atom:link rel="prev-archive" .../>`` inside an RSS channel. Only feed-level links count.
* ``auto`` -- rfc5005 when the page has a prev-archive link, else wordpress when the feed looks like WordPress
  (generator mentions wordpress.org, or guids of the form ``?p=123``), else nothing.
* ``off`` -- nothing.

API
---

``next_history_url(feed_url, page_number, previous_body, mode, *, base_url=None) -> str | None``
    Pure (no network, no I/O). The URL of page ``page_number`` (2, 3, ...) given the body of page
    ``page_number - 1``; page 1 is ``feed_url`` itself; None when there is no such page or ``mode`` is off or
    unknown. ``base_url`` (optional) is the URL ``previous_body`` was fetched from: relative prev-archive hrefs
    resolve against it (default: ``feed_url``). Bodies are parsed with feedparser, which never fetches
    anything and does not expand external entities. A remote feed can only lead to http(s) URLs; file://
    URLs are followed only from a file:// feed.

``fetch_history(feed, first_page, settings, client, *, now=...) -> list[FetchResult]``
    Fetches pages 2..``feed.history.max_pages`` with ``fetch_one`` (so every timeout, size cap and redirect
    limit applies to each page). Needs ``first_page`` to be a successful fetch with a body (a 304 or a failure
    gives ``[]``); ``auto`` is resolved once from the first page and then kept for the whole walk. Stops,
    without a result for that page, at the expected end of the archive: no next URL, a URL already fetched,
    HTTP 404/410, an empty body or a feed with no entries, a body whose sha256 was already seen (loop guard)
    or a page with no item ids not seen on earlier pages. Stops *with* a result whose ``error`` is set on
    anything else (network error, other HTTP error, HTML instead of a feed, unexpected 304); that result is
    the last one in the list. Every other returned result is a page that yielded new items, with its own
    ``url``, ``body`` and ``content_sha256``. Never raises. ``now`` (optional) stamps ``fetched_at``.

The caller (``steps.archive``) stores the returned pages as extra snapshots of the current
hour with outcome ``history``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import feedparser

from feeds_etl.feeds import Feed
from feeds_etl.fetch import FetchClient, FetchRequest, FetchResult, FetchSettings, fetch_one
from feeds_etl.parse import MAX_ENTRIES_PER_FEED, parse_entry, sniff_not_a_feed

MODES = ("off", "auto", "wordpress", "rfc5005")
END_OF_ARCHIVE_STATUSES = frozenset({404, 410})

_WP_GUID = re.compile(r"[?&]p=\d+(?:&|#|$)")
_PAGED_PARAM = re.compile(r"^paged(?:=|$)")


def next_history_url(
    feed_url: str,
    page_number: int,
    previous_body: bytes | None,
    mode: str,
    *,
    base_url: str | None = None,
) -> str | None:
    """The URL of history page `page_number` (page 1 is the feed itself), or None; pure, never raises."""
    if mode not in MODES or mode == "off" or page_number < 1:
        return None
    if page_number == 1:
        return feed_url
    if mode == "wordpress":
        return wordpress_page_url(feed_url, page_number)
    if previous_body is None:
        return None
    document = _parse(previous_body, base_url or feed_url)
    if document is None:
        return None
    archive = _prev_archive(document, feed_url, base_url or feed_url)
    if mode == "rfc5005" or archive is not None:
        return archive
    # auto without a prev-archive link
    return wordpress_page_url(feed_url, page_number) if _looks_like_wordpress(document) else None


def detect_mode(body: bytes | None, feed_url: str) -> str | None:
    """What `auto` means for a feed whose first page is `body`: 'rfc5005', 'wordpress' or None (pure)."""
    if body is None:
        return None
    document = _parse(body, feed_url)
    if document is None:
        return None
    if _prev_archive(document, feed_url, feed_url) is not None:
        return "rfc5005"
    return "wordpress" if _looks_like_wordpress(document) else None


def wordpress_page_url(feed_url: str, page_number: int) -> str | None:
    """`feed_url` with `paged=N` set (page 1: without it); other query parameters are kept as they are."""
    parts = urlsplit(feed_url)
    if parts.scheme.lower() not in ("http", "https"):
        return None  # a local file has no pages
    kept = [p for p in parts.query.split("&") if p and not _PAGED_PARAM.match(p)]
    if page_number > 1:
        kept.append(f"paged={page_number}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(kept), parts.fragment))


def fetch_history(
    feed: Feed,
    first_page: FetchResult,
    settings: FetchSettings,
    client: FetchClient,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[FetchResult]:
    """Fetch the feed's older pages (2..max_pages), bounded and loop-guarded; never raises (see module doc)."""
    results: list[FetchResult] = []
    current_url = feed.url
    try:
        mode = feed.history.mode
        if mode == "off" or feed.history.max_pages < 2:
            return results
        if not first_page.ok or first_page.body is None:
            return results
        first_url = first_page.final_url or first_page.url
        if mode == "auto":
            detected = detect_mode(first_page.body, first_url)
            if detected is None:
                return results
            mode = detected

        seen_urls = {feed.url, first_page.url, first_url}
        seen_hashes = {first_page.content_sha256 or ""}
        seen_ids = _item_ids(feed.feed_id, first_page.body, first_url)
        previous_body: bytes = first_page.body
        previous_url = first_url

        for page_number in range(2, feed.history.max_pages + 1):
            url = next_history_url(feed.url, page_number, previous_body, mode, base_url=previous_url)
            if url is None or url in seen_urls:
                break
            current_url = url
            seen_urls.add(url)
            result = fetch_one(FetchRequest(feed.feed_id, url), settings, client, now)
            if result.http_status in END_OF_ARCHIVE_STATUSES:
                break
            if not result.ok:
                results.append(result)
                break
            if result.body is None:  # a 304 to an unconditional request
                results.append(replace(result, error=f"HTTP {result.http_status}: history page without a body"))
                break
            if not result.body.strip():
                break  # an empty answer past the last page
            reason = sniff_not_a_feed(result.body)
            if reason is not None:
                results.append(replace(result, error=reason))
                break
            if result.content_sha256 in seen_hashes:
                break  # the same document again: the archive loops
            seen_hashes.add(result.content_sha256 or "")
            final_url = result.final_url or url
            seen_urls.add(final_url)
            ids = _item_ids(feed.feed_id, result.body, final_url)
            if not ids or ids <= seen_ids:
                break  # an empty feed, or nothing we have not seen
            seen_ids |= ids
            results.append(result)
            previous_body, previous_url = result.body, final_url
    except Exception as exc:  # a bug must not take the run down: report it as the last result
        results.append(
            FetchResult(
                feed_id=feed.feed_id,
                url=current_url,
                fetched_at=datetime.now(UTC),
                error=f"history import failed: unexpected {type(exc).__name__}: {exc}",
            )
        )
    return results


def _parse(body: bytes, base_url: str) -> Any | None:
    """feedparser on bytes: no network access, no external entities; None if it gives up entirely."""
    headers = {} if base_url.lower().startswith("file:") else {"content-location": base_url}
    try:
        return feedparser.parse(body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    except Exception:
        return None


def _prev_archive(document: Any, feed_url: str, base_url: str) -> str | None:
    """The feed-level prev-archive href, resolved and restricted to a scheme the feed may lead to."""
    feed = document.get("feed") or {}
    for link in feed.get("links") or []:
        if not isinstance(link, dict) or (link.get("rel") or "").strip().lower() != "prev-archive":
            continue
        href = (link.get("href") or "").strip()
        if not href:
            continue
        url = urljoin(base_url, href)
        return url if _allowed(url, feed_url) else None
    return None


def _allowed(url: str, feed_url: str) -> bool:
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return bool(urlsplit(url).netloc)
    return scheme == "file" and urlsplit(feed_url).scheme.lower() == "file"


def _looks_like_wordpress(document: Any) -> bool:
    feed = document.get("feed") or {}
    detail = feed.get("generator_detail") or {}
    generator = " ".join(
        str(value) for value in (feed.get("generator"), detail.get("href"), detail.get("name")) if value
    ).lower()
    if "wordpress.org" in generator:
        return True
    ids = [entry.get("id") for entry in document.get("entries") or []]
    return any(isinstance(guid, str) and _WP_GUID.search(guid) for guid in ids)


def _item_ids(feed_id: str, body: bytes, base_url: str) -> set[str]:
    """The item ids the pipeline would give this page's entries (see parse.make_item_id)."""
    document = _parse(body, base_url)
    if document is None:
        return set()
    return {parse_entry(feed_id, raw).item_id for raw in (document.get("entries") or [])[:MAX_ENTRIES_PER_FEED]}
