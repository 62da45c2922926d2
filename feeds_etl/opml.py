"""OPML subscription lists: read one as the feed list, add one to the YAML list, write the list as OPML 2.0.

listparser interprets the outlines (title from `text` or `title`, duplicates, subscription-list outlines). It is
handed a copy of the document that lxml has already parsed strictly, with entities never resolved and no
DOCTYPE left, re-encoded as UTF-8 (listparser's HTML-mode parser misreads other encodings).
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
import os
import re
import sys
import tempfile
import unicodedata
import urllib.parse
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import listparser
import yaml
from lxml import etree

from feeds_etl.feeds import (
    Feed,
    FeedList,
    FeedListError,
    feeds_file_from_env,
    is_opml,
    load_feed_list,
    parse_feed_list,
    resolve_repo_path,
)

# A subscription list of 100,000 feeds is a few tens of MB; anything bigger is not one.
MAX_OPML_BYTES = 64 * 1024 * 1024
_NAME_CHARS = 60  # room for a collision suffix within the 100-character limit on names
_HTTP_URL = re.compile(r"^https?://[^/?#\s]", re.IGNORECASE)
# FreshRSS exports its web-scraping sources as outlines with an xmlUrl that points at an HTML page.
_NOT_FEED_TYPES = re.compile(r"xpath|dotnotation", re.IGNORECASE)
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)


@dataclass(frozen=True)
class OpmlFeed:
    """One feed outline: its feed URL, title, site URL and enclosing folder."""

    url: str
    title: str | None
    html_url: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class OpmlDocument:
    """The feeds an OPML file lists, and one line for each outline refused."""

    feeds: tuple[OpmlFeed, ...]
    refused: tuple[str, ...] = ()


@dataclass
class ImportReport:
    """What `import-opml` did to the YAML list."""

    feeds_file: Path
    added: list[Feed] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (url, name it is already listed under)
    refused: list[str] = field(default_factory=list)


# -- reading ---------------------------------------------------------------------------------------


def read_opml(data: bytes, where: str) -> OpmlDocument:
    """Parse an OPML document; raise FeedListError naming `where` and the problem when it is not usable."""
    if len(data) > MAX_OPML_BYTES:
        raise FeedListError(f"{where}: OPML file larger than {MAX_OPML_BYTES // (1024 * 1024)} MB")
    root = _parse_xml(data, where)
    if etree.QName(root).localname.lower() != "opml":
        raise FeedListError(f"{where}: not an OPML document (its root element is <{etree.QName(root).localname}>)")
    details = _outline_details(root)
    harvest = listparser.parse(etree.tostring(root, encoding="utf-8", xml_declaration=True))
    if harvest.get("bozo"):
        raise FeedListError(f"{where}: malformed OPML: {harvest.get('bozo_exception')}")

    feeds: list[OpmlFeed] = []
    refused: list[str] = []
    for found in harvest.get("feeds", []):
        url = (found.get("url") or "").strip()
        title = (found.get("title") or "").strip() or None
        outline_type, html_url, group = details.get(url, ("", None, None))
        label = f"outline {title!r}" if title else f"outline with xmlUrl {url!r}"
        if not _HTTP_URL.match(url):
            refused.append(
                f"{label}: {url!r} is not an http(s) URL; only http(s) feeds are taken from OPML (nothing was read)"
            )
            continue
        if _NOT_FEED_TYPES.search(outline_type):
            refused.append(f"{label}: type {outline_type!r} is a web-scraping source in the reader, not a feed")
            continue
        if html_url is not None and not _HTTP_URL.match(html_url):
            html_url = None  # a site link is only shown to users: an odd one is dropped, not fatal
        feeds.append(OpmlFeed(url=url, title=title, html_url=html_url, group=group))
    return OpmlDocument(feeds=tuple(feeds), refused=tuple(refused))


def _parse_xml(data: bytes, where: str) -> Any:
    """Strict, entity-free XML: a reader's export is well-formed, and a truncated file must not half-import."""
    # Readers never declare entities; refusing them all rules out XXE and expansion bombs in any parser.
    if _ENTITY_DECLARATION.search(data):
        raise FeedListError(f"{where}: refused: the OPML declares entities in a DOCTYPE; nothing was resolved")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise FeedListError(f"{where}: malformed OPML, not well-formed XML: {exc}") from None
    if root is None:
        raise FeedListError(f"{where}: malformed OPML: the file is empty")
    return root


def _outline_details(root: Any) -> dict[str, tuple[str, str | None, str | None]]:
    """xmlUrl -> (type, htmlUrl, enclosing folder's title) for the first outline of each feed URL."""
    details: dict[str, tuple[str, str | None, str | None]] = {}
    for outline in root.iter("{*}outline"):
        attributes = {str(key).lower(): value for key, value in outline.attrib.items()}
        url = (attributes.get("xmlurl") or "").strip()
        if not url or url in details:
            continue
        parent = outline.getparent()
        group = None
        if parent is not None and etree.QName(parent).localname == "outline":
            parent_attributes = {str(key).lower(): value for key, value in parent.attrib.items()}
            group = (parent_attributes.get("text") or parent_attributes.get("title") or "").strip() or None
        html_url = (attributes.get("htmlurl") or "").strip() or None
        details[url] = ((attributes.get("type") or "").strip(), html_url, group)
    return details


# -- names -----------------------------------------------------------------------------------------


def slugify(text: str) -> str:
    """Lower-case ASCII letters and digits joined by '-'; accents dropped, other scripts dropped."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:_NAME_CHARS].strip("-")


def _base_name(feed: OpmlFeed) -> str:
    host = urllib.parse.urlsplit(feed.url).hostname or ""
    return slugify(feed.title or "") or slugify(host.removeprefix("www.")) or "feed"


def assign_names(
    feeds: tuple[OpmlFeed, ...] | list[OpmlFeed], taken: set[str] | frozenset[str] = frozenset()
) -> list[str]:
    """A name per feed from its title. Titles that collide (with each other or with `taken`) all get a suffix
    from their URL's hash, so a name depends on the feed and the list, never on the order of the outlines."""
    bases = [_base_name(feed) for feed in feeds]
    counts = Counter(bases)
    names: list[str] = []
    used = set(taken)
    for feed, base in zip(feeds, bases, strict=True):
        name = base
        if counts[base] > 1 or base in taken:
            digest = hashlib.sha256(feed.url.encode()).hexdigest()
            length = 6
            name = f"{base}-{digest[:length]}"
            while name in used:  # a clash of hash prefixes: longer ones
                length += 2
                name = f"{base}-{digest[:length]}"
        used.add(name)
        names.append(name)
    return names


# -- the feed list from OPML -----------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def feed_list_from_opml(data: bytes, path: Path) -> FeedList:
    """`FEEDS_ETL_FEEDS` pointing at an OPML file: every feed outline becomes a Feed (http(s) only)."""
    document = read_opml(data, str(path))
    if document.refused:
        raise FeedListError(
            f"{path}: "
            + "; ".join(document.refused)
            + " (`make import-opml` takes the other outlines into a YAML list)"
        )
    if not document.feeds:
        raise FeedListError(f"{path}: the OPML has no outline with an xmlUrl: no feeds to fetch")
    names = assign_names(document.feeds)
    feeds = tuple(
        Feed(name=name, url=feed.url, title=feed.title, group=feed.group, html_url=feed.html_url)
        for name, feed in zip(names, document.feeds, strict=True)
    )
    return FeedList(path=path, feeds=feeds)


# -- import into the YAML list ---------------------------------------------------------------------


def import_opml(opml_path: str | os.PathLike[str], feeds_file: str | os.PathLike[str]) -> ImportReport:
    """Append the OPML's feeds that the YAML list lacks, keeping its text (comments, order) as it is.
    Nothing is written when the OPML or the YAML list is unusable, or when there is nothing to add."""
    opml_file = Path(opml_path).expanduser()
    yaml_file = resolve_repo_path(feeds_file)
    try:
        data = opml_file.read_bytes()
    except OSError as exc:
        raise FeedListError(f"{opml_file}: cannot read OPML: {exc.strerror or exc}") from None
    document = read_opml(data, str(opml_file))

    if yaml_file.exists():
        existing_data = yaml_file.read_bytes()
        if is_opml(yaml_file, existing_data):
            raise FeedListError(
                f"{yaml_file}: the feed list is itself an OPML file; import-opml adds to a YAML list "
                "(point FEEDS_ETL_FEEDS at a .yaml file)"
            )
        existing = load_feed_list(yaml_file)
        text = existing_data.decode("utf-8")
    else:
        existing = None
        text = ""

    report = ImportReport(feeds_file=yaml_file, refused=list(document.refused))
    listed = {_url_key(feed.url): feed.name for feed in existing.feeds} if existing else {}
    new_feeds: list[OpmlFeed] = []
    for feed in document.feeds:
        key = _url_key(feed.url)
        if key in listed:
            report.skipped.append((feed.url, listed[key]))
            continue
        listed[key] = ""
        new_feeds.append(feed)
    if not new_feeds:
        return report

    taken = {feed.name for feed in existing.feeds} if existing else set()
    names = assign_names(new_feeds, taken)
    entries = [_yaml_entry(name, feed) for name, feed in zip(names, new_feeds, strict=True)]
    if existing is None:
        new_text = "# The feed list: see README.md, Configuration.\nfeeds:\n" + _entries_block(entries, "  ")
    else:
        new_text = _append_entries(text, entries, str(yaml_file))
    try:
        # The result must load exactly as `make run` will load it, before anything is written.
        updated = parse_feed_list(yaml.safe_load(new_text), yaml_file)
    except (FeedListError, yaml.YAMLError) as exc:
        raise FeedListError(
            f"{yaml_file}: the list with the OPML's feeds added would not load ({exc}); nothing was written"
        ) from None
    _write_atomically(yaml_file, new_text)
    added = set(names)
    report.added = [feed for feed in updated.feeds if feed.name in added]
    return report


def _url_key(url: str) -> str:
    """Scheme and host are case-insensitive; the rest of a URL is compared as written."""
    parts = urllib.parse.urlsplit(url.strip())
    return urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))


def _yaml_entry(name: str, feed: OpmlFeed) -> dict[str, str]:
    entry = {"name": name, "url": feed.url}
    if feed.title:
        entry["title"] = feed.title
    if feed.group:
        entry["group"] = feed.group
    if feed.html_url:
        entry["html_url"] = feed.html_url
    return entry


def _append_entries(text: str, entries: list[dict[str, str]], where: str) -> str:
    """The YAML text with the entries inserted right after the last item of its `feeds:` block list."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise FeedListError(f"{where}: not valid YAML: {exc}") from None
    sequence = None
    if isinstance(root, yaml.MappingNode):
        sequence = next((value for key, value in root.value if key.value == "feeds"), None)
    if not isinstance(sequence, yaml.SequenceNode) or not sequence.value:
        raise FeedListError(f"{where}: expected a top-level 'feeds:' list to add to")
    if sequence.flow_style:
        raise FeedListError(f"{where}: 'feeds:' is written inline ([...]); import-opml adds to a '- name:' list")
    block = _entries_block(entries, " " * sequence.start_mark.column)
    end = _content_end(sequence.value[-1])
    if end.column == 0:
        position = end.index  # a block scalar ends at the start of the next line
    else:
        newline = text.find("\n", end.index)
        position = len(text) if newline < 0 else newline + 1
    before = text[:position]
    if before and not before.endswith("\n"):
        before += "\n"
    return before + block + text[position:]


def _entries_block(entries: list[dict[str, str]], indent: str) -> str:
    block = yaml.safe_dump(entries, allow_unicode=True, sort_keys=False, width=10_000, default_flow_style=False)
    return "".join(indent + line for line in block.splitlines(keepends=True))


def _content_end(node: yaml.Node) -> Any:
    """Where a node's last character is; a block collection's own end mark runs on over trailing comments."""
    while isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    return node.end_mark


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(text)
    os.replace(tmp.name, path)


# -- export ----------------------------------------------------------------------------------------


def export_opml(feed_list: FeedList) -> tuple[str, list[Feed]]:
    """The list as OPML 2.0 (groups as folders), and the feeds left out because readers cannot fetch them."""
    opml = ET.Element("opml", version="2.0")
    head = ET.SubElement(opml, "head")
    ET.SubElement(head, "title").text = "feeds_etl feed list"
    ET.SubElement(head, "dateCreated").text = email.utils.format_datetime(datetime.now(UTC))
    body = ET.SubElement(opml, "body")
    folders: dict[str, ET.Element] = {}
    left_out: list[Feed] = []
    for feed in feed_list.feeds:
        if feed.is_local:
            left_out.append(feed)
            continue
        parent = body
        if feed.group:
            if feed.group not in folders:
                folders[feed.group] = ET.SubElement(body, "outline", text=feed.group, title=feed.group)
            parent = folders[feed.group]
        title = feed.title or feed.name
        attributes = {"type": "rss", "text": title, "title": title, "xmlUrl": feed.url}
        if feed.html_url:
            attributes["htmlUrl"] = feed.html_url
        ET.SubElement(parent, "outline", attributes)
    ET.indent(opml)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(opml, encoding="unicode") + "\n", left_out


# -- the commands ----------------------------------------------------------------------------------


def import_command(opml_path: str) -> int:
    """`make import-opml FILE=...`: add the OPML's feeds to the YAML list and say what happened."""
    try:
        report = import_opml(opml_path, feeds_file_from_env())
    except FeedListError as exc:
        print(f"feeds_etl: {exc}", file=sys.stderr)
        return 2
    if report.added:
        print(f"added {len(report.added)} feed(s) to {report.feeds_file}:")
        for feed in report.added:
            group = f"  [{feed.group}]" if feed.group else ""
            print(f"  + {feed.name}  {feed.url}{group}")
    else:
        print(f"added nothing to {report.feeds_file}")
    if report.skipped:
        print(f"skipped {len(report.skipped)} already listed:")
        for url, name in report.skipped:
            print(f"  = {url} (as {name})" if name else f"  = {url} (twice in the OPML)")
    if report.refused:
        print(f"refused {len(report.refused)}:")
        for line in report.refused:
            print(f"  ! {line}")
    return 0


def export_command() -> int:
    """`make export-opml`: the feed list as OPML 2.0 on standard output; local files noted on standard error."""
    try:
        text, left_out = export_opml(load_feed_list())
    except FeedListError as exc:
        print(f"feeds_etl: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    if left_out:
        names = ", ".join(feed.name for feed in left_out)
        print(f"feeds_etl: left out {len(left_out)} local-file feed(s) a reader cannot fetch: {names}", file=sys.stderr)
    return 0
