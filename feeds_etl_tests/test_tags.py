"""Tag normalisation and aliases (pure)."""

from __future__ import annotations

import pytest

from feeds_etl.tags import item_tags, normalise_aliases, normalise_tag


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Migrants", "migrants"),
        ("  RUSSIA ", "russia"),
        ("Russia.", "russia"),
        ("War   in\tUkraine", "war in ukraine"),
        ("«Politics»", "politics"),
        ("ＦＵＬＬＷＩＤＴＨ", "fullwidth"),  # NFKC
        ("Straße", "strasse"),  # case-folding, not lower()
        ("C++", "c++"),
        ("#climate", "#climate"),
        ("  ...  ", ""),
    ],
)
def test_normalise_tag(raw: str, expected: str) -> None:
    assert normalise_tag(raw) == expected


def test_item_tags_are_distinct_and_keep_first_raw_spelling() -> None:
    tags = item_tags(["Russia", " RUSSIA ", "Migrants", "", "russia"])
    assert [(t.tag, t.tag_raw) for t in tags] == [("russia", "Russia"), ("migrants", "Migrants")]


def test_aliases_merge_synonyms_and_translations() -> None:
    aliases = normalise_aliases({"Россия": "russia", "Russie": "Russia"})
    tags = item_tags(["Russie", "РОССИЯ", "Russia"], aliases)
    assert [t.tag for t in tags] == ["russia"]
