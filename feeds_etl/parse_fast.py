"""A fast path for well-formed UTF-8 RSS 2.0 / RSS 1.0 / Atom 1.0: lxml instead of feedparser, same result.

`parse_feed_fast` returns exactly the `ParsedFeed` that `parse.parse_feed` returns for the same arguments,
or None when the document uses anything this module does not reproduce exactly; the caller then parses it
with feedparser. It is built to be equal by construction, not by approximation:

* Only documents feedparser's strict (expat) parser takes without complaint get here: UTF-8 or ASCII as
  feedparser's own RFC 3023 rules decide, an XML media type (no bozo warning), well-formed for libxml2
  (which agrees with expat on every case we tried, and is stricter where they differ), no DOCTYPE.
* Element names are mapped the way feedparser maps them (namespace URI -> its standard prefix, lower-cased),
  and every element in the document is classified: the ones that can change an entry's fields are replayed
  in document order with feedparser's own rules (ported in `feedparser_private`, each naming the original),
  elements feedparser has no handler for are ignored only when they cannot land in a field we read, a short
  list of handled-but-harmless elements is allowed, and anything else makes us give up.
* Values are post-processed with feedparser's own pieces (its date parser, URL joiner and cp1252 map), and the
  per-entry dicts (keyed as feedparser keys its entries) go through `parse.build_entries` / `parse.parse_entry`,
  the very code `parse_feed` uses for ids, hashes, dates and the choice of author, content and categories.

Everything taken from feedparser's internals comes through `feedparser_private`, checked against the feedparser
version pyproject.toml pins exactly; under any other version this path returns None.
"""

from __future__ import annotations

import codecs
import io
import re
import urllib.parse
from typing import Any

from lxml import etree

from feeds_etl import feedparser_private as fp
from feeds_etl.parse import ParsedFeed, build_entries, dates_warning, field_text

__all__ = ["parse_feed_fast"]


class _Bail(Exception):
    """The document needs something only feedparser reproduces exactly."""


# What an entry child is, by feedparser name (see _Document._entry).
(_K_CATEGORY, _K_TITLE, _K_LINK, _K_GUID, _K_PUBLISHED, _K_UPDATED, _K_CONTENT, _K_DESCRIPTION) = range(8)
(_K_SUMMARY, _K_KEYWORDS, _K_HARMLESS, _K_AUTHOR, _K_MEDIA, _K_CONTRIBUTOR) = range(8, 14)
_K_AUTHOR_FIRST = _K_AUTHOR  # kinds from here on have child elements of their own
_DATE_KINDS = (_K_PUBLISHED, _K_UPDATED)
_SUMMARY_KINDS = (_K_DESCRIPTION, _K_SUMMARY)
_ENTRY_KINDS: dict[str, int] = {
    "title": _K_TITLE,
    "link": _K_LINK,
    "contributor": _K_CONTRIBUTOR,
    **dict.fromkeys(fp.GUID, _K_GUID),
    **dict.fromkeys(fp.AUTHOR, _K_AUTHOR),
    **dict.fromkeys(fp.PUBLISHED, _K_PUBLISHED),
    **dict.fromkeys(fp.UPDATED, _K_UPDATED),
    **dict.fromkeys(fp.DESCRIPTION, _K_DESCRIPTION),
    **dict.fromkeys(fp.SUMMARY, _K_SUMMARY),
    **dict.fromkeys(("content", "content:encoded", "fullitem"), _K_CONTENT),
    **dict.fromkeys(fp.CATEGORY, _K_CATEGORY),
    **dict.fromkeys(fp.KEYWORD_LISTS, _K_KEYWORDS),
    **dict.fromkeys(fp.HARMLESS_TEXT, _K_HARMLESS),
    **dict.fromkeys(fp.MEDIA_CONTAINERS, _K_MEDIA),
}
_MISSING = object()
_CHARDET = "chardet"  # stands for feedparser's chardet guess among the encodings it tries
_ATTRIBUTE_NAMES: dict[str, tuple[str, str]] = {}  # lxml attribute key -> _attribute_names(key)
_CONTENT_DEFAULT_TYPE = {"content:encoded": "text/html", "fullitem": "text/html"}

_TEXT_TYPES = frozenset({"text/plain", "text/html"})  # no base64, no inline XHTML: the value is the text
_LINK_ENTITY = re.compile("&([A-Za-z0-9_]+);")
_FIRST_ELEMENT = re.compile(rb"<\w")
_PROLOG_DECLARATION = re.compile(rb"<!(?:doctype|entity)", re.IGNORECASE)
_NON_UTF8_MARKERS = (
    codecs.BOM_UTF32_BE,
    codecs.BOM_UTF32_LE,
    codecs.BOM_UTF16_BE,
    codecs.BOM_UTF16_LE,
    b"\x4c\x6f\xa7\x94",  # EBCDIC '<?xm'
    b"\x00\x3c\x00\x3f",
    b"\x3c\x00\x3f\x00",
    b"\x00\x00\x00\x3c",
    b"\x3c\x00\x00\x00",
)
_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "recover": False,
    "encoding": "utf-8",  # what feedparser decoded is what we parse, whatever the declaration says
}


def parse_feed_fast(
    feed_id: str,
    body: bytes,
    content_sha256: str,
    content_type: str | None = None,
    base_url: str | None = None,
) -> ParsedFeed | None:
    """Same result as parse.parse_feed for well-formed RSS 2.0 / Atom 1.0 / RSS 1.0, or None when the input
    is outside what this path handles exactly (then the caller uses feedparser)."""
    if not fp.VERSION_MATCHES:
        return None  # the rules below are feedparser's at the pinned version only
    try:
        return _Document(feed_id, body, content_sha256, content_type, base_url).parse()
    except Exception:  # _Bail, XMLSyntaxError, or anything unforeseen: feedparser is always the safe answer
        return None


# -- the document ----------------------------------------------------------------------------------


class _Document:
    def __init__(
        self, feed_id: str, body: bytes, content_sha256: str, content_type: str | None, base_url: str | None
    ) -> None:
        self.feed_id, self.body, self.content_sha256 = feed_id, body, content_sha256
        # The headers parse_feed hands to feedparser.
        self.headers: dict[str, str] = {"content-type": content_type} if content_type else {}
        if base_url and not base_url.startswith("file:"):
            self.headers["content-location"] = base_url
        self.names: dict[str, str] = {}
        self.unknown_prefix: dict[str, str] = {}
        self.base = ""
        self.base_scheme = ""
        self.resolver = ("", "")
        self.entries: list[dict[str, Any]] = []
        self.dates: dict[str, Any] = {}  # date string -> fp.parse_date result, per document
        # Set by _walk_feed: where the feed title and the entries sit, and what the walk has seen so far.
        self.channel: Any = None
        self.container: Any = None
        self.feed_title: str | None = None
        self.title_closed = False  # an earlier title element could keep the feed title from being stored
        self.feed_summary = False

    def parse(self) -> ParsedFeed | None:
        data = self._utf8_data()
        root = self._parse_xml(data)
        self.base = self._base_uri()
        self.base_scheme = urllib.parse.urlparse(self.base).scheme if self.base else ""
        self.resolver = (self.base, self.base_scheme)
        title = self._walk_feed(root)
        if not self.entries:
            return None  # parse_feed's "no items" errors are not worth reproducing here
        for entry in self.entries:
            # parse_entry reads feedparser's FeedParserDicts, whose only read rules for the keys it uses are
            # these fallbacks (feedparser issue 310); plain dicts with them filled in read the same, faster.
            for key in ("updated", "updated_parsed"):
                published = key.replace("updated", "published")
                if key not in entry and published in entry:
                    entry[key] = entry[published]
        entries = build_entries(self.feed_id, self.entries)
        return ParsedFeed(
            self.feed_id, self.content_sha256, entries, title=field_text(title), warning=dates_warning(entries)
        )

    # -- bytes -> tree ---------------------------------------------------------------------------

    def _utf8_data(self) -> bytes:
        """The body without its BOM, if feedparser would read it as UTF-8 (or ASCII) without a warning."""
        data = self.body
        bom = ""
        if data[:3] == codecs.BOM_UTF8:
            bom, data = "utf-8", data[3:]
        elif data[:4].startswith(_NON_UTF8_MARKERS):
            raise _Bail("UTF-16/32 or EBCDIC")
        match = fp.XML_PI_ENCODING.match(data)  # encodings.convert_to_utf8, same regex on the same bytes
        xml_encoding = match.group(1).decode("utf-8").lower() if match else ""
        http_type, http_encoding = fp.parse_http_content_type(self.headers.get("content-type") or "")
        acceptable = False
        if http_type in ("application/xml", "application/xml-dtd", "application/xml-external-parsed-entity") or (
            http_type.startswith("application/") and http_type.endswith("+xml")
        ):
            acceptable, encoding = True, http_encoding or xml_encoding or "utf-8"
        elif http_type in ("text/xml", "text/xml-external-parsed-entity") or (
            http_type.startswith("text/") and http_type.endswith("+xml")
        ):
            acceptable, encoding = True, http_encoding or "us-ascii"
        elif http_type.startswith("text/"):
            encoding = http_encoding or "us-ascii"
        elif self.headers and "content-type" not in self.headers:
            encoding = xml_encoding or "iso-8859-1"
        else:
            encoding = xml_encoding or "utf-8"
        if self.headers and not acceptable:
            raise _Bail("NonXMLContentType: parse_feed would carry a warning")
        tried: list[str] = []
        # encodings.convert_to_utf8's order of guesses; chardet's guess comes fourth.
        candidates = (encoding, xml_encoding, bom, _CHARDET, "utf-8", "windows-1252", "iso-8859-2")
        for proposed in candidates:
            if proposed is _CHARDET:
                raise _Bail("chardet would guess")
            if not proposed or proposed in tried:
                continue
            tried.append(proposed)
            try:
                data.decode(proposed)
            except (UnicodeDecodeError, LookupError):
                continue
            # Read as UTF-8 (an override of a failed first choice only adds an ignored bozo flag).
            if codecs.lookup(proposed).name in ("utf-8", "ascii"):
                return data
            break
        raise _Bail("not UTF-8")

    def _parse_xml(self, data: bytes) -> Any:
        first = _FIRST_ELEMENT.search(data)
        if first is None or _PROLOG_DECLARATION.search(data, 0, first.start()):
            raise _Bail("DOCTYPE or ENTITY in the prolog")  # feedparser and parse.py rewrite those
        events = etree.iterparse(io.BytesIO(data), events=("start-ns",), **_PARSER_OPTIONS)
        declarations = [namespace for _event, namespace in events]
        root = events.root
        docinfo = root.getroottree().docinfo
        if docinfo.doctype or docinfo.xml_version != "1.0":
            raise _Bail("DOCTYPE or XML 1.1")
        self._namespaces(declarations)
        return root

    def _namespaces(self, declarations: list[tuple[str, str]]) -> None:
        """Give up unless every element name maps to the same feedparser name whatever the declaration order.

        feedparser keeps one global prefix table (namespacemap, namespaces_in_use): elements of unknown
        namespaces are named after their document prefix, and prefixes re-bound or colliding with the
        standard ones rename other elements. Documents doing that are left to feedparser."""
        bound: dict[str, str] = {}
        known_prefixes: dict[str, str] = {}  # document prefix of a known namespace -> its standard prefix
        declared_standard: set[str] = set()
        for prefix, uri in declarations:
            # Re-binding the default namespace is harmless: feedparser never looks a name up by it.
            if prefix and bound.setdefault(prefix, uri) != uri:
                raise _Bail("prefix bound twice")
            standard = fp.KNOWN_NAMESPACES.get(fp.namespace_key(uri))
            if standard is None:
                if self.unknown_prefix.setdefault(uri, prefix) != prefix:
                    raise _Bail("namespace bound to two prefixes")
                continue
            declared_standard.add(standard)
            if prefix:
                if prefix != standard and prefix in fp.KNOWN_PREFIXES_LOWER:
                    raise _Bail("standard prefix bound to another namespace")
                known_prefixes[prefix] = standard
        for prefix in self.unknown_prefix.values():
            if not prefix:
                continue
            mapped = known_prefixes.get(prefix.lower())
            if prefix in declared_standard or (mapped is not None and mapped != prefix.lower()):
                raise _Bail("unknown namespace shares a standard prefix")

    def _base_uri(self) -> str:
        """The base URI every element sees (mixin.unknown_starttag re-joins it with itself at each element)."""
        location = self.headers.get("content-location", "")
        base = fp.safe_absolute_uri("", location) or fp.safe_absolute_uri(location) or ""
        step = lambda b: (fp.safe_absolute_uri(b, b) or b) if b else fp.urljoin(b, b)  # noqa: E731
        once = step(base)
        if step(once) != once:
            raise _Bail("base URI not stable")
        return once

    # -- element helpers -------------------------------------------------------------------------

    def name(self, element: Any) -> str:
        """The name feedparser gives this element (StrictFeedParser.startElementNS)."""
        tag = element.tag
        name = self.names.get(tag)
        if name is None:
            uri, _, local = tag[1:].partition("}") if tag[0] == "{" else ("", "", tag)
            standard = fp.KNOWN_NAMESPACES.get(fp.namespace_key(uri))
            prefix = self.unknown_prefix[uri] if standard is None else standard
            name = f"{prefix}:{local}".lower() if prefix else local.lower()
            self.names[tag] = name
        return name

    def attrs(self, element: Any) -> dict[str, str]:
        """The attributes as feedparser's handlers see them: lower-cased local names (its qname pass), plus
        'prefix:name' for known namespaces; 'rel' and 'type' values lower-cased. No xml:base, no duplicates."""
        items = element.items()
        return _attributes(items) if items else {}

    def check_inert(self, element: Any) -> None:
        """No feedparser handler and a key no entry field reads, for the element and all its descendants."""
        key = self.name(element).replace(":", "_")
        mapped = fp.KEYMAP.get(key, key)
        if isinstance(mapped, list):
            mapped = mapped[0]
        if f"_start_{key}" in fp.HANDLERS or f"_end_{key}" in fp.HANDLERS or mapped in fp.SENSITIVE_KEYS:
            raise _Bail(f"unhandled element {key}")
        self.attrs(element)
        for child in element:
            if isinstance(child.tag, str):
                self.check_inert(child)

    # -- the feed --------------------------------------------------------------------------------

    def _walk_feed(self, root: Any) -> str | None:
        kind = self.name(root)
        self.attrs(root)
        if kind == "rss":
            children = [child for child in root if isinstance(child.tag, str)]
            if len(children) != 1 or self.name(children[0]) != "channel":
                raise _Bail("rss without exactly one channel")
            channel = container = children[0]
            self.attrs(channel)
        elif kind == "rdf:rdf":
            channels = [child for child in root if isinstance(child.tag, str) and self.name(child) == "channel"]
            if len(channels) > 1:
                raise _Bail("several channels")
            channel, container = (channels[0] if channels else None), root
            if channel is not None:
                self.attrs(channel)
        elif kind == "feed":
            channel = container = root
        else:
            raise _Bail(f"unknown root {kind}")
        self.channel, self.container = channel, container
        self._walk(container)
        return self.feed_title

    def _walk(self, parent: Any) -> None:
        """Everything outside the entries: only the feed title matters, and nothing may disturb the entries."""
        for child in parent:
            if not isinstance(child.tag, str):
                continue
            name = self.name(child)
            if name in fp.ITEMS:
                if parent is not self.container:
                    raise _Bail("entry in an odd place")
                self.title_closed = True
                self.entries.append(self._entry(child))
            elif name in fp.TITLE_LIKE:
                if name != fp.TITLE or parent is not self.channel or self.feed_title is not None or self.title_closed:
                    raise _Bail("a feed-level title feedparser may store over the feed title, or not at all")
                _content_type(self.attrs(child), "text/plain")
                self.feed_title = _value(child)
                self.title_closed = True
            elif name in fp.CONTENT_LIKE:
                raise _Bail("content outside entries sets feedparser's hasContent")
            elif name in fp.SUMMARY:
                # A second feed-level summary (or a description after one) is read as content (hasContent).
                if self.feed_summary:
                    raise _Bail("two feed-level summaries")
                self.feed_summary = True
                self.attrs(child)
                _value(child)
            elif name in fp.DESCRIPTION:
                if self.feed_summary:
                    raise _Bail("feed-level description after a summary")
                self.attrs(child)
                _value(child)
            elif name in ("image", "textinput"):
                self._image(child, fp.IMAGE_CHILDREN if name == "image" else fp.TEXTINPUT_CHILDREN)
            elif name == "channel" and child is self.channel and parent is not child:
                self._walk(child)
            elif name in ("channel", "feed", "rss", "rdf:rdf"):
                raise _Bail("nested feed element")
            else:
                self.attrs(child)
                self._walk(child)

    def _image(self, element: Any, allowed: frozenset[str]) -> None:
        """An image or textinput: its children are stored in its own dict while feedparser's inimage /
        intextinput stays set, which it does while every child is one of `allowed` (the "special hack")."""
        self.attrs(element)
        self.title_closed = True  # its title would set title_depth, which can keep the feed title from being stored
        for child in element:
            if not isinstance(child.tag, str):
                continue
            if self.name(child) not in allowed:
                raise _Bail("image/textinput child that ends feedparser's inimage")
            self.attrs(child)
            _value(child)

    # -- one entry -------------------------------------------------------------------------------

    def _entry(self, item: Any) -> dict[str, Any]:
        """Replays _start_item.._end_item for the children, in document order, with feedparser's rules.

        The hot loop of this module, hence inlined: `raw` is what mixin.pop() starts from (the stripped text),
        `fp.fix_text` what it ends with; URI elements are resolved in between."""
        entry: dict[str, Any] = {}
        attrs = self.attrs(item)
        if attrs:
            if "lastmod" in attrs or "href" in attrs:
                raise _Bail("CDF item attributes")
            about = attrs.get("rdf:about")
            if about:
                entry["id"] = about
        has_content = False  # feedparser's hasContent: reset at every item end
        titles = 0
        names = self.names
        for child in item:
            tag = child.tag
            if tag.__class__ is not str:
                continue  # comments and processing instructions: feedparser ignores them too
            name = names.get(tag) or self.name(child)
            kind = _ENTRY_KINDS.get(name)
            if kind is None:
                self.check_inert(child)
                continue
            items = child.items()
            attrs = _attributes(items) if items else {}
            if kind >= _K_AUTHOR_FIRST:  # elements with parts of their own
                if kind == _K_AUTHOR:
                    self._author(entry, child)
                elif kind == _K_MEDIA:
                    self._media(child)
                else:  # _K_CONTRIBUTOR
                    self._contributor(child)
                continue
            if len(child):
                raise _Bail("markup inside a text element")
            text = child.text
            raw = text.strip() if text else ""
            if kind == _K_CATEGORY:
                # _start_category / _end_category (media: and itunes: variants)
                if name == "itunes:category":
                    fp.add_tag(entry, attrs.get("text"), "http://www.itunes.com/", None)
                elif attrs or name == "media:category":
                    if name == "media:category":
                        attrs.setdefault("scheme", "http://search.yahoo.com/mrss/category_schema")
                    fp.add_tag(entry, attrs.get("term"), attrs.get("scheme", attrs.get("domain")), attrs.get("label"))
                else:
                    entry.setdefault("tags", [])
                if raw:
                    value = raw if raw.isascii() else fp.fix_text(raw)
                    if value:
                        tags = entry["tags"]
                        if tags and not tags[-1]["term"]:
                            tags[-1]["term"] = value
                        else:
                            fp.add_tag(entry, value, None, None)
            elif kind == _K_TITLE:
                titles += 1
                if titles > 1:
                    raise _Bail("two titles (title_depth rules)")
                if attrs:
                    _content_type(attrs, "text/plain")
                entry["title"] = raw if raw.isascii() else fp.fix_text(raw)
            elif kind == _K_LINK:
                self._link(entry, attrs, raw)
            elif kind == _K_GUID:
                # _start_guid/_end_guid: a permalink guid (and every Atom id) is resolved and becomes the link
                # when there is none yet.
                is_link = attrs.get("ispermalink", "true") == "true"
                value = fp.resolve_uri(self.base, self.base_scheme, raw) if is_link and raw else raw
                value = value if value.isascii() else fp.fix_text(value)
                entry["id"] = value
                if is_link:
                    entry.setdefault("link", value)
            elif kind in _DATE_KINDS:
                value = raw if raw.isascii() else fp.fix_text(raw)
                parsed = self.dates.get(value, _MISSING)
                if parsed is _MISSING:  # Atom's published and updated often agree: parse each string once
                    parsed = self.dates[value] = fp.parse_date(value)
                key = "published" if kind == _K_PUBLISHED else "updated"
                entry[key] = value
                entry[key + "_parsed"] = parsed
            elif kind == _K_CONTENT or (kind in _SUMMARY_KINDS and "summary" in entry and not has_content):
                # _start_content.._end_content: one more content part, and the summary when there is none.
                # A description or summary that comes after a summary, before any content, is read as content.
                has_content = True
                content_type = _content_type(attrs, _CONTENT_DEFAULT_TYPE.get(name, "text/plain"))
                value = raw if raw.isascii() else fp.fix_text(raw)
                entry.setdefault("content", [])
                entry["content"].append({"type": content_type, "value": value})
                entry.setdefault("summary", value)  # copyToSummary: always, for text/plain and text/html
            elif kind in _SUMMARY_KINDS:
                if attrs:
                    _content_type(attrs, "text/html" if kind == _K_DESCRIPTION else "text/plain")
                entry["summary"] = raw if raw.isascii() else fp.fix_text(raw)
            elif kind == _K_KEYWORDS:
                if attrs:
                    raise _Bail("keywords with attributes")  # feedparser then pops nothing and crashes quietly
                value = raw if raw.isascii() else fp.fix_text(raw)
                for term in value.split(","):
                    if term.strip():
                        fp.add_tag(entry, term.strip(), fp.KEYWORD_LISTS[name], None)
            # else _K_HARMLESS: text only, checked above
        if sum(1 for part in entry.get("content") or () if part["value"]) > 1:
            raise _Bail("several contents: feedparser's type sniffing picks one")
        return entry

    def _link(self, entry: dict[str, Any], attrs: dict[str, str], raw: str) -> None:
        """_start_link / pop('link') for an entry: an href (alternate, HTML) or the text."""
        attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        if href:
            attrs.pop("url", None)
            attrs.pop("uri", None)
            attrs["href"] = href
        if "href" in attrs:
            href = fp.resolve_uri(self.base, self.base_scheme, attrs["href"])
            if attrs["rel"] == "alternate" and fp.map_content_type(attrs["type"]) in fp.HTML_TYPES:
                entry["link"] = href
            return
        value = fp.resolve_uri(self.base, self.base_scheme, raw) if raw else raw
        value = (value if value.isascii() else fp.fix_text(value)).replace("&amp;", "&")
        entry["link"] = _LINK_ENTITY.sub(r"&\g<1>", value) if "&" in value else value

    def _author(self, entry: dict[str, Any], element: Any) -> None:
        """_start_author, the Atom name/email/uri children, pop('author') and _end_author's sync."""
        entry.setdefault("authors", [])
        entry["authors"].append({})
        own_text = [element.text or ""]
        for part in element:
            if not isinstance(part.tag, str):
                raise _Bail("comment or PI inside an author")
            name = self.name(part)
            self.attrs(part)
            if name in ("name", "email"):
                fp.save_author(entry, name, _raw_value(part))  # pushed with expecting_text=0: no fixing
            elif name in ("uri", "url", "homepage"):
                fp.save_author(entry, "href", _value(part, self.resolver))
            else:
                raise _Bail(f"author child {name}")
            own_text.append(part.tail or "")
        entry["author"] = fp.fix_text("".join(own_text).strip())
        fp.sync_author_detail(entry)

    def _contributor(self, element: Any) -> None:
        """Atom contributor: its parts only touch feedparser's contributors list."""
        for part in element:
            if not isinstance(part.tag, str) or self.name(part) not in fp.AUTHOR_PARTS:
                raise _Bail("contributor child")
            self.attrs(part)
            _raw_value(part)

    def _media(self, element: Any) -> None:
        """media:group / media:content: fine while everything inside is harmless media or unhandled."""
        for child in element:
            if not isinstance(child.tag, str):
                continue
            name = self.name(child)
            kind = _ENTRY_KINDS.get(name)
            if kind == _K_MEDIA:
                self.attrs(child)
                self._media(child)
            elif kind == _K_HARMLESS and name.startswith("media:"):
                self.attrs(child)
                _value(child)
            else:
                self.check_inert(child)


def _attributes(items: list[tuple[str, str]]) -> dict[str, str]:
    """_Document.attrs for a non-empty attribute list."""
    out: dict[str, str] = {}
    for key, value in items:
        names = _ATTRIBUTE_NAMES.get(key) or _attribute_names(key)
        local = names[0]
        if local in out or local == "base":  # keys with a colon never equal a local name
            raise _Bail("xml:base or ambiguous attributes")
        if names[1]:
            out[names[1]] = value
        out[local] = value.lower() if local in ("rel", "type") else value
    return out


def _attribute_names(key: str) -> tuple[str, str]:
    """(lower-cased local name, 'prefix:name' for a known namespace or ''), for an lxml attribute key."""
    uri, _, local = key[1:].partition("}") if key[0] == "{" else ("", "", key)
    local = local.lower()
    prefix = fp.KNOWN_NAMESPACES.get(uri.lower()) if uri else None
    names = (local, f"{prefix}:{local}".lower() if prefix else "")
    if len(_ATTRIBUTE_NAMES) < 4096:  # bounded: attribute names come from the documents
        _ATTRIBUTE_NAMES[key] = names
    return names


def _raw_value(element: Any) -> str:
    """The stripped text of an element that must hold text only (no elements, comments or PIs)."""
    if len(element):
        raise _Bail("markup inside a text element")
    text = element.text
    return text.strip() if text else ""


def _value(element: Any, base: tuple[str, str] | None = None) -> str:
    """mixin.pop() for a text element: strip, resolve if it is a URI element (`base`: the base URI and its
    scheme), fix the characters."""
    value = _raw_value(element)
    if base is not None and value:
        value = fp.resolve_uri(base[0], base[1], value)
    return value if value.isascii() else fp.fix_text(value)


def _content_type(attrs: dict[str, str], default: str) -> str:
    """mixin.push_content: the declared type, if it leaves the text as it is (no base64, no XHTML)."""
    content_type = fp.map_content_type(attrs.get("type", default)) if attrs else default
    if content_type not in _TEXT_TYPES or (attrs and attrs.get("mode") == "base64"):
        raise _Bail(f"content type {content_type}")
    return content_type
