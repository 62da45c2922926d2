"""Boilerplate patterns as data: each rule has a name, a pattern, where it applies, and examples it must remove
and keep (feeds_etl_tests/test_boilerplate.py runs every example).

Where a rule applies (`scope`):
- "strip": the matches are cut out of any line (then empty lines and blocks go);
- "heading": the matches are cut out of heading lines only;
- "line": a line that matches whole is dropped;
- "block": a block of at most `max_words` words that the pattern finds anywhere in is dropped;
- "trailing": blocks at the end of the item that match whole are dropped.
Code (<pre> listings, inline code) is never touched by these rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SCOPES = ("strip", "heading", "line", "block", "trailing")


@dataclass(frozen=True)
class Rule:
    name: str
    scope: str
    pattern: re.Pattern[str]
    removes: tuple[str, ...]  # texts the rule removes (or cuts down to `leaves`)
    keeps: tuple[str, ...]  # texts it must leave alone
    max_words: int = 40
    leaves: tuple[str, ...] = ()  # for strip/heading rules: what each of `removes` becomes
    # The pattern is tried only on text whose lower-cased form holds one of these (none: always): a substring
    # test is far cheaper than a regex search over every short block.
    needles: tuple[str, ...] = ()

    def applies(self, lowered: str) -> bool:
        return not self.needles or any(map(lowered.__contains__, self.needles))


_ATTRIBUTE = r"""\s+[\w-]+(?:=(?:"[^"]*"|'[^']*'|[“”″][^“”″\]]*[“”″]|[^\s\]]*))?"""
# A name with _ or - (fusion_text, et_pb_section, time-brightcove) or a core WordPress shortcode; lower case only,
# so "[Video]" or "[Update]" written by an author stays.
_SHORTCODE_NAME = r"(?:[a-z][a-z0-9]*(?:[_-][a-z0-9]+)+|caption|embed|gallery|audio|video|playlist|soundcloud)"
# Who took a picture: capitalised names, agencies, years and a few connecting words, nothing that reads as prose.
_CREDIT_NAMES = (
    r"(?:\s*(?:[/,&|·©–-]|\b(?:via|for|and|on|de|da|del|di|van|von|der|le|la|the|und|et|y)\b"
    r"|\d{4}|[A-ZÀ-ÞА-ЯЁ][\w.'’-]*))+"
)
_CREDIT_WORDS = r"(?i:(?:(?:featured|header|cover|top|lead|main|hero|title)\s+)?(?:photo|image|picture|illustration|graphic|photograph|pic|foto|bild|фото|imagen)s?(?:\s+credits?)?)"  # noqa: E501

RULES: tuple[Rule, ...] = (
    Rule(
        name="shortcode",
        scope="strip",
        pattern=re.compile(rf"\[/?{_SHORTCODE_NAME}(?:{_ATTRIBUTE})*\s*/?\]"),
        removes=(
            '[time-brightcove not-tgx="true"] The senate voted on Tuesday.',
            '[/fusion_text][fusion_text columns="" column_min_width="" hide_on_mobile="small-visibility"]Part two.',
            '[et_pb_section fb_built="1"][et_pb_row]Welcome to the farm.[/et_pb_row]',
            '[caption id="attachment_12" align="alignnone" width="640"]A bridge at dusk.[/caption]',
            "[vc_row][vc_column]Hello again.[/vc_column][/vc_row]",
        ),
        leaves=(
            "The senate voted on Tuesday.",
            "Part two.",
            "Welcome to the farm.",
            "A bridge at dusk.",
            "Hello again.",
        ),
        keeps=("See note [1] and [sic] here.", "[Update] The bridge reopened.", "Arrays like a[i] and [x, y]."),
    ),
    Rule(
        name="heading permalink mark",
        scope="heading",
        pattern=re.compile(r"\s*[¶🔗]\s*$|\s+#\s*$|^\s*[#¶🔗]\s+"),
        removes=("Conclusion #", "Installation ¶", "# Getting started", "Results 🔗"),
        leaves=("Conclusion", "Installation", "Getting started", "Results"),
        keeps=("Why I write C#", "#1 priority", "Issue #42"),
    ),
    Rule(
        name="feed reader notice",
        scope="block",
        needles=("reader", "view this", "view the"),
        pattern=re.compile(
            r"(?i)\b(?:feed|rss) ?reader\b.{0,100}\b(?:visit|view|read|see|click|open)\b.{0,60}"
            r"\b(?:original|website|site|web|browser|online|full (?:post|article))\b"
            r"|\bview (?:this|the) (?:post|article|email) (?:on the web|in (?:your|a|the) browser)\b"
        ),
        removes=(
            "[If the formatting of this post looks odd in your feed reader, visit the original article]",
            "Reading this in an RSS reader? Click here to see the full post with images on the website.",
            "View this post on the web.",
        ),
        keeps=("I moved to a new feed reader last year and have read far more since.",),
    ),
    Rule(
        name="wordpress footer",
        scope="trailing",
        pattern=re.compile(
            r"^(?:The post .+ (?:appeared first|first appeared) on .+|This post .+ first appeared on .+"
            r"|L[’']article .+ est apparu en premier sur .+|Der Beitrag .+ erschien zuerst auf .+"
            r"|La entrada .+ se publicó primero en .+|Запись .+ впервые появилась .+"
            r"|Сообщение .+ появились сначала на .+)$",
            re.IGNORECASE | re.DOTALL,
        ),
        removes=(
            "The post Ten years of the valley water board appeared first on Steppe Wire.",
            "The post Ten years of the valley water board first appeared on Steppe Wire.",
            "L’article Dix ans de réforme est apparu en premier sur Novastan.",
        ),
        keeps=("The post office on Main Street first appeared in 1902, and it still stands.\nIt is a museum now.",),
    ),
    Rule(
        name="discourse footer",
        scope="block",
        pattern=re.compile(r"(?i)^\d[\d,]* (?:posts?|replies|reply) - \d[\d,]* participants?(?:\s+read full topic)?$"),
        removes=("28 posts - 11 participants", "1 post - 1 participant", "3 posts - 2 participants\nRead full topic"),
        keeps=("We got 28 posts - and 11 participants - in the first hour of the thread.",),
    ),
    Rule(
        name="discourse read full topic",
        scope="line",
        pattern=re.compile(r"(?i)^read full topic$"),
        removes=("Read full topic",),
        keeps=("Read full topics before replying, please: the moderators will thank you for it.",),
    ),
    Rule(
        name="support line",
        scope="block",
        needles=("support", "patr", "ko-fi", "kofi", "coffee", "liberapay", "sponsor", "collective", "substack"),
        max_words=50,
        pattern=re.compile(
            r"(?i)\b(?:support|back|join|pledge|consider|become|help|tip)\b.{0,80}\b(?:on|via|at|through|with)\s+"
            r"(?:patreon|ko-?fi|liberapay|buy ?me ?a ?coffee|github sponsors|open ?collective|substack)\b"
            r"|\bbecome a (?:patron|supporter|paid subscriber)\b|\bbuy me a coffee\b"
            r"|\b(?:support|supporting) (?:me|this (?:blog|site|newsletter|podcast|channel|work)|my work)\b"
        ),
        removes=(
            "If you enjoy these posts, please consider supporting me on Patreon.",
            "Like my work? Buy me a coffee!",
            "You can support this blog with a monthly pledge.",
            "Become a patron and get early access to every episode.",
        ),
        keeps=(
            "Patreon changed its fee structure in 2024, angering creators across the platform.",
            "The ministry said it would support farmers through the drought with subsidies.",
        ),
    ),
    Rule(
        name="image credit",
        scope="line",
        pattern=re.compile(
            rf"^\(?\s*(?:{_CREDIT_WORDS}\s*(?::|(?i:by)|©|(?i:courtesy(?: of)?))|(?i:credits?|source)\s*:|©)"
            rf"{_CREDIT_NAMES}\s*\)?\.?$"
            rf"|^\(?(?i:photo) by .{{1,60}} on (?:Unsplash|Pexels|Pixabay)\)?\.?$"
        ),
        removes=(
            "Photo: Jane Doe/Reuters",
            "Image credit: NASA/JPL-Caltech",
            "(Photo by Anna Lee on Unsplash)",
            "Featured image by Marco Rossi for The Guardian",
            "Credit: AP",
            "© 2025 Getty Images",
        ),
        keeps=(
            "Photo: Protesters gather in Almaty on Monday",
            "Photographs by the family show the house as it was.",
            "Credit: the scheme lends up to 2,000 euros at zero interest.",
        ),
    ),
)

assert all(rule.scope in SCOPES for rule in RULES)
STRIP_RULES = tuple(rule for rule in RULES if rule.scope == "strip")
HEADING_RULES = tuple(rule for rule in RULES if rule.scope == "heading")
LINE_RULES = tuple(rule for rule in RULES if rule.scope == "line")
BLOCK_RULES = tuple(rule for rule in RULES if rule.scope == "block")
TRAILING_RULES = tuple(rule for rule in RULES if rule.scope == "trailing")


def any_rule(rules: tuple[Rule, ...]) -> re.Pattern[str]:
    """One pattern matching where any of the rules' patterns matches: one regex call per line instead of one per
    rule (a global "(?i)" becomes a scoped group, so each rule keeps its own case sensitivity)."""
    parts = []
    for rule in rules:
        pattern = rule.pattern.pattern.removeprefix("(?i)")
        parts.append(f"(?i:{pattern})" if rule.pattern.flags & re.IGNORECASE else f"(?:{pattern})")
    return re.compile("|".join(parts) or "(?!)")
