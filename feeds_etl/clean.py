"""Item HTML -> readable plain text, outbound links and language (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup, NavigableString, Tag

from feeds_etl.feeds import BoilerplateRules

# Bump whenever cleaning rules change: rows carry it, so a backfill visibly re-derives the text.
CLEANER_VERSION = "1"
WORDS_PER_MINUTE = 230
MAX_HTML_CHARS = 2_000_000

_DROP_TAGS = ("script", "style", "noscript", "form", "iframe", "nav", "button", "svg", "object", "embed")
_BLOCK_TAGS = {
    "p", "div", "section", "article", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6",
    "li", "ul", "ol", "pre", "table", "tr", "figure", "figcaption", "header", "footer", "aside", "dl", "dt", "dd",
}  # fmt: skip
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_WORD = re.compile(r"\w+(?:[-'’]\w+)*", re.UNICODE)


@dataclass(frozen=True)
class Link:
    url: str
    domain: str
    anchor_text: str


@dataclass(frozen=True)
class CleanedText:
    text: str
    word_count: int
    language: str | None
    reading_time_minutes: float
    links: tuple[Link, ...] = field(default_factory=tuple)


def clean_item(
    html: str | None,
    title: str | None = None,
    base_url: str | None = None,
    rules: BoilerplateRules | None = None,
) -> CleanedText:
    """Turn one item's HTML into text with paragraphs separated by a blank line."""
    if not html or not html.strip():
        return CleanedText("", 0, None, 0.0)
    soup = BeautifulSoup(html[:MAX_HTML_CHARS], "lxml")
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    if rules:
        for selector in rules.selectors:
            for tag in soup.select(selector):
                tag.decompose()
    paragraphs = [p for p in _paragraphs(soup) if not _is_boilerplate(p, title, rules)]
    text = "\n\n".join(paragraphs)
    links = _links(soup, base_url)
    words = count_words(text)
    return CleanedText(
        text=text,
        word_count=words,
        language=detect_language(text),
        reading_time_minutes=round(words / WORDS_PER_MINUTE, 1),
        links=links,
    )


def _paragraphs(soup: BeautifulSoup) -> list[str]:
    blocks: list[str] = []
    current: list[str] = []

    def flush() -> None:
        line = _SPACES.sub(" ", "".join(current)).strip()
        if line:
            blocks.append(line)
        current.clear()

    def walk(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if type(child) is NavigableString:
                    current.append(str(child).replace("\n", " "))
            elif isinstance(child, Tag):
                if child.name == "br":
                    current.append(" ")
                elif child.name in _BLOCK_TAGS:
                    flush()
                    walk(child)
                    flush()
                else:
                    walk(child)

    walk(soup)
    flush()
    return blocks


_FOOTER = re.compile(r"^The post .+ appeared first on .+\.?$", re.IGNORECASE | re.DOTALL)


def _is_boilerplate(paragraph: str, title: str | None, rules: BoilerplateRules | None) -> bool:
    if _FOOTER.match(paragraph):
        return True
    if title and paragraph.strip().casefold() == title.strip().casefold():
        return True
    return bool(rules and any(phrase.casefold() in paragraph.casefold() for phrase in rules.phrases))


def _links(soup: BeautifulSoup, base_url: str | None) -> tuple[Link, ...]:
    links: list[Link] = []
    for anchor in soup.find_all("a", href=True):
        href = str(anchor["href"]).strip()
        url = urljoin(base_url, href) if base_url and not base_url.startswith("file:") else href
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            continue
        anchor_text = _SPACES.sub(" ", anchor.get_text(" ")).strip()
        links.append(Link(url=url, domain=parts.hostname.removeprefix("www."), anchor_text=anchor_text))
    return tuple(links)


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def detect_language(text: str) -> str | None:
    """ISO 639-1 code from py3langid (model bundled in the wheel, nothing downloaded)."""
    if count_words(text) < 3:
        return None
    import py3langid

    language, _score = py3langid.classify(text[:20_000])
    return language
