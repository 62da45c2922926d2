"""Tag normalisation (pure): "  RUSSIA " and "Russia" are one tag, `russia`; aliases merge synonyms.

A tag is the feed's category with entities decoded once, NFKC, case-folded, whitespace collapsed, hyphens and
underscores between letters read as spaces ("open-source", "open_source" -> "open source"), and punctuation
stripped from both ends unless it closes a bracket opened inside ("olympic games (2026)"). Plurals are not
folded: "tag_aliases" in feeds.yaml merges them when a list wants that.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_SPACES = re.compile(r"\s+")
# A hyphen, non-breaking hyphen or underscore run joining two letters or a letter and a digit ("gpt-4"); not two
# digits ("2024-25", "1-0" stay).
_SEPARATOR = re.compile(r"(?<=[^\W\d_])[-_\u2010\u2011]+(?=[^\W_])|(?<=[^\W_])[-_\u2010\u2011]+(?=[^\W\d_])")
MAX_TAG_CHARS = 200
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {close: open_ for open_, close in _OPENERS.items()}

# Categories that say nothing about the item (CMS defaults, catch-alls). They stay in item_tags (tag_raw and
# all) but are left out of tag_counts, tag_cooccurrence and top_tags; feeds.yaml's `tag_stoplist` adds more.
PLACEHOLDER_TAGS = frozenset({
    "uncategorized", "uncategorised", "uncategorized posts", "no category", "misc", "miscellaneous", "general",
    "other", "others", "none", "null", "n/a", "default", "untagged", "various",
    "non classé", "non classe", "sans catégorie", "divers", "allgemein", "sonstiges", "unkategorisiert",
    "sin categoría", "sin categoria", "general news", "senza categoria", "geen categorie", "без рубрики",
    "разное", "общее",
})  # fmt: skip


@dataclass(frozen=True)
class ItemTag:
    tag: str
    tag_raw: str


def normalise_tag(raw: str) -> str:
    """Entities decoded, NFKC, case-folded, separators folded, whitespace collapsed, edge punctuation stripped."""
    text = unicodedata.normalize("NFKC", html.unescape(raw) if "&" in raw else raw).casefold()
    text = _SEPARATOR.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    text = _strip_punctuation(text)
    return text[:MAX_TAG_CHARS]


def is_placeholder(tag: str, extra: Iterable[str] = ()) -> bool:
    """Whether a normalised tag is a placeholder category (built-in list, or `extra` as written in feeds.yaml)."""
    return tag in PLACEHOLDER_TAGS or tag in {normalise_tag(word) for word in extra}


def stoplist(extra: Iterable[str] = ()) -> list[str]:
    """Every normalised tag the aggregates leave out, sorted: the built-in placeholders plus `extra`."""
    return sorted(PLACEHOLDER_TAGS | {normalise_tag(word) for word in extra} - {""})


def _strip_punctuation(text: str) -> str:
    """Strip punctuation and symbols from both ends, but keep '#' and '+' that carry meaning (c#, c++) and
    brackets that pair with one inside the tag."""
    start, end = 0, len(text)
    while True:
        while start < end and _is_edge_junk(text[start]) and text[start] != "#" and not _pairs_inside(text, start, end):
            start += 1
        while end > start and _is_edge_junk(text[end - 1]) and text[end - 1] not in "#+":
            if _pairs_inside(text, end - 1, end, start):
                break
            end -= 1
        # A tag wrapped whole in one pair of brackets ("(draft)") loses both.
        if end - start >= 2 and _OPENERS.get(text[start]) == text[end - 1] and _balanced(text[start + 1 : end - 1]):
            start, end = start + 1, end - 1
            continue
        return text[start:end].strip()


def _pairs_inside(text: str, position: int, end: int, start: int = 0) -> bool:
    """Whether the bracket at `position` has its partner within text[start:end]."""
    char = text[position]
    if char in _OPENERS:
        return _OPENERS[char] in text[position + 1 : end]
    if char in _CLOSERS:
        inner = text[start:position]
        return inner.count(_CLOSERS[char]) > inner.count(char)
    return False


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        if char in _OPENERS:
            depth += 1
        elif char in _CLOSERS:
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _is_edge_junk(char: str) -> bool:
    return char.isspace() or unicodedata.category(char)[0] in "PS"


def normalise_aliases(aliases: Mapping[str, str]) -> dict[str, str]:
    """Alias keys and targets are compared after normalisation, so the YAML can be written naturally."""
    return {normalise_tag(variant): normalise_tag(canonical) for variant, canonical in aliases.items()}


def item_tags(categories: Iterable[str], aliases: Mapping[str, str] | None = None) -> list[ItemTag]:
    """One ItemTag per distinct normalised tag of an item, first raw spelling kept (placeholders included)."""
    seen: set[str] = set()
    tags: list[ItemTag] = []
    for raw in categories:
        tag = normalise_tag(raw)
        if aliases:
            tag = aliases.get(tag, tag)
        if not tag or tag in seen:
            continue
        seen.add(tag)
        tags.append(ItemTag(tag=tag, tag_raw=raw))
    return tags
