"""The full-text index: words split as the SQL query side splits them, Porter stems, and `search_items`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest

from feeds_etl.pipeline import _clean_slice
from feeds_etl.search import TOKENIZE_SQL, PorterStemmer, count_terms, token_text, words
from feeds_etl.warehouse import Warehouse
from feeds_etl.warehouse.text import CleanedBatch, PendingText, save_texts

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
    warehouse = Warehouse(tmp_path / "feeds.duckdb")
    with warehouse.writing() as con:
        con.execute(
            """INSERT INTO item_versions (item_id, entry_sha256, feed_id, title)
               VALUES ('a', 'sha-a', 'f', 'Marathon'), ('b', 'sha-b', 'f', 'Cooking')"""
        )
        con.execute("INSERT INTO item_state SELECT item_id, entry_sha256, now(), now(), 1 FROM item_versions")
        save_texts(con, batch)
        save_texts(con, batch)  # cleaning again replaces, never duplicates
    with warehouse.published() as con:
        assert con is not None
        assert con.execute("SELECT item_id FROM search_items('run')").fetchall() == [("a",)]
        assert con.execute("SELECT item_id FROM search_items('BREAD')").fetchall() == [("b",)]
        index = "search_terms JOIN search_docs USING (doc_id) JOIN search_vocab USING (term_id)"
        assert con.execute(f"SELECT tf FROM {index} WHERE item_id = 'b' AND term = 'bread'").fetchall() == [(2,)]
        assert con.execute("SELECT count(*), count(DISTINCT doc_id) FROM search_docs").fetchone() == (2, 2)
        assert con.execute("SELECT count(*) = count(DISTINCT term) FROM search_vocab").fetchone() == (True,)
        assert con.execute("SELECT count(*) FROM search_terms ANTI JOIN search_docs USING (doc_id)").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM search_stems WHERE word = 'running'").fetchone()[0] == 1


def test_staged_texts_come_back_whole_and_are_taken_only_where_still_wanted(tmp_path: Path) -> None:
    """Texts cleaned during a fetch wait in Arrow files; the clean step takes an item's rows (text, links, terms,
    document) only if its text is still wanted from that very version, and each item once."""
    from feeds_etl.warehouse.store import concat_fieldwise
    from feeds_etl.warehouse.text import stage_texts, staged_batches, wanted_part

    def cleaned(*items: tuple[str, str]) -> CleanedBatch:
        html = '<p>Bread and soup, <a href="https://example.org/{0}">the {0} recipe</a> and more words here.</p>'
        return _clean_slice([(PendingText(i, "f", None, None, html.format(i), sha), None) for i, sha in items])

    staged = tmp_path / "staged"
    # Two slices of one batch: their term dictionaries differ, as the workers' do.
    first = concat_fieldwise([cleaned(("a", "old-a"), ("b", "sha-b")), cleaned(("c", "sha-c"))])
    stage_texts(staged, first)
    stage_texts(staged, cleaned(("a", "sha-a")))
    stage_texts(staged, cleaned(("d", "sha-d"), ("d", "sha-d2")))  # two texts of one item: never taken
    stage_texts(staged, cleaned())  # nothing cleaned: nothing staged
    (staged / ".half-written").mkdir()  # what a crash while staging leaves: ignored
    batches = list(staged_batches(staged))
    assert len(batches) == 3
    assert sorted(b.texts.num_rows for b in batches) == [1, 2, 3]
    whole = next(b for b in batches if b.texts.num_rows == 3)
    assert whole.texts.equals(first.texts) and whole.links.equals(first.links)
    assert whole.terms.to_pylist() == first.terms.to_pylist()

    wanted = {"a": "sha-a", "b": "sha-b", "d": "sha-d"}
    taken = [wanted_part(batch, wanted) for batch in batches]
    assert sorted(item for part in taken for item in part.texts["item_id"].to_pylist()) == ["a", "b"]
    assert wanted == {"d": "sha-d"}  # "a" from its current version only, "c" was not wanted
    for part in taken:  # an item's links, terms and document go with its text
        items = set(part.texts["item_id"].to_pylist())
        assert {row["item_id"] for row in part.links.to_pylist()} == items
        assert {row["item_id"] for row in part.terms.to_pylist()} == items
        assert set(part.docs["item_id"].to_pylist()) == items
    again = wanted_part(whole, wanted)  # "b" was taken: each item once
    assert again.texts.num_rows == again.links.num_rows == again.terms.num_rows == again.docs.num_rows == 0


def test_staged_batches_are_stored_a_few_thousand_texts_at_a_time() -> None:
    """Each worker task stages a feed or two; the clean step joins them so each write stores enough rows."""
    from feeds_etl.pipeline import _joined

    def cleaned(count: int, first: int) -> CleanedBatch:
        numbers = range(first, first + count)
        return _clean_slice([(PendingText(f"i{n}", "f", None, None, f"<p>Item {n}</p>", "s"), None) for n in numbers])

    batches = [cleaned(3, 0), cleaned(0, 3), cleaned(2, 3), cleaned(4, 5)]
    joined = list(_joined(batches, 5))
    assert [batch.texts.num_rows for batch in joined] == [5, 4]
    assert [batch.docs.num_rows for batch in joined] == [5, 4]
    assert joined[0].texts["item_id"].to_pylist() == ["i0", "i1", "i2", "i3", "i4"]


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
