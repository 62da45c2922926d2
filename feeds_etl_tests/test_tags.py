"""Tag normalisation and aliases, and the top-tags chart the UI shows (pure)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from feeds_etl.report import top_tags_chart
from feeds_etl.tags import PLACEHOLDER_TAGS, is_placeholder, item_tags, normalise_aliases, normalise_tag, stoplist


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
        # brackets that pair inside the tag are kept; a pair wrapping the whole tag goes
        ("Olympic Games (2026)", "olympic games (2026)"),
        ("[Update] Release notes.", "[update] release notes"),
        ("(draft)", "draft"),
        ("Notes (draft", "notes (draft"),
        ("Notes draft)", "notes draft"),
        # entities decoded once: a tag about "&amp;" keeps its literal
        ("culture &amp; life", "culture & life"),
        ("Rock &#039;n&#039; roll", "rock 'n' roll"),
        ("HTML &amp;amp;", "html &amp"),
        # separator variants are one tag; digit ranges and scores keep their hyphen
        ("open source", "open source"),
        ("Open-Source", "open source"),
        ("open_source", "open source"),
        ("pro‑tip", "pro tip"),
        ("GPT-4", "gpt 4"),
        ("2024-25", "2024-25"),
        # no silent plural folding
        ("Elections", "elections"),
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


def test_separator_variants_fold_into_one_tag() -> None:
    tags = item_tags(["open source", "open-source", "Open_Source", "pro tip", "pro-tip", "pro_tip"])
    assert [(t.tag, t.tag_raw) for t in tags] == [("open source", "open source"), ("pro tip", "pro tip")]


def test_plurals_stay_apart_unless_an_alias_merges_them() -> None:
    assert [t.tag for t in item_tags(["Election", "Elections"])] == ["election", "elections"]
    assert [t.tag for t in item_tags(["Election", "Elections"], normalise_aliases({"Elections": "election"}))] == [
        "election"
    ]


def test_placeholder_categories_are_tags_but_on_the_stop_list() -> None:
    tags = item_tags(["Uncategorized", "Misc.", "General", "Climate"])
    assert [t.tag for t in tags] == ["uncategorized", "misc", "general", "climate"]  # tag_raw is kept
    assert [is_placeholder(t.tag) for t in tags] == [True, True, True, False]
    assert is_placeholder("announcements", extra=["Announcements"]) and not is_placeholder("announcements")
    assert stoplist(["Announcements", "  "]) == sorted(PLACEHOLDER_TAGS | {"announcements"})
    assert all(normalise_tag(tag) == tag for tag in PLACEHOLDER_TAGS)


def test_feed_list_takes_a_tag_stoplist(tmp_path) -> None:
    from feeds_etl.feeds import FeedListError, parse_feed_list

    feeds = [{"name": "a", "url": "https://a.example/feed"}]
    listed = parse_feed_list({"feeds": feeds, "tag_stoplist": ["Announcements", "Blog"]}, tmp_path / "feeds.yaml")
    assert listed.tag_stoplist == ("Announcements", "Blog")
    assert parse_feed_list({"feeds": feeds}, tmp_path / "feeds.yaml").tag_stoplist == ()
    with pytest.raises(FeedListError, match="tag_stoplist"):
        parse_feed_list({"feeds": feeds, "tag_stoplist": "blog"}, tmp_path / "feeds.yaml")


def _bars(svg: str) -> dict[str, int]:
    """Each bar's tag (from its tooltip) and width, from the chart's SVG."""
    ns = {"svg": "http://www.w3.org/2000/svg"}
    return {
        rect.find("svg:title", ns).text.rsplit(": ", 1)[0]: int(rect.get("width"))
        for rect in ET.fromstring(svg).iterfind("svg:rect", ns)
        if rect.find("svg:title", ns) is not None
    }


def test_top_tags_chart_draws_one_bar_per_tag_in_proportion() -> None:
    svg = top_tags_chart([("russia", 80), ("migrants", 40), ("women", 1)])
    assert svg is not None
    assert _bars(svg) == {"russia": 300, "migrants": 150, "women": 4}
    labels = [text.text for text in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert labels == ["Top tags", "russia", "80", "migrants", "40", "women", "1"]


def test_top_tags_chart_escapes_tags_and_shortens_long_ones() -> None:
    hostile = '<script>alert("x")</script> & co'
    long_tag = "a tag far longer than any label column should be"
    svg = top_tags_chart([(hostile, 3), (long_tag, 2)])
    assert svg is not None and "<script>" not in svg
    assert list(_bars(svg)) == [hostile, long_tag]  # it parses: the tags are escaped; tooltips show them whole
    labels = [text.text for text in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert labels[1::2] == [hostile[:27] + "\u2026", long_tag[:27] + "\u2026"]


def test_top_tags_chart_shows_at_most_twelve_tags_and_nothing_without_tags() -> None:
    svg = top_tags_chart([(f"tag {n}", 100 - n) for n in range(15)])
    assert svg is not None and list(_bars(svg)) == [f"tag {n}" for n in range(12)]
    assert top_tags_chart([]) is None
