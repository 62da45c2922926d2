"""Words for the full-text index (pure). Must split text exactly as `search_items` splits a query in SQL."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

# The query side, in SQL (core functions only, so readers need no extension).
TOKENIZE_SQL = r"regexp_split_to_array(lower(strip_accents({expr})), '[^\p{{L}}\p{{N}}]+')"
_WORD = re.compile(r"[^\W_]+")


# Combining marks (category Mn) of the Basic Multilingual Plane, dropped after NFD decomposition.
_MARKS = {code: None for code in range(0x10000) if unicodedata.category(chr(code)) == "Mn"}


def strip_accents(text: str) -> str:
    if text.isascii():  # the common case costs nothing
        return text
    return unicodedata.normalize("NFD", text).translate(_MARKS)


def words(text: str) -> list[str]:
    """Lower-cased, accent-free runs of letters and digits, in any script."""
    return _WORD.findall(strip_accents(text.lower()))


def term_frequencies(*texts: str | None) -> Counter[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        if text:
            counts.update(words(text))
    return counts
