"""feedparser -> item records: stable ids, UTC dates, categories as given (pure)."""

from __future__ import annotations

import calendar
import hashlib
import json
import re
import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser

from feeds_etl import feedparser_private

# Bump when parsing changes what lands in `items`; stored contents are then parsed again.
PARSER_VERSION = "4"

# Entries past this are ignored: a feed with a million entries is an attack or a mistake.
MAX_ENTRIES_PER_FEED = 10_000
_MAX_FIELD_CHARS = 2_000_000
# Dates outside this window are placeholders or typos ("Mon, 01 Jan 0001"): stored as unknown, raw text kept.
EARLIEST_DATE = datetime(1990, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=2)

# feedparser's character-set detection trusts HTTP headers first, then the XML declaration, as it should.
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>])", re.IGNORECASE | re.DOTALL)
_FEED_START = re.compile(rb"<(rss|feed|rdf:RDF|RDF)[\s>]", re.IGNORECASE)


# -- hostile input ---------------------------------------------------------------------------------
#
# feedparser 6 parses with expat (external entities off) and falls back to a loose sgmllib parser. Its own
# DOCTYPE filter (sanitizer.replace_doctype) only removes entity declarations that start a line, and keeps
# any plain-text entity of any length: one 64 KiB entity referenced 100 000 times expands to gigabytes in the
# loose parser (measured: 200+ s and 18 GB). So before either parser sees a document, its DOCTYPE is rebuilt
# here: only entities whose value is one character reference or a few plain characters survive; external
# (SYSTEM/PUBLIC) and parameter entities, external DTDs and everything else in the internal subset are dropped.
# The hook sits where feedparser has already converted the document to UTF-8, so every encoding is covered.

_SAFE_ENTITY_CHARS = 8
_PROLOG_SKIP = re.compile(rb"(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)
_DOCTYPE_OPEN = re.compile(rb"<!DOCTYPE(?=[\s\[>])", re.IGNORECASE)
_DOCTYPE_NAME = re.compile(rb"\s*([^\s\[>\"']+)")
_DOCTYPE_TOKEN = re.compile(rb"\"[^\"]*(?:\"|$)|'[^']*(?:'|$)|<!--.*?(?:-->|$)|[\[\]>]|[^\"'<\[\]>]+|<", re.DOTALL)
_ENTITY_DECL = re.compile(rb"<!ENTITY\s+([A-Za-z_][\w.-]*)\s+(?:\"([^\"]*)\"|'([^']*)')\s*>")
_CHAR_REF = re.compile(rb"&#(?:[0-9]{1,7}|x[0-9a-fA-F]{1,6});")


def neutralise_doctype(data: bytes) -> bytes:
    """The document with its DOCTYPE reduced to its name and a few harmless one-character entities."""
    start = len(data) - len(data.lstrip(b"\xef\xbb\xbf"))
    start = _PROLOG_SKIP.match(data, start).end()  # type: ignore[union-attr]
    if not _DOCTYPE_OPEN.match(data, start):
        return data
    end, subset = _doctype_end(data, start + len(b"<!DOCTYPE"))
    name_match = _DOCTYPE_NAME.match(data, start + len(b"<!DOCTYPE"))
    name = name_match.group(1) if name_match else b"rss"
    entities = [
        (entity, value)
        for entity, quoted, apostrophed in _ENTITY_DECL.findall(subset)
        if _safe_entity_value(value := quoted or apostrophed)
    ]
    declarations = b"".join(b'<!ENTITY %s "%s">\n' % (entity, value) for entity, value in entities)
    doctype = b"\n<!DOCTYPE %s [\n%s]>" % (name, declarations) if declarations else b"\n<!DOCTYPE %s>" % name
    return data[:start] + doctype + data[end:]


_EXTERNAL_ENTITY = re.compile(rb"<!ENTITY\s+(?:%\s*)?[^\s>]+\s+(?:SYSTEM|PUBLIC)\b", re.IGNORECASE)
_PARAMETER_ENTITY = re.compile(rb"<!ENTITY\s+%", re.IGNORECASE)
_ENTITY_VALUE_LIMIT = 1024


def doctype_threat(data: bytes) -> str | None:
    """Why this document's DOCTYPE is an attack (external or parameter entities, nested or huge entity
    values), or None. Legitimate feeds never need these; such documents are refused, not parsed."""
    start = len(data) - len(data.lstrip(b"\xef\xbb\xbf"))
    start = _PROLOG_SKIP.match(data, start).end()  # type: ignore[union-attr]
    if not _DOCTYPE_OPEN.match(data, start):
        return None
    _end, subset = _doctype_end(data, start + len(b"<!DOCTYPE"))
    if _EXTERNAL_ENTITY.search(subset):
        return "refused: the DOCTYPE declares external entities (XXE); nothing was resolved"
    if _PARAMETER_ENTITY.search(subset):
        return "refused: the DOCTYPE declares parameter entities; nothing was resolved"
    for _name, quoted, apostrophed in _ENTITY_DECL.findall(subset):
        value = quoted or apostrophed
        if b"&" in value and not _CHAR_REF.fullmatch(value):
            return "refused: the DOCTYPE declares nested entities (entity-expansion bomb); nothing was expanded"
        if len(value) > _ENTITY_VALUE_LIMIT:
            return "refused: the DOCTYPE declares an oversized entity (entity-expansion bomb); nothing was expanded"
    return None


def _doctype_end(data: bytes, pos: int) -> tuple[int, bytes]:
    """Where the DOCTYPE ends (quotes, comments and the [internal subset] respected), and its subset."""
    depth, subset_start, subset = 0, None, b""
    while pos < len(data):
        token = _DOCTYPE_TOKEN.match(data, pos)
        if token is None:  # cannot happen: the pattern matches any byte
            break
        text, pos = token.group(), token.end()
        if text == b"[":
            depth += 1
            if depth == 1:
                subset_start = pos
        elif text == b"]" and depth:
            depth -= 1
            if depth == 0 and subset_start is not None:
                subset = data[subset_start : pos - 1]
        elif text == b">" and depth == 0:
            return pos, subset
    return len(data), subset  # an unterminated DOCTYPE swallows the document: nothing to parse anyway


def _safe_entity_value(value: bytes) -> bool:
    if _CHAR_REF.fullmatch(value):
        return True
    return len(value) <= _SAFE_ENTITY_CHARS and not any(c in value for c in b"&%<")


# Without feedparser's hook, parse_feed neutralises the raw bytes instead (UTF-8-compatible encodings only).
_DOCTYPE_GUARDED = feedparser_private.wrap_replace_doctype(neutralise_doctype)

_XML_DECL_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
_CHARSET_PARAM = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)
_UTF8_NAMES = {"utf-8", "utf8"}
_HIGH_BYTES = bytes(range(0x80, 0x100))


def repair_invalid_utf8(body: bytes, content_type: str | None) -> tuple[bytes, str | None]:
    """A UTF-8 document (by its header and declaration) with a few invalid bytes: replace just those bytes.

    Left alone, feedparser would decode the whole document as windows-1252 and garble every non-ASCII
    character. A document that is mostly invalid as UTF-8 is really in another encoding: untouched."""
    if body.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00", b"\x00<", b"<\x00")):
        return body, None
    declared = _XML_DECL_ENCODING.match(body.lstrip(b"\xef\xbb\xbf")[:512])
    header = _CHARSET_PARAM.search(content_type or "")
    claimed = set()
    if declared:
        claimed.add(declared.group(1).decode("ascii").lower())
    if header:
        claimed.add(header.group(1).lower())
    if not claimed <= _UTF8_NAMES:
        return body, None
    try:
        body.decode("utf-8")
        return body, None
    except UnicodeDecodeError:
        pass
    text = body.decode("utf-8", "replace")
    replaced = text.count("\ufffd") - body.count("\ufffd".encode())
    non_ascii = len(body) - len(body.translate(None, _HIGH_BYTES))
    if replaced * 10 > max(non_ascii, 1):
        return body, None
    return text.encode("utf-8"), f"invalid UTF-8: {replaced} malformed byte sequence(s) replaced with U+FFFD"


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
    # The date as the feed wrote it (published, else updated): kept when published_at is left NULL as impossible.
    published_raw: str | None = None

    @property
    def impossible_date(self) -> bool:
        return self.published_raw is not None and self.published_at is None

    @property
    def html(self) -> str | None:
        """The HTML its text is cleaned from: the content, else the summary (SQL's coalesce of the two)."""
        return self.content_html if self.content_html is not None else self.summary_html


_ENTRY_FIELDS = tuple(field.name for field in fields(ParsedEntry))


@dataclass(frozen=True)
class ParsedFeed:
    """What one archived body yielded; `error` says why it yielded nothing, `warning` notes a lenient parse."""

    feed_id: str
    content_sha256: str
    entries: tuple[ParsedEntry, ...]
    title: str | None = None
    warning: str | None = None
    error: str | None = None


# Documents that are certainly not feeds, by their first bytes.
_MAGIC_NUMBERS = (
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"PK\x03\x04", "a ZIP archive"),
)
# XML in UTF-16/32 (with or without a byte order mark) or EBCDIC starts with one of these.
_XML_IN_OTHER_ENCODINGS = (b"\xff\xfe", b"\xfe\xff", b"\x00", b"<\x00", b"\x4c\x6f\xa7\x94")


def sniff_not_a_feed(body: bytes | None) -> str | None:
    """A cheap look at the first bytes: empty bodies, HTML pages, PDFs, images and archives are not feeds.
    JSON passes: it may be a JSON Feed, which the parser checks."""
    if body is None or not body.strip():
        return "empty body: the server returned no content"
    head = body[:4096].lstrip(b"\xef\xbb\xbf")
    if _HTML_START.match(head) and not _FEED_START.search(head):
        return "not a feed: the server returned an HTML page"
    for magic, what in _MAGIC_NUMBERS:
        if head.startswith(magic):
            return f"not a feed: the server returned {what}"
    return None


def describe_not_xml(body: bytes) -> str | None:
    """What a document that cannot be XML is, in plain words; None when it may be XML."""
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        return "an empty document"
    if head.startswith(b"<") or head.startswith(_XML_IN_OTHER_ENCODINGS):
        return "an HTML page" if _HTML_START.match(head) and not _FEED_START.search(head) else None
    for magic, what in _MAGIC_NUMBERS:
        if head.startswith(magic):
            return what
    if head[:1] in (b"{", b"["):
        return "a JSON document"
    text = head[:256].decode("utf-8", "replace")[:60]  # 256 bytes hold 60 characters of any width
    if all(c.isprintable() or c in "\t\r\n" for c in text) and "\ufffd" not in text:
        return f"plain text, not XML (it begins {' '.join(text.split())!r})"
    return "binary data, not XML"


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
    from feeds_etl import jsonfeed  # imported here: jsonfeed builds on this module

    if jsonfeed.looks_like_json(body):
        return jsonfeed.parse_json_feed(feed_id, body, content_sha256)
    headers = {"content-type": content_type} if content_type else {}
    if base_url and not base_url.startswith("file:"):
        headers["content-location"] = base_url
    try:
        threat = doctype_threat(body)
        if threat:
            return ParsedFeed(feed_id, content_sha256, (), error=f"no items: {threat}")
        body, repaired = repair_invalid_utf8(body, content_type)
        if not _DOCTYPE_GUARDED:
            body = neutralise_doctype(body)
        document = feedparser.parse(
            body,
            response_headers=headers,
            sanitize_html=False,  # we keep raw HTML and clean it ourselves
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser is lenient, but hostile input must never crash a run
        return ParsedFeed(feed_id, content_sha256, (), error=f"parse failed: {type(exc).__name__}: {exc}")

    entries = build_entries(feed_id, document.get("entries", []))
    warning = "; ".join(w for w in (repaired, _bozo_message(document), dates_warning(entries)) if w) or None
    title = field_text(document.get("feed", {}).get("title"))
    if not entries:
        reason = warning or "the document has no entries"
        # "an HTML page" or "plain text" says more than the XML parser's complaint about it.
        what = describe_not_xml(body)
        if what is not None or (not document.get("version") and not document.get("feed")):
            reason = f"not a feed: {what or reason}"
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


def build_entries(feed_id: str, raw_entries: list[Any]) -> tuple[ParsedEntry, ...]:
    seen: set[str] = set()
    entries: list[ParsedEntry] = []
    now = datetime.now(UTC)
    for raw in raw_entries[:MAX_ENTRIES_PER_FEED]:
        entry = parse_entry(feed_id, raw, now)
        if entry.item_id in seen:  # a feed listing an entry twice: the first one wins
            continue
        seen.add(entry.item_id)
        entries.append(entry)
    return tuple(entries)


def parse_entry(feed_id: str, raw: Any, now: datetime | None = None) -> ParsedEntry:
    """One feedparser entry -> ParsedEntry with a content hash for change detection. Dates before 1990 or more
    than two days after `now` (default: the current time) are unknown; the feed's text is kept in published_raw."""
    guid = field_text(raw.get("id"))
    link = field_text(raw.get("link"))
    title = field_text(raw.get("title"))
    latest = (now or datetime.now(UTC)) + MAX_FUTURE
    updated_at = _utc(raw.get("updated_parsed"), latest)
    # RSS 1.0 dc:date and Atom entries without <published> only carry an update date: use it.
    published_at = _utc(raw.get("published_parsed"), latest) or updated_at
    date_key = raw.get("published") or raw.get("updated")
    published_raw = field_text(date_key) if published_at is None else None
    content_html = _content_html(raw)
    summary_html = field_text(raw.get("summary"), keep_space=True)
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
    digest = hashlib.sha256(entry_json(fields).encode()).hexdigest()
    return ParsedEntry(
        item_id=make_item_id(feed_id, guid, link, title, date_key),
        entry_sha256=digest,
        feed_id=feed_id,
        published_raw=published_raw,  # not hashed: it only restates the dates above
        **fields,
    )


def _content_html(raw: Any) -> str | None:
    """content:encoded / atom:content; the longest HTML part when there are several."""
    parts = [c for c in raw.get("content") or [] if c.get("value")]
    if not parts:
        return None
    html = [c for c in parts if "html" in (c.get("type") or "")] or parts
    return field_text(max(html, key=lambda c: len(c["value"]))["value"], keep_space=True)


def entry_json(fields: dict[str, Any]) -> str:
    """`json.dumps(fields, default=str, ensure_ascii=False)`, the text entry hashes are made of (changing it
    would make every stored item look changed). For ASCII strings without DEL, ensure_ascii=True writes the
    same characters with CPython's faster escaping: most feeds' entries are such."""
    plain = all(_plain_ascii(value) for value in fields.values())
    return json.dumps(fields, default=str, ensure_ascii=plain)


def _plain_ascii(value: Any) -> bool:
    if isinstance(value, str):
        return value.isascii() and "\x7f" not in value
    if isinstance(value, tuple):
        return all(_plain_ascii(item) for item in value)
    return value is None or isinstance(value, datetime)


def _author(raw: Any) -> str | None:
    author = field_text(raw.get("author"))
    if author:
        return author
    names = [field_text(a.get("name")) for a in raw.get("authors") or [] if isinstance(a, dict)]
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


def field_text(value: Any, keep_space: bool = False) -> str | None:
    if not isinstance(value, str):
        return None
    value = value[:_MAX_FIELD_CHARS]
    if not keep_space:
        value = value.strip()
    return value if value.strip() else None


def _utc(parsed: time.struct_time | None, latest: datetime) -> datetime | None:
    """feedparser normalises dates to UTC struct_time; invalid and impossible ones (before 1990, after `latest`)
    become None rather than garbage."""
    if not parsed:
        return None
    try:
        moment = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError):
        return None
    return moment if EARLIEST_DATE <= moment <= latest else None


def dates_warning(entries: tuple[ParsedEntry, ...]) -> str | None:
    """One note per feed about the entries whose date was left unknown, quoting the first such date."""
    unknown = [entry.published_raw for entry in entries if entry.published_raw is not None]
    if not unknown:
        return None
    return f"{len(unknown)} item(s) with impossible dates (e.g. {unknown[0][:60]!r}): published_at left NULL"


def entry_as_row(entry: ParsedEntry) -> dict[str, Any]:
    # Not dataclasses.asdict: its deep copy of every field cost more than the rest of storing a version.
    row = {name: getattr(entry, name) for name in _ENTRY_FIELDS}
    row["categories"] = list(entry.categories)
    return row
