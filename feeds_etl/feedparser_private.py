"""feedparser's private pieces, in one place: the ones we call, and the rules parse_fast ports from it.

None of this is feedparser's public API. Every piece was checked against feedparser 6.0.14, the version
pyproject.toml pins exactly, and parse_fast steps aside (feedparser parses everything) under any other version.
Before moving the pin: re-read each original named below, then run feeds_etl_tests/test_parse_fast.py.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

import feedparser
import feedparser.api
from feedparser.api import StrictFeedParser
from feedparser.datetimes import _parse_date
from feedparser.encodings import RE_XML_PI_ENCODING, parse_content_type
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri
from feedparser.util import FeedParserDict

CHECKED_VERSION = "6.0.14"
VERSION_MATCHES = feedparser.__version__ == CHECKED_VERSION

# -- used as they are ------------------------------------------------------------------------------

# datetimes._parse_date: every date format feedparser reads -> UTC struct_time (or None). JSON Feed dates too.
parse_date: Callable[[str], Any] = _parse_date
# urls._urljoin: urllib's urljoin plus feedparser's slash fixes; how feedparser resolves every relative URI.
urljoin: Callable[[str, str], str] = _urljoin
# urls.make_safe_absolute_uri: the base URI feedparser derives from Content-Location.
safe_absolute_uri: Callable[..., str] = make_safe_absolute_uri
# encodings.RE_XML_PI_ENCODING / parse_content_type: how feedparser reads the declared and the HTTP encodings.
XML_PI_ENCODING: re.Pattern[bytes] = RE_XML_PI_ENCODING
parse_http_content_type: Callable[[str], tuple[str, str]] = parse_content_type
# html._cp1252: the C1 control characters feedparser maps to the characters windows-1252 puts there.
CP1252: dict[int, str] = _cp1252
# mixin._FeedParserMixin.namespaces, keyed the way feedparser matches URIs (lower-cased): URI -> its prefix.
KNOWN_NAMESPACES: dict[str, str] = {uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()}
KNOWN_PREFIXES_LOWER = frozenset(prefix.lower() for prefix in KNOWN_NAMESPACES.values() if prefix)
# The element handlers feedparser has (_start_x / _end_x): an element without one is stored under its own key.
HANDLERS = frozenset(name for name in dir(StrictFeedParser) if name.startswith(("_start_", "_end_")))
# util.FeedParserDict.keymap: the keys feedparser stores under another name (date -> updated, ...).
KEYMAP: dict[str, Any] = FeedParserDict.keymap


def wrap_replace_doctype(transform: Callable[[bytes], bytes]) -> bool:
    """Run `transform` on every document before api.replace_doctype (where feedparser has converted it to
    UTF-8 and is about to filter its DOCTYPE); False when feedparser has no such hook."""
    current = getattr(feedparser.api, "replace_doctype", None)
    if current is None:
        return False
    original = getattr(current, "feeds_etl_original", current)  # installed twice (a reload): replace, not stack

    def replace_doctype(data: bytes) -> Any:
        return original(transform(data))

    replace_doctype.feeds_etl_original = original  # type: ignore[attr-defined]
    feedparser.api.replace_doctype = replace_doctype
    return True


def namespace_key(uri: str) -> str:
    """The key feedparser looks a namespace up by: lower-cased, any backend.userland.com RSS URI as one."""
    lowered = uri.lower()
    return "http://backend.userland.com/rss" if "backend.userland.com/rss" in lowered else lowered


# -- element names, as feedparser's handlers (mixin._start_* / namespaces/*) group them -----------------

TITLE = "title"
TITLE_LIKE = frozenset({"title", "dc:title", "media:title"})
GUID = frozenset({"guid", "id"})
AUTHOR = frozenset({"author", "dc:creator", "dc:author", "itunes:author", "managingeditor"})
PUBLISHED = frozenset({"pubdate", "published", "issued", "dcterms:issued"})
UPDATED = frozenset({"updated", "modified", "lastbuilddate", "dc:date", "dcterms:modified"})
DESCRIPTION = frozenset({"description", "dc:description", "media:description"})
SUMMARY = frozenset({"summary", "itunes:summary"})
CONTENT_LIKE = frozenset({"content", "content:encoded", "fullitem", "body", "xhtml:body"})
CATEGORY = frozenset({"category", "keywords", "dc:subject", "media:category", "itunes:category"})
KEYWORD_LISTS = {"media:keywords": None, "itunes:keywords": "http://www.itunes.com/"}  # name -> tag scheme
ITEMS = frozenset({"item", "entry"})
AUTHOR_PARTS = frozenset({"name", "email", "uri", "url", "homepage"})
# Handled by feedparser, but only into keys parse_entry never reads; allowed with text only.
HARMLESS_TEXT = frozenset(
    {"enclosure", "source", "language", "dc:language", "rights", "copyright", "dc:rights", "created"}
    | {"dcterms:created", "expirationdate", "dc:publisher", "webmaster", "dc:contributor", "subtitle"}
    | {"itunes:subtitle", "itunes:image", "itunes:explicit", "itunes:block", "media:thumbnail", "media:player"}
    | {"media:credit", "media:rating", "media:restriction", "media:license"}
)
MEDIA_CONTAINERS = frozenset({"media:group", "media:content"})
# feedparser's "special hack" leaves inimage / intextinput set only while children are among these.
IMAGE_CHILDREN = frozenset({"title", "link", "description", "url", "width", "height"})
TEXTINPUT_CHILDREN = frozenset({"title", "link", "description", "name"})
# Entry keys parse.parse_entry reads (after keymap's aliases): an element feedparser stores under its own
# name must not land on one of these.
SENSITIVE_KEYS = frozenset(
    {"id", "link", "title", "author", "authors", "published", "published_parsed", "updated", "updated_parsed"}
    | {"summary", "content", "tags", "media_category"}
)
HTML_TYPES = frozenset({"application/xhtml+xml", "text/html"})


# -- value rules, ported -----------------------------------------------------------------------------

_C1_CONTROLS = re.compile("[\x80-\x9f]")
_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)
_OTHER_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(?!//)[!-~]*\Z")
_PLAIN_HTTP_URL = re.compile(
    r"https?://[A-Za-z0-9._-]+(?::[0-9]*)?(?:/[!-\"$-:<->@-~]*)?(?:\?[!-\"$-~]+)?(?:#[!-~]+)?\Z"
)


def fix_text(value: str) -> str:
    """What mixin.pop() does to every text value after stripping: undo UTF-8-read-as-latin-1, map cp1252."""
    if value.isascii():
        return value
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("iso-8859-1").decode("utf-8")
    # str.translate looks every character up in the dict: only pay for it when there is something to map.
    return value.translate(CP1252) if _C1_CONTROLS.search(value) else value


def map_content_type(content_type: str) -> str:
    """mixin.map_content_type."""
    content_type = content_type.lower()
    if content_type in ("text", "plain"):
        return "text/plain"
    if content_type == "html":
        return "text/html"
    if content_type == "xhtml":
        return "application/xhtml+xml"
    return content_type


def sync_author_detail(context: dict[str, Any]) -> None:
    """mixin._sync_author_detail for key='author', verbatim (object identities matter: see save_author)."""
    detail = context.get("authors", [{}])[-1]
    if detail:
        name, email = detail.get("name"), detail.get("email")
        if name and email:
            context["author"] = f"{name} ({email})"
        elif name:
            context["author"] = name
        elif email:
            context["author"] = email
        return
    author, email = context.get("author"), None
    if not author:
        return
    match = _EMAIL.search(author) if "@" in author else None  # the pattern needs an @
    if match:
        email = match.group(0)
        author = author.replace(email, "").replace("()", "").replace("<>", "").replace("&lt;&gt;", "").strip()
        if author and author[0] == "(":
            author = author[1:]
        if author and author[-1] == ")":
            author = author[:-1]
        author = author.strip()
    if author or email:
        context.setdefault("author_detail", detail)
    if author:
        detail["name"] = author
    if email:
        detail["email"] = email


def save_author(context: dict[str, Any], key: str, value: str) -> None:
    """mixin._save_author: author_detail may be the same dict as an earlier authors[] entry, on purpose."""
    context.setdefault("author_detail", {})
    context["author_detail"][key] = value
    sync_author_detail(context)
    context.setdefault("authors", [{}])
    context["authors"][-1][key] = value


def add_tag(context: dict[str, Any], term: str | None, scheme: str | None, label: str | None) -> None:
    """mixin._add_tag: duplicates (same term, scheme and label) are dropped."""
    tags = context.setdefault("tags", [])
    if not term and not scheme and not label:
        return
    value = {"term": term, "scheme": scheme, "label": label}
    if value not in tags:
        tags.append(value)


def resolve_uri(base: str, base_scheme: str, uri: str) -> str:
    """urljoin(base, uri) (mixin.resolve_uri), with two shortcuts where urllib's urljoin provably gives the
    URI back unchanged (test_parse_fast checks them against urljoin):

    * another scheme than the base's (the usual tag:/urn: Atom ids): urljoin returns the URI as given; for a
      printable-ASCII scheme:rest (rest not starting with //) the scheme is plainly the part before the colon;
    * an absolute http(s) URL with nothing urlsplit/urlunsplit normalise (upper-case scheme, user info, IPv6
      hosts, ;params, empty ? or #, whitespace or non-ASCII): urljoin returns it as given (another scheme than
      the base's) or urlunparse(urlparse(uri)) (the same scheme), which is then the URI itself.

    _urljoin's slash fixer only touches scheme:/// and more slashes, which neither pattern admits."""
    if not base:
        # urljoin('', uri) is uri: only the slash fixer (scheme:/// -> scheme://) could change it.
        return uri if ":///" not in uri else _urljoin(base, uri)
    match = _OTHER_SCHEME.match(uri)
    if match is not None and match.group(1).lower() != base_scheme:
        return uri
    if _PLAIN_HTTP_URL.match(uri):
        return uri
    return _urljoin(base, uri)
