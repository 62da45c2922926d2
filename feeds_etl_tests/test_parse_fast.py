"""The lxml fast path (parse_fast) gives exactly parse_feed's result, or steps aside with None.

Every input here is parsed both ways: the fast result must equal parse_feed's (every field of every entry),
or be None. Each group of inputs must also mostly take the fast path, so none of this can pass vacuously.
"""

from __future__ import annotations

import codecs
import importlib.util
import itertools
import random
import sys
import tomllib
import urllib.parse
from collections.abc import Iterable
from dataclasses import fields
from types import ModuleType

import feedparser
import pytest

from feeds_etl import feedparser_private
from feeds_etl.feeds import REPO_ROOT
from feeds_etl.parse import ParsedFeed, parse_feed
from feeds_etl.parse_fast import parse_feed_fast
from feeds_etl_tests import feed_server
from feeds_etl_tests.conftest import SAMPLES
from feeds_etl_tests.test_history import atom_doc, plain_rss, rss_with_atom_prev, wp_page
from feeds_etl_tests.test_history_import import page_xml

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
BASE = "https://feeds.example/path/feed.xml"
# (content_type, base_url) as the pipeline passes them: local files have neither, HTTP feeds both.
CONFIGS = [(None, None), (RSS_TYPE, BASE), ("text/xml", "http://feeds.example/feed")]


def check(body: bytes, content_type: str | None = None, base_url: str | None = None) -> bool:
    """parse_feed_fast is None or == parse_feed; True when the fast path took the document."""
    fast = parse_feed_fast("feed", body, "sha", content_type, base_url)
    if fast is None:
        return False
    slow = parse_feed("feed", body, "sha", content_type, base_url)
    assert fast == slow, _difference(slow, fast)
    return True


def taken(documents: Iterable[tuple[str, bytes, str | None, str | None]]) -> tuple[int, int]:
    """(documents the fast path took, documents): each (name, body, content type, base URL) is checked."""
    count = total = 0
    for name, body, content_type, base_url in documents:
        try:
            count += check(body, content_type, base_url)
        except AssertionError as exc:
            raise AssertionError(f"{name} ({content_type}, {base_url}): {exc}") from None
        total += 1
    return count, total


def _difference(slow: ParsedFeed, fast: ParsedFeed) -> str:
    """The first differing field, readably (ParsedFeed reprs of 10 KB articles are useless)."""
    for name in ("feed_id", "content_sha256", "title", "warning", "error"):
        if getattr(slow, name) != getattr(fast, name):
            return f"feed {name}: feedparser {getattr(slow, name)!r} vs fast {getattr(fast, name)!r}"
    if len(slow.entries) != len(fast.entries):
        return f"{len(slow.entries)} entries from feedparser, {len(fast.entries)} from the fast path"
    for index, (a, b) in enumerate(zip(slow.entries, fast.entries, strict=True)):
        for field in fields(a):
            x, y = getattr(a, field.name), getattr(b, field.name)
            if x != y:
                return f"entry {index} {field.name}: feedparser {str(x)[:300]!r} vs fast {str(y)[:300]!r}"
    return "equal"


# -- 0. the feedparser the fast path was checked against ------------------------------------------------


def test_feedparser_is_the_pinned_version() -> None:
    dependencies = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [spec for spec in dependencies if spec.replace(" ", "").startswith("feedparser")]
    assert pins == [f"feedparser=={feedparser_private.CHECKED_VERSION}"]
    assert feedparser.__version__ == feedparser_private.CHECKED_VERSION


def test_another_feedparser_version_leaves_everything_to_feedparser(monkeypatch: pytest.MonkeyPatch) -> None:
    body = (SAMPLES / "steppe-wire.atom.xml").read_bytes()
    assert parse_feed_fast("feed", body, "sha") is not None
    monkeypatch.setattr(feedparser_private, "VERSION_MATCHES", False)
    assert parse_feed_fast("feed", body, "sha") is None


# -- 1. the bundled samples ------------------------------------------------------------------------


def test_every_bundled_sample() -> None:
    samples = [path for path in sorted(SAMPLES.iterdir()) if path.is_file() and path.suffix != ".py"]
    documents = [(path.name, path.read_bytes(), *config) for path in samples for config in CONFIGS[:2]]
    count, total = taken(documents)
    assert samples and count > total / 2, (count, total)


# -- 2. a generated corpus ---------------------------------------------------------------------------


def _corpus_module() -> ModuleType:
    name = "feeds_etl_bench_corpus"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "benchmarks" / "corpus.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up here
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.mark.slow
@pytest.mark.parametrize("config", ["file", "http"])
def test_generated_corpus(config: str) -> None:
    corpus = _corpus_module().Corpus(200, 8, seed=31)
    corpus.mutate(0.5)  # half the feeds with new or edited items (updated after published)
    assert {feed.kind for feed in corpus.feeds} == {"rss", "atom"}
    documents = [
        (feed.name, corpus.body(index), corpus.content_type(index), f"https://{feed.name}.example/feed")
        if config == "http"
        else (feed.name, corpus.body(index), None, None)
        for index, feed in enumerate(corpus.feeds)
    ]
    count, total = taken(documents)
    assert total == 200 and count > total / 2, (count, total)


# -- 3. the documents the other tests feed the pipeline ---------------------------------------------


def _other_tests_documents() -> list[tuple[str, bytes, str | None]]:
    """Every feed body the other tests use: feed_server's routes (rebuilt with the same builders and content
    types), the history tests' pages, and the odd bodies of the asset and health tests."""
    fs = feed_server
    secret = "/nonexistent/secret"
    rss_type, xml_type = "application/rss+xml", "application/xml"
    docs: list[tuple[str, bytes, str | None]] = [
        ("good_feed", fs.good_feed("a", 5), RSS_TYPE),
        ("good_feed v2", fs.good_feed("a", 5, version=2), RSS_TYPE),
        ("gzipped", fs.good_feed("gzipped", 4), rss_type),
        ("rss undeclared", fs.rss("t", [("g", "x")], declare=False), RSS_TYPE),
        ("xxe", fs.XXE_FEED_TEMPLATE.format(secret=secret).encode(), rss_type),
        ("xxe one line", fs.XXE_ONE_LINE_TEMPLATE.format(secret=secret).encode(), "text/xml"),
        ("xxe dtd", fs.XXE_EXTERNAL_DTD_TEMPLATE.format(secret=secret).encode(), xml_type),
        ("billion laughs", fs.billion_laughs(), rss_type),
        ("quadratic", fs.quadratic_blowup(entity_kib=1, references=100), rss_type),
        ("html", fs.HTML_PAGE, "text/html; charset=utf-8"),
        ("html as xml", fs.HTML_PAGE, rss_type),
        ("empty", b"", rss_type),
        ("whitespace", b" \r\n\t \n", rss_type),
        ("truncated", fs.truncated_feed(), RSS_TYPE),
        (
            "charset wrong header",
            fs.rss("Сибирь", [("w1251-1", "Новости Сибири")], encoding="windows-1251"),
            RSS_TYPE,
        ),
        (
            "charset header only",
            fs.rss("Сибирь", [("h1251-1", "Новости по заголовку")], encoding="windows-1251", declare=False),
            "application/rss+xml; charset=windows-1251",
        ),
        ("koi8-r", fs.rss("Кои", [("koi8-1", "Новости в KOI8-R")], encoding="koi8-r"), rss_type),
        (
            "latin-1",
            fs.rss("Café", [("latin1-1", "Crème brûlée à la française")], encoding="iso-8859-1"),
            "text/xml; charset=iso-8859-1",
        ),
        (
            "invalid utf-8",
            fs.good_feed("badbytes").replace(b"badbytes-1</guid><title>", b"badbytes-1</guid><title>\xff\xfe\xc3("),
            RSS_TYPE,
        ),
        (
            "huge (its start)",
            b'<?xml version="1.0"?><rss version="2.0"><channel><title>huge</title>',
            rss_type,
        ),
        ("wp page", wp_page(2), rss_type),
        ("wp page empty build", wp_page(1, items=0, generator=False), rss_type),
        ("plain rss", plain_rss(["a", "b", "a"]), rss_type),
        (
            "atom doc",
            atom_doc("n", ["1", "2"], "https://ex.example/old.xml", entry_prev="https://x/p"),
            ATOM_TYPE,
        ),
        ("rss with atom prev", rss_with_atom_prev(["1", "2"], "https://ex.example/old.xml"), rss_type),
        ("history import page", page_xml(2), rss_type),
        ("weird bytes", b"\x00\xff<feed", None),
        ("bare rss", b"<rss/>", None),
        ("login page", b"<html><body>Please log in</body></html>", None),
        (
            "entity expansion",
            b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
            b'<!ENTITY a "&xxe;">]><feed xmlns="http://www.w3.org/2005/Atom"><title>&a;</title>'
            b'<link rel="prev-archive" href="https://ex.example/old.xml"/><entry><id>1</id></entry></feed>',
            None,
        ),
    ]
    return docs


def test_documents_of_the_other_tests() -> None:
    documents = [
        (name, body, content_type, base_url)
        for name, body, content_type in _other_tests_documents()
        for base_url in ("http://127.0.0.1:8000/feed", None)
    ]
    count, total = taken(documents)
    assert count > 0, total  # most of these are hostile or broken on purpose: feedparser's to handle


# -- 4. edge cases -----------------------------------------------------------------------------------

NAMESPACES = (
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:atom="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/" '
    'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" xmlns:dcterms="http://purl.org/dc/terms/"'
)


def rss(*items: str, channel: str = "<title>Feed</title>", version: str = "2.0", root: str = "") -> bytes:
    body = "".join(f"<item>{item}</item>" for item in items)
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="{version}" {NAMESPACES} {root}>'
        f"<channel>{channel}{body}</channel></rss>"
    ).encode()


def atom(*entries: str, head: str = "<title>Feed</title><id>urn:feed</id>") -> bytes:
    body = "".join(f"<entry>{entry}</entry>" for entry in entries)
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">{head}{body}</feed>'.encode()
    )


def rdf(*items: str, channel: str = '<channel rdf:about="https://x.example/"><title>RDF</title></channel>') -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        f'xmlns="http://purl.org/rss/1.0/" {NAMESPACES}>{channel}{"".join(items)}</rdf:RDF>'
    ).encode()


G = "<guid>https://x.example/g</guid>"
EDGE_CASES: dict[str, bytes] = {
    # text: CDATA, escapes, markup in titles, whitespace
    "cdata everywhere": (
        rss(f"<title><![CDATA[A <b>bold</b> &amp; title]]></title>{G}<description><![CDATA[<p>x</p>]]></description>")
    ),
    "escaped entities in a title": rss(f"<title>Tom &amp;amp; Jerry &lt;3 &#8217; &#x2019;</title>{G}"),
    "rss title type html": rss(f'<title type="html">A &lt;b&gt;b&lt;/b&gt;</title>{G}'),
    "atom title type html": atom('<title type="html">A &amp;amp; &lt;b&gt;B&lt;/b&gt;</title><id>urn:1</id>'),
    "atom title type text": atom('<title type="text">A &lt; B</title><id>urn:1</id>'),
    "atom title type xhtml": (
        atom('<title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">A <b>B</b></div></title><id>u</id>')
    ),
    "atom content type xhtml": (
        atom(
            '<title>T</title><id>u</id><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">P</div>'
            "</content>"
        )
    ),
    "markup inside a description": rss(f"<title>T</title>{G}<description>a <b>b</b></description>"),
    "whitespace around fields": (
        rss(
            "<title>\n   Spaced   title \t</title><guid>  g  </guid><link>\n https://x.example/l \n</link>"
            "<description>\n  <![CDATA[ <p>x</p> ]]>\n </description><category>  a  </category>"
            "<dc:creator>\n Emma \n</dc:creator><pubDate>  Tue, 24 Nov 2026 10:00:00 GMT  </pubDate>"
        )
    ),
    "non-breaking spaces": rss(f"<title>\u00a0 title \u00a0</title>{G}<description>\u00a0</description>"),
    "cr lf": rss(f"<title>a\r\nb\rc</title>{G}<description>x\r\ny</description>"),
    "utf-8 read as latin-1 (feedparser repairs it)": rss(f"<title>CafÃ© crÃ¨me</title>{G}"),
    "cp1252 control characters": rss(f"<title>\u0093quoted\u0094 \u0080</title>{G}"),
    "astral characters": rss(f"<title>T \U0001f600</title>{G}"),
    "comment inside a title": rss(f"<title>A<!-- c -->B</title>{G}"),
    "comments and PIs between fields": rss(f"<!-- hi --><?pi x?><title>T</title>{G}<!-- bye -->"),
    "upper-case element names": (
        rss("<Title>T</Title><LINK>https://x.example/u</LINK><PubDate>Tue, 24 Nov 2026 10:00:00 GMT</PubDate>")
    ),
    # ids and links
    "relative link": rss("<title>T</title><link>/posts/1</link>"),
    "relative link with dots and a query": rss("<title>T</title><link>../a/./b?x=1&amp;y=2</link>"),
    "link with entity-like query": rss("<title>T</title><link>https://x.example/?a=1&amp;amp;b=2&amp;c;=3</link>"),
    "links urllib normalises": (
        rss(
            "<title>1</title><link>HTTPS://X.example/a</link>",
            "<title>2</title><link>https://x.example/a?</link>",
            "<title>3</title><link>https://x.example/a;b?c</link>",
            "<title>4</title><link>https:///x.example/a</link>",
            "<title>5</title><link>https://u:p@x.example/a#</link>",
            "<title>6</title><link>https://[::1/a</link>",
            "<title>7</title><link>https://ex.example/пример</link>",
        )
    ),
    "permalink guid becomes the link": rss("<title>T</title><guid>https://x.example/p/1</guid>"),
    "relative permalink guid": rss("<title>T</title><guid>/p/1</guid>"),
    "isPermaLink False is not false": rss('<title>T</title><guid isPermaLink="False">/p/1</guid>'),
    "guid then link, link then guid": (
        rss(
            "<title>1</title><guid>https://x.example/g1</guid><link>https://x.example/l1</link>",
            "<title>2</title><link>https://x.example/l2</link><guid>https://x.example/g2</guid>",
            "<title>3</title><link></link><guid>https://x.example/g3</guid>",
            '<title>4</title><guid isPermaLink="false">g4</guid><link>https://x.example/l4</link>',
        )
    ),
    "items without guid, link or title": (
        rss(
            "<title>Only a title</title><pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate>",
            "<description>only a description</description>",
            "<link>https://x.example/only-a-link</link>",
            "",
        )
    ),
    "duplicate guids: the first wins": (
        rss("<title>A</title><guid>dup</guid>", "<title>B</title><guid>dup</guid>", "<title>C</title><guid>x</guid>")
    ),
    "two guids, two links": (
        rss(
            "<title>T</title><guid>a</guid><guid>b</guid><link>https://x.example/1</link>"
            "<link>https://x.example/2</link>"
        )
    ),
    "two titles": rss(f"<title>T1</title><title>T2</title>{G}"),
    "atom link rel variants": (
        atom(
            '<title>T</title><id>urn:1</id><link rel="self" href="https://x.example/s"/>'
            '<link rel="ALTERNATE" href="https://x.example/A1"/>'
            '<link rel="alternate" type="application/xhtml+xml" href="https://x.example/A2"/>'
            '<link rel="alternate" type="application/pdf" href="https://x.example/pdf"/>'
            '<link rel="replies" href="https://x.example/r"/><link rel="enclosure" href="https://x.example/e.mp3"/>',
            '<title>no alternate: the id is the link</title><id>tag:x,2026:2</id><link rel="enclosure" href="e"/>',
            '<title>relative</title><id>/id/3</id><link href="a/b"/><link href=""/>',
            "<title>text link</title><id>urn:4</id><link>https://x.example/text</link>",
            '<title>uri attribute</title><id>urn:5</id><link uri="https://x.example/u" href="https://x.example/h"/>',
        )
    ),
    "atom:link inside rss items": (
        rss(
            '<title>1</title><guid isPermaLink="false">g1</guid><atom:link href="https://x.example/alt"/>',
            '<title>2</title><guid isPermaLink="false">g2</guid><atom:link rel="self" href="https://x.example/s"/>',
        )
    ),
    "xml:base": rss('<title>T</title><link xml:base="https://other.example/">a</link>'),
    "xml:base on atom entries": atom('<title>T</title><id>u</id><link xml:base="https://b.example/d/" href="x"/>'),
    "a plain base attribute counts too": rss('<title>T</title><link base="https://other.example/">a</link>'),
    # dates
    "dates in odd formats": (
        rss(
            f"<title>1</title>{G}<pubDate>2026-11-24</pubDate>",
            "<title>2</title><guid>g2</guid><pubDate>yesterday</pubDate>",
            "<title>3</title><guid>g3</guid><pubDate></pubDate>",
            "<title>4</title><guid>g4</guid><dc:date>2026-11-24T10:00:00+03:00</dc:date>",
            "<title>5</title><guid>g5</guid><pubDate>Fri, 31 Dec 9999 23:59:59 -1200</pubDate>",
            "<title>6</title><guid>g6</guid><pubDate>2004-05-25 오 11:23:17</pubDate>",
            "<title>7</title><guid>g7</guid><lastBuildDate>Tue, 24 Nov 2026 10:00:00 GMT</lastBuildDate>",
            "<title>8</title><guid>g8</guid><dc:date>2026-11-25T10:00:00Z</dc:date>"
            "<pubDate>Tue, 24 Nov 26 10:00 EST</pubDate>",
            "<title>9</title><guid>g9</guid><pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate>"
            "<pubDate>Wed, 25 Nov 2026</pubDate>",
            "<title>10</title><guid>g10</guid><dcterms:modified>2026-11-24T10:00:00Z</dcterms:modified>",
        )
    ),
    "atom dates": (
        atom(
            "<title>1</title><id>urn:1</id><published>2026-11-24T10:00:00+02:00</published>",
            "<title>2</title><id>urn:2</id><updated>2026-11-24T10:00:00Z</updated>",
            "<title>3</title><id>urn:3</id><published>not a date</published><updated>2026-11-24T10:00:00Z</updated>",
            "<title>4</title><id>urn:4</id><published>2026-11-24T10:00:00Z</published><updated>garbage</updated>",
            "<title>5</title><id>urn:5</id><issued>2026-11-24T10:00:00Z</issued>"
            "<modified>2026-11-25T10:00:00Z</modified>",
        )
    ),
    # categories
    "categories: repeated, empty, with domains": (
        rss(
            f"<title>T</title>{G}<category>a</category><category>a</category><category>b</category>"
            '<category> </category><category></category><category domain="d">a</category><category domain="d"/>'
            '<category>c</category><category domain="x">A</category><category>A</category>'
            '<category term="t" label="l">x</category><category label="only a label"/>'
        )
    ),
    "dc:subject, media:category, itunes:category and keyword lists": (
        rss(
            f"<title>T</title>{G}<dc:subject>s1</dc:subject><dc:subject>s2</dc:subject>"
            '<media:category>m</media:category><media:category scheme="s">m</media:category><media:category label="L"/>'
            '<itunes:category text="Tech"/><itunes:category text="Tech">Sub</itunes:category>'
            "<media:keywords>a, b,, c ,a</media:keywords><itunes:keywords>k1,k2</itunes:keywords><keywords>k</keywords>"
        )
    ),
    "nested itunes categories": (
        rss(f'<title>T</title>{G}<itunes:category text="A"><itunes:category text="B"/></itunes:category>')
    ),
    "atom categories": (
        atom(
            '<title>T</title><id>u</id><category term="a"/><category term="a"/><category term="a" scheme="s"/>'
            '<category label="L"/><category term=""/>'
        )
    ),
    # authors
    "rss authors": (
        rss(
            "<title>1</title><guid>g1</guid><author>jane@example.com (Jane Doe)</author>",
            "<title>2</title><guid>g2</guid><author>jane@example.com</author>",
            "<title>3</title><guid>g3</guid><dc:creator>A</dc:creator><dc:creator>B</dc:creator>",
            "<title>4</title><guid>g4</guid><dc:creator>A</dc:creator><dc:creator></dc:creator>",
            "<title>5</title><guid>g5</guid><author>a@b.example (A)</author><author/>",
            "<title>6</title><guid>g6</guid><author>a@b.example (A)</author>"
            "<atom:author><atom:name>N</atom:name></atom:author>",
            "<title>7</title><guid>g7</guid><itunes:author>Pod Person</itunes:author>",
            "<title>8</title><guid>g8</guid><dc:creator><![CDATA[  Emma  ]]>"
            "</dc:creator><dc:contributor>C</dc:contributor>",
        )
    ),
    "atom authors": (
        atom(
            "<title>1</title><id>u1</id><author><name>N</name><email>n@x.example</email>"
            "<uri>https://n.example/</uri></author>",
            "<title>2</title><id>u2</id><author><email>n@x.example</email></author>",
            "<title>3</title><id>u3</id><author><uri>https://n.example/</uri></author>",
            "<title>4</title><id>u4</id><author><name>A</name></author><author><name>B</name></author>",
            "<title>5</title><id>u5</id><author><name>A</name></author><author><uri>/x</uri></author>",
            "<title>6</title><id>u6</id><author>Loose <name>N</name></author>",
            "<title>7</title><id>u7</id><author><name>CafÃ©</name></author><contributor><name>C</name></contributor>",
        )
    ),
    # summaries and contents
    "summary and content in either order": (
        rss(
            "<title>1</title><guid>g1</guid><description>D</description>"
            "<content:encoded><![CDATA[<p>C</p>]]></content:encoded>",
            "<title>2</title><guid>g2</guid><content:encoded><![CDATA[<p>C</p>]]>"
            "</content:encoded><description>D</description>",
            "<title>3</title><guid>g3</guid><content:encoded><![CDATA[<p>C</p>]]></content:encoded>",
            "<title>4</title><guid>g4</guid><content:encoded></content:encoded><description>D</description>",
            "<title>5</title><guid>g5</guid><description>D1</description><description>D2</description>",
            "<title>6</title><guid>g6</guid><description>D</description><itunes:summary>S</itunes:summary>",
            "<title>7</title><guid>g7</guid><itunes:summary>S</itunes:summary><description>D</description>",
            "<title>8</title><guid>g8</guid><content:encoded>C</content:encoded><itunes:summary>S</itunes:summary>",
        )
    ),
    "two contents": (
        rss(f"<title>T</title>{G}<content:encoded>C1</content:encoded><content:encoded>C22</content:encoded>")
    ),
    "atom summary and content": (
        atom(
            '<title>1</title><id>u1</id><summary>S</summary><content type="html">&lt;p&gt;C&lt;/p&gt;</content>',
            '<title>2</title><id>u2</id><content type="html">C</content><summary>S</summary>',
            "<title>3</title><id>u3</id><summary>S1</summary><summary>S2</summary>",
            "<title>4</title><id>u4</id><content>plain &lt;p&gt;</content>",
            '<title>5</title><id>u5</id><content src="https://x.example/c" type="text/html"/>',
            '<title>6</title><id>u6</id><content type="text/html" mode="escaped">&lt;p&gt;x&lt;/p&gt;</content>',
        )
    ),
    "base64 content": (atom('<title>T</title><id>u</id><content type="text/plain" mode="base64">aGVsbG8=</content>')),
    "binary content type": atom('<title>T</title><id>u</id><content type="image/png">iVBORw0KGgo=</content>'),
    # namespaces
    "other prefixes for known namespaces": (
        rss(
            '<title>T</title><guid>g</guid><c:encoded xmlns:c="http://purl.org/rss/1.0/modules/content/">C</c:encoded>'
            '<d:creator xmlns:d="http://purl.org/dc/elements/1.1/">Dee</d:creator>'
        )
    ),
    "extension elements feedparser ignores": (
        rss(
            f"<title>T</title>{G}<comments>https://x.example/c</comments>"
            '<slash:comments xmlns:slash="http://purl.org/rss/1.0/modules/slash/">3</slash:comments>'
            '<wfw:commentRss xmlns:wfw="http://wellformedweb.org/CommentAPI/">https://x.example/f</wfw:commentRss>'
            '<post-id xmlns="com-wordpress:feed-additions:1">123</post-id><x:foo xmlns:x="http://e.example/x" a="1"/>'
            '<feedburner:origLink xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0">o</feedburner:origLink>'
            '<enclosure url="https://x.example/a.mp3" length="1" type="audio/mpeg"/>'
            '<source url="https://s.example/">S</source>'
            '<media:group><media:content url="https://x.example/v.mp4"/><media:thumbnail url="t.jpg"/></media:group>'
            "<itunes:duration>1:00</itunes:duration><itunes:explicit>no</itunes:explicit><language>en</language>"
        )
    ),
    "a known element name under an unknown namespace": (
        rss('<title>T</title><guid>g</guid><x:foo xmlns:x="http://e.example/x"><title>inner</title></x:foo>')
    ),
    "an unknown namespace with a known prefix": (
        rss('<title>T</title><guid>g</guid><dc:creator xmlns:dc="http://e.example/notdc">X</dc:creator>')
    ),
    "a known prefix bound to another known namespace": (
        rss('<title>T</title><guid>g</guid><dc:modified xmlns:dc="http://purl.org/dc/terms/">2026-01-01</dc:modified>')
    ),
    "media:title and media:description": (
        rss(
            f"<media:title>MT</media:title><title>T</title>{G}<media:group><media:description>D</media:description></media:group>"
        )
    ),
    # the whole document
    "rss 0.91": (rss("<title>T</title><link>https://x.example/1</link><description>d</description>", version="0.91")),
    "rss 0.92": (
        rss('<title>T</title><enclosure url="https://x.example/a.mp3" length="1" type="audio/mpeg"/>', version="0.92")
    ),
    "default-namespace rss": (
        b'<rss xmlns="http://backend.userland.com/rss2" version="2.0"><channel><title>A</title>'
        b"<item><title>T</title><guid>g</guid></item></channel></rss>"
    ),
    "rss in an unknown default namespace": (
        b'<rss xmlns="http://example.com/whatever" version="2.0"><channel><title>A</title>'
        b"<item><title>T</title><guid>g</guid></item></channel></rss>"
    ),
    "rss 1.0 with image and textinput": (
        rdf(
            '<image rdf:about="i"><title>I</title><url>u</url><link>l</link></image>'
            '<item rdf:about="https://x.example/1"><title>T</title><link>https://x.example/1</link>'
            "<dc:date>2026-11-24</dc:date></item>"
            '<item rdf:about="/relative/2"><title>T2</title></item>'
            '<textinput rdf:about="t"><title>TI</title><description>d</description>'
            "<name>n</name><link>l</link></textinput>",
            channel='<channel rdf:about="c"><title>C</title><image rdf:resource="i"/><items>'
            '<rdf:Seq><rdf:li rdf:resource="x"/></rdf:Seq></items></channel>',
        )
    ),
    "rss 0.90": (
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://my.netscape.com/rdf/simple/0.9/">'
        b"<channel><title>C</title></channel><item><title>T</title><link>https://x.example/1</link></item></rdf:RDF>"
    ),
    "atom 0.3": (
        b'<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>A03</title>'
        b"<entry><title>T</title><id>tag:x,2004:1</id>"
        b'<issued>2004-01-01T00:00:00Z</issued><content type="text/html" mode="escaped">&lt;p&gt;x&lt;/p&gt;</content>'
        b"</entry></feed>"
    ),
    "channel image after the title": (
        rss(f"<title>T</title>{G}", channel="<title>F</title><image><url>u</url><title>I</title><link>l</link></image>")
    ),
    "channel image before the title": (
        rss(f"<title>T</title>{G}", channel="<image><title>I</title></image><title>F</title>")
    ),
    "channel title after the items": (
        b'<rss version="2.0"><channel><item><title>T</title></item><title>F</title></channel></rss>'
    ),
    "no channel title": rss(f"<title>T</title>{G}", channel=""),
    "podcast channel": (
        rss(
            f"<title>T</title>{G}<itunes:summary>S</itunes:summary>",
            channel="<title>P</title><description>D</description><itunes:summary>S</itunes:summary><itunes:owner>"
            "<itunes:name>O</itunes:name></itunes:owner><itunes:image href='i.jpg'/><itunes:category text='Tech'/>",
        )
    ),
    "content at channel level": (
        rss(
            f"<title>T</title>{G}<description>a</description><description>b</description>",
            channel="<title>F</title><content:encoded>C</content:encoded>",
        )
    ),
    "stylesheet and comments before the root": (
        b'<?xml-stylesheet type="text/xsl" href="s.xsl"?><!-- c --><rss version="2.0">'
        b"<channel><title>A</title><item><title>T</title></item></channel></rss>"
    ),
    "a DOCTYPE": b'<!DOCTYPE rss><rss version="2.0"><channel><item><title>T</title></item></channel></rss>',
    "unknown root": b"<foo><channel><item><title>T</title></item></channel></foo>",
    "no entries": rss(),
    # Where feedparser's document-wide state gives results a straightforward reading would not (each one is
    # why a check in parse_fast exists: without it the fast path would return something else).
    "an image title before the rss 1.0 channel hides the channel title": (
        rdf(
            '<item rdf:about="https://x.example/1"><title>T</title></item>',
            channel='<image rdf:about="i"><title>I</title></image><channel rdf:about="c"><title>C</title></channel>',
        )
    ),
    "an image child that ends inimage: its title becomes the feed title": (
        rss("<title>T</title>", channel="<title>F</title><image><url>u</url><foo/><title>Img</title></image>")
    ),
    "a feed-level summary then description turns hasContent on for the first item": (
        rss(
            "<title>T</title><description>a</description><description>b</description>",
            channel="<title>F</title><itunes:summary>S</itunes:summary><description>D</description>",
        )
    ),
    "a prefix re-bound to dc renames an unknown element": (
        b'<rss version="2.0" xmlns:a="http://e.example/a"><channel><title>F</title><item><title>T</title>'
        b'<x xmlns:a="http://purl.org/dc/elements/1.1/"/><a:creator>X</a:creator></item></channel></rss>'
    ),
    "a prefix re-bound to another unknown namespace: the first one's elements lose their prefix": (
        b'<rss version="2.0" xmlns:a="http://e.example/1"><channel><title>F</title><item><title>T</title>'
        b'<x xmlns:a="http://e.example/2"/><a:link>https://x.example/bare</a:link><guid isPermaLink="false">g</guid>'
        b"</item></channel></rss>"
    ),
    "dc bound to dcterms renames the real dc elements": (
        b'<rss version="2.0" xmlns:dc="http://purl.org/dc/terms/" xmlns:d="http://purl.org/dc/elements/1.1/">'
        b"<channel><title>F</title><item><title>T</title><d:creator>X</d:creator></item></channel></rss>"
    ),
    "an unknown namespace under the dc prefix beside the real dc": (
        b'<rss version="2.0" xmlns:dc="http://e.example/notdc" xmlns:d="http://purl.org/dc/elements/1.1/">'
        b'<channel><title>F</title><item><title>T</title><guid isPermaLink="false">g</guid>'
        b"<dc:link>https://x.example/other</dc:link></item></channel></rss>"
    ),
    "an unknown prefix equal to a known one but for case": (
        b'<rss version="2.0" xmlns:Foo="http://e.example/u" xmlns:foo="http://purl.org/dc/elements/1.1/">'
        b"<channel><title>F</title><item><title>T</title><Foo:creator>X</Foo:creator></item></channel></rss>"
    ),
    "an unhandled element whose key feedparser aliases to a field (date -> updated)": (
        rss("<title>T</title><date>2026-01-01</date>")
    ),
}


@pytest.mark.parametrize("config", CONFIGS, ids=["file", "http", "text-xml"])
def test_edge_cases(config: tuple[str | None, str | None]) -> None:
    content_type, base_url = config
    documents = [
        (name, body, content_type.replace("rss+xml", "atom+xml") if content_type and b"<feed" in body[:200] else
         content_type, base_url)
        for name, body in EDGE_CASES.items()
    ]  # fmt: skip
    count, total = taken(documents)
    assert count > total / 2, (count, total)


@pytest.mark.parametrize(
    "base_url",
    ["", "file:///x/feed.xml", "https://x.example/a/b/?q=1#frag", "/relative", "javascript:alert(1)", "HTTPS://X.EXAMPLE/",
     "https://x.example/a/../b", "https://пример.рф/feed", "http://[::1]/feed", "http://[::1/feed", "https:///x.example/f",
     "feed://x.example/f", "x.example/feed"],
)  # fmt: skip
def test_odd_base_urls(base_url: str) -> None:
    for name in (
        "links urllib normalises",
        "atom link rel variants",
        "relative permalink guid",
        "rss 1.0 with image and textinput",
    ):
        check(EDGE_CASES[name], None if b"<feed" in EDGE_CASES[name][:200] else "application/xml", base_url)


# -- encodings and content types ---------------------------------------------------------------------

TEXT = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Привет é</title><item><title>Мир “q”</title><guid>g</guid></item></channel></rss>'  # noqa: E501
ASCII = TEXT.replace("Привет é", "Hi").replace("Мир “q”", "W")
BODIES = {
    "utf-8": TEXT.encode(),
    "utf-8 with a BOM": codecs.BOM_UTF8 + TEXT.encode(),
    "no declaration": TEXT.split("?>", 1)[1].encode(),
    "declared us-ascii, is utf-8": TEXT.replace("utf-8", "us-ascii").encode(),
    "declared latin-1, is ascii": ASCII.replace("utf-8", "iso-8859-1").encode(),
    "declared latin-1, is utf-8": TEXT.replace("utf-8", "iso-8859-1").encode(),
    "utf-16": TEXT.replace("utf-8", "utf-16").encode("utf-16"),
    "windows-1251": TEXT.replace("utf-8", "windows-1251").replace(" é", "").replace("“q”", "").encode("cp1251"),
    "invalid utf-8": TEXT.encode().replace("Мир".encode(), b"\xff\xfeM"),
    "xml 1.1": TEXT.replace('version="1.0"', 'version="1.1"').encode(),
    "whitespace before the declaration": (" " + TEXT).encode(),
}
# Content types parse_feed takes without a warning, for a UTF-8 body ("" is no header at all).
WARNING_FREE: list[str | None] = [
    None,
    "",
    "application/rss+xml",
    "application/rss+xml; charset=utf-8",
    "text/xml; charset=UTF-8",
    'application/atom+xml; charset="UTF-8"',
]
OTHER_TYPES: list[str | None] = [
    "text/xml",
    "application/xml; charset=iso-8859-1",
    "text/html; charset=utf-8",
    "text/plain",
    "application/octet-stream",
]


def test_encodings_and_content_types() -> None:
    documents = [
        (name, body, content_type, base_url)
        for name, body in BODIES.items()
        for content_type in WARNING_FREE + OTHER_TYPES
        for base_url in (None, BASE)
    ]
    count, total = taken(documents)
    assert count > 0, total
    # Most UTF-8 bodies without a warning (no Content-Location without a Content-Type: feedparser warns).
    utf8 = [
        (name, BODIES[name], ct, None)
        for name in ("utf-8", "utf-8 with a BOM", "no declaration")
        for ct in WARNING_FREE
    ]
    count, total = taken(utf8)
    assert count > total / 2, (count, total)


# -- random documents from a pool of the elements above ---------------------------------------------

POOL = [
    "<title>T {n}</title>",
    '<title type="html">A &amp;amp; &lt;b&gt;{n}</title>',
    "<title></title>",
    "<link>https://x.example/{n}</link>",
    "<link>/rel/{n}?a=1&amp;b=2</link>",
    "<link></link>",
    '<atom:link href="https://x.example/alt{n}"/>',
    '<atom:link rel="self" href="s"/>',
    '<atom:link type="text/html" href="/r{n}"/>',
    "<guid>https://x.example/g{n}</guid>",
    '<guid isPermaLink="false">g{n}</guid>',
    "<guid>/g{n}</guid>",
    "<guid></guid>",
    "<id>urn:uuid:{n}</id>",
    "<guid>tag:x,2026:{n}</guid>",
    "<pubDate>Tue, 24 Nov 2026 10:0{d}:00 GMT</pubDate>",
    "<pubDate>garbage</pubDate>",
    "<pubDate></pubDate>",
    "<dc:date>2026-11-2{d}T10:00:00Z</dc:date>",
    "<updated>2026-11-2{d}T10:00:00+05:00</updated>",
    "<published>2026-11-2{d}</published>",
    "<dcterms:modified>2026-11-2{d}T10:00:00Z</dcterms:modified>",
    "<author>a{n}@x.example (Ann {n})</author>",
    "<author>Bob</author>",
    "<author></author>",
    "<dc:creator>Cy</dc:creator>",
    "<dc:creator>x@y.example</dc:creator>",
    "<itunes:author>Pod</itunes:author>",
    "<atom:author><atom:name>N{n}</atom:name><atom:email>n@x.example</atom:email></atom:author>",
    "<atom:author><atom:uri>/u</atom:uri></atom:author>",
    "<atom:author><atom:email>e@x.example</atom:email></atom:author>",
    "<description>D {n}</description>",
    "<description><![CDATA[<p>D&amp;{n}</p>]]></description>",
    "<description></description>",
    "<summary>S</summary>",
    "<itunes:summary>IS</itunes:summary>",
    "<dc:description>DD</dc:description>",
    "<content:encoded><![CDATA[<p>C {n}</p>]]></content:encoded>",
    "<content:encoded></content:encoded>",
    '<atom:content type="html">&lt;p&gt;AC&lt;/p&gt;</atom:content>',
    "<category>a</category>",
    "<category>b</category>",
    "<category> </category>",
    '<category domain="d">a</category>',
    '<category domain="d"/>',
    '<category term="t"/>',
    '<category label="L"/>',
    "<dc:subject>a</dc:subject>",
    "<media:category>m</media:category>",
    '<itunes:category text="IT"/>',
    "<media:keywords>k1, k2,a</media:keywords>",
    "<comments>https://x.example/c</comments>",
    '<enclosure url="https://x.example/e.mp3" type="audio/mpeg" length="1"/>',
    '<source url="https://s.example/">Src</source>',
    '<media:content url="m.jpg"><media:thumbnail url="t"/></media:content>',
    "<!-- comment -->",
    "<?pi x?>",
    "<dc:contributor>Con</dc:contributor>",
    "<itunes:duration>1:00</itunes:duration>",
    "<title>CafÃ© \u0093q\u0094 é</title>",
    "<description>\u00a0 nbsp \u00a0</description>",
    "<link>https://ex.example/пример</link>",
]


def _random_document(rng: random.Random) -> bytes:
    items = [
        "".join(rng.choice(POOL).format(n=rng.randint(0, 3), d=rng.randint(0, 9)) for _ in range(rng.randint(0, 9)))
        for _ in range(rng.randint(1, 4))
    ]
    if rng.random() < 0.5:
        return rss(*items)
    # The same elements as Atom entries: atom: names are the default namespace there.
    return atom(*(item.replace("atom:", "") for item in items)).replace(
        b'xmlns="http://www.w3.org/2005/Atom"', b'xmlns="http://www.w3.org/2005/Atom" ' + NAMESPACES.encode(), 1
    )


def test_random_documents() -> None:
    rng = random.Random(20261124)
    documents = [(str(index), _random_document(rng), *rng.choice(CONFIGS)) for index in range(400)]
    count, total = taken(documents)
    assert count > total / 2, (count, total)


# -- the URL shortcut --------------------------------------------------------------------------------


@pytest.mark.slow
def test_resolve_shortcuts_give_what_feedparser_urljoin_gives() -> None:
    bases = [
        "",
        "https://x.example/feed",
        "http://x.example/a/b?q#f",
        "/relative/base",
        "tag:x,2026:feed",
        "HTTPS://X.EXAMPLE/F",
    ]
    pieces = [
        ["https", "http", "HTTPS", "tag", "urn", "mailto", "x-y.z+1", "1abc", ""],
        ["://", ":", ":///", "//", ""],
        ["x.example", "X.Example", "u:p@x.example", "[::1]", "[::1", "x.example:8080", "x.example:", "пример.рф", ""],
        ["", "/", "/a/../b", "/a;p", "/a b", "/пример", "/a%20b", "//double", "/a:b"],
        ["", "?", "?a=1&b=2", "?a=1;b", "?#"],
        ["", "#", "#f", "#f?x"],
    ]  # fmt: skip
    uris = {"".join(combo) for combo in itertools.product(*pieces)}
    uris |= {" https://x.example/a", "https://x.example/a\t", "\nhttps://x.example/a", "tag://x", "TAG:X", "ab:", ":x"}
    for base in bases:
        scheme = urllib.parse.urlparse(base).scheme if base else ""
        mismatches = [
            uri
            for uri in uris
            if feedparser_private.resolve_uri(base, scheme, uri) != feedparser_private.urljoin(base, uri)
        ]
        assert not mismatches, (base, mismatches[:5])
