"""feedparser -> item records: stable ids, UTC dates, categories as given (pure)."""

from __future__ import annotations

import calendar
import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

# Bump when parsing changes what lands in `items`; stored contents are then parsed again.
PARSER_VERSION = "3"

# Entries past this are ignored: a feed with a million entries is an attack or a mistake.
MAX_ENTRIES_PER_FEED = 10_000
_MAX_FIELD_CHARS = 2_000_000

# feedparser's character-set detection trusts HTTP headers first, then the XML declaration, as it should.
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>])", re.IGNORECASE | re.DOTALL)
_FEED_START = re.compile(rb"<(rss|feed|rdf:RDF|RDF)[\s>]", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedEntry:
    """One feed entry, as `items` stores it."""

    item_id: str
    entry_sha256: str
    feed_id: str
    guid: str | None
    link: str | None
    title: str | None
    author: str | None
    published_at: datetime | None
    updated_at: datetime | None
    summary_html: str | None
    content_html: str | None
    categories: tuple[str, ...]


@dataclass(frozen=True)
class ParsedFeed:
    """What one archived body yielded; `error` says why it yielded nothing, `warning` notes a lenient parse."""

    feed_id: str
    content_sha256: str
    entries: tuple[ParsedEntry, ...]
    title: str | None = None
    warning: str | None = None
    error: str | None = None


def sniff_not_a_feed(body: bytes | None) -> str | None:
    """A cheap look at the first bytes: empty bodies and HTML pages are not feeds."""
    if body is None or not body.strip():
        return "empty body: the server returned no content"
    head = body[:4096].lstrip(b"\xef\xbb\xbf")
    if _HTML_START.match(head) and not _FEED_START.search(head):
        return "not a feed: the server returned an HTML page"
    return None


def make_item_id(feed_id: str, guid: str | None, link: str | None, title: str | None, date: str | None) -> str:
    """Stable id: the feed plus its guid, else its link, else a hash of title and date."""
    if guid:
        key = f"guid:{guid}"
    elif link:
        key = f"link:{link}"
    else:
        key = f"title:{title or ''}\x1f{date or ''}"
    return hashlib.sha256(f"{feed_id}\x1f{key}".encode()).hexdigest()[:24]


def parse_feed(
    feed_id: str,
    body: bytes,
    content_sha256: str,
    content_type: str | None = None,
    base_url: str | None = None,
) -> ParsedFeed:
    """Parse one archived body. Never raises; a lenient parse keeps what it recovered and notes why."""
    headers = {"content-type": content_type} if content_type else {}
    if base_url and not base_url.startswith("file:"):
        headers["content-location"] = base_url
    try:
        document = feedparser.parse(
            body,
            response_headers=headers,
            sanitize_html=False,  # we keep raw HTML and clean it ourselves
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser is lenient, but hostile input must never crash a run
        return ParsedFeed(feed_id, content_sha256, (), error=f"parse failed: {type(exc).__name__}: {exc}")

    warning = _bozo_message(document)
    entries = _entries(feed_id, document.get("entries", []))
    title = _text(document.get("feed", {}).get("title"))
    if not entries:
        reason = warning or "the document has no entries"
        if not document.get("version") and not document.get("feed"):
            reason = f"not a feed: {reason}"
        return ParsedFeed(feed_id, content_sha256, (), title=title, warning=warning, error=f"no items: {reason}")
    return ParsedFeed(feed_id, content_sha256, entries, title=title, warning=warning)


def _bozo_message(document: Any) -> str | None:
    if not document.get("bozo"):
        return None
    exc = document.get("bozo_exception")
    # A charset override is routine (HTTP header vs. declaration), not worth a warning.
    if type(exc).__name__ in {"CharacterEncodingOverride"}:
        return None
    return f"{type(exc).__name__}: {exc}"[:500]


def _entries(feed_id: str, raw_entries: list[Any]) -> tuple[ParsedEntry, ...]:
    seen: set[str] = set()
    entries: list[ParsedEntry] = []
    for raw in raw_entries[:MAX_ENTRIES_PER_FEED]:
        entry = parse_entry(feed_id, raw)
        if entry.item_id in seen:  # a feed listing an entry twice: the first one wins
            continue
        seen.add(entry.item_id)
        entries.append(entry)
    return tuple(entries)


def parse_entry(feed_id: str, raw: Any) -> ParsedEntry:
    """One feedparser entry -> ParsedEntry with a content hash for change detection."""
    guid = _text(raw.get("id"))
    link = _text(raw.get("link"))
    title = _text(raw.get("title"))
    updated_at = _utc(raw.get("updated_parsed"))
    # RSS 1.0 dc:date and Atom entries without <published> only carry an update date: use it.
    published_at = _utc(raw.get("published_parsed")) or updated_at
    date_key = raw.get("published") or raw.get("updated")
    content_html = _content_html(raw)
    summary_html = _text(raw.get("summary"), keep_space=True)
    fields = {
        "guid": guid,
        "link": link,
        "title": title,
        "author": _author(raw),
        "published_at": published_at,
        "updated_at": updated_at,
        "summary_html": summary_html,
        "content_html": content_html,
        "categories": _categories(raw),
    }
    digest = hashlib.sha256(json.dumps(fields, default=str, ensure_ascii=False).encode()).hexdigest()
    return ParsedEntry(
        item_id=make_item_id(feed_id, guid, link, title, date_key),
        entry_sha256=digest,
        feed_id=feed_id,
        **fields,
    )


def _content_html(raw: Any) -> str | None:
    """content:encoded / atom:content; the longest HTML part when there are several."""
    parts = [c for c in raw.get("content") or [] if c.get("value")]
    if not parts:
        return None
    html = [c for c in parts if "html" in (c.get("type") or "")] or parts
    return _text(max(html, key=lambda c: len(c["value"]))["value"], keep_space=True)


def _author(raw: Any) -> str | None:
    author = _text(raw.get("author"))
    if author:
        return author
    names = [_text(a.get("name")) for a in raw.get("authors") or [] if isinstance(a, dict)]
    names = [n for n in names if n]
    return ", ".join(names) or None


def _categories(raw: Any) -> tuple[str, ...]:
    """Every category feedparser exposes (category, dc:subject, atom:category, media:category), in order."""
    categories: list[str] = []
    for tag in raw.get("tags") or []:
        term = tag.get("term") or tag.get("label")
        if isinstance(term, str) and term.strip():
            categories.append(term)
    media = raw.get("media_category")
    if isinstance(media, str) and media.strip():
        categories.append(media)
    return tuple(categories)


def _text(value: Any, keep_space: bool = False) -> str | None:
    if not isinstance(value, str):
        return None
    value = value[:_MAX_FIELD_CHARS]
    if not keep_space:
        value = value.strip()
    return value if value.strip() else None


def _utc(parsed: time.struct_time | None) -> datetime | None:
    """feedparser normalises dates to UTC struct_time; invalid ones become None rather than garbage."""
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def entry_as_row(entry: ParsedEntry) -> dict[str, Any]:
    row = asdict(entry)
    row["categories"] = list(entry.categories)
    return row
