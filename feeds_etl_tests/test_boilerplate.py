"""Every named boilerplate rule removes its examples and keeps its counter-examples, alone and inside an article."""

from __future__ import annotations

from html import escape

import pytest

from feeds_etl.boilerplate import RULES, SCOPES, Rule
from feeds_etl.clean import clean_item

PROSE = "The valley council met on Tuesday to settle the water budget for the coming dry season."


def _article(line: str, heading: bool) -> str:
    tag = "h2" if heading else "p"
    body = "<br>".join(escape(part) for part in line.split("\n"))
    return f"<p>{PROSE}</p><{tag}>{body}</{tag}><p>{PROSE} {PROSE}</p>"


def test_rule_names_are_unique_and_scopes_known() -> None:
    assert len({rule.name for rule in RULES}) == len(RULES)
    assert all(rule.scope in SCOPES and rule.removes and rule.keeps for rule in RULES)
    assert all(len(rule.leaves) == len(rule.removes) for rule in RULES if rule.scope in ("strip", "heading"))


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_rule_removes_its_examples(rule: Rule) -> None:
    heading = rule.scope == "heading"
    for index, example in enumerate(rule.removes):
        if rule.scope == "trailing":
            html = f"<p>{PROSE}</p><p>{escape(example)}</p>"
            assert clean_item(html).text == PROSE, example
            continue
        cleaned = clean_item(_article(example, heading)).text
        expected = [PROSE, *([rule.leaves[index]] if rule.leaves else []), f"{PROSE} {PROSE}"]
        assert cleaned == "\n\n".join(expected), example


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_rule_keeps_its_counter_examples(rule: Rule) -> None:
    for example in rule.keeps:
        if rule.scope == "trailing":
            html = f"<p>{PROSE}</p><p>{'<br>'.join(escape(part) for part in example.split(chr(10)))}</p>"
            assert clean_item(html).text == f"{PROSE}\n\n{example}", example
            continue
        cleaned = clean_item(_article(example, rule.scope == "heading")).text
        assert cleaned == f"{PROSE}\n\n{example}\n\n{PROSE} {PROSE}", example


def test_code_is_never_touched_by_the_rules() -> None:
    listing = '[fusion_text columns=""]\nPhoto: Jane Doe/Reuters'
    cleaned = clean_item(f"<p>{PROSE}</p><pre>{escape(listing)}</pre>").text
    assert cleaned == f"{PROSE}\n\n{listing}"
