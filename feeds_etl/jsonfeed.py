"""JSON Feed 1.0 and 1.1 -> the same ParsedFeed / ParsedEntry records as RSS and Atom (pure).

Each item becomes the dict feedparser makes of an Atom entry and goes through `parse.build_entries`, so ids
(`id` as the guid, else `url`), content hashes, date rules and field caps are the ones every format gets:
- `content_html` is the content; an item with only `content_text` gets it as HTML, escaped, one <p> per
  paragraph (blank line) and <br> per line break, so cleaning treats both alike;
- `summary` (plain text) is kept, escaped, as the summary;
- `date_published` / `date_modified` (RFC 3339); an item without `date_modified` has its published date as
  its update date, as feedparser gives RSS items;
- `authors` (1.1), else `author` (1.0), else the feed's own, as the spec says; names joined like Atom's;
- `tags` are the categories; `url`, else `external_url`, is the link;
- `attachments` are not stored, as RSS enclosures are not.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from feeds_etl.feedparser_private import parse_date
from feeds_etl.parse import (
    _MAX_FIELD_CHARS,
    MAX_ENTRIES_PER_FEED,
    ParsedFeed,
    build_entries,
    dates_warning,
    field_text,
)

_VERSION = re.compile(r"^https?://(?:www\.)?jsonfeed\.org/version/(\d+(?:\.\d+)?)/?$", re.IGNORECASE)
_KNOWN_VERSIONS = {"1", "1.0", "1.1"}
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_JSON_START = (b"{", b"[")


def looks_like_json(body: bytes) -> bool:
    """A document whose first character is '{' or '[' is JSON or nothing: XML cannot start that way."""
    return body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in _JSON_START


def parse_json_feed(feed_id: str, body: bytes, content_sha256: str) -> ParsedFeed:
    """Parse one JSON Feed body. Never raises; a document that is not a JSON Feed gets an error saying so."""

    def failed(reason: str, title: str | None = None) -> ParsedFeed:
        return ParsedFeed(feed_id, content_sha256, (), title=title, warning=warning, error=f"no items: {reason}")

    warning = None
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = body.decode("utf-8-sig", "replace")  # the spec says UTF-8: keep what is readable
        warning = "invalid UTF-8: malformed byte sequences replaced with U+FFFD"
    try:
        document = json.loads(text)
    except RecursionError:
        return failed("not a feed: a JSON document nested too deeply to be a JSON Feed")
    except ValueError as exc:
        return failed(f"not a feed: malformed JSON ({exc})")
    if not isinstance(document, dict):
        return failed(f"not a feed: a JSON {type(document).__name__}, not a JSON Feed object")
    version = document.get("version")
    match = _VERSION.match(version) if isinstance(version, str) else None
    if match is None:
        return failed(
            "not a feed: a JSON document, but not a JSON Feed "
            f"(its 'version' is {version!r}, not https://jsonfeed.org/version/1 or /1.1)"
        )
    if match.group(1) not in _KNOWN_VERSIONS:
        warning = "; ".join(w for w in (warning, f"JSON Feed version {match.group(1)} read as 1.1") if w)
    title = field_text(document.get("title"))
    items = document.get("items")
    if not isinstance(items, list):
        return failed("not a JSON Feed: 'items' is missing or not a list", title)

    feed_authors = _authors(document)
    raw_entries = [_raw_entry(item, feed_authors) for item in items[:MAX_ENTRIES_PER_FEED] if isinstance(item, dict)]
    entries = build_entries(feed_id, raw_entries)
    warning = "; ".join(w for w in (warning, dates_warning(entries)) if w) or None
    if not entries:
        return failed(warning or "the document has no entries", title)
    return ParsedFeed(feed_id, content_sha256, entries, title=title, warning=warning)


def _raw_entry(item: dict[str, Any], feed_authors: list[dict[str, str]]) -> dict[str, Any]:
    """A JSON Feed item as the dict parse.parse_entry reads (feedparser's keys)."""
    raw: dict[str, Any] = {}
    item_id = item.get("id")
    if isinstance(item_id, int) and not isinstance(item_id, bool):
        item_id = str(item_id)  # the spec asks readers to take a numeric id as its string
    raw["id"] = item_id
    raw["link"] = _text(item.get("url")) or _text(item.get("external_url"))
    raw["title"] = item.get("title")
    for key, field in (("published", "date_published"), ("updated", "date_modified")):
        value = _text(item.get(field))
        if value:
            raw[key] = value
            raw[f"{key}_parsed"] = parse_date(value)
    if "updated" not in raw and "published" in raw:
        raw["updated"], raw["updated_parsed"] = raw["published"], raw["published_parsed"]
    content_html = _text(item.get("content_html"))
    content_text = _text(item.get("content_text"))
    if content_html:
        raw["content"] = [{"type": "text/html", "value": content_html}]
    elif content_text:
        raw["content"] = [{"type": "text/html", "value": text_as_html(content_text)}]
    summary = _text(item.get("summary"))
    if summary:
        raw["summary"] = html.escape(summary[:_MAX_FIELD_CHARS], quote=False)
    tags = item.get("tags")
    if isinstance(tags, list):
        raw["tags"] = [{"term": tag} for tag in tags if isinstance(tag, str)]
    raw["authors"] = _authors(item) or feed_authors
    return raw


def _authors(source: dict[str, Any]) -> list[dict[str, str]]:
    """1.1's `authors` list, else 1.0's single `author`; only the names land in `items.author`."""
    authors = source.get("authors")
    if not isinstance(authors, list):
        author = source.get("author")
        authors = [author] if isinstance(author, dict) else []
    names = (field_text(author.get("name")) for author in authors if isinstance(author, dict))
    return [{"name": name} for name in names if name]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def text_as_html(text: str) -> str:
    """Plain text as HTML: escaped, a paragraph per blank-line-separated block, <br> per line break."""
    paragraphs = _PARAGRAPH_BREAK.split(text[:_MAX_FIELD_CHARS].replace("\r\n", "\n").strip())
    return "\n".join(
        "<p>" + html.escape(paragraph.strip(), quote=False).replace("\n", "<br>\n") + "</p>"
        for paragraph in paragraphs
        if paragraph.strip()
    )
