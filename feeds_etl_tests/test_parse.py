"""Parsing every bundled sample: ids, UTC dates, categories as given, encodings, formats."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from feeds_etl.fetch import sha256_hex
from feeds_etl.parse import ParsedFeed, entry_json, make_item_id, parse_feed
from feeds_etl_tests.conftest import SAMPLES


def parse_sample(name: str, feed_id: str = "sample", content_type: str | None = None) -> ParsedFeed:
    body = (SAMPLES / name).read_bytes()
    return parse_feed(feed_id, body, sha256_hex(body), content_type)


def test_novastan_wordpress_feed() -> None:
    feed = parse_sample("novastan-migrants.rss.xml", "novastan-migrants")
    assert feed.error is None and feed.title == "Migrants Archives"
    by_guid = {entry.guid: entry for entry in feed.entries}
    assert set(by_guid) == {"https://novastan.org/en/?p=48744", "https://novastan.org/en/?p=43495"}
    prisoners = by_guid["https://novastan.org/en/?p=48744"]
    assert len(prisoners.categories) == 12
    assert prisoners.categories[:3] == ("Kazakhstan", "army", "Central Asia")
    assert prisoners.published_at == datetime(2026, 6, 15, 18, 23, 24, tzinfo=UTC)
    assert prisoners.author == "Emma Collet"
    assert prisoners.content_html and "<p>" in prisoners.content_html
    assert prisoners.summary_html and prisoners.content_html != prisoners.summary_html
    assert len(by_guid["https://novastan.org/en/?p=43495"].categories) == 5


def test_atom_feed() -> None:
    feed = parse_sample("steppe-wire.atom.xml")
    assert len(feed.entries) == 120
    entry = feed.entries[0]
    assert entry.guid.startswith("tag:steppe-wire.example,2026:")
    assert entry.link.startswith("https://steppe-wire.example/news/")
    assert entry.published_at.tzinfo == UTC and entry.updated_at > entry.published_at
    assert entry.author and entry.content_html and entry.categories


def test_rss_1_rdf_feed_with_dc_subject_categories() -> None:
    feed = parse_sample("caspian-digest.rdf")
    assert len(feed.entries) == 80
    assert all(entry.categories for entry in feed.entries)  # from dc:subject
    assert all(entry.published_at is not None for entry in feed.entries)  # from dc:date


def test_items_without_guid_get_ids_from_link_then_title_and_date() -> None:
    feed = parse_sample("bazaar-notes.rss.xml")
    assert len(feed.entries) == 60 and all(entry.guid is None for entry in feed.entries)
    ids = {entry.item_id for entry in feed.entries}
    assert len(ids) == 60
    no_link = [entry for entry in feed.entries if entry.link is None]
    assert no_link, "the sample has items without a link"


def test_windows_1251_feed_is_decoded() -> None:
    feed = parse_sample("sibir-news.cp1251.rss.xml")
    assert len(feed.entries) == 60
    assert feed.title == "Сибирские новости"
    assert feed.entries[0].title.startswith("Новости региона")
    assert any("Россия" in entry.categories or "РОССИЯ" in entry.categories for entry in feed.entries)


def test_http_charset_header_overrides_declaration() -> None:
    body = '<?xml version="1.0"?><rss version="2.0"><channel><title>Привет</title><item><title>Мир</title><guid>1</guid></item></channel></rss>'.encode(  # noqa: E501
        "koi8-r"
    )
    feed = parse_feed("koi", body, sha256_hex(body), "application/rss+xml; charset=koi8-r")
    assert feed.title == "Привет" and feed.entries[0].title == "Мир"


@pytest.mark.parametrize("name", ["novastan-migrants.rss.xml", "steppe-wire.atom.xml", "bazaar-notes.rss.xml"])
def test_item_ids_and_hashes_are_stable(name: str) -> None:
    first, second = parse_sample(name), parse_sample(name)
    assert [(e.item_id, e.entry_sha256) for e in first.entries] == [(e.item_id, e.entry_sha256) for e in second.entries]


def test_item_id_prefers_guid_then_link_then_title_and_date() -> None:
    assert make_item_id("f", "g", "l", "t", "d") == make_item_id("f", "g", "other", "x", "y")
    assert make_item_id("f", None, "l", "t", "d") == make_item_id("f", None, "l", "x", "y")
    assert make_item_id("f", None, None, "t", "d") != make_item_id("f", None, None, "t", "d2")
    assert make_item_id("f", "g", None, None, None) != make_item_id("other-feed", "g", None, None, None)


def test_a_changed_entry_keeps_its_id_but_changes_its_hash() -> None:
    body = (SAMPLES / "novastan-migrants.rss.xml").read_bytes()
    edited = body.replace(b"I only needed a passport", b"I only needed papers")
    before = parse_feed("n", body, sha256_hex(body)).entries[0]
    after = parse_feed("n", edited, sha256_hex(edited)).entries[0]
    assert before.item_id == after.item_id and before.entry_sha256 != after.entry_sha256


def _rss(*items: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Dates</title><link>https://d.example/</link>'
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def _item(guid: str, date: str, tag: str = "pubDate") -> str:
    return f"<item><title>Post {guid}</title><guid>{guid}</guid><{tag}>{date}</{tag}></item>"


def test_impossible_dates_are_unknown_with_the_raw_text_kept_and_one_warning() -> None:
    body = _rss(
        _item("zero", "Mon, 01 Jan 0001 00:00:00 +0000"),
        _item("old", "Thu, 01 Jan 1970 00:00:00 GMT"),
        _item("future", "Sat, 01 Jan 2039 10:00:00 GMT"),
        _item("fine", "Tue, 24 Nov 2026 09:30:00 GMT"),
    )
    feed = parse_feed("dates", body, sha256_hex(body))
    by_guid = {entry.guid: entry for entry in feed.entries}
    for guid in ("zero", "old", "future"):
        assert by_guid[guid].published_at is None and by_guid[guid].updated_at is None, guid
        assert by_guid[guid].published_raw and by_guid[guid].impossible_date, guid
    assert by_guid["zero"].published_raw == "Mon, 01 Jan 0001 00:00:00 +0000"
    assert by_guid["fine"].published_at == datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    assert by_guid["fine"].published_raw is None
    assert feed.warning == (
        "3 item(s) with impossible dates (e.g. 'Mon, 01 Jan 0001 00:00:00 +0000'): published_at left NULL"
    )


def test_the_future_limit_is_two_days_after_the_parse_time() -> None:
    from feeds_etl.parse import parse_entry

    raw = {"id": "x", "published": "soon", "published_parsed": (2026, 12, 3, 12, 0, 0, 3, 337, 0)}
    assert parse_entry("f", raw, datetime(2026, 12, 1, 13, tzinfo=UTC)).published_at is not None
    late = parse_entry("f", raw, datetime(2026, 12, 1, 11, tzinfo=UTC))
    assert late.published_at is None and late.published_raw == "soon"


def test_a_feed_with_plausible_dates_has_no_date_warning() -> None:
    feed = parse_sample("steppe-wire.atom.xml")
    assert all(entry.published_raw is None for entry in feed.entries)
    assert not (feed.warning or "").count("impossible")


@pytest.mark.parametrize(
    "text",
    [
        'plain <p>ascii</p> with "quotes", \\\\ and \t\n\x1f controls',
        "del \x7f stays as it was hashed",
        "non-ASCII: café, Київ, 東京, emoji 🎉",
        "",
    ],
)
def test_entry_json_is_the_text_entry_hashes_were_always_made_of(text: str) -> None:
    fields = {
        "guid": text, "link": None, "title": text, "author": None,
        "published_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "updated_at": None,
        "summary_html": text, "content_html": None, "categories": (text, "tag"),
    }  # fmt: skip
    assert entry_json(fields) == json.dumps(fields, default=str, ensure_ascii=False)
