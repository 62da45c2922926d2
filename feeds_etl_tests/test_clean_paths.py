"""The lxml fast path of the cleaner gives exactly the text, words, language and links of the BeautifulSoup
path, on every bundled sample, the benchmark corpus and thousands of random (often broken) documents."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator

import pytest
from lxml import etree

from feeds_etl import html_blocks
from feeds_etl.clean import WORDPRESS_RULES, _as_html, clean_item
from feeds_etl.feeds import REPO_ROOT, BoilerplateRules, load_feed_list
from feeds_etl.fetch import sha256_hex
from feeds_etl.html_blocks import lxml_blocks
from feeds_etl.html_reference import bs4_blocks
from feeds_etl.parse import parse_feed

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
from corpus import Corpus

SAMPLES = REPO_ROOT / "data" / "samples"


def assert_same(html: str, title: str | None = None, link: str | None = None, rules: BoilerplateRules | None = None):
    fast = clean_item(html, title, link, rules)
    assert fast == clean_item(html, title, link, rules, reference=True), html[:2000]
    return fast


def sample_items() -> Iterator[tuple[str, str, str | None, str | None, BoilerplateRules | None]]:
    feeds = load_feed_list(REPO_ROOT / "data" / "feeds.yaml").by_id()
    for path in sorted(p for p in SAMPLES.iterdir() if p.suffix != ".py"):
        body = path.read_bytes()
        for entry in parse_feed(path.stem, body, sha256_hex(body)).entries:
            feed = feeds.get(path.name.split(".")[0])
            yield (
                path.name,
                entry.content_html or entry.summary_html or "",
                entry.title,
                entry.link,
                (feed.boilerplate if feed else None),
            )


def test_every_bundled_sample_takes_the_fast_path_and_matches() -> None:
    items = list(sample_items())
    assert len(items) > 300
    for name, html, title, link, rules in items:
        if not html.strip():
            continue
        selectors = (*WORDPRESS_RULES.selectors, *(rules.selectors if rules else ()))
        assert lxml_blocks(_as_html(html), selectors) is not None, name
        assert_same(html, title, link, rules)
    novastan = [item for item in items if item[0].startswith("novastan")]
    assert novastan and all(len(assert_same(*item[1:]).text) > 1000 for item in novastan)


def test_benchmark_corpus_matches() -> None:
    corpus = Corpus(24, 8)
    corpus.mutate(0.5)
    for index in range(24):
        body = corpus.body(index)
        for entry in parse_feed(f"feed{index}", body, sha256_hex(body)).entries:
            html = entry.content_html or entry.summary_html or ""
            assert lxml_blocks(_as_html(html), ()) is not None
            assert_same(html, entry.title, entry.link)


# -- random documents ---------------------------------------------------------------------------------

_TAGS = [
    "p", "div", "span", "b", "i", "em", "strong", "a", "a", "a", "br", "ul", "ol", "li", "table", "tr", "td", "th",
    "blockquote", "h2", "h3", "pre", "code", "figure", "figcaption", "img", "section", "aside", "footer", "form",
    "input", "button", "label", "script", "style", "noscript", "iframe", "nav", "svg", "ruby", "rt", "rp", "dl",
    "dt", "dd", "hr", "sup", "small", "center", "template", "textarea", "o:p", "font", "details", "summary",
]  # fmt: skip
_WORDS = str.split(
    "the council met on tuesday to discuss water budgets for the valley villages and farmers donate now "
    "subscribe to our newsletter share this read more follow us on telegram thank you for reading "
    "l'eau déjà été поддержите нас 水 中文 العربية 1,400 well-known don't 24.KG"
)
_CLASSES = [
    "share", "sharedaddy", "newsletter", "related", "wp-block-buttons", "more-link", "entry", "post",
    "has-text-align-right", "alignright", "content", "social-links", "ad", "promo-box", "Share", "x-y",
]  # fmt: skip
_HREFS = [
    "https://example.org/a", "/relative/path", "https://donorbox.org/x", "https://twitter.com/intent/tweet?u=1",
    "https://site.example/post/", "#top", "mailto:x@y.z", "http://[bad", "  ", "https://www.other.example/b",
]  # fmt: skip


def random_html(rng: random.Random, budget: int = 60) -> str:
    out: list[str] = []
    open_tags: list[str] = []
    for _ in range(rng.randint(1, budget)):
        roll = rng.random()
        if roll < 0.35:
            text = " ".join(rng.choices(_WORDS, k=rng.randint(1, 12)))
            out.append(rng.choice(["", " ", "\n", "  \n\t", "\u00a0"]) + text + rng.choice(["", " ", "\n\n", "&amp;"]))
        elif roll < 0.7:
            tag = rng.choice(_TAGS)
            out.append(f"<{tag}{random_attrs(rng, tag)}>")
            if tag not in ("br", "img", "hr", "input"):
                open_tags.append(tag)
        elif roll < 0.85 and open_tags:
            # close the innermost tag, sometimes a random one (misnesting), sometimes forget to
            tag = open_tags.pop() if rng.random() < 0.8 else open_tags.pop(rng.randrange(len(open_tags)))
            out.append(f"</{tag}>")
        elif roll < 0.9:
            out.append(rng.choice(["<!-- note -->", "<![CDATA[raw]]>", "<?php x ?>", "&nbsp;", "&#8217;", "\n  \n"]))
        else:
            out.append(rng.choice(["The post X appeared first on Y.", "Lire aussi : rien", "</p>", "<p>", " | "]))
    if rng.random() < 0.8:
        out.extend(f"</{tag}>" for tag in reversed(open_tags))
    return "".join(out)


def random_attrs(rng: random.Random, tag: str) -> str:
    attrs = []
    if rng.random() < 0.3:
        attrs.append(f'class="{" ".join(rng.sample(_CLASSES, rng.randint(1, 3)))}"')
    if rng.random() < 0.05:
        attrs.append(rng.choice(['id="newsletter"', 'id="main"', "hidden", 'aria-hidden="true"']))
    if rng.random() < 0.05:
        attrs.append(rng.choice(['style="display:none"', 'style="text-align: right"', 'align="right"']))
    if tag == "a" and rng.random() < 0.9:
        attrs.append(f'href="{rng.choice(_HREFS)}"')
    if tag == "img":
        attrs.append(rng.choice(['alt="A picture"', 'alt=""', 'width="1" height="1"', 'src="x.png"']))
    return "".join(f" {attr}" for attr in attrs)


RULES = [
    None,
    BoilerplateRules(selectors=(".promo-box", "aside .content", "div > footer"), phrases=("rien",)),
    BoilerplateRules(selectors=("p:has(> a)", "[[bad"), phrases=()),  # :has is soupsieve-only: fast path declines
]


@pytest.mark.parametrize("seed", range(8))
def test_random_documents_match(seed: int) -> None:
    rng = random.Random(seed)
    declined = 0
    for _ in range(250):
        html = random_html(rng)
        rules = rng.choice(RULES)
        markup = _as_html(html)
        declined += lxml_blocks(markup, rules.selectors if rules else ()) is None
        title, link = rng.choice([None, "the council met", "Title"]), rng.choice([None, "https://site.example/post"])
        assert_same(html, title, link, rules)
    assert declined < 150  # most documents really exercised the fast path


def test_deep_nesting_declines_to_the_reference() -> None:
    html = "<div>" * 400 + "<p>deep text</p>" + "</div>" * 400
    assert lxml_blocks(html, ()) is None
    assert assert_same(html).text == "deep text"


def test_a_malformed_link_in_a_title_paragraph_does_not_crash() -> None:
    # found by the random documents: urljoin raises ValueError on "http://[" (it used to escape clean_item)
    cleaned = clean_item(
        "<p><a href='http://[bad'>Title</a></p><p>Body text of the article here.</p>", None, "https://x.example/p"
    )
    assert cleaned.text.endswith("Body text of the article here.")


# -- the lxml walk's shortcut for paragraphs of plain inline markup -----------------------------------------

TRICKY_INLINE = [
    "<p>Before <!-- a comment --> after <em>em<!--x-->ph<?pi ignored?></em> tail</p><p>next</p>",
    '<p>See <a href="https://a.example/1">one <a href="https://a.example/2">two</a> three</a> <b>end</b></p>',
    '<p><a href=" https://a.example/img "><img src="x.png" alt="A picture"></a> and <a href="/t"><b>bold</b></a></p>',
    '<p><a href="https://a.example/px"><img src="p.gif" width="1" height="1" alt="pixel"></a><i>x</i></p>',
    "<p>Kanji <ruby>漢<rp>(</rp><rt>kan</rt><rp>)</rp>字</ruby> <em>text</em></p>",
    '<p>Visible <span hidden>secret</span> and <span style="display:none">gone</span> <i>text</i></p>',
    '<p>Text <span class="share">share this</span> <span id="main">kept</span> <small>skipped</small> end</p>',
    "<p>Line one <em>still<br>line two</em> end</p><li>item <b>bold<br></b>after</li>",
    "<pre>code <em>x\n  y</em>\n z <b>w</b></pre><p>a\u200bb&nbsp;\u00a0 <code>c</code>\n</p>",
    "<table><tr><td>x <b>y</b></td><td><i>z</i> <a href='https://a.example/c'>cell</a></td></tr></table>",
    "<ul><li><strong><a href='https://a.example/s'>Strong</a></strong></li><li><a>none</a> <a href=''>x</a></li></ul>",
    "<p><em><strong><span title='t'>deep <sup>1</sup><sub>2</sub></span></strong></em> don't 1,400</p>",
]


@pytest.mark.parametrize("html", TRICKY_INLINE)
def test_tricky_inline_markup_matches_with_and_without_the_shortcut(html: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = BoilerplateRules(selectors=("p > small",))
    fast = lxml_blocks(html, rules.selectors)
    assert fast is not None
    assert fast == bs4_blocks(html, rules.selectors)
    assert_same(html, "Title", "https://a.example/post", rules)
    monkeypatch.setattr(html_blocks, "_lxml_plain_anchors", lambda element, skipped: None)  # the full walk
    assert lxml_blocks(html, rules.selectors) == fast


def test_the_shortcut_takes_only_plain_paragraphs() -> None:
    def anchors(inner: str, skip: str | None = None) -> list[str] | None:
        paragraph = etree.HTML(f"<p>{inner}</p>").find(".//p")
        skipped = set(paragraph.iter(skip)) if skip else set()
        found = html_blocks._lxml_plain_anchors(paragraph, skipped)
        return None if found is None else [anchor.get("href") for anchor in found]

    assert anchors('a <!-- c --> <em>b <a href="1">c</a></em> <a href="2" title="t"><img alt="x"></a>') == ["1", "2"]
    assert anchors('<img src="p.gif" width="1" height="1"> <span title="t">x</span>') == []
    not_plain = [
        "a<br>b", "<ruby>x<rt>y</rt></ruby>", "<span hidden>x</span>", "<i style='color: red'>x</i>",
        "<span class='x'>x</span>", "<b id='x'>x</b>", "<em aria-hidden='false'>x</em>", "<script>x</script>",
    ]  # fmt: skip
    for inner in not_plain:
        assert anchors(inner) is None, inner
    assert anchors("<em>x</em>", skip="em") is None
