"""Item HTML -> readable plain text, outbound links and language (pure: no I/O, no network).

How an item is cleaned, in order:

1. Parse with BeautifulSoup + lxml (input capped at MAX_HTML_CHARS so a huge item stays bounded).
2. Skip whole subtrees that never carry article text: structural tags (scripts, forms, nav, svg...),
   hidden elements, tracking pixels, small boxes whose class/id says share/newsletter/donate/related,
   sign-up boxes around a form, and the CSS selectors of the WordPress defaults and of the feed's rules.
3. Walk the tree iteratively (deeply nested input must not hit the recursion limit) into blocks:
   one block per paragraph, heading, blockquote paragraph or list; list items and <br> are lines.
4. Drop boilerplate blocks: empty ones, short calls to action (donate, newsletter, follow us, share,
   "read more on..."), short link-dense blocks, the feed's phrases; then positional boilerplate: a
   leading block repeating the title, trailing "The post ... appeared first on ..." and sign-offs.
5. Links come only from the blocks kept, so share/follow/donate/title links are gone with their blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape
from itertools import islice
from urllib.parse import urljoin, urlsplit

import soupsieve
from bs4 import BeautifulSoup, NavigableString, Tag

from feeds_etl.feeds import BoilerplateRules

# Bump whenever cleaning rules change: rows carry it, so a backfill visibly re-derives the text.
CLEANER_VERSION = "3"
WORDS_PER_MINUTE = 230
# Real articles are well under 300 kB of HTML; the cap keeps hostile or broken items to a few seconds.
MAX_HTML_CHARS = 1_000_000
# py3langid is as sure on 1,000 characters of clean prose as on the whole article, and far faster.
LANGUAGE_SAMPLE_CHARS = 1_000

# Defaults for WordPress feeds (detected from the HTML): plugin boxes and theme footers.
WORDPRESS_RULES = BoilerplateRules(
    selectors=(
        ".sharedaddy", ".jp-relatedposts", ".wpcnt", ".addtoany_share_save_container", ".yarpp-related",
        ".wp-block-jetpack-subscriptions", ".wp-block-social-links", ".wp-block-buttons", ".saboxplugin-wrap",
        ".crp_related", ".heateor_sss_sharing_container", ".mc4wp-form", ".more-link", ".post-views",
    ),
    phrases=("This entry was posted in", "Bookmark the permalink"),
)  # fmt: skip
_WORDPRESS_HINT = re.compile(r"""class=["'][^"']*\bwp-|/wp-content/|appeared first on""", re.IGNORECASE)

_SKIP_TAGS = frozenset({
    "head", "title", "meta", "link", "script", "style", "noscript", "template", "form", "input", "button",
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
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})

# Class/id words of boxes that are never article text (matched as whole words of the class/id).
_HINT_WORDS = frozenset({
    "share", "sharing", "sharedaddy", "shareaholic", "addtoany", "social", "newsletter", "subscribe",
    "subscription", "subscriptions", "signup", "donate", "donation", "donations", "related", "relatedposts",
    "yarpp", "advert", "advertisement", "ad", "ads", "adsbygoogle", "sponsored", "promo", "cookie",
    "cookies", "popup", "paywall", "comments", "breadcrumb", "breadcrumbs", "pagination", "wpcnt",
})  # fmt: skip
_HINT_SPLIT = re.compile(r"[^a-z0-9]+")
# A hinted box bigger than this is more likely the article wrapper (e.g. a "category-social" post class).
_HINT_MAX_WORDS = 150
_SIGNUP_MAX_WORDS = 40
_SIGNUP_MAX_LEVELS = 3  # the form's wrapper, or the box around that wrapper
# A size check reads an element's whole subtree; a budget per item keeps hostile nesting linear.
_SIZE_CHECKS_PER_ITEM = 50
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_RIGHT_ALIGNED = re.compile(r"text-align\s*:\s*right", re.IGNORECASE)

_SPACES = re.compile(r"[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_WORD = re.compile(r"\w+(?:[-'’.,]\w+)*")
_ANY_WORD = re.compile(r"\w")

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
_SHARE_URL = re.compile(
    r"//(?:www\.)?(?:twitter\.com/(?:share|intent)|x\.com/intent|facebook\.com/shar|linkedin\.com/share"
    r"|t\.me/share|telegram\.me/share|wa\.me/|api\.whatsapp\.com/send|reddit\.com/submit"
    r"|pinterest\.com/pin/create|vk\.com/share|getpocket\.com/save|addtoany\.com)",
    re.IGNORECASE,
)
_LINK_DENSE_MAX_WORDS = 30
_LINK_DENSE_RATIO = 0.75
_SIGNOFF_MAX_WORDS = 15
# WordPress's own footer, in the languages WordPress ships it in.
_FOOTER = re.compile(
    r"^(?:The post .+ appeared first on .+|L[’']article .+ est apparu en premier sur .+"
    r"|Der Beitrag .+ erschien zuerst auf .+|La entrada .+ se publicó primero en .+"
    r"|Запись .+ впервые появилась .+|Сообщение .+ появились сначала на .+)$",
    re.IGNORECASE | re.DOTALL,
)
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
) -> CleanedText:
    """Turn one item's HTML into text with paragraphs separated by exactly one blank line."""
    if not html or not html.strip():
        return CleanedText("", 0, None, 0.0)
    html = html[:MAX_HTML_CHARS]
    all_rules = [r for r in (WORDPRESS_RULES if _WORDPRESS_HINT.search(html) else None, rules) if r]
    soup = BeautifulSoup(_as_html(html), "lxml")
    skipped = _selected(soup, all_rules) | _signup_boxes(soup)
    blocks = _drop_boilerplate(_blocks(soup, skipped), title, base_url, all_rules)
    text = "\n\n".join(block.text for block in blocks)
    words = count_words(text)
    return CleanedText(
        text=text,
        word_count=words,
        language=detect_language(text),
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


def count_words(text: str) -> int:
    """Words as a reader counts them: "don't", "well-known", "1,400" and "24.KG" are one word each."""
    return len(_WORD.findall(text))


def detect_language(text: str) -> str | None:
    """ISO 639-1 code from py3langid (model bundled in the wheel, nothing downloaded)."""
    if count_words(text) < 3:
        return None
    import py3langid  # lazily: its model takes seconds to load; importing CLEANER_VERSION should not pay that

    language, _score = py3langid.classify(text[:LANGUAGE_SAMPLE_CHARS])
    return language if isinstance(language, str) and len(language) == 2 else None


# -- 1-2. parsing and subtrees to skip --------------------------------------------------------------


def _as_html(html: str) -> str:
    """Plain-text descriptions (no tags at all) keep their blank-line paragraphs."""
    if "<" in html:
        return html
    return "".join(f"<p>{escape(part)}</p>" for part in re.split(r"\n\s*\n", html))


def _selected(soup: BeautifulSoup, all_rules: list[BoilerplateRules]) -> set[int]:
    """ids of the elements matched by the rules' CSS selectors; an invalid selector matches nothing."""
    found: set[int] = set()
    for rules in all_rules:
        if not rules.selectors:
            continue
        try:  # one combined selector walks the tree once instead of once per selector
            found.update(id(tag) for tag in soup.select(", ".join(rules.selectors)))
        except Exception:  # soupsieve raises several error types; retry one by one to skip only the bad ones
            for selector in rules.selectors:
                try:
                    found.update(id(tag) for tag in soup.select(selector))
                except Exception:  # a typo in one feed's selector must not stop the cleaning of its items
                    continue
    return found


def _signup_boxes(soup: BeautifulSoup) -> set[int]:
    """The small box around a form (its pitch, its 'latest issue' link) goes with the form."""
    boxes: set[int] = set()
    for form in soup.find_all("form", limit=_SIZE_CHECKS_PER_ITEM):
        box = None
        for ancestor in islice(form.parents, _SIGNUP_MAX_LEVELS):
            if ancestor.name in ("body", "html", "[document]"):
                break
            if count_words(ancestor.get_text(" ")) > _SIGNUP_MAX_WORDS:
                break
            box = ancestor
        if box is not None:
            boxes.add(id(box))
    return boxes


class _Skipper:
    """Decides, on entering an element, whether its whole subtree carries no article text."""

    def __init__(self, skipped: set[int]) -> None:
        self.skipped = skipped
        self.size_checks = _SIZE_CHECKS_PER_ITEM

    def __call__(self, tag: Tag) -> bool:
        if tag.name in _SKIP_TAGS or id(tag) in self.skipped:
            return True
        attrs = tag.attrs
        if not attrs:
            return False
        if "hidden" in attrs or attrs.get("aria-hidden") == "true" or _HIDDEN_STYLE.search(attrs.get("style", "")):
            return True
        if tag.name == "img":
            return _is_pixel(attrs)
        if self.size_checks <= 0 or not _has_hint(attrs):
            return False
        self.size_checks -= 1
        return count_words(tag.get_text(" ")) <= _HINT_MAX_WORDS


def _is_pixel(attrs: dict) -> bool:
    return str(attrs.get("width", "")).strip() in ("0", "1") or str(attrs.get("height", "")).strip() in ("0", "1")


def _has_hint(attrs: dict) -> bool:
    classes = attrs.get("class") or []
    names = " ".join([*classes, attrs.get("id") or ""]) if isinstance(classes, list) else f"{classes} {attrs.get('id')}"
    return bool(_HINT_WORDS.intersection(_HINT_SPLIT.split(names.lower())))


# -- 3. blocks ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Block:
    owner: Tag | None
    lines: list[str]
    links: list[tuple[str, str]]  # (href as written, anchor text)
    text: str = ""
    words: int = 0

    def __post_init__(self) -> None:
        self.text = "\n".join(self.lines)
        self.words = count_words(self.text)

    @property
    def heading(self) -> bool:
        return self.owner is not None and self.owner.name in _HEADINGS

    def link_ratio(self) -> float:
        anchors = sum(len(anchor) for _, anchor in self.links)
        return min(1.0, anchors / max(1, len(self.text)))


class _Builder:
    """Collects text into lines and blocks as the walk enters and leaves elements."""

    def __init__(self) -> None:
        self.blocks: list[_Block] = []
        self.owners: list[Tag | None] = [None]
        self.list_depth = 0  # inside li/dt/dd/tr, paragraphs become lines of the same block
        self.pre_depth = 0
        self._pieces: list[str] = []
        self._lines: list[str] = []
        self._links: list[tuple[str, str]] = []

    def text(self, value: str) -> None:
        if self.pre_depth:
            first, *rest = value.split("\n")
            self._pieces.append(first)
            for line in rest:
                self.end_line()
                self._pieces.append(line)
        else:
            self._pieces.append(value)

    def separator(self, value: str) -> None:
        if self._pieces:
            self._pieces.append(value)

    def link(self, anchor: Tag) -> None:
        href = anchor.get("href")
        if isinstance(href, str) and href.strip():
            text = _normalize(anchor.get_text())
            if not text and (img := anchor.find("img", alt=True)):
                text = _normalize(str(img["alt"]))
            self._links.append((href.strip(), text))

    def end_line(self) -> None:
        line = _normalize("".join(self._pieces))
        self._pieces.clear()
        if line:
            self._lines.append(line)

    def end_block(self) -> None:
        self.end_line()
        if self._lines:  # links met before any text stay for the block their text lands in
            self.blocks.append(_Block(self.owners[-1], self._lines, self._links))
            self._lines, self._links = [], []


def _normalize(text: str) -> str:
    return _SPACES.sub(" ", text.translate(_INVISIBLE)).strip()


def _blocks(soup: BeautifulSoup, skipped: set[int]) -> list[_Block]:
    """Iterative walk (an explicit stack, not recursion: 100,000 nested divs are fine)."""
    builder, skip = _Builder(), _Skipper(skipped)
    stack: list[tuple[object, bool]] = [(soup, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            _leave(node, builder)  # type: ignore[arg-type]
        elif isinstance(node, Tag):
            if node is soup or not skip(node):
                _enter(node, builder)
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(node.contents))
        elif type(node) is NavigableString:  # not comments, CDATA, doctypes or processing instructions
            builder.text(node)
    builder.end_block()
    return builder.blocks


def _enter(tag: Tag, builder: _Builder) -> None:
    name = tag.name
    if name == "br":
        builder.end_line()
    elif name in _LINE_TAGS:
        builder.end_line()
        builder.list_depth += 1
    elif name in _BLOCK_TAGS:
        if builder.list_depth:
            builder.end_line()
        else:
            builder.end_block()
            builder.owners.append(tag)
    elif name in _CELL_TAGS:
        builder.separator(" | ")
    elif name == "a":
        builder.link(tag)
    if name == "pre":
        builder.pre_depth += 1


def _leave(tag: Tag, builder: _Builder) -> None:
    name = tag.name
    if name in _LINE_TAGS:
        builder.end_line()
        builder.list_depth -= 1
    elif name in _BLOCK_TAGS:
        if builder.list_depth:
            builder.end_line()
        elif builder.owners[-1] is tag:
            builder.end_block()
            builder.owners.pop()
    if name == "pre":
        builder.pre_depth -= 1


# -- 4. boilerplate blocks ----------------------------------------------------------------------------


def _drop_boilerplate(
    blocks: list[_Block], title: str | None, base_url: str | None, all_rules: list[BoilerplateRules]
) -> list[_Block]:
    phrases = [_normalize(p).casefold() for rules in all_rules for p in rules.phrases]
    kept = [block for block in blocks if not _is_boilerplate(block, phrases)]
    if kept and _repeats_title(kept[0], title, base_url):
        kept = kept[1:]
    while kept and (_FOOTER.match(kept[-1].text) or _is_signoff(kept[-1])):
        kept.pop()
    return kept


def _is_boilerplate(block: _Block, phrases: list[str]) -> bool:
    text = block.text.casefold()
    if not _ANY_WORD.search(text) or any(phrase in text for phrase in phrases):
        return True
    return _is_call_to_action(block, text) or (
        not block.heading and block.words <= _LINK_DENSE_MAX_WORDS and block.link_ratio() >= _LINK_DENSE_RATIO
    )


def _is_call_to_action(block: _Block, text: str) -> bool:
    words = block.words
    if words <= _SHORT_CTA_MAX_WORDS and (text.startswith(_CTA_PREFIXES) or _contains(text, _SHORT_CTA_PHRASES)):
        return True
    if words > _DONATION_MAX_WORDS:
        return False
    if any(_is_donation(href) or _SHARE_URL.search(href) for href, _ in block.links):
        return True
    return bool(block.links) and _contains(text, _DONATION_PHRASES)


def _contains(text: str, phrases: tuple[str, ...]) -> bool:
    return any(phrase in text for phrase in phrases)


def _is_donation(href: str) -> bool:
    host = _host(href)
    return bool(host) and any(host == d or host.endswith("." + d) for d in _DONATION_DOMAINS)


def _repeats_title(block: _Block, title: str | None, base_url: str | None) -> bool:
    """A leading paragraph that only repeats the title, usually as a link to the article itself."""
    if title and len(block.text) <= 2 * len(title) + 10 and _letters(block.text) == _letters(title):
        return True
    return bool(base_url and block.links and block.link_ratio() >= 0.9) and all(
        _same_page(urljoin(base_url, href), base_url) for href, _ in block.links
    )


def _letters(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _is_signoff(block: _Block) -> bool:
    """Trailing right-aligned short lines: the author's signature and translation credits."""
    owner = block.owner
    if owner is None or block.words > _SIGNOFF_MAX_WORDS:
        return False
    classes = owner.get("class") or []
    return (
        any(c in ("has-text-align-right", "alignright") for c in classes)
        or str(owner.get("align", "")).lower() == "right"
        or bool(_RIGHT_ALIGNED.search(str(owner.get("style", ""))))
    )


# -- 5. links -----------------------------------------------------------------------------------------


def _links(blocks: list[_Block], base_url: str | None) -> tuple[Link, ...]:
    base = base_url if base_url and base_url.lower().startswith(("http://", "https://")) else None
    links: dict[tuple[str, str], Link] = {}
    for block in blocks:
        for href, anchor in block.links:
            link = _link(href, anchor, base)
            if link and (link.url, link.anchor_text) not in links:
                links[link.url, link.anchor_text] = link
    return tuple(links.values())


def _link(href: str, anchor: str, base: str | None) -> Link | None:
    try:
        url = urljoin(base, href) if base else href
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # malformed URLs such as "http://[" are not links
        return None
    if parts.scheme not in ("http", "https") or not host or not _HOSTNAME.match(host):
        return None
    if (base and _same_page(url, base)) or _SHARE_URL.search(url) or not anchor:
        return None
    return Link(url=url, domain=host.rstrip(".").removeprefix("www."), anchor_text=anchor)


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").removeprefix("www.")
    except ValueError:
        return ""


def _same_page(url: str, base: str) -> bool:
    return url.split("#")[0].rstrip("/") == base.split("#")[0].rstrip("/")
