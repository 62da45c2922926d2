"""Tag normalisation (pure): "  RUSSIA " and "Russia" are one tag, `russia`; aliases merge synonyms."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_SPACES = re.compile(r"\s+")
MAX_TAG_CHARS = 200


@dataclass(frozen=True)
class ItemTag:
    tag: str
    tag_raw: str


def normalise_tag(raw: str) -> str:
    """NFKC, case-folded, trimmed, inner whitespace collapsed, surrounding punctuation stripped."""
    text = unicodedata.normalize("NFKC", raw).casefold()
    text = _SPACES.sub(" ", text).strip()
    text = _strip_punctuation(text)
    return text[:MAX_TAG_CHARS]


def _strip_punctuation(text: str) -> str:
    """Strip punctuation and symbols from both ends, but keep '#' and '+' that carry meaning (c#, c++)."""
    start, end = 0, len(text)
    while start < end and _is_edge_junk(text[start]) and text[start] != "#":
        start += 1
    while end > start and _is_edge_junk(text[end - 1]) and text[end - 1] not in "#+":
        end -= 1
    return text[start:end].strip()


def _is_edge_junk(char: str) -> bool:
    return char.isspace() or unicodedata.category(char)[0] in "PS"


def normalise_aliases(aliases: Mapping[str, str]) -> dict[str, str]:
    """Alias keys and targets are compared after normalisation, so the YAML can be written naturally."""
    return {normalise_tag(variant): normalise_tag(canonical) for variant, canonical in aliases.items()}


def item_tags(categories: Iterable[str], aliases: Mapping[str, str] | None = None) -> list[ItemTag]:
    """One ItemTag per distinct normalised tag of an item, first raw spelling kept."""
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
