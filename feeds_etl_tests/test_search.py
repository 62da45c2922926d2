"""The full-text index: words split as the SQL query side splits them, Porter stems, and `search_items`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest

from feeds_etl.search import TOKENIZE_SQL, PorterStemmer, count_terms, token_text, words
from feeds_etl.steps.clean import _clean_slice
from feeds_etl.warehouse import LakeConfig, Warehouse
from feeds_etl.warehouse.readers import connect
from feeds_etl.warehouse.text import PendingText, save_texts

TRICKY = [
    "Hello, World! It's 2026-11-24 — état, ÉTÉ, naïve café",
    "snake_case and CamelCase; e-mail user@example.org",
    "ASCII only: tabs\tand\nnewlines, x2 3x 1.5 [brackets] {braces} ~tilde~ `tick` a|b under__score 007",
    "Бишкек и Душанбе: «новости» 24.KG",
    "日本語のテキスト and ﬁligree ligatures",
    "",
]


def term_frequencies(*texts: str | None) -> Counter[str]:
    """Each word's count, one text at a time in Python: what `count_terms` must agree with."""
    return Counter(token_text(*texts).split())


@pytest.mark.parametrize("text", TRICKY)
def test_python_splits_words_as_the_sql_query_side_does(text: str) -> None:
    sql = duckdb.sql(f"SELECT {TOKENIZE_SQL.format(expr='$text')}", params={"text": text}).fetchone()[0]
    assert words(text) == [word for word in sql if word]
    assert term_frequencies(text, text.upper()) == Counter(words(text) + words(text.upper()))


def test_counting_many_documents_at_once_gives_each_its_own_stemmed_counts() -> None:
    documents = [*TRICKY, "Running runs; RUN!", "   ", "only_underscores __ _"]
    counts = count_terms([token_text(text) for text in documents])
    by_document: list[Counter[str]] = [Counter() for _ in documents]
    rows = zip(counts.document.to_pylist(), counts.term.to_pylist(), counts.tf.to_pylist(), strict=True)
    for document, term, tf in rows:
        assert by_document[document][counts.terms[term]] == 0  # one row per (document, stem)
        by_document[document][counts.terms[term]] = tf
    stems = PorterStemmer()
    for text, counted, length in zip(documents, by_document, counts.lengths.to_pylist(), strict=True):
        expected: Counter[str] = Counter()
        for word, n in term_frequencies(text).items():
            expected[stems([word])[word]] += n
        assert counted == expected, text
        assert length == len(words(text))
    assert by_document[-3] == {"run": 3}


def test_porter_stems_come_from_the_fts_extension_and_survive_a_full_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    stemmer = PorterStemmer()
    assert stemmer(["running", "runs", "connection"]) == {"running": "run", "runs": "run", "connection": "connect"}
    monkeypatch.setattr(PorterStemmer, "MAX_MEMO", 3)
    assert stemmer(["connected", "generously"]) == {"connected": "connect", "generously": "gener"}
    assert stemmer(["runs"]) == {"runs": "run"}


def test_word_counts_add_up_per_stem_and_item() -> None:
    items = [
        PendingText("a", "f", None, None, "<p>Running fast. She runs; running again, fast.</p>", "sha-a"),
        PendingText("b", "f", "Runs", None, "<p>One run.</p>", "sha-b"),
    ]
    terms = _clean_slice([(item, None) for item in items]).terms
    counts = {(row["item_id"], row["term"]): row["tf"] for row in terms.to_pylist()}
    assert len(counts) == terms.num_rows  # one row per (item, stem)
    assert counts == {("a", "run"): 3, ("a", "fast"): 2, ("a", "she"): 1, ("a", "again"): 1,
                      ("b", "run"): 2, ("b", "on"): 1}  # fmt: skip


def test_an_item_is_found_by_another_form_of_its_words(tmp_path: Path) -> None:
    items = [
        PendingText("a", "f", "Marathon", None, "<p>She was running the whole distance.</p>", "sha-a"),
        PendingText("b", "f", "Cooking", None, "<p>Recipes for bread and soup. Bread again.</p>", "sha-b"),
    ]
    batch = _clean_slice([(item, None) for item in items])
    assert batch.docs.to_pylist() == [
        {"item_id": "a", "doc_length": 7},
        {"item_id": "b", "doc_length": 8},
    ]
    lake = LakeConfig(str(tmp_path / "feeds.sqlite"), f"{tmp_path}/lake/")
    warehouse = Warehouse(lake)
    with warehouse.writing() as con:
        con.execute(
            """INSERT INTO item_versions (item_id, entry_sha256, feed_id, title)
               VALUES ('a', 'sha-a', 'f', 'Marathon'), ('b', 'sha-b', 'f', 'Cooking')"""
        )
        con.execute("INSERT INTO item_state SELECT item_id, entry_sha256, now(), now(), 1 FROM item_versions")
        save_texts(con, batch)
        save_texts(con, batch)  # cleaning again replaces, never duplicates
    with connect(config=lake) as con:
        assert con.execute("SELECT item_id FROM search_items('run')").fetchall() == [("a",)]
        assert con.execute("SELECT item_id FROM search_items('BREAD')").fetchall() == [("b",)]
        index = "search_terms JOIN search_docs USING (doc_id) JOIN search_vocab USING (term_id)"
        assert con.execute(f"SELECT tf FROM {index} WHERE item_id = 'b' AND term = 'bread'").fetchall() == [(2,)]
        assert con.execute("SELECT count(*), count(DISTINCT doc_id) FROM search_docs").fetchone() == (2, 2)
        assert con.execute("SELECT count(*) = count(DISTINCT term) FROM search_vocab").fetchone() == (True,)
        assert con.execute("SELECT count(*) FROM search_terms ANTI JOIN search_docs USING (doc_id)").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM search_stems WHERE word = 'running'").fetchone()[0] == 1


# -- ranking, on the judged set of feeds_etl_tests/search_judgments.py ------------------------------------


@pytest.fixture(scope="module")
def judged() -> duckdb.DuckDBPyConnection:
    import sys

    from feeds_etl.feeds import REPO_ROOT
    from feeds_etl.search import SEARCH_ITEMS_MACRO

    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    from search_quality import judged_index

    con = judged_index()
    con.execute(f"CREATE MACRO search_items{SEARCH_ITEMS_MACRO}")
    return con


def _ranked(con: duckdb.DuckDBPyConnection, query: str) -> list[str]:
    return [row[0] for row in con.execute("SELECT item_id FROM search_items(?)", [query]).fetchall()]


def test_the_article_beats_tiny_posts_sharing_some_of_its_words(judged: duckdb.DuckDBPyConnection) -> None:
    assert _ranked(judged, "post-quantum cryptography")[0] == "mlkem"
    assert _ranked(judged, "React state management")[0] == "react-state"


def test_multi_word_queries_need_most_of_their_terms(judged: duckdb.DuckDBPyConnection) -> None:
    ranked = _ranked(judged, "sourdough starter")
    assert ranked[0] == "sourdough" and "bread-short" not in ranked  # one of two terms is not enough
    assert _ranked(judged, "sourdough zeppelin")[:2] == ["sourdough", "bread-short"]  # none has both: best coverage


def test_quoted_phrases_must_appear_as_written(judged: duckdb.DuckDBPyConnection) -> None:
    assert _ranked(judged, '"open source"') == ["open-source-funding"]  # not the open kitchen, source of charm
    assert _ranked(judged, '"machine learning"') == ["machine-learning-fraud"]


def test_a_query_term_in_the_title_lifts_an_item(judged: duckdb.DuckDBPyConnection) -> None:
    assert _ranked(judged, "duckdb")[:2] == ["duckdb-intro", "duckdb-parquet"]
    assert _ranked(judged, "react hooks")[0] == "react-hooks"


def test_mean_reciprocal_rank_on_the_judged_set(judged: duckdb.DuckDBPyConnection) -> None:
    from feeds_etl_tests.search_judgments import QUERIES

    ranks = [next((n for n, item in enumerate(_ranked(judged, q), 1) if item in rel), None) for q, rel in QUERIES]
    assert sum(1 / rank for rank in ranks if rank) / len(QUERIES) >= 0.95, ranks
