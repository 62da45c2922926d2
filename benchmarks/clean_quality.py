"""How close the cleaner's text is to hand-checked goldens: paragraph and word precision/recall per sample.

    .venv/bin/python benchmarks/clean_quality.py

Goldens live in feeds_etl_tests/goldens/<sample>/<entry index>.txt (paragraphs separated by a blank line).
Paragraph precision = cleaned paragraphs found verbatim in the golden / cleaned paragraphs (boilerplate kept
lowers it); recall = golden paragraphs found in the cleaned text / golden paragraphs (article text lost
lowers it). Word figures do the same on word multisets, so a paragraph cut in two still scores partly.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from feeds_etl.clean import clean_item
from feeds_etl.fetch import sha256_hex
from feeds_etl.parse import parse_feed

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "data" / "samples"
GOLDENS = REPO / "feeds_etl_tests" / "goldens"
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Case:
    sample: str
    index: int
    html: str
    title: str | None
    link: str | None
    golden: str


@dataclass
class Score:
    matched: int = 0
    produced: int = 0
    expected: int = 0

    def add(self, other: Score) -> None:
        self.matched += other.matched
        self.produced += other.produced
        self.expected += other.expected

    @property
    def precision(self) -> float:
        return self.matched / self.produced if self.produced else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.expected if self.expected else 1.0


def sample_entries(sample: str) -> list[tuple[str, str | None, str | None]]:
    """(html, title, link) per entry, exactly as the pipeline reads them (feeds_etl.parse.parse_feed)."""
    body = next(SAMPLES.glob(f"{sample}.*")).read_bytes()
    parsed = parse_feed(sample, body, sha256_hex(body))
    return [(entry.content_html or entry.summary_html or "", entry.title, entry.link) for entry in parsed.entries]


def golden_cases() -> list[Case]:
    cases = []
    for folder in sorted(p for p in GOLDENS.iterdir() if p.is_dir()):
        entries = sample_entries(folder.name)
        for golden in sorted(folder.glob("*.txt")):
            html, title, link = entries[int(golden.stem)]
            text = golden.read_text(encoding="utf-8").rstrip("\n")
            cases.append(Case(folder.name, int(golden.stem), html, title, link, text))
    return cases


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def paragraph_score(cleaned: str, golden: str) -> Score:
    produced, expected = Counter(paragraphs(cleaned)), Counter(paragraphs(golden))
    return Score(sum((produced & expected).values()), sum(produced.values()), sum(expected.values()))


def word_score(cleaned: str, golden: str) -> Score:
    produced, expected = Counter(_WORD.findall(cleaned.casefold())), Counter(_WORD.findall(golden.casefold()))
    return Score(sum((produced & expected).values()), sum(produced.values()), sum(expected.values()))


def main() -> int:
    by_sample: dict[str, tuple[Score, Score, list[int]]] = {}
    for case in golden_cases():
        cleaned = clean_item(case.html, case.title, case.link).text
        para, words, items = by_sample.setdefault(case.sample, (Score(), Score(), []))
        para.add(paragraph_score(cleaned, case.golden))
        words.add(word_score(cleaned, case.golden))
        items.append(case.index)
    print(f"{'sample':<20} {'items':>5} {'paras':>6} {'para P':>7} {'para R':>7} {'word P':>7} {'word R':>7}")
    total_para, total_words = Score(), Score()
    for sample, (para, words, items) in by_sample.items():
        total_para.add(para)
        total_words.add(words)
        print(
            f"{sample:<20} {len(items):>5} {para.expected:>6} {para.precision:>7.3f} {para.recall:>7.3f}"
            f" {words.precision:>7.3f} {words.recall:>7.3f}"
        )
    print(
        f"{'ALL':<20} {sum(len(i) for *_, i in by_sample.values()):>5} {total_para.expected:>6}"
        f" {total_para.precision:>7.3f} {total_para.recall:>7.3f}"
        f" {total_words.precision:>7.3f} {total_words.recall:>7.3f}"
    )
    return 0 if total_para.precision == total_para.recall == 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
