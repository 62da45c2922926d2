"""The article behind a teaser: whether an item needs it (the `auto` rule) and the page's main text
(trafilatura). Pure functions: fetching is fetch/polite.py's job, storing warehouse/articles.py's."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

import trafilatura

# `auto` fetches the article when the feed's text for an item has fewer words than this...
TEASER_WORDS = 100
# ...or ends like a teaser: an ellipsis, WordPress's "[…]" and "(more…)", or a link line such as
# "Continue reading →" or "Read more »" (the line may go on with the title).
_TEASER_END = re.compile(r"(…|\.\.\.|\[\s*(…|\.\.\.)\s*\]|\(\s*more\s*(…|\.\.\.)?\s*\))[\s\W]*$", re.IGNORECASE)
_MORE_LINE = re.compile(
    r"^\W*(continue reading|read more|read the (rest|full)|read full|keep reading|more\s*(»|›|→|>))", re.IGNORECASE
)
_MORE_LINE_WORDS = 25  # longer than this, a last paragraph starting "Read more" is prose, not a link line
# WordPress appends "The post X appeared first on Y." to excerpts and full posts alike: it is not the end that
# counts.
_APPEARED_FIRST = "appeared first on"
# The rule reads the start of the HTML to count words and its end to see how it ends, not the whole article.
_HEAD_CHARS = 4000
_TAIL_CHARS = 2000
_BLOCK_TAG = re.compile(r"<\s*/?\s*(?:p|div|br|li|h[1-6]|blockquote|section|article|tr|ul|ol)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_DROPPED = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_WORD = re.compile(r"\w+")

# An article replaces the feed's text only with at least this many more words: a paywall or consent page
# repeats the teaser and adds a line or two.
MIN_EXTRA_WORDS = 20
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def feed_text(html: str | None) -> str:
    """A rough plain text of the feed's HTML, one line per block: enough to count words and see how it ends."""
    if not html:
        return ""
    text = _TAG.sub(" ", _BLOCK_TAG.sub("\n", _DROPPED.sub(" ", html)))
    lines = (" ".join(html_lib.unescape(line).split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def is_teaser(html: str | None) -> bool:
    """Under TEASER_WORDS words, or ending like an excerpt ("…", "[…]", "Continue reading", "Read more")."""
    return is_short(html) or ends_like_teaser(html)


def teasers_in_feed(htmls: Sequence[str | None]) -> list[bool]:
    """Which of one feed document's items look like teasers. An item ending like an excerpt always does. A short
    item does only where the feed does not carry full text, that is where fewer than half of its items are
    long: in a feed of full articles, a short item is a short post (a link, a note), not an excerpt."""
    short = [is_short(html) for html in htmls]
    carries_full_text = 2 * short.count(False) >= len(short)
    return [ends_like_teaser(html) or (is_short_item and not carries_full_text) for html, is_short_item in
            zip(htmls, short, strict=True)]  # fmt: skip


def is_short(html: str | None) -> bool:
    """Fewer than TEASER_WORDS words (no HTML at all counts as short)."""
    if not html:
        return True
    return _words_at_most(_TAG.sub(" ", html[:_HEAD_CHARS])) < TEASER_WORDS and (
        len(html) <= _HEAD_CHARS or _words_at_most(feed_text(html)) < TEASER_WORDS
    )


def ends_like_teaser(html: str | None) -> bool:
    """Ends in "…", "[…]", "(more…)", or a link line such as "Continue reading →" or "Read more »"."""
    if not html:
        return False
    blocks = [block for block in _BLOCK_TAG.split(html[-_TAIL_CHARS:]) if block and block.strip()]
    lines = [line for line in (" ".join(html_lib.unescape(_TAG.sub(" ", b)).split()) for b in blocks[-3:]) if line]
    if len(lines) > 1 and _APPEARED_FIRST in lines[-1].lower():
        lines.pop()
    last_line = lines[-1] if lines else ""
    if _MORE_LINE.match(last_line) and _words_at_most(last_line, _MORE_LINE_WORDS + 1) <= _MORE_LINE_WORDS:
        return True
    return bool(_TEASER_END.search(last_line[-40:]))


def _words_at_most(text: str, limit: int = TEASER_WORDS) -> int:
    """Whitespace-separated words in `text`, counted up to `limit` (enough to compare with it)."""
    return min(len(text.split(None, limit)), limit)


def is_web_page(link: str | None) -> bool:
    try:
        parts = urlsplit(link or "")
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def wants_article(mode: str, html: str | None, link: str | None, teaser: bool | None = None) -> bool:
    """Whether an item's article page is fetched and its text used: `always`, or `auto` for a teaser (`teaser`:
    as the parser judged it in its feed, `teasers_in_feed`; None: judged on the item alone); never without an
    http(s) link."""
    if mode == "never" or not is_web_page(link):
        return False
    return mode == "always" or (is_teaser(html) if teaser is None else teaser)


class NoArticle(ValueError):
    """The page holds no article text we can use; the message says why, for the user."""


def is_html(body: bytes, content_type: str | None) -> bool:
    """Declared as HTML, or undeclared and looking like markup."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type:
        return media_type in _HTML_TYPES
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<"


def main_html(body: bytes, url: str | None, content_type: str | None) -> str:
    """The page's main text as simple HTML (paragraphs, headings, lists, tables, links): navigation, cookie
    banners, share widgets, related posts, comments and footers left out. Raises NoArticle."""
    if not is_html(body, content_type):
        raise NoArticle(f"not an HTML page ({(content_type or 'unknown type').split(';', 1)[0]})")
    extracted = trafilatura.extract(
        body,
        url=url,
        output_format="html",
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=True,
        favor_precision=True,
        with_metadata=False,
    )
    if not extracted or not _WORD.search(_TAG.sub(" ", extracted)):
        raise NoArticle("no article text found on the page")
    return extracted
