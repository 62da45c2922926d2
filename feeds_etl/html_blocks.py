"""Item HTML -> blocks of text (paragraphs, headings, lists), with the subtrees that never carry text skipped.

Two walkers build the same blocks:

- `lxml_blocks`, the fast path: lxml elements, XPath for text and CSS selectors (via cssselect).
- `bs4_blocks` (feeds_etl.html_reference), the reference: BeautifulSoup's tree, soupsieve for selectors.

BeautifulSoup's "lxml" builder drives the very same libxml2 HTML parser, so both walk the same tree and feed
the same `Builder` the same events; the lxml walker only skips building BeautifulSoup's Python object tree
(~10x faster). `test_clean_paths` checks both give identical text on every bundled and generated feed and on
randomly generated HTML. The fast path declines (returns None) what it cannot reproduce exactly: selectors
soupsieve accepts but cssselect cannot translate, and markup lxml's parser rejects.

Walks are iterative (an explicit stack, not recursion), so 100,000 nested divs are fine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import filterfalse, islice
from typing import Any

import soupsieve
from cssselect import HTMLTranslator
from lxml import etree

# <noscript> is read only when it holds code (the listing of an embedded gist), else skipped ("enable JavaScript").
SKIP_TAGS = frozenset({
    "head", "title", "meta", "link", "script", "style", "template", "form", "input", "button",
    "select", "option", "textarea", "label", "iframe", "frame", "frameset", "object", "embed", "applet",
    "nav", "svg", "canvas", "video", "audio", "source", "track", "map", "area", "dialog", "menu",
})  # fmt: skip
_BLOCK_TAGS = frozenset({
    "html", "body", "p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote",
    "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "pre", "table", "figure", "figcaption", "address",
    "hr", "details", "summary", "center", "fieldset", "caption",
})  # fmt: skip
_LINE_TAGS = frozenset({"li", "dt", "dd", "tr"})
_CELL_TAGS = frozenset({"td", "th"})
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Inline code keeps its spaces; <pre> keeps every line verbatim.
_CODE_TAGS = frozenset({"code", "kbd", "samp", "tt"})
# BeautifulSoup types the strings under these as ruby/script/style text, which its get_text and our walk
# skip; the lxml walker must skip the same strings.
_RUBY_TAGS = frozenset({"rt", "rp"})
_LXML_MAX_DEPTH = 250
_CONTAINER = "*[self::script or self::style or self::template or self::rt or self::rp]"
_MAIN_TEXT = etree.XPath(f"descendant-or-self::text()[not(ancestor::{_CONTAINER})]", smart_strings=False)
_CONTAINER_TEXT = etree.XPath(
    f"descendant-or-self::text()[name(ancestor::{_CONTAINER}[1]) = $name]", smart_strings=False
)
_CONTAINER_TAGS = frozenset({"script", "style", "template", "rt", "rp"})
# The tags Builder.enter and Builder.leave act on (a walk need not call them for any other tag).
_ENTER_TAGS = _BLOCK_TAGS | _LINE_TAGS | _CELL_TAGS | _CODE_TAGS | {"br"}
_LEAVE_TAGS = _BLOCK_TAGS | _LINE_TAGS | _RUBY_TAGS | _CODE_TAGS
# Where the lxml walk tries its shortcut for plain paragraphs; the tags that make a paragraph not plain, and
# the attributes the Skipper reads (on any element but img).
_PARAGRAPH_TAGS = _BLOCK_TAGS | _LINE_TAGS | _CELL_TAGS
_STRUCTURE_TAGS = SKIP_TAGS | _ENTER_TAGS | _LEAVE_TAGS | {"noscript"}
_SKIPPER_ATTRS = frozenset({"hidden", "aria-hidden", "style", "class", "id"})

# Boxes that are never article text, known by a whole class token or the whole id (never a part of an id: a
# heading's id "phasing-out-social-media" says nothing about the box). A token is a widget word, or a widget
# word joined to a widget part ("share-buttons", "post-related", "jp-relatedposts").
_HINT_WORDS = frozenset({
    "share", "sharing", "sharedaddy", "shareaholic", "addtoany", "social", "newsletter", "subscribe",
    "subscription", "subscriptions", "signup", "donate", "donation", "donations", "related", "relatedposts",
    "yarpp", "advert", "advertisement", "ad", "ads", "adsbygoogle", "sponsored", "promo", "cookie",
    "cookies", "popup", "paywall", "comments", "breadcrumb", "breadcrumbs", "pagination", "wpcnt",
})  # fmt: skip
_HINT_WORD = "|".join(sorted(_HINT_WORDS, key=len, reverse=True))
_WIDGET_PART = (
    r"box|boxes|buttons?|links?|bar|widgets?|container|wrap|wrapper|area|section|block|list|icons?|tools|"
    r"form|panel|module|footer|banner|cta|posts|articles|stories|items|entries|thread|respond|unit|slot|"
    r"post|entry|article|jp|wp|c|td|single|site|inline|bottom|top|after|before|in|sticky|floating"
)
_HINT_TOKEN = re.compile(rf"(?:(?:{_WIDGET_PART})[-_])*(?:{_HINT_WORD})(?:[-_](?:{_WIDGET_PART}))*")
# A hinted box bigger than this is more likely the article wrapper (e.g. a "category-social" post class).
_HINT_MAX_WORDS = 150
SIGNUP_MAX_WORDS = 40
SIGNUP_MAX_LEVELS = 3  # the form's wrapper, or the box around that wrapper
# A size check reads an element's whole subtree; a budget per item keeps hostile nesting linear.
SIZE_CHECKS_PER_ITEM = 50
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)

_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")  # faster than str.translate
_WORD = re.compile(r"\w++(?:[-'’.,]\w++)*+")  # possessive: the same words, less backtracking
# count_words on ASCII text without the regex engine: one byte per character, 1 for a word character (\w) or
# for a separator of _WORD, read as two big integers whose bit operations compare every character with the two
# before it at once (cheaper than substring counts over a string of character classes).
_ASCII_WORD_CHAR = bytes(1 if re.match(r"\w", chr(i)) else 0 for i in range(256))
_ASCII_SEPARATOR = bytes(1 if chr(i) in "-'.," else 0 for i in range(256))


def count_words(text: str) -> int:
    """Words as a reader counts them: "don't", "well-known", "1,400" and "24.KG" are one word each."""
    if text.isascii():  # faster than the regex
        encoded = text.encode()
        word = int.from_bytes(encoded.translate(_ASCII_WORD_CHAR), "little")
        separator = int.from_bytes(encoded.translate(_ASCII_SEPARATOR), "little")
        starts = word & ~(word << 8)  # first characters of runs of word characters
        # A run starts a word unless a single separator joins it to the run before.
        joined = (separator << 8) & (word << 16)
        return (starts & ~joined).bit_count()
    # Every whitespace-separated token that is all letters and digits is one word (faster than the regex
    # on the whole text); the regex counts the words of the others.
    tokens = text.split()
    others = list(filterfalse(str.isalnum, tokens))
    return len(tokens) - len(others) + len(_WORD.findall(" ".join(others)))


def normalize(text: str) -> str:
    """One line of text: invisible characters gone, every run of (Unicode) spaces one space."""
    text = text.strip()
    # Every Unicode space but " " and every invisible character is unprintable: most lines have neither.
    if text.isprintable() and "  " not in text:
        return text
    text = " ".join(text.split())  # str.split() splits on exactly the Unicode spaces
    if text.isprintable():  # so no invisible character: a line break was all (cheaper than the regex)
        return text
    return " ".join(_INVISIBLE.sub("", text).split())


@dataclass(frozen=True, slots=True)
class Owner:
    """The element a block came from, as far as the boilerplate rules look at it."""

    name: str
    classes: tuple[str, ...]
    align: str
    style: str


_BARE_OWNERS = {name: Owner(name, (), "", "") for name in _BLOCK_TAGS}  # the only tags that own blocks


@dataclass(slots=True)
class Block:
    owner: Owner | None
    lines: list[str]
    links: list[tuple[str, str]]  # (href as written, anchor text)
    code: bool = False  # holds a <pre> listing or inline code: its text is not prose
    text: str = ""
    words: int = 0

    def __post_init__(self) -> None:
        self.text = "\n".join(self.lines)
        self.words = count_words(self.text)

    @property
    def heading(self) -> bool:
        return self.owner is not None and self.owner.name in HEADINGS

    def link_ratio(self) -> float:
        anchors = sum(len(anchor) for _, anchor in self.links)
        return min(1.0, anchors / max(1, len(self.text)))


# -- shared by both walkers ---------------------------------------------------------------------------


class Skipper:
    """Decides, on entering an element, whether its whole subtree carries no article text."""

    def __init__(self) -> None:
        self.size_checks = SIZE_CHECKS_PER_ITEM

    def __call__(self, name: str, attrs: Mapping[str, Any], classes: str, subtree_text: Callable[[], str]) -> bool:
        if name in SKIP_TAGS:
            return True
        if not attrs:
            return False
        if "hidden" in attrs or attrs.get("aria-hidden") == "true" or _HIDDEN_STYLE.search(attrs.get("style", "")):
            return True
        if name == "img":
            return _is_pixel(attrs)
        element_id = attrs.get("id")
        if name in HEADINGS or self.size_checks <= 0 or not (classes or element_id):
            return False
        if not _has_hint(classes, element_id):
            return False
        self.size_checks -= 1
        return count_words(subtree_text()) <= _HINT_MAX_WORDS


def _is_pixel(attrs: Mapping[str, Any]) -> bool:
    return str(attrs.get("width", "")).strip() in ("0", "1") or str(attrs.get("height", "")).strip() in ("0", "1")


def _has_hint(classes: str, element_id: str | None) -> bool:
    tokens = f"{classes} {element_id or ''}".lower().split()
    return any(_HINT_TOKEN.fullmatch(token) for token in tokens)


# Links of a plain element: (href, anchor text made on demand), as `Builder.link` takes them.
PlainLinks = list[tuple[Any, Callable[[], str]]]


class Builder:
    """Collects text into lines and blocks as a walk enters and leaves elements."""

    def __init__(self, describe: Callable[[Any], Owner]) -> None:
        self.blocks: list[Block] = []
        self.owners: list[Any] = [None]  # elements whose block is open (identity matters, not equality)
        self.list_depth = 0  # inside li/dt/dd/tr, paragraphs become lines of the same block
        self.pre_depth = 0
        self.code_depth = 0
        self._verbatim = False  # the open line is <pre> text: kept as written
        self._code = False  # the open block holds code
        self._describe = describe
        self._pieces: list[str] = []
        self._lines: list[str] = []
        self._links: list[tuple[str, str]] = []

    def text(self, value: str) -> None:
        if self.pre_depth:
            self._code = True
            first, *rest = value.split("\n")
            self._verbatim = True
            self._pieces.append(first)
            for line in rest:
                self.end_line()
                self._verbatim = True
                self._pieces.append(line)
        elif self.code_depth:
            self._code = True
            # spaces and tabs of inline code survive the line's normalisation as private-use characters
            self._pieces.append(value.replace(" ", "\ue000").replace("\t", "\ue001"))
        else:
            self._pieces.append(value)

    def link(self, href: Any, anchor_text: Callable[[], str]) -> None:
        if isinstance(href, str) and href.strip():
            self._links.append((href.strip(), anchor_text()))

    def enter(self, name: str, element: Any) -> None:
        if name == "br":
            self.end_line()
        elif name in _LINE_TAGS:
            self.end_line()
            self.list_depth += 1
        elif name in _BLOCK_TAGS:
            if self.list_depth:
                self.end_line()
            else:
                self.end_block()
                self.owners.append(element)
        elif name in _CELL_TAGS and self._pieces:
            self._pieces.append(" | ")
        elif name in _CODE_TAGS:
            self.code_depth += 1
        if name == "pre":
            self.pre_depth += 1

    def leave(self, name: str, element: Any) -> None:
        if name in _LINE_TAGS:
            self.end_line()
            self.list_depth -= 1
        elif name in _BLOCK_TAGS:
            if self.list_depth:
                self.end_line()
            elif self.owners[-1] is element:
                self.end_block()
                self.owners.pop()
        elif name in _CODE_TAGS:
            self.code_depth -= 1
        if name == "pre":
            self.end_line()
            self.pre_depth -= 1

    def plain_content(self, text: str | None, links: PlainLinks) -> None:
        """The `text` and `link` steps of an element that holds only text and plain inline markup."""
        if text:
            self.text(text)
        for href, anchor_text in links:
            self.link(href, anchor_text)

    def plain_block(self, element: Any, text: str | None, links: PlainLinks) -> None:
        """`enter`, `plain_content` and `leave` of a block element (outside lists and <pre>) holding only text:
        one line, so most paragraphs skip the steps that assemble lines from pieces."""
        self.end_block()
        if self.code_depth:  # inside inline code, the text keeps its spaces: the general steps
            self.owners.append(element)
            self.plain_content(text, links)
            self.end_block()
            self.owners.pop()
            return
        for href, anchor_text in links:
            self.link(href, anchor_text)
        line = _line(text) if text else ""
        if line:  # links met before any text (self._links) stay for the block its text lands in
            self.blocks.append(Block(self._describe(element), [line], self._links))
            self._links = []

    def end_line(self) -> None:
        if not self._pieces:
            self._verbatim = False
            return
        joined = "".join(self._pieces)
        self._pieces.clear()
        if self._verbatim:  # <pre>: indentation and runs of spaces kept, trailing spaces and blank lines not
            self._verbatim = False
            line = _INVISIBLE.sub("", joined).replace("\xa0", " ").rstrip()
            if line.strip():
                self._lines.append(line)
            return
        line = _line(joined)
        if line:
            self._lines.append(line)

    def end_block(self) -> None:
        self.end_line()
        if self._lines:  # links met before any text stay for the block their text lands in
            owner = self.owners[-1]
            describe = self._describe(owner) if owner is not None else None
            self.blocks.append(Block(describe, self._lines, self._links, self._code))
            self._lines, self._links = [], []
        self._code = False


def _line(joined: str) -> str:
    """A line's text normalised; inline code's spaces and tabs (kept as private-use characters) restored."""
    line = normalize(joined)
    if "\ue000" in line or "\ue001" in line:
        line = line.replace("\ue000", " ").replace("\ue001", "\t").strip()
    return line


@dataclass(frozen=True)
class _Selectors:
    soupsieve: str  # the selectors soupsieve accepts, combined ("" if none): invalid ones match nothing
    xpath: etree.XPath | None  # the same selectors for lxml (None if none)
    translatable: bool  # False when cssselect cannot express one of them: the fast path then declines


@lru_cache(maxsize=256)
def compile_selectors(selectors: tuple[str, ...]) -> _Selectors:
    valid = []
    for selector in selectors:
        try:
            soupsieve.compile(selector)
        except Exception:  # soupsieve raises several error types for bad selectors
            continue
        valid.append(selector)
    if not valid:
        return _Selectors("", None, True)
    try:
        xpath = etree.XPath(" | ".join(HTMLTranslator().css_to_xpath(selector) for selector in valid))
    except Exception:  # cssselect raises SelectorError / ExpressionError for what it cannot express
        return _Selectors(", ".join(valid), None, False)
    return _Selectors(", ".join(valid), xpath, True)


def plain_text(markup: str) -> str:
    """All the readable text of the markup as one line (no scripts or styles): the fallback when every block
    of an item was dropped or skipped."""
    parser = etree.HTMLParser(recover=True)
    try:
        parser.feed(markup.removeprefix("\ufeff"))
        root = parser.close()
    except (etree.ParserError, etree.XMLSyntaxError, ValueError, LookupError):
        return ""
    if root is None:
        return ""
    return normalize(" ".join(_MAIN_TEXT(root)))


# -- lxml (fast path) ---------------------------------------------------------------------------------


def lxml_blocks(markup: str, selectors: tuple[str, ...]) -> list[Block] | None:
    """Blocks of the markup, or None when only BeautifulSoup can reproduce the reference exactly."""
    compiled = compile_selectors(selectors)
    if not compiled.translatable:
        return None
    parser = etree.HTMLParser(recover=True)  # as BeautifulSoup's lxml builder sets it up
    try:
        parser.feed(markup.removeprefix("\ufeff"))
        root = parser.close()
    except (etree.ParserError, etree.XMLSyntaxError, ValueError, LookupError):
        return None
    if root is None or _may_be_truncated(root):
        return None
    skipped = set(compiled.xpath(root)) if compiled.xpath is not None else set()
    skipped |= _lxml_signup_boxes(root)
    return _lxml_walk(root, skipped)


def _may_be_truncated(root: etree._Element) -> bool:
    """libxml2's tree builder silently drops what nests deeper than 256 elements (BeautifulSoup, fed by
    events, keeps it): decline documents that come near that depth."""
    if sum(1 for _ in root.iter()) < _LXML_MAX_DEPTH:
        return False
    depth = 0
    for event, _element in etree.iterwalk(root, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if depth >= _LXML_MAX_DEPTH:
            return True
    return False


def _lxml_walk(root: etree._Element, skipped: set[etree._Element]) -> list[Block]:
    builder, skip = Builder(_lxml_owner), Skipper()
    ruby = 0  # inside rt/rp, strings are ruby annotations, not text
    stack: list[Any] = [root]
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        if isinstance(node, str):
            if not ruby:
                builder.text(node)
            continue
        if isinstance(node, tuple):  # (element,): leaving it
            name = node[0].tag
            builder.leave(name, node[0])
            if name in _RUBY_TAGS:
                ruby -= 1
            continue
        name = node.tag
        if not isinstance(name, str):  # comment or processing instruction (its tail was stacked on its own)
            continue
        if name in SKIP_TAGS or node in skipped:
            continue
        if name == "noscript" and next(node.iter("pre", "code"), None) is None:
            continue
        attrs = node.attrib
        if attrs and skip(name, attrs, attrs.get("class", ""), lambda n=node: _get_text(n, " ")):
            continue
        if name in _BLOCK_TAGS and not (ruby or builder.list_depth or builder.pre_depth) and name != "pre":
            # A block of text and plain inline markup only (most paragraphs and headings): entered, filled and
            # left at once, as the steps below would (nothing they would push lies in between).
            content = _lxml_plain_content(node, skipped)
            if content is not None:
                builder.plain_block(node, *content)
                continue
        if name == "a":
            builder.link(attrs.get("href"), lambda n=node, r=ruby: _lxml_anchor_text(n, r))
        if name in _ENTER_TAGS:
            builder.enter(name, node)
        if name in _LEAVE_TAGS:  # em, strong, a...: leaving them changes nothing
            if name in _RUBY_TAGS:
                ruby += 1
            push((node,))
        if name in _PARAGRAPH_TAGS and len(node) and not ruby and not builder.pre_depth:
            content = _lxml_plain_content(node, skipped)
            if content is not None:  # only text and plain inline markup below: no step per node
                builder.plain_content(*content)
                continue
        text = node.text
        if text and not ruby:
            builder.text(text)
        for child in reversed(node):
            tail = child.tail
            if tail:
                push(tail)
            push(child)
    builder.end_block()
    return builder.blocks


def _lxml_plain_content(element: etree._Element, skipped: set[etree._Element]) -> tuple[str | None, PlainLinks] | None:
    """The element's text and links if nothing below it is more than text to the walk, else None."""
    if not len(element):
        return element.text, []
    anchors = _lxml_plain_anchors(element, skipped)
    if anchors is None:
        return None
    # libxml2 concatenates the text nodes (as the walk would: comments' tails, not their text)
    text = etree.tostring(element, method="text", encoding=str, with_tail=False)
    return text, [(anchor.get("href"), lambda n=anchor: _lxml_anchor_text(n, 0)) for anchor in anchors]


def _lxml_plain_anchors(element: etree._Element, skipped: set[etree._Element]) -> list[etree._Element] | None:
    """The links below the element if nothing there is more than text to the walk (no tag the builder or the
    skipper acts on, no attribute the skipper reads; an img has no children, so skipping it changes nothing),
    else None. Tried on paragraph tags only, which end each other's scans: no element is scanned twice."""
    anchors = []
    for node in element.iterdescendants():
        name = node.tag
        if not isinstance(name, str):  # comment or processing instruction
            continue
        if name in _STRUCTURE_TAGS or node in skipped:
            return None
        attrs = node.attrib
        if attrs:  # an <a> without attributes has no href: no link
            if name == "a":
                anchors.append(node)
            elif name == "img":
                continue
            if not _SKIPPER_ATTRS.isdisjoint(attrs):
                return None
    return anchors


def _get_text(element: etree._Element, separator: str) -> str:
    """BeautifulSoup's get_text(): the strings of the element's own kind (a <rt> reads its ruby text, any
    other element only main-content strings, never script, style, template or ruby text)."""
    if element.tag in _CONTAINER_TAGS:
        return separator.join(_CONTAINER_TEXT(element, name=element.tag))
    return separator.join(_MAIN_TEXT(element))


def _lxml_anchor_text(anchor: etree._Element, ruby: int) -> str:
    if not len(anchor):  # the common <a href="...">text</a> (no img either)
        return "" if ruby else normalize(anchor.text or "")
    if ruby:
        text = ""
    elif next(anchor.iter(*_CONTAINER_TAGS), None) is None:  # main-content strings only (ruby=0: none above)
        # libxml2 concatenates the text nodes (comments' tails, not their text), faster than the XPath
        text = normalize(etree.tostring(anchor, method="text", encoding=str, with_tail=False))
    else:
        text = normalize(_get_text(anchor, ""))
    if not text:
        image = next((img for img in anchor.iter("img") if img.get("alt") is not None), None)
        if image is not None:
            text = normalize(image.get("alt"))
    return text


def _lxml_owner(element: etree._Element) -> Owner:
    if not element.attrib:  # most blocks are bare <p>s: they share one Owner (a frozen dataclass is slow to make)
        return _BARE_OWNERS.get(element.tag) or Owner(element.tag, (), "", "")
    get = element.get
    return Owner(element.tag, tuple(get("class", "").split()), get("align", ""), get("style", ""))


def _lxml_signup_boxes(root: etree._Element) -> set[etree._Element]:
    """The small box around a form (its pitch, its 'latest issue' link) goes with the form."""
    boxes = set()
    for form in islice(root.iter("form"), SIZE_CHECKS_PER_ITEM):
        box = None
        for ancestor in islice(form.iterancestors(), SIGNUP_MAX_LEVELS):
            if ancestor.tag in ("body", "html"):
                break
            if count_words(_get_text(ancestor, " ")) > SIGNUP_MAX_WORDS:
                break
            box = ancestor
        if box is not None:
            boxes.add(box)
    return boxes
