"""Words and stems for the full-text index. Words must split text exactly as `search_items` splits a query in
SQL; stems come from the Porter stemmer of DuckDB's fts extension, which also filled `search_stems` before."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

# The query side, in SQL (core functions only, so readers need no extension).
TOKENIZE_SQL = r"regexp_split_to_array(lower(strip_accents({expr})), '[^\p{{L}}\p{{N}}]+')"
_WORD = re.compile(r"[^\W_]+")
# Every byte but ASCII letters and digits becomes a space: on ASCII text, split() then gives _WORD's runs.
_ASCII_NOT_WORD_AS_SPACE = bytes(code if code < 128 and chr(code).isalnum() else 0x20 for code in range(256))


# Combining marks (category Mn) of the Basic Multilingual Plane, dropped after NFD decomposition.
_MARKS = {code: None for code in range(0x10000) if unicodedata.category(chr(code)) == "Mn"}


def strip_accents(text: str) -> str:
    if text.isascii():  # the common case costs nothing
        return text
    return unicodedata.normalize("NFD", text).translate(_MARKS)


def words(text: str) -> list[str]:
    """Lower-cased, accent-free runs of letters and digits, in any script."""
    return _WORD.findall(strip_accents(text.lower()))


def token_text(*texts: str | None) -> str:
    """The texts' words (as `words` finds them) separated by whitespace: the form `count_terms` takes."""
    parts = []
    for text in texts:
        if not text:
            pass
        elif text.isascii():  # the same words as `words`, twice as fast: lower and translate run in C
            parts.append(text.encode().lower().translate(_ASCII_NOT_WORD_AS_SPACE).decode())
        else:
            parts.append(" ".join(words(text)))
    return " ".join(parts).strip()


@dataclass(frozen=True)
class TermCounts:
    """Stemmed term frequencies of some documents, as columns: document `document[i]` has `tf[i]` words whose
    stem is `terms[term[i]]`. Words sharing a stem ("runs", "running") count as one term."""

    document: pa.Array  # int32: index into the documents counted
    term: pa.Array  # int32: index into `terms`
    tf: pa.Array  # int32
    terms: list[str]
    lengths: pa.Array  # int32: words per document
    stems: dict[str, str]  # every word seen -> its stem


def count_terms(token_texts: Sequence[str]) -> TermCounts:
    """Count the words of many documents (each given as `token_text`) at once, in Arrow: splitting, numbering
    and counting a few hundred words per document in Python (a Counter per document) cost twice as much."""
    # A text without words is null (splitting "" would give one empty word); `token_text` strips the ends.
    split = pc.ascii_split_whitespace(pa.array([text or None for text in token_texts], pa.string()))
    words = pc.dictionary_encode(pc.list_flatten(split))
    vocabulary = words.dictionary.to_pylist()
    stems = porter_stemmer()(vocabulary)
    numbers: dict[str, int] = {}  # stem -> its number (insertion order)
    term_of_word = pa.array([numbers.setdefault(stems[word], len(numbers)) for word in vocabulary], pa.int64())
    # One integer per (document, term): counted by a single hash pass, then split into its two parts.
    span = len(numbers) or 1
    keys = pc.add(pc.multiply(pc.list_parent_indices(split), span), pc.take(term_of_word, words.indices))
    counted = pc.value_counts(keys)
    document = pc.divide(counted.field("values"), span)
    return TermCounts(
        document=document.cast(pa.int32()),
        term=pc.subtract(counted.field("values"), pc.multiply(document, span)).cast(pa.int32()),
        tf=counted.field("counts").cast(pa.int32()),
        terms=list(numbers),
        lengths=pc.fill_null(pc.list_value_length(split), 0).cast(pa.int32()),
        stems=stems,
    )


class PorterStemmer:
    """Porter stems through DuckDB's fts extension, loaded from the duckdb-extension-fts wheel (offline) into a
    private in-memory database. Each word is stemmed once per process; the memo is bounded."""

    MAX_MEMO = 500_000

    def __init__(self) -> None:
        self._memo: dict[str, str] = {}
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    def __call__(self, words: Collection[str]) -> dict[str, str]:
        with self._lock:
            missing = [word for word in words if word not in self._memo]
            if missing:
                if len(self._memo) + len(missing) > self.MAX_MEMO:
                    self._memo.clear()  # a vocabulary this big is mostly one-off words: start afresh
                self._memo.update(zip(missing, self._stem(missing), strict=True))
            return {word: self._memo[word] for word in words}

    def _stem(self, words: list[str]) -> list[str]:
        if self._con is None:
            self._con = duckdb.connect(config={"threads": 1})
            self._con.execute(f"LOAD '{fts_extension_path()}'")
        # Through Arrow: a list parameter would cost seconds for 20,000 words, this takes milliseconds.
        incoming = self._con.from_arrow(pa.table({"word": pa.array(words, pa.string())}))
        return incoming.project("stem(word, 'porter')").fetch_arrow_table().column(0).to_pylist()


@lru_cache(maxsize=1)
def porter_stemmer() -> PorterStemmer:
    """One per process (each parse/clean worker has its own)."""
    return PorterStemmer()


def fts_extension_path() -> Path:
    import duckdb_extension_fts

    version = duckdb.__version__
    path = Path(duckdb_extension_fts.__file__).parent / "extensions" / f"v{version}" / "fts.duckdb_extension"
    if not path.exists():
        raise RuntimeError(f"fts extension for duckdb {version} not found at {path}; reinstall with make")
    return path


# Ranking knobs of SEARCH_ITEMS_MACRO (benchmarks/search_quality.py measures them on a judged set).
BM25_K1 = 1.2
BM25_B = 0.5
# A document shorter than this fraction of the average length counts as that long: a five-word post must not
# outrank the article by saturating every term at once.
MIN_LENGTH_FRACTION = 1.0
# Each query term in the title multiplies the score by 1 + TITLE_WEIGHT / the query's terms (all of them in the
# title: 1 + TITLE_WEIGHT); multiplying, not adding, so a title alone cannot lift a body that barely matches.
TITLE_WEIGHT = 0.5
# Multi-word queries: an item must hold both terms of a two-term query, this fraction of longer queries' terms
# (rounded down), or as many as the best item holds when none holds that many.
MIN_SHOULD_MATCH = 0.75
# Distinct terms a query is matched on, at most.
MAX_QUERY_TERMS = 256


def _words_sql(expr: str) -> str:
    return f"list_filter({TOKENIZE_SQL.format(expr=expr)}, w -> w <> '')"


# The `search_items` macro's body: BM25 over title + cleaned text with quoted phrases, a title boost, a minimum
# should-match and a floor on document length. Core SQL only: readers need no extension.
SEARCH_ITEMS_MACRO = f"""
        (query_string) AS TABLE
        WITH words AS (
            SELECT DISTINCT unnest({TOKENIZE_SQL.format(expr="query_string")}) AS word
        ), query_terms AS (
            SELECT DISTINCT v.term_id, v.term
            FROM words w LEFT JOIN search_stems s ON s.word = w.word
            JOIN search_vocab v ON v.term = coalesce(s.stem, w.word)
            WHERE w.word <> ''
            -- a bound the planner can see, so the join below hashes the query's few terms, not the index
            LIMIT {MAX_QUERY_TERMS}
        ), phrases AS (
            -- "quoted phrases": their words, in order, must appear in the title or text
            SELECT ' ' || array_to_string({_words_sql("p")}, ' ') || ' ' AS phrase
            FROM (SELECT unnest(regexp_extract_all(query_string, '"([^"]+)"', 1)) AS p)
        ), hits AS MATERIALIZED (
            -- one pass over the index: only the rows of the query's terms
            SELECT st.doc_id, st.term_id, st.tf FROM search_terms st SEMI JOIN query_terms USING (term_id)
        ), stats AS (
            SELECT count(*) AS n, avg(doc_length) AS avgdl, (SELECT count(*) FROM query_terms) AS terms
            FROM search_docs
        ), idf AS (
            SELECT term_id, ln(1 + (stats.n - count(*) + 0.5) / (count(*) + 0.5)) AS idf
            FROM hits CROSS JOIN stats GROUP BY term_id, stats.n
        ), scored AS (
            SELECT d.item_id, count(*) AS matched,
                   sum(idf.idf * h.tf * ({BM25_K1} + 1) / (h.tf + {BM25_K1} * (1 - {BM25_B} + {BM25_B}
                       * greatest(d.doc_length, {MIN_LENGTH_FRACTION} * stats.avgdl) / stats.avgdl))) AS bm25
            FROM hits h
            JOIN idf USING (term_id)
            JOIN search_docs d USING (doc_id)
            CROSS JOIN stats
            GROUP BY d.item_id
        ), eligible AS (
            -- items holding more of the query's terms first: coverage squared
            SELECT s.item_id, s.bm25 * (s.matched / stats.terms) ** 2 AS score, stats.terms
            FROM scored s CROSS JOIN stats
            WHERE s.matched >= least(CASE WHEN stats.terms <= 2 THEN stats.terms
                                          ELSE floor(stats.terms * {MIN_SHOULD_MATCH}) END,
                                     (SELECT max(matched) FROM scored))
        ), title_words AS (
            SELECT e.item_id, unnest({TOKENIZE_SQL.format(expr="coalesce(i.title, '')")}) AS word
            FROM eligible e JOIN items i USING (item_id)
        ), title_boost AS (
            SELECT t.item_id, count(DISTINCT q.term_id) AS title_terms
            FROM (SELECT DISTINCT item_id, word FROM title_words WHERE word <> '') t
            LEFT JOIN search_stems s ON s.word = t.word
            JOIN query_terms q ON q.term = coalesce(s.stem, t.word)
            GROUP BY t.item_id
        ), phrase_misses AS (
            SELECT DISTINCT e.item_id
            FROM eligible e JOIN items i USING (item_id) LEFT JOIN item_text x USING (item_id) CROSS JOIN phrases p
            WHERE position(p.phrase IN ' ' || array_to_string(
                {_words_sql("coalesce(i.title, '') || ' ' || coalesce(x.text, '')")}, ' ') || ' ') = 0
        )
        SELECT e.item_id, i.title, e.score * (1 + {TITLE_WEIGHT} * coalesce(b.title_terms, 0) / e.terms) AS score
        FROM eligible e JOIN items i USING (item_id) LEFT JOIN title_boost b USING (item_id)
        WHERE e.item_id NOT IN (SELECT item_id FROM phrase_misses)
        ORDER BY score DESC, e.item_id
"""
