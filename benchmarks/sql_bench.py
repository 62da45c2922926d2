"""How fast the analyst-facing SQL answers at scale: tag_trends and search_items on N items.

Builds a warehouse of N synthetic items directly in SQL (words drawn from a Zipf-like vocabulary, 2-6 tags
each over 60 days), indexes it for search with the pipeline's own stemmer and rebuilds the tag aggregates the
pipeline's way in a lake,
then times the views and macros in a plain read-only session, as a user would run them.

    .venv/bin/python benchmarks/sql_bench.py [--items 100000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from feeds_etl.search import TOKENIZE_SQL, porter_stemmer
from feeds_etl.warehouse import LakeConfig, Warehouse, readers
from feeds_etl.warehouse.tags import rebuild_aggregates

QUERIES = {
    "tag_trends top 10": "SELECT * FROM tag_trends ORDER BY rank LIMIT 10",
    "search_items (2 words)": "SELECT * FROM search_items('khorasan radicalisation') LIMIT 10",
    "search_items (common word)": "SELECT * FROM search_items('government') LIMIT 10",
    "tags_between 7 days": "SELECT * FROM tags_between('2026-06-01', '2026-06-07') LIMIT 10",
    "top_tags": "SELECT * FROM top_tags ORDER BY item_count DESC LIMIT 10",
    "latest_items 20": "SELECT item_id, title FROM latest_items LIMIT 20",
}


def build(warehouse: Warehouse, n_items: int) -> dict[str, float]:
    timings: dict[str, float] = {}
    with warehouse.writing() as con:
        start = time.perf_counter()
        con.execute(
            """CREATE TEMP TABLE vocab AS SELECT i AS rank, 'w' || i::VARCHAR AS word FROM range(1, 20001) t(i)"""
        )
        con.execute(
            f"""INSERT INTO item_versions (item_id, entry_sha256, feed_id, guid, link, title, author, published_at,
                                       updated_at, summary_html, content_html, categories)
            SELECT 'item' || i, 'sha' || i, 'feed' || (i % 500), 'guid' || i, 'https://example.org/' || i,
                   'Title ' || i || CASE WHEN i % 997 = 0 THEN ' Khorasan radicalisation' ELSE '' END,
                   NULL, TIMESTAMPTZ '2026-06-30 00:00:00+00' - to_minutes((i * 7919) % (60 * 24 * 60)),
                   NULL, NULL, NULL,
                   list_transform(range(2 + i % 5), k -> 'tag' || ((i * 31 + k * 17) % 300))
            FROM range({n_items}) t(i)"""
        )
        con.execute(
            """INSERT INTO item_state SELECT item_id, entry_sha256, TIMESTAMPTZ '2026-07-01 00:00:00+00',
               TIMESTAMPTZ '2026-07-01 00:00:00+00', 1 FROM item_versions"""
        )
        # ~300 words per item; frequent words dominate, as in real text.
        con.execute(
            f"""INSERT INTO item_text (item_id, text, word_count, language, reading_time_minutes, cleaner_version,
                                   source_sha256)
            SELECT 'item' || i,
                   array_to_string(list_transform(range(300),
                       k -> 'w' || (1 + floor(pow(((i * 104729 + k * 7907) % 10007) / 10007.0, 3) * 20000))::INT
                   ), ' ') || CASE WHEN i % 13 = 0 THEN ' government' ELSE '' END,
                   300, 'en', 1.3, 'bench', 'src' || i
            FROM range({n_items}) t(i)"""
        )
        con.execute(
            """INSERT INTO item_tags (item_id, feed_id, tag, tag_raw)
               SELECT item_id, feed_id, unnest(categories), unnest(categories) FROM items"""
        )
        timings["load synthetic items (s)"] = time.perf_counter() - start
        start = time.perf_counter()
        con.execute("CREATE TEMP TABLE _text_ids AS SELECT item_id FROM items")
        # The pipeline counts words in Python while cleaning; here SQL does it for the synthetic text.
        words = con.execute(
            f"""SELECT item_id, word, count(*)::INTEGER AS tf FROM (
                    SELECT i.item_id, unnest({TOKENIZE_SQL.format(expr="i.title || ' ' || t.text")}) AS word
                    FROM items i JOIN item_text t USING (item_id))
                WHERE word <> '' GROUP BY ALL"""
        ).to_arrow_table()
        timings["count words (s)"] = time.perf_counter() - start
        start = time.perf_counter()
        index_for_search(con, words)
        timings["index all items for search (s)"] = time.perf_counter() - start
        start = time.perf_counter()
        rebuild_aggregates(con)
        timings["rebuild tag aggregates (s)"] = time.perf_counter() - start
    return timings


def index_for_search(con: duckdb.DuckDBPyConnection, words: pa.Table) -> None:
    """(item_id, word, tf) -> search_stems, search_terms, search_docs (the pipeline does this per item in its
    cleaning workers; here it is set-based, for synthetic text counted in SQL)."""
    con.register("_words", words)
    vocabulary = [word for (word,) in con.execute("SELECT DISTINCT word FROM _words").fetchall()]
    stems = porter_stemmer()(vocabulary)
    con.register("_stems", pa.table({"word": list(stems), "stem": list(stems.values())}))
    con.execute("INSERT INTO search_stems SELECT word, stem FROM _stems")
    con.execute(
        """INSERT INTO search_vocab
           SELECT (row_number() OVER (ORDER BY stem))::INTEGER, stem FROM (SELECT DISTINCT stem FROM _stems)"""
    )
    con.execute(
        """INSERT INTO search_docs
           SELECT item_id, (row_number() OVER (ORDER BY item_id))::INTEGER, sum(tf)::INTEGER
           FROM _words GROUP BY item_id"""
    )
    con.execute(
        """INSERT INTO search_terms SELECT d.doc_id, v.term_id, sum(w.tf)::INTEGER FROM _words w
           JOIN _stems s USING (word) JOIN search_vocab v ON v.term = s.stem JOIN search_docs d USING (item_id)
           GROUP BY ALL"""
    )


def time_query(lake: LakeConfig, sql: str, repeat: int = 5) -> float:
    con = readers.connect(config=lake)
    try:
        con.execute(sql).fetchall()  # warm-up
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            con.execute(sql).fetchall()
            samples.append(time.perf_counter() - start)
    finally:
        con.close()
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lake = LakeConfig(str(Path(tmp) / "bench.sqlite"), f"{tmp}/lake/")
        warehouse = Warehouse(lake)
        build_timings = build(warehouse, args.items)
        size_mb = sum(path.stat().st_size for path in Path(tmp).rglob("*") if path.is_file()) / 1e6
        print(f"{args.items:,} items, lake {size_mb:.0f} MB")
        for name, seconds in build_timings.items():
            print(f"  {name:<40} {seconds:8.2f}")
        print(f"  {'query (median of 5, read-only session)':<40} {'ms':>8}")
        for name, sql in QUERIES.items():
            print(f"  {name:<40} {time_query(lake, sql) * 1000:8.1f}")


if __name__ == "__main__":
    main()
