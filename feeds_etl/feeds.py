"""The feed list (YAML, or an OPML file): load it, validate it, and explain every problem precisely."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FEEDS_FILE = "data/feeds.yaml"
DEFAULT_DATABASE = "data/feeds.duckdb"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_FEED_KEYS = {
    "name",
    "url",
    "enabled",
    "history",
    "boilerplate",
    "tag_aliases",
    "title",
    "group",
    "html_url",
    "full_text",
}
_TOP_KEYS = {"feeds", "tag_aliases", "tag_stoplist", "defaults", "allow_local_files", "allow_private_networks"}
FULL_TEXT_MODES = ("auto", "always", "never")
_HTTP_URL = re.compile(r"^https?://", re.IGNORECASE)


class FeedListError(ValueError):
    """The feed list cannot be used; the message names the file, the entry and the problem."""


@dataclass(frozen=True)
class BoilerplateRules:
    """Per-feed cleaning rules on top of the general ones."""

    selectors: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()


@dataclass(frozen=True)
class HistoryImport:
    """Opt-in import of a feed's older pages (WordPress `?paged=N` or RFC 5005 `prev-archive`)."""

    mode: str = "off"  # off | wordpress | rfc5005 | auto
    max_pages: int = 10


@dataclass(frozen=True)
class Feed:
    """One entry of the feed list. `name` is the stable `feed_id` used everywhere in SQL."""

    name: str
    url: str
    enabled: bool = True
    history: HistoryImport = field(default_factory=HistoryImport)
    boilerplate: BoilerplateRules = field(default_factory=BoilerplateRules)
    title: str | None = None  # the human title (from OPML, or the optional `title` key)
    group: str | None = None  # the enclosing OPML folder, or the optional `group` key
    html_url: str | None = None  # the site's home page, as OPML's htmlUrl
    full_text: str = "auto"  # auto | always | never: when to fetch the article behind an item

    @property
    def feed_id(self) -> str:
        return self.name

    @property
    def is_local(self) -> bool:
        """Read from the local disk (a file:// URL; plain paths are resolved to one)."""
        return not _HTTP_URL.match(self.url)


@dataclass(frozen=True)
class FeedList:
    """The validated feed list plus list-wide settings."""

    path: Path
    feeds: tuple[Feed, ...]
    tag_aliases: dict[str, str] = field(default_factory=dict)
    # Placeholder tags left out of the tag aggregates, on top of tags.PLACEHOLDER_TAGS (item_tags keeps them).
    tag_stoplist: tuple[str, ...] = ()
    # Both off by default, so a list edited by someone else cannot make a cluster worker read its own disk or
    # reach internal services; the fetcher enforces allow_private_networks.
    allow_local_files: bool = False
    allow_private_networks: bool = False

    @property
    def enabled(self) -> tuple[Feed, ...]:
        return tuple(feed for feed in self.feeds if feed.enabled)

    def by_id(self) -> dict[str, Feed]:
        return {feed.feed_id: feed for feed in self.feeds}


def resolve_repo_path(value: str | os.PathLike[str]) -> Path:
    """Relative paths in settings are relative to the repository, whatever the working directory."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


def feeds_file_from_env() -> Path:
    return resolve_repo_path(os.environ.get("FEEDS_ETL_FEEDS") or DEFAULT_FEEDS_FILE)


def database_from_env() -> Path:
    return resolve_repo_path(os.environ.get("FEEDS_ETL_DATABASE") or DEFAULT_DATABASE)


def resolve_feed_url(url: str, base_dir: Path = REPO_ROOT) -> str:
    """http(s) and file URLs stay as they are; a plain path becomes an absolute file:// URL."""
    if re.match(r"^(https?|file)://", url, re.IGNORECASE):
        return url
    path = Path(url).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return path.resolve().as_uri()


def load_feed_list(path: str | os.PathLike[str] | None = None) -> FeedList:
    """Read and validate the feed list; raise FeedListError naming file, entry and problem."""
    feeds_path = resolve_repo_path(path) if path is not None else feeds_file_from_env()
    try:
        data = feeds_path.read_bytes()
    except FileNotFoundError:
        raise FeedListError(f"{feeds_path}: feed list not found (set FEEDS_ETL_FEEDS or create it)") from None
    except OSError as exc:
        raise FeedListError(f"{feeds_path}: cannot read feed list: {exc}") from None
    if is_opml(feeds_path, data):
        from feeds_etl.opml import feed_list_from_opml  # imported here: opml.py builds on this module

        feed_list = feed_list_from_opml(data, feeds_path)
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FeedListError(f"{feeds_path}: cannot read feed list: {exc}") from None
        feed_list = _parse_text(text, feeds_path)
    if private_networks_from_env() and not feed_list.allow_private_networks:
        feed_list = replace(feed_list, allow_private_networks=True)
    return feed_list


def private_networks_from_env() -> bool:
    """FEEDS_ETL_ALLOW_PRIVATE_NETWORKS=1: feeds and pages on loopback and private addresses are allowed, whatever
    the list says (an OPML list has no place to say it). Metadata and link-local addresses stay refused."""
    value = os.environ.get("FEEDS_ETL_ALLOW_PRIVATE_NETWORKS", "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise FeedListError(f"FEEDS_ETL_ALLOW_PRIVATE_NETWORKS={value!r}: expected 1 or 0")


def is_opml(path: Path, data: bytes) -> bool:
    """An `.opml` file, or any file whose content is XML (a YAML list never starts with '<')."""
    return path.suffix.lower() == ".opml" or data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


# libyaml when PyYAML was built with it: the pure-Python loader is several times slower on long lists.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=8)
def _parse_text(text: str, feeds_path: Path) -> FeedList:
    """Each step of a run loads the list; the file is re-read every time, parsed once per content."""
    try:
        document = yaml.load(text, Loader=_YAML_LOADER)  # a safe loader: plain data only
    except yaml.YAMLError as exc:
        raise FeedListError(f"{feeds_path}: not valid YAML: {exc}") from None
    return parse_feed_list(document, feeds_path)


def parse_feed_list(document: Any, feeds_path: Path) -> FeedList:
    """Validate an already-parsed YAML document (pure; used by load_feed_list and tests)."""
    where = str(feeds_path)
    if not isinstance(document, dict) or "feeds" not in document:
        raise FeedListError(f"{where}: expected a mapping with a top-level 'feeds:' list")
    unknown = set(document) - _TOP_KEYS
    if unknown:
        raise FeedListError(f"{where}: unknown top-level key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    entries = document["feeds"]
    if not isinstance(entries, list) or not entries:
        raise FeedListError(f"{where}: 'feeds' must be a non-empty list")

    # DESIGN: relative feed paths are relative to the repository, wherever the list lives.
    base_dir = REPO_ROOT
    feeds: list[Feed] = []
    seen: dict[str, int] = {}
    defaults = _parse_defaults(document.get("defaults"), f"{where}: defaults")
    for index, entry in enumerate(entries, start=1):
        if isinstance(entry, dict):
            entry = {**defaults, **entry}  # a feed's own keys win over the list's defaults
        feed = _parse_entry(entry, f"{where}: feed #{index}", base_dir)
        if feed.name in seen:
            raise FeedListError(
                f"{where}: feed #{index} ({feed.name!r}): duplicate name, already used by feed #{seen[feed.name]}"
            )
        seen[feed.name] = index
        feeds.append(feed)

    allow_local_files = _parse_flag(document, "allow_local_files", where)
    allow_private_networks = _parse_flag(document, "allow_private_networks", where)
    aliases = _parse_aliases(document.get("tag_aliases"), f"{where}: tag_aliases")
    stoplist = document.get("tag_stoplist") or []
    if not isinstance(stoplist, list) or not all(isinstance(tag, str) and tag.strip() for tag in stoplist):
        raise FeedListError(f"{where}: tag_stoplist must be a list of non-empty strings")
    if not allow_local_files:
        for index, feed in enumerate(feeds, start=1):
            if feed.is_local:
                raise FeedListError(
                    f"{where}: feed #{index} ({feed.name!r}): {feed.url} is a local file, and local files are off; "
                    "set `allow_local_files: true` at the top of the feed list to read feeds from this machine's disk"
                )
    return FeedList(
        path=feeds_path,
        feeds=tuple(feeds),
        tag_aliases=aliases,
        tag_stoplist=tuple(stoplist),
        allow_local_files=allow_local_files,
        allow_private_networks=allow_private_networks,
    )


def _parse_flag(document: dict[str, Any], key: str, where: str) -> bool:
    value = document.get(key, False)
    if not isinstance(value, bool):
        raise FeedListError(f"{where}: '{key}' must be true or false (got {value!r})")
    return value


def _parse_entry(entry: Any, where: str, base_dir: Path) -> Feed:
    if not isinstance(entry, dict):
        raise FeedListError(f"{where}: expected a mapping with 'name' and 'url', got {type(entry).__name__}")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise FeedListError(
            f"{where}: 'name' must be 1-100 characters of letters, digits, '.', '_' or '-' (got {name!r})"
        )
    where = f"{where} ({name!r})"
    unknown = set(entry) - _FEED_KEYS
    if unknown:
        raise FeedListError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_FEED_KEYS)}")
    url = entry.get("url")
    if not isinstance(url, str) or not url.strip():
        raise FeedListError(f"{where}: 'url' is required (http(s) URL, file:// URL or path)")
    url = url.strip()
    if re.match(r"^[a-z][a-z0-9+.-]*://", url, re.IGNORECASE) and not re.match(
        r"^(https?|file)://", url, re.IGNORECASE
    ):
        raise FeedListError(f"{where}: unsupported URL scheme in {url!r}; use http(s)://, file:// or a path")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise FeedListError(f"{where}: 'enabled' must be true or false (got {enabled!r})")
    full_text = entry.get("full_text", "auto")
    if full_text not in FULL_TEXT_MODES:
        raise FeedListError(f"{where}: 'full_text' must be auto, always or never (got {full_text!r})")
    html_url = _optional_text(entry, "html_url", where)
    if html_url is not None and not _HTTP_URL.match(html_url):
        raise FeedListError(f"{where}: 'html_url' must be an http(s) URL (got {html_url!r})")
    return Feed(
        name=name,
        url=resolve_feed_url(url, base_dir),
        enabled=enabled,
        history=_parse_history(entry.get("history"), where),
        boilerplate=_parse_boilerplate(entry.get("boilerplate"), where),
        title=_optional_text(entry, "title", where),
        group=_optional_text(entry, "group", where),
        html_url=html_url,
        full_text=full_text,
    )


def _optional_text(entry: dict[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise FeedListError(f"{where}: '{key}' must be text (got {value!r})")
    return value.strip() or None


# Per-feed keys a list may set once for all its feeds under `defaults:`.
_DEFAULTABLE_KEYS = {"enabled", "history", "boilerplate", "full_text", "group"}


def _parse_defaults(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FeedListError(f"{where}: expected a mapping of per-feed keys, e.g. {{full_text: never}}")
    unknown = set(value) - _DEFAULTABLE_KEYS
    if unknown:
        allowed = sorted(_DEFAULTABLE_KEYS)
        raise FeedListError(f"{where}: key(s) {sorted(unknown)} cannot be defaults; allowed: {allowed}")
    return dict(value)


def _parse_history(value: Any, where: str) -> HistoryImport:
    if value is None or value is False:
        return HistoryImport()
    if value is True:
        return HistoryImport(mode="auto")
    if not isinstance(value, dict):
        raise FeedListError(f"{where}: 'history' must be true/false or a mapping with 'mode' and 'max_pages'")
    mode = value.get("mode", "auto")
    if mode not in {"off", "auto", "wordpress", "rfc5005"}:
        raise FeedListError(f"{where}: history.mode must be off, auto, wordpress or rfc5005 (got {mode!r})")
    max_pages = value.get("max_pages", 10)
    if not isinstance(max_pages, int) or isinstance(max_pages, bool) or not 1 <= max_pages <= 1000:
        raise FeedListError(f"{where}: history.max_pages must be an integer from 1 to 1000 (got {max_pages!r})")
    return HistoryImport(mode=mode, max_pages=max_pages)


def _parse_boilerplate(value: Any, where: str) -> BoilerplateRules:
    if value is None:
        return BoilerplateRules()
    if not isinstance(value, dict) or set(value) - {"selectors", "phrases"}:
        raise FeedListError(f"{where}: 'boilerplate' must be a mapping with 'selectors' and/or 'phrases' lists")
    lists = {}
    for key in ("selectors", "phrases"):
        items = value.get(key, [])
        if not isinstance(items, list) or not all(isinstance(item, str) and item.strip() for item in items):
            raise FeedListError(f"{where}: boilerplate.{key} must be a list of non-empty strings")
        lists[key] = tuple(item.strip() for item in items)
    return BoilerplateRules(**lists)


def _parse_aliases(value: Any, where: str) -> dict[str, str]:
    """`tag_aliases: {canonical: [variant, ...]}`; variants are matched after normalisation."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FeedListError(f"{where}: expected a mapping of canonical tag to a list of variants")
    aliases: dict[str, str] = {}
    for canonical, variants in value.items():
        if isinstance(variants, str):
            variants = [variants]
        if not isinstance(canonical, str) or not isinstance(variants, list):
            raise FeedListError(f"{where}: {canonical!r} must map to a list of variant strings")
        for variant in variants:
            if not isinstance(variant, str) or not variant.strip():
                raise FeedListError(f"{where}: {canonical!r} has an empty or non-string variant {variant!r}")
            aliases[variant] = canonical
    return aliases
