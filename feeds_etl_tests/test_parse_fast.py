"""The lxml fast path (parse_fast) gives exactly parse_feed's result, or steps aside with None.

Every input here is parsed both ways: the fast result must equal parse_feed's (every field of every entry),
or be None. Inputs the fast path is meant for must also take it, so none of this can pass vacuously.
"""

from __future__ import annotations

import codecs
import importlib.util
import itertools
import random
import sys
import urllib.parse
from dataclasses import fields
from enum import Enum
from types import ModuleType

import pytest
from feedparser.urls import _urljoin

from feeds_etl.feeds import REPO_ROOT
from feeds_etl.parse import ParsedFeed, parse_feed
from feeds_etl.parse_fast import _resolve, parse_feed_fast
from feeds_etl_tests import feed_server
from feeds_etl_tests.conftest import SAMPLES
from feeds_etl_tests.test_history import atom_doc, plain_rss, rss_with_atom_prev, wp_page
from feeds_etl_tests.test_history_import import page_xml

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
BASE = "https://feeds.example/path/feed.xml"
# (content_type, base_url) as the pipeline passes them: local files have neither, HTTP feeds both.
CONFIGS = [(None, None), (RSS_TYPE, BASE), ("text/xml", "http://feeds.example/feed")]


class Expect(Enum):
    TAKE = "the fast path must handle it"
    BAIL = "the fast path must leave it to feedparser"
    EITHER = "either, as long as a result is parse_feed's"


def check(
    body: bytes, content_type: str | None = None, base_url: str | None = None, expect: Expect = Expect.EITHER
) -> ParsedFeed | None:
    """parse_feed_fast is None or == parse_feed; with TAKE / BAIL, which of the two is also asserted."""
    fast = parse_feed_fast("feed", body, "sha", content_type, base_url)
    if expect is Expect.BAIL:
        assert fast is None
        return None
    slow = parse_feed("feed", body, "sha", content_type, base_url)
    if expect is Expect.TAKE:
        assert fast is not None, f"fast path not taken; feedparser gave {slow.error or slow.warning or 'a result'}"
    if fast is not None:
        assert fast == slow, _difference(slow, fast)
    return fast


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


# -- 1. the bundled samples ------------------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS[:2], ids=["file", "http"])
@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".xml", ".rdf")))
def test_bundled_samples(name: str, config: tuple[str | None, str | None]) -> None:
    body = (SAMPLES / name).read_bytes()
    # windows-1251 is feedparser's job; the real WordPress feed and the generated UTF-8 ones are ours.
    expect = Expect.BAIL if "cp1251" in name else Expect.TAKE
    check(body, *config, expect=expect)


# -- 2. the benchmark corpus -----------------------------------------------------------------------


def _corpus_module() -> ModuleType:
    name = "feeds_etl_bench_corpus"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "benchmarks" / "corpus.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up here
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_benchmark_corpus_takes_the_fast_path_before_and_after_changes() -> None:
    corpus = _corpus_module().Corpus(60, 10)
    changed = range(corpus.n_feeds)
    for generation in range(3):
        for index in changed:
            body = corpus.body(index)
            check(body, corpus.content_type(index), f"https://{corpus.feeds[index].name}.example/feed", Expect.TAKE)
            check(body, expect=Expect.TAKE)
        changed = corpus.mutate(0.5)  # new items pushing old ones out, and edits
        assert changed, generation


# -- 3. the documents the other tests feed the pipeline ---------------------------------------------


def _other_tests_documents() -> list[tuple[str, bytes, str | None, Expect]]:
    """Every feed body the other tests use: feed_server's routes (rebuilt with the same builders and content
    types), the history tests' pages, and the odd bodies of the asset and health tests."""
    fs = feed_server
    secret = "/nonexistent/secret"
    rss_type, xml_type = "application/rss+xml", "application/xml"
    docs: list[tuple[str, bytes, str | None, Expect]] = [
        ("good_feed", fs.good_feed("a", 5), RSS_TYPE, Expect.TAKE),
        ("good_feed v2", fs.good_feed("a", 5, version=2), RSS_TYPE, Expect.TAKE),
        ("gzipped", fs.good_feed("gzipped", 4), rss_type, Expect.TAKE),
        ("rss undeclared", fs.rss("t", [("g", "x")], declare=False), RSS_TYPE, Expect.TAKE),
        ("xxe", fs.XXE_FEED_TEMPLATE.format(secret=secret).encode(), rss_type, Expect.BAIL),
        ("xxe one line", fs.XXE_ONE_LINE_TEMPLATE.format(secret=secret).encode(), "text/xml", Expect.BAIL),
        ("xxe dtd", fs.XXE_EXTERNAL_DTD_TEMPLATE.format(secret=secret).encode(), xml_type, Expect.BAIL),
        ("billion laughs", fs.billion_laughs(), rss_type, Expect.BAIL),
        ("quadratic", fs.quadratic_blowup(entity_kib=1, references=100), rss_type, Expect.BAIL),
        ("html", fs.HTML_PAGE, "text/html; charset=utf-8", Expect.BAIL),
        ("html as xml", fs.HTML_PAGE, rss_type, Expect.BAIL),
        ("empty", b"", rss_type, Expect.BAIL),
        ("whitespace", b" \r\n\t \n", rss_type, Expect.BAIL),
        ("truncated", fs.truncated_feed(), RSS_TYPE, Expect.BAIL),
        (
            "charset wrong header",
            fs.rss("Сибирь", [("w1251-1", "Новости Сибири")], encoding="windows-1251"),
            RSS_TYPE,
            Expect.EITHER,
        ),
        (
            "charset header only",
            fs.rss("Сибирь", [("h1251-1", "Новости по заголовку")], encoding="windows-1251", declare=False),
            "application/rss+xml; charset=windows-1251",
            Expect.BAIL,
        ),
        ("koi8-r", fs.rss("Кои", [("koi8-1", "Новости в KOI8-R")], encoding="koi8-r"), rss_type, Expect.BAIL),
        (
            "latin-1",
            fs.rss("Café", [("latin1-1", "Crème brûlée à la française")], encoding="iso-8859-1"),
            "text/xml; charset=iso-8859-1",
            Expect.BAIL,
        ),
        (
            "invalid utf-8",
            fs.good_feed("badbytes").replace(b"badbytes-1</guid><title>", b"badbytes-1</guid><title>\xff\xfe\xc3("),
            RSS_TYPE,
            Expect.BAIL,
        ),
        (
            "huge (its start)",
            b'<?xml version="1.0"?><rss version="2.0"><channel><title>huge</title>',
            rss_type,
            Expect.BAIL,
        ),
        ("wp page", wp_page(2), rss_type, Expect.TAKE),
        ("wp page empty build", wp_page(1, items=0, generator=False), rss_type, Expect.EITHER),
        ("plain rss", plain_rss(["a", "b", "a"]), rss_type, Expect.TAKE),
        (
            "atom doc",
            atom_doc("n", ["1", "2"], "https://ex.example/old.xml", entry_prev="https://x/p"),
            ATOM_TYPE,
            Expect.TAKE,
        ),
        ("rss with atom prev", rss_with_atom_prev(["1", "2"], "https://ex.example/old.xml"), rss_type, Expect.TAKE),
        ("history import page", page_xml(2), rss_type, Expect.TAKE),
        ("weird bytes", b"\x00\xff<feed", None, Expect.BAIL),
        ("bare rss", b"<rss/>", None, Expect.BAIL),
        ("login page", b"<html><body>Please log in</body></html>", None, Expect.BAIL),
        (
            "entity expansion",
            b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
            b'<!ENTITY a "&xxe;">]><feed xmlns="http://www.w3.org/2005/Atom"><title>&a;</title>'
            b'<link rel="prev-archive" href="https://ex.example/old.xml"/><entry><id>1</id></entry></feed>',
            None,
            Expect.BAIL,
        ),
    ]
    return docs


@pytest.mark.parametrize(
    ("body", "content_type", "expect"),
    [pytest.param(body, ct, expect, id=name) for name, body, ct, expect in _other_tests_documents()],
)
def test_documents_of_the_other_tests(body: bytes, content_type: str | None, expect: Expect) -> None:
    check(body, content_type, "http://127.0.0.1:8000/feed", expect)
    check(body, content_type, None, expect)


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


T, B, E = Expect.TAKE, Expect.BAIL, Expect.EITHER
G = "<guid>https://x.example/g</guid>"
EDGE_CASES: dict[str, tuple[bytes, Expect]] = {
    # text: CDATA, escapes, markup in titles, whitespace
    "cdata everywhere": (
        rss(f"<title><![CDATA[A <b>bold</b> &amp; title]]></title>{G}<description><![CDATA[<p>x</p>]]></description>"),
        T,
    ),
    "escaped entities in a title": (rss(f"<title>Tom &amp;amp; Jerry &lt;3 &#8217; &#x2019;</title>{G}"), T),
    "rss title type html": (rss(f'<title type="html">A &lt;b&gt;b&lt;/b&gt;</title>{G}'), T),
    "atom title type html": (atom('<title type="html">A &amp;amp; &lt;b&gt;B&lt;/b&gt;</title><id>urn:1</id>'), T),
    "atom title type text": (atom('<title type="text">A &lt; B</title><id>urn:1</id>'), T),
    "atom title type xhtml": (
        atom('<title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">A <b>B</b></div></title><id>u</id>'),
        B,
    ),
    "atom content type xhtml": (
        atom(
            '<title>T</title><id>u</id><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">P</div>'
            "</content>"
        ),
        B,
    ),
    "markup inside a description": (rss(f"<title>T</title>{G}<description>a <b>b</b></description>"), B),
    "whitespace around fields": (
        rss(
            "<title>\n   Spaced   title \t</title><guid>  g  </guid><link>\n https://x.example/l \n</link>"
            "<description>\n  <![CDATA[ <p>x</p> ]]>\n </description><category>  a  </category>"
            "<dc:creator>\n Emma \n</dc:creator><pubDate>  Tue, 24 Nov 2026 10:00:00 GMT  </pubDate>"
        ),
        T,
    ),
    "non-breaking spaces": (rss(f"<title>\u00a0 title \u00a0</title>{G}<description>\u00a0</description>"), T),
    "cr lf": (rss(f"<title>a\r\nb\rc</title>{G}<description>x\r\ny</description>"), T),
    "utf-8 read as latin-1 (feedparser repairs it)": (rss(f"<title>CafÃ© crÃ¨me</title>{G}"), T),
    "cp1252 control characters": (rss(f"<title>\u0093quoted\u0094 \u0080</title>{G}"), T),
    "astral characters": (rss(f"<title>T \U0001f600</title>{G}"), T),
    "comment inside a title": (rss(f"<title>A<!-- c -->B</title>{G}"), B),
    "comments and PIs between fields": (rss(f"<!-- hi --><?pi x?><title>T</title>{G}<!-- bye -->"), T),
    "upper-case element names": (
        rss("<Title>T</Title><LINK>https://x.example/u</LINK><PubDate>Tue, 24 Nov 2026 10:00:00 GMT</PubDate>"),
        T,
    ),
    # ids and links
    "relative link": (rss("<title>T</title><link>/posts/1</link>"), T),
    "relative link with dots and a query": (rss("<title>T</title><link>../a/./b?x=1&amp;y=2</link>"), T),
    "link with entity-like query": (rss("<title>T</title><link>https://x.example/?a=1&amp;amp;b=2&amp;c;=3</link>"), T),
    "links urllib normalises": (
        rss(
            "<title>1</title><link>HTTPS://X.example/a</link>",
            "<title>2</title><link>https://x.example/a?</link>",
            "<title>3</title><link>https://x.example/a;b?c</link>",
            "<title>4</title><link>https:///x.example/a</link>",
            "<title>5</title><link>https://u:p@x.example/a#</link>",
            "<title>6</title><link>https://[::1/a</link>",
            "<title>7</title><link>https://ex.example/пример</link>",
        ),
        T,
    ),
    "permalink guid becomes the link": (rss("<title>T</title><guid>https://x.example/p/1</guid>"), T),
    "relative permalink guid": (rss("<title>T</title><guid>/p/1</guid>"), T),
    "isPermaLink False is not false": (rss('<title>T</title><guid isPermaLink="False">/p/1</guid>'), T),
    "guid then link, link then guid": (
        rss(
            "<title>1</title><guid>https://x.example/g1</guid><link>https://x.example/l1</link>",
            "<title>2</title><link>https://x.example/l2</link><guid>https://x.example/g2</guid>",
            "<title>3</title><link></link><guid>https://x.example/g3</guid>",
            '<title>4</title><guid isPermaLink="false">g4</guid><link>https://x.example/l4</link>',
        ),
        T,
    ),
    "items without guid, link or title": (
        rss(
            "<title>Only a title</title><pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate>",
            "<description>only a description</description>",
            "<link>https://x.example/only-a-link</link>",
            "",
        ),
        T,
    ),
    "duplicate guids: the first wins": (
        rss("<title>A</title><guid>dup</guid>", "<title>B</title><guid>dup</guid>", "<title>C</title><guid>x</guid>"),
        T,
    ),
    "two guids, two links": (
        rss(
            "<title>T</title><guid>a</guid><guid>b</guid><link>https://x.example/1</link>"
            "<link>https://x.example/2</link>"
        ),
        T,
    ),
    "two titles": (rss(f"<title>T1</title><title>T2</title>{G}"), B),
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
        ),
        T,
    ),
    "atom:link inside rss items": (
        rss(
            '<title>1</title><guid isPermaLink="false">g1</guid><atom:link href="https://x.example/alt"/>',
            '<title>2</title><guid isPermaLink="false">g2</guid><atom:link rel="self" href="https://x.example/s"/>',
        ),
        T,
    ),
    "xml:base": (rss('<title>T</title><link xml:base="https://other.example/">a</link>'), B),
    "xml:base on atom entries": (atom('<title>T</title><id>u</id><link xml:base="https://b.example/d/" href="x"/>'), B),
    "a plain base attribute counts too": (rss('<title>T</title><link base="https://other.example/">a</link>'), B),
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
        ),
        T,
    ),
    "atom dates": (
        atom(
            "<title>1</title><id>urn:1</id><published>2026-11-24T10:00:00+02:00</published>",
            "<title>2</title><id>urn:2</id><updated>2026-11-24T10:00:00Z</updated>",
            "<title>3</title><id>urn:3</id><published>not a date</published><updated>2026-11-24T10:00:00Z</updated>",
            "<title>4</title><id>urn:4</id><published>2026-11-24T10:00:00Z</published><updated>garbage</updated>",
            "<title>5</title><id>urn:5</id><issued>2026-11-24T10:00:00Z</issued>"
            "<modified>2026-11-25T10:00:00Z</modified>",
        ),
        T,
    ),
    # categories
    "categories: repeated, empty, with domains": (
        rss(
            f"<title>T</title>{G}<category>a</category><category>a</category><category>b</category>"
            '<category> </category><category></category><category domain="d">a</category><category domain="d"/>'
            '<category>c</category><category domain="x">A</category><category>A</category>'
            '<category term="t" label="l">x</category><category label="only a label"/>'
        ),
        T,
    ),
    "dc:subject, media:category, itunes:category and keyword lists": (
        rss(
            f"<title>T</title>{G}<dc:subject>s1</dc:subject><dc:subject>s2</dc:subject>"
            '<media:category>m</media:category><media:category scheme="s">m</media:category><media:category label="L"/>'
            '<itunes:category text="Tech"/><itunes:category text="Tech">Sub</itunes:category>'
            "<media:keywords>a, b,, c ,a</media:keywords><itunes:keywords>k1,k2</itunes:keywords><keywords>k</keywords>"
        ),
        T,
    ),
    "nested itunes categories": (
        rss(f'<title>T</title>{G}<itunes:category text="A"><itunes:category text="B"/></itunes:category>'),
        B,
    ),
    "atom categories": (
        atom(
            '<title>T</title><id>u</id><category term="a"/><category term="a"/><category term="a" scheme="s"/>'
            '<category label="L"/><category term=""/>'
        ),
        T,
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
        ),
        T,
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
        ),
        T,
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
        ),
        T,
    ),
    "two contents": (
        rss(f"<title>T</title>{G}<content:encoded>C1</content:encoded><content:encoded>C22</content:encoded>"),
        B,
    ),
    "atom summary and content": (
        atom(
            '<title>1</title><id>u1</id><summary>S</summary><content type="html">&lt;p&gt;C&lt;/p&gt;</content>',
            '<title>2</title><id>u2</id><content type="html">C</content><summary>S</summary>',
            "<title>3</title><id>u3</id><summary>S1</summary><summary>S2</summary>",
            "<title>4</title><id>u4</id><content>plain &lt;p&gt;</content>",
            '<title>5</title><id>u5</id><content src="https://x.example/c" type="text/html"/>',
            '<title>6</title><id>u6</id><content type="text/html" mode="escaped">&lt;p&gt;x&lt;/p&gt;</content>',
        ),
        T,
    ),
    "base64 content": (
        atom('<title>T</title><id>u</id><content type="text/plain" mode="base64">aGVsbG8=</content>'),
        B,
    ),
    "binary content type": (atom('<title>T</title><id>u</id><content type="image/png">iVBORw0KGgo=</content>'), B),
    # namespaces
    "other prefixes for known namespaces": (
        rss(
            '<title>T</title><guid>g</guid><c:encoded xmlns:c="http://purl.org/rss/1.0/modules/content/">C</c:encoded>'
            '<d:creator xmlns:d="http://purl.org/dc/elements/1.1/">Dee</d:creator>'
        ),
        T,
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
        ),
        T,
    ),
    "a known element name under an unknown namespace": (
        rss('<title>T</title><guid>g</guid><x:foo xmlns:x="http://e.example/x"><title>inner</title></x:foo>'),
        B,
    ),
    "an unknown namespace with a known prefix": (
        rss('<title>T</title><guid>g</guid><dc:creator xmlns:dc="http://e.example/notdc">X</dc:creator>'),
        E,
    ),
    "a known prefix bound to another known namespace": (
        rss('<title>T</title><guid>g</guid><dc:modified xmlns:dc="http://purl.org/dc/terms/">2026-01-01</dc:modified>'),
        B,
    ),
    "media:title and media:description": (
        rss(
            f"<media:title>MT</media:title><title>T</title>{G}<media:group><media:description>D</media:description></media:group>"
        ),
        B,
    ),
    # the whole document
    "rss 0.91": (
        rss("<title>T</title><link>https://x.example/1</link><description>d</description>", version="0.91"),
        T,
    ),
    "rss 0.92": (
        rss('<title>T</title><enclosure url="https://x.example/a.mp3" length="1" type="audio/mpeg"/>', version="0.92"),
        T,
    ),
    "default-namespace rss": (
        b'<rss xmlns="http://backend.userland.com/rss2" version="2.0"><channel><title>A</title>'
        b"<item><title>T</title><guid>g</guid></item></channel></rss>",
        T,
    ),
    "rss in an unknown default namespace": (
        b'<rss xmlns="http://example.com/whatever" version="2.0"><channel><title>A</title>'
        b"<item><title>T</title><guid>g</guid></item></channel></rss>",
        T,
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
        ),
        T,
    ),
    "rss 0.90": (
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://my.netscape.com/rdf/simple/0.9/">'
        b"<channel><title>C</title></channel><item><title>T</title><link>https://x.example/1</link></item></rdf:RDF>",
        T,
    ),
    "atom 0.3": (
        b'<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>A03</title>'
        b"<entry><title>T</title><id>tag:x,2004:1</id>"
        b'<issued>2004-01-01T00:00:00Z</issued><content type="text/html" mode="escaped">&lt;p&gt;x&lt;/p&gt;</content>'
        b"</entry></feed>",
        T,
    ),
    "channel image after the title": (
        rss(
            f"<title>T</title>{G}", channel="<title>F</title><image><url>u</url><title>I</title><link>l</link></image>"
        ),
        T,
    ),
    "channel image before the title": (
        rss(f"<title>T</title>{G}", channel="<image><title>I</title></image><title>F</title>"),
        E,
    ),
    "channel title after the items": (
        b'<rss version="2.0"><channel><item><title>T</title></item><title>F</title></channel></rss>',
        E,
    ),
    "no channel title": (rss(f"<title>T</title>{G}", channel=""), T),
    "podcast channel": (
        rss(
            f"<title>T</title>{G}<itunes:summary>S</itunes:summary>",
            channel="<title>P</title><description>D</description><itunes:summary>S</itunes:summary><itunes:owner>"
            "<itunes:name>O</itunes:name></itunes:owner><itunes:image href='i.jpg'/><itunes:category text='Tech'/>",
        ),
        T,
    ),
    "content at channel level": (
        rss(
            f"<title>T</title>{G}<description>a</description><description>b</description>",
            channel="<title>F</title><content:encoded>C</content:encoded>",
        ),
        B,
    ),
    "stylesheet and comments before the root": (
        b'<?xml-stylesheet type="text/xsl" href="s.xsl"?><!-- c --><rss version="2.0">'
        b"<channel><title>A</title><item><title>T</title></item></channel></rss>",
        T,
    ),
    "a DOCTYPE": (b'<!DOCTYPE rss><rss version="2.0"><channel><item><title>T</title></item></channel></rss>', B),
    "unknown root": (b"<foo><channel><item><title>T</title></item></channel></foo>", B),
    "no entries": (rss(), B),
    # Where feedparser's document-wide state gives results a straightforward reading would not (each one is
    # why a check in parse_fast exists: without it the fast path would return something else).
    "an image title before the rss 1.0 channel hides the channel title": (
        rdf(
            '<item rdf:about="https://x.example/1"><title>T</title></item>',
            channel='<image rdf:about="i"><title>I</title></image><channel rdf:about="c"><title>C</title></channel>',
        ),
        B,
    ),
    "an image child that ends inimage: its title becomes the feed title": (
        rss("<title>T</title>", channel="<title>F</title><image><url>u</url><foo/><title>Img</title></image>"),
        B,
    ),
    "a feed-level summary then description turns hasContent on for the first item": (
        rss(
            "<title>T</title><description>a</description><description>b</description>",
            channel="<title>F</title><itunes:summary>S</itunes:summary><description>D</description>",
        ),
        B,
    ),
    "a prefix re-bound to dc renames an unknown element": (
        b'<rss version="2.0" xmlns:a="http://e.example/a"><channel><title>F</title><item><title>T</title>'
        b'<x xmlns:a="http://purl.org/dc/elements/1.1/"/><a:creator>X</a:creator></item></channel></rss>',
        B,
    ),
    "a prefix re-bound to another unknown namespace: the first one's elements lose their prefix": (
        b'<rss version="2.0" xmlns:a="http://e.example/1"><channel><title>F</title><item><title>T</title>'
        b'<x xmlns:a="http://e.example/2"/><a:link>https://x.example/bare</a:link><guid isPermaLink="false">g</guid>'
        b"</item></channel></rss>",
        B,
    ),
    "dc bound to dcterms renames the real dc elements": (
        b'<rss version="2.0" xmlns:dc="http://purl.org/dc/terms/" xmlns:d="http://purl.org/dc/elements/1.1/">'
        b"<channel><title>F</title><item><title>T</title><d:creator>X</d:creator></item></channel></rss>",
        B,
    ),
    "an unknown namespace under the dc prefix beside the real dc": (
        b'<rss version="2.0" xmlns:dc="http://e.example/notdc" xmlns:d="http://purl.org/dc/elements/1.1/">'
        b'<channel><title>F</title><item><title>T</title><guid isPermaLink="false">g</guid>'
        b"<dc:link>https://x.example/other</dc:link></item></channel></rss>",
        B,
    ),
    "an unknown prefix equal to a known one but for case": (
        b'<rss version="2.0" xmlns:Foo="http://e.example/u" xmlns:foo="http://purl.org/dc/elements/1.1/">'
        b"<channel><title>F</title><item><title>T</title><Foo:creator>X</Foo:creator></item></channel></rss>",
        B,
    ),
    "an unhandled element whose key feedparser aliases to a field (date -> updated)": (
        rss("<title>T</title><date>2026-01-01</date>"),
        B,
    ),
}


@pytest.mark.parametrize("config", CONFIGS, ids=["file", "http", "text-xml"])
@pytest.mark.parametrize(("body", "expect"), [pytest.param(*case, id=name) for name, case in EDGE_CASES.items()])
def test_edge_cases(body: bytes, expect: Expect, config: tuple[str | None, str | None]) -> None:
    content_type, base_url = config
    if content_type and b"<feed" in body[:200]:
        content_type = content_type.replace("rss+xml", "atom+xml")
    check(body, content_type, base_url, expect)


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
        check(EDGE_CASES[name][0], None if b"<feed" in EDGE_CASES[name][0][:200] else "application/xml", base_url)


# -- encodings and content types ---------------------------------------------------------------------

TEXT = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Привет é</title><item><title>Мир “q”</title><guid>g</guid></item></channel></rss>'  # noqa: E501
ASCII = TEXT.replace("Привет é", "Hi").replace("Мир “q”", "W")
BODIES = {
    "utf-8": (TEXT.encode(), T),
    "utf-8 with a BOM": (codecs.BOM_UTF8 + TEXT.encode(), T),
    "no declaration": (TEXT.split("?>", 1)[1].encode(), T),
    "declared us-ascii, is utf-8": (TEXT.replace("utf-8", "us-ascii").encode(), E),
    "declared latin-1, is ascii": (ASCII.replace("utf-8", "iso-8859-1").encode(), E),
    "declared latin-1, is utf-8": (TEXT.replace("utf-8", "iso-8859-1").encode(), E),
    "utf-16": (TEXT.replace("utf-8", "utf-16").encode("utf-16"), B),
    "windows-1251": (TEXT.replace("utf-8", "windows-1251").replace(" é", "").replace("“q”", "").encode("cp1251"), B),
    "invalid utf-8": (TEXT.encode().replace("Мир".encode(), b"\xff\xfeM"), B),
    "xml 1.1": (TEXT.replace('version="1.0"', 'version="1.1"').encode(), B),
    "whitespace before the declaration": ((" " + TEXT).encode(), B),
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


@pytest.mark.parametrize("content_type", WARNING_FREE + OTHER_TYPES)
@pytest.mark.parametrize(("body", "expect"), [pytest.param(*case, id=name) for name, case in BODIES.items()])
def test_encodings_and_content_types(body: bytes, expect: Expect, content_type: str | None) -> None:
    if expect is T and content_type not in WARNING_FREE:
        expect = E  # e.g. text/html: parse_feed warns (NonXMLContentType), so the fast path steps aside
    check(body, content_type, None, expect)
    # A Content-Location without a Content-Type makes feedparser warn too.
    check(body, content_type, BASE, E if expect is T and not content_type else expect)


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
    taken = 0
    for _ in range(400):
        body = _random_document(rng)
        content_type, base_url = rng.choice(CONFIGS)
        taken += check(body, content_type, base_url) is not None
    assert taken > 300  # most of these documents are well within the fast path


# -- the URL shortcut --------------------------------------------------------------------------------


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
        mismatches = [uri for uri in uris if _resolve(base, scheme, uri) != _urljoin(base, uri)]
        assert not mismatches, (base, mismatches[:5])
