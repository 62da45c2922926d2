"""Search quality: mean reciprocal rank of `search_items` on the judged set in feeds_etl_tests/search_judgments.py.

    .venv/bin/python benchmarks/search_quality.py [--baseline] [-v]

The judged items are indexed the way the pipeline indexes cleaned items (token_text of title and text, Porter
stems), into the search tables of an in-memory DuckDB; each query's reciprocal rank is 1 / the rank of its first
relevant item (0 if none is returned). --baseline ranks with plain BM25 (k1=1.2, b=0.75), the macro before
phrases, the title boost, minimum should-match and the length floor.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from feeds_etl.search import SEARCH_ITEMS_MACRO, TOKENIZE_SQL, count_terms, token_text
from feeds_etl_tests.search_judgments import DOCS, QUERIES

BASELINE_MACRO = f"""
        (query_string) AS TABLE
        WITH words AS (
            SELECT DISTINCT unnest({TOKENIZE_SQL.format(expr="query_string")}) AS word
        ), query_terms AS (
            SELECT DISTINCT v.term_id
            FROM words w LEFT JOIN search_stems s ON s.word = w.word
            JOIN search_vocab v ON v.term = coalesce(s.stem, w.word)
            WHERE w.word <> ''
        ), hits AS MATERIALIZED (
            SELECT st.doc_id, st.term_id, st.tf FROM search_terms st SEMI JOIN query_terms USING (term_id)
        ), stats AS (
            SELECT count(*) AS n, avg(doc_length) AS avgdl FROM search_docs
        ), df AS (
            SELECT term_id, count(*) AS df FROM hits GROUP BY term_id
        ), scored AS (
            SELECT d.item_id,
                   sum(ln(1 + (stats.n - df.df + 0.5) / (df.df + 0.5))
                       * h.tf * 2.2 / (h.tf + 1.2 * (1 - 0.75 + 0.75 * d.doc_length / stats.avgdl))) AS score
            FROM hits h JOIN df USING (term_id) JOIN search_docs d USING (doc_id) CROSS JOIN stats
            GROUP BY d.item_id
        )
        SELECT scored.item_id, i.title, scored.score
        FROM scored JOIN items i USING (item_id)
        ORDER BY scored.score DESC, scored.item_id
"""


def judged_index(docs: list[tuple[str, str, str]] = DOCS) -> duckdb.DuckDBPyConnection:
    """An in-memory database holding the judged items and their search index."""
    con = duckdb.connect()
    counts = count_terms([token_text(title, text) for _, title, text in docs])
    con.execute("CREATE TABLE items AS SELECT * FROM (VALUES ('', '')) t(item_id, title) LIMIT 0")
    con.executemany("INSERT INTO items VALUES (?, ?)", [(item_id, title) for item_id, title, _ in docs])
    con.execute("CREATE TABLE item_text (item_id VARCHAR, text VARCHAR)")
    con.executemany("INSERT INTO item_text VALUES (?, ?)", [(item_id, text) for item_id, _, text in docs])
    tables = {
        "search_docs": pa.table({
            "item_id": [item_id for item_id, _, _ in docs],
            "doc_id": pa.array(range(1, len(docs) + 1), pa.int32()),
            "doc_length": counts.lengths,
        }),
        "search_terms": pa.table({
            "doc_id": pa.array([d + 1 for d in counts.document.to_pylist()], pa.int32()),
            "term_id": pa.array([t + 1 for t in counts.term.to_pylist()], pa.int32()),
            "tf": counts.tf,
        }),
        "search_vocab": pa.table({
            "term_id": pa.array(range(1, len(counts.terms) + 1), pa.int32()), "term": counts.terms,
        }),
        "search_stems": pa.table({"word": list(counts.stems), "stem": list(counts.stems.values())}),
    }  # fmt: skip
    for name, table in tables.items():
        con.register(f"_{name}", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _{name}")
        con.unregister(f"_{name}")
    return con


def reciprocal_ranks(con: duckdb.DuckDBPyConnection, macro: str) -> list[tuple[str, int | None, float]]:
    """(query, rank of its first relevant item or None, reciprocal rank) per judged query."""
    con.execute(f"CREATE OR REPLACE MACRO search_items{macro}")
    ranks = []
    for query, relevant in QUERIES:
        found = [row[0] for row in con.execute("SELECT item_id FROM search_items(?)", [query]).fetchall()]
        rank = next((position for position, item in enumerate(found, start=1) if item in relevant), None)
        ranks.append((query, rank, 1 / rank if rank else 0.0))
    return ranks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", action="store_true", help="plain BM25, as before")
    parser.add_argument("-v", "--verbose", action="store_true", help="each query's rank")
    args = parser.parse_args()
    ranks = reciprocal_ranks(judged_index(), BASELINE_MACRO if args.baseline else SEARCH_ITEMS_MACRO)
    if args.verbose:
        for query, rank, _ in ranks:
            print(f"{rank or '-':>3}  {query}")
    mrr = sum(rr for _, _, rr in ranks) / len(ranks)
    first = sum(1 for _, rank, _ in ranks if rank == 1)
    print(f"{len(ranks)} queries over {len(DOCS)} items: MRR {mrr:.3f}, relevant item first for {first}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
