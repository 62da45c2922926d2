"""Words for the full-text index (pure). Must split text exactly as `search_items` splits a query in SQL."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

# The query side, in SQL (core functions only, so readers need no extension).
TOKENIZE_SQL = r"regexp_split_to_array(lower(strip_accents({expr})), '[^\p{{L}}\p{{N}}]+')"
_WORD = re.compile(r"[^\W_]+")


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(char for char in decomposed if unicodedata.category(char) != "Mn")


def words(text: str) -> list[str]:
    """Lower-cased, accent-free runs of letters and digits, in any script."""
    return _WORD.findall(strip_accents(text.lower()))


def term_frequencies(*texts: str | None) -> Counter[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        if text:
            counts.update(words(text))
    return counts
