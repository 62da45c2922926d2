"""JSON Feed 1.0 and 1.1 through parse_feed (and the pipeline's choice of parser), into the same records as RSS."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feeds_etl.jsonfeed import text_as_html
from feeds_etl.parse import MAX_ENTRIES_PER_FEED, describe_not_xml, make_item_id, parse_feed, sniff_not_a_feed
from feeds_etl.parse_fast import parse_feed_fast
from feeds_etl_tests.conftest import Project

JSON_FEED_1_1 = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Steppe Wire (JSON)",
    "home_page_url": "https://steppe.example.com/",
    "feed_url": "https://steppe.example.com/feed.json",
    "language": "en",
    "authors": [{"name": "Steppe Wire desk", "url": "https://steppe.example.com/about"}],
    "items": [
        {
            "id": "https://steppe.example.com/2026/11/railway",
            "url": "https://steppe.example.com/2026/11/railway",
            "title": "New railway links Almaty and Urumqi",
            "content_html": "<p>The line opened on <b>Monday</b>.</p>",
            "summary": "A new line opens <today>",
            "date_published": "2026-11-02T09:30:00+06:00",
            "date_modified": "2026-11-02T12:00:00Z",
            "authors": [{"name": "Aigerim N."}, {"name": "Timur K."}],
            "tags": ["Kazakhstan", "Transport", "China"],
            "attachments": [{"url": "https://steppe.example.com/railway.mp3", "mime_type": "audio/mpeg"}],
        },
        {
            "id": "2",
            "url": "https://steppe.example.com/2026/11/grain",
            "title": "Grain & the border",
            "content_text": "First paragraph, line one.\nLine two < three.\n\nSecond paragraph.",
            "date_published": "2026-11-01T08:00:00Z",
        },
        {
            "id": "3",
            "content_text": "A micro-post without a title or a URL.",
            "date_published": "2026-11-01T07:00:00Z",
        },
        "not an item: ignored",
    ],
}

JSON_FEED_1_0 = {
    "version": "https://jsonfeed.org/version/1",
    "title": "Bazaar Notes (JSON)",
    "home_page_url": "https://bazaar.example.org/",
    "author": {"name": "Bazaar editors"},
    "items": [
        {
            "id": 1001,  # numeric ids are read as strings
            "url": "https://bazaar.example.org/prices",
            "title": "Prices at the Osh bazaar",
            "content_html": "<p>Onions are up again.</p>",
            "date_published": "2026-10-30T10:00:00-05:00",
            "author": {"name": "Dilnoza R."},
            "tags": ["Kyrgyzstan", "Prices"],
        },
        {
            "id": "1002",
            "external_url": "https://elsewhere.example.net/story",
            "title": "Linked elsewhere",
            "content_html": "<p>Worth reading.</p>",
        },
    ],
}


def body(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def parse(document: object, feed_id: str = "json") -> object:
    data = document if isinstance(document, bytes) else body(document)
    return parse_feed(feed_id, data, hashlib.sha256(data).hexdigest(), "application/feed+json")


def test_json_feed_1_1_fills_the_same_fields_as_rss() -> None:
    parsed = parse(JSON_FEED_1_1)
    assert parsed.error is None and parsed.warning is None and parsed.title == "Steppe Wire (JSON)"
    railway, grain, micro = parsed.entries
    assert railway.guid == railway.link == "https://steppe.example.com/2026/11/railway"
    assert railway.item_id == make_item_id("json", railway.guid, railway.link, railway.title, None)
    assert railway.title == "New railway links Almaty and Urumqi"
    assert railway.content_html == "<p>The line opened on <b>Monday</b>.</p>"
    assert railway.summary_html == "A new line opens &lt;today&gt;"  # summary is plain text: escaped
    assert railway.published_at == datetime(2026, 11, 2, 3, 30, tzinfo=UTC)
    assert railway.updated_at == datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    assert railway.author == "Aigerim N., Timur K."
    assert railway.categories == ("Kazakhstan", "Transport", "China")

    # content_text becomes escaped paragraphs; an item without authors has the feed's.
    assert grain.content_html == "<p>First paragraph, line one.<br>\nLine two &lt; three.</p>\n<p>Second paragraph.</p>"
    assert grain.title == "Grain & the border" and grain.author == "Steppe Wire desk"
    assert grain.updated_at == grain.published_at == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    assert grain.summary_html is None and grain.categories == ()
    assert micro.guid == "3" and micro.link is None and micro.title is None
    assert micro.content_html == "<p>A micro-post without a title or a URL.</p>"


def test_json_feed_1_0_with_its_single_author_and_numeric_ids() -> None:
    parsed = parse(JSON_FEED_1_0)
    assert parsed.error is None and parsed.title == "Bazaar Notes (JSON)"
    prices, linked = parsed.entries
    assert prices.guid == "1001" and prices.author == "Dilnoza R."
    assert prices.published_at == datetime(2026, 10, 30, 15, 0, tzinfo=UTC)
    assert prices.categories == ("Kyrgyzstan", "Prices")
    assert linked.link == "https://elsewhere.example.net/story" and linked.author == "Bazaar editors"
    assert linked.published_at is None and linked.updated_at is None


def test_ids_are_stable_and_changes_are_detected() -> None:
    first = parse(JSON_FEED_1_1).entries
    assert [e.item_id for e in parse(JSON_FEED_1_1).entries] == [e.item_id for e in first]
    edited = json.loads(json.dumps(JSON_FEED_1_1))
    edited["items"][0]["content_html"] = "<p>The line opened on Tuesday.</p>"
    edited["items"].reverse()
    again = {e.item_id: e.entry_sha256 for e in parse(edited).entries}
    assert set(again) == {e.item_id for e in first}
    changed = [e.item_id for e in first if again[e.item_id] != e.entry_sha256]
    assert changed == [first[0].item_id]
    # An item listed twice keeps its first version; the same ids in another feed are other items.
    assert len({e.item_id for e in parse(JSON_FEED_1_1, feed_id="other").entries} & set(again)) == 0


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"title": "x", "items": []}', "not a feed: a JSON document, but not a JSON Feed (its 'version' is None"),
        (b'{"version": "https://example.org/v1", "items": []}', "not a JSON Feed"),
        (b'[{"id": 1}]', "not a feed: a JSON list, not a JSON Feed object"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": ', "not a feed: malformed JSON"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "title": "t"}', "'items' is missing or not a list"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', "no items: the document has no entries"),
        (b"[" * 100_000 + b"]" * 100_000, "not a feed:"),
    ],
)
def test_json_that_is_not_a_json_feed_gets_a_clear_error(data: bytes, expected: str) -> None:
    parsed = parse(data)
    assert parsed.entries == () and expected in parsed.error


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "an empty document"),
        (b"  \n ", "an empty document"),
        (b"<!DOCTYPE html><html><body>Log in</body></html>", "an HTML page"),
        (b"Service temporarily unavailable. Try again later.", "plain text, not XML (it begins 'Service temporarily"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "a PDF document"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "a PNG image"),
        (b"\x1f\x8b\x08\x00\x00\x00", "gzip-compressed data"),
        (b"\x07\x01\x02\x03\xfe\x80", "binary data, not XML"),
    ],
)
def test_documents_that_are_not_xml_are_named_in_plain_words(data: bytes, expected: str) -> None:
    parsed = parse(data)
    assert parsed.entries == () and expected in parsed.error and "SAX" not in parsed.error


def test_xml_in_any_encoding_is_not_mistaken_for_something_else() -> None:
    rss = '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
    for data in (rss.encode(), rss.encode("utf-16"), rss.encode("utf-16-le"), b"\xef\xbb\xbf" + rss.encode()):
        assert describe_not_xml(data) is None
    assert sniff_not_a_feed(body(JSON_FEED_1_1)) is None  # JSON reaches the parser
    assert sniff_not_a_feed(b"%PDF-1.4 ...") == "not a feed: the server returned a PDF document"


def test_bounded_like_any_feed() -> None:
    many = {
        "version": "https://jsonfeed.org/version/1.1",
        "items": [{"id": str(n), "content_text": "x"} for n in range(MAX_ENTRIES_PER_FEED + 50)],
    }
    assert len(parse(many).entries) == MAX_ENTRIES_PER_FEED
    huge = "word " * 1_000_000
    assert len(text_as_html(huge)) < 2 * len(huge)
    parsed = parse(body(JSON_FEED_1_0).replace(b"Bazaar Notes", b"Caf\xc3 Notes"))
    assert parsed.entries and "invalid UTF-8" in parsed.warning


def test_the_pipeline_sends_json_past_the_lxml_fast_path() -> None:
    data = body(JSON_FEED_1_1)
    assert parse_feed_fast("json", data, "x", "application/feed+json", "https://steppe.example.com/feed.json") is None


def test_a_json_feed_lands_in_items_through_the_assets(project: Project, current_hour: str) -> None:
    feed_file = project.root / "samples" / "steppe.json"
    feed_file.write_bytes(body(JSON_FEED_1_1))
    samples = Path(project.root / "samples")
    project.write_feeds(
        [
            {"name": "steppe-json", "url": str(feed_file)},
            {"name": "novastan-migrants", "url": str(samples / "novastan-migrants.rss.xml")},
        ]
    )
    assert project.materialize(current_hour).success
    rows = project.query(
        "SELECT title, author, categories, published_at FROM items WHERE feed_id = 'steppe-json' ORDER BY published_at"
    )
    assert [row[0] for row in rows] == [None, "Grain & the border", "New railway links Almaty and Urumqi"]
    assert rows[-1][1] == "Aigerim N., Timur K." and rows[-1][2] == ["Kazakhstan", "Transport", "China"]
    text = project.query(
        "SELECT t.text FROM item_text t JOIN items i USING (item_id) WHERE i.title = 'Grain & the border'"
    )
    assert text[0][0].startswith("First paragraph, line one.")
    assert project.query("SELECT last_error FROM feed_health WHERE feed_id = 'steppe-json'") == [(None,)]
