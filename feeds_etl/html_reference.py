"""The reference walk: item HTML -> blocks through BeautifulSoup's tree, soupsieve for selectors. The fast path
(`html_blocks.lxml_blocks`) must give the same blocks; `test_clean_paths` checks it does. The cleaner uses this
walk where the fast path declines a document."""

from __future__ import annotations

from itertools import islice

from bs4 import BeautifulSoup, NavigableString, Tag

from feeds_etl.html_blocks import (
    SIGNUP_MAX_LEVELS,
    SIGNUP_MAX_WORDS,
    SIZE_CHECKS_PER_ITEM,
    Block,
    Builder,
    Owner,
    Skipper,
    compile_selectors,
    count_words,
    normalize,
)


def bs4_blocks(markup: str, selectors: tuple[str, ...]) -> list[Block]:
    soup = BeautifulSoup(markup, "lxml")
    skipped = _bs4_selected(soup, selectors) | _bs4_signup_boxes(soup)
    builder, skip = Builder(_bs4_owner), Skipper()
    stack: list[tuple[object, bool]] = [(soup, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            builder.leave(node.name, node)  # type: ignore[attr-defined]
        elif isinstance(node, Tag):
            name = node.name
            if node is not soup and (
                id(node) in skipped
                or (name == "noscript" and node.find(["pre", "code"]) is None)
                or skip(name, node.attrs, _bs4_classes(node), lambda n=node: n.get_text(" "))
            ):
                continue
            if name == "a":
                builder.link(node.get("href"), lambda n=node: _bs4_anchor_text(n))
            builder.enter(name, node)
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.contents))
        elif type(node) is NavigableString:  # not comments, CDATA, doctypes, script or ruby text
            builder.text(node)
    builder.end_block()
    return builder.blocks


def _bs4_classes(tag: Tag) -> str:
    classes = tag.get("class") or []
    return " ".join(classes) if isinstance(classes, list) else str(classes)


def _bs4_anchor_text(anchor: Tag) -> str:
    text = normalize(anchor.get_text())
    if not text and (img := anchor.find("img", alt=True)):
        text = normalize(str(img["alt"]))
    return text


def _bs4_owner(tag: Tag) -> Owner:
    classes = tag.get("class") or []
    return Owner(
        tag.name,
        tuple(classes) if isinstance(classes, list) else (str(classes),),
        str(tag.get("align", "")),
        str(tag.get("style", "")),
    )


def _bs4_selected(soup: BeautifulSoup, selectors: tuple[str, ...]) -> set[int]:
    """ids of the elements the selectors match."""
    combined = compile_selectors(selectors).soupsieve
    return {id(tag) for tag in soup.select(combined)} if combined else set()


def _bs4_signup_boxes(soup: BeautifulSoup) -> set[int]:
    boxes: set[int] = set()
    for form in soup.find_all("form", limit=SIZE_CHECKS_PER_ITEM):
        box = None
        for ancestor in islice(form.parents, SIGNUP_MAX_LEVELS):
            if ancestor.name in ("body", "html", "[document]"):
                break
            if count_words(ancestor.get_text(" ")) > SIGNUP_MAX_WORDS:
                break
            box = ancestor
        if box is not None:
            boxes.add(id(box))
    return boxes
