"""`item_tags` for items seen in a range, and the aggregates rebuilt from them (set-based SQL)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping

import duckdb
import pyarrow as pa

from feeds_etl.warehouse.bulk import registered
from feeds_etl.warehouse.items import TOUCHED_ITEMS_SQL
from feeds_etl.warehouse.store import get_meta, set_meta

# The day an item counts for: when it was published, else updated, else first seen (all UTC).
ITEM_DAY_SQL = "(coalesce(i.published_at, i.updated_at, i.first_seen_at) AT TIME ZONE 'UTC')::DATE"


def aliases_fingerprint(aliases: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(aliases.items())).encode()).hexdigest()[:16]


def refresh_item_tags(
    con: duckdb.DuckDBPyConnection,
    first_key: str,
    last_key: str,
    normalise: Callable[[str], str],
    aliases_key: str,
) -> int:
    """Re-derive `item_tags` for items seen in the range (all items if the alias map changed)."""
    everything = get_meta(con, "tag_aliases") != aliases_key
    if everything:
        con.execute("CREATE OR REPLACE TEMP TABLE _tag_items AS SELECT item_id FROM items")
    else:  # only items seen in the range whose version changed since they were last tagged
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _tag_items AS
                WITH touched AS ({TOUCHED_ITEMS_SQL})
                SELECT i.item_id FROM items i JOIN touched USING (item_id)
                LEFT JOIN item_tag_sources src USING (item_id)
                WHERE src.item_id IS NULL OR src.entry_sha256 <> i.entry_sha256""",
            {"first_key": first_key, "last_key": last_key},
        )
    # Normalise each distinct raw spelling once in Python (NFKC is not in SQL), then join set-based.
    raws = [
        row[0]
        for row in con.execute(
            """SELECT DISTINCT unnest(categories) FROM items
               WHERE item_id IN (SELECT item_id FROM _tag_items)"""
        ).fetchall()
    ]
    mapping = pa.table({"tag_raw": raws, "tag": [normalise(raw) for raw in raws]})
    with registered(con, "_tag_map", mapping):
        con.execute("DELETE FROM item_tags WHERE item_id IN (SELECT item_id FROM _tag_items)")
        con.execute(
            """
            INSERT INTO item_tags
            WITH raw AS (
                SELECT i.item_id, i.feed_id, unnest(i.categories) AS tag_raw,
                       generate_subscripts(i.categories, 1) AS position
                FROM items i WHERE i.item_id IN (SELECT item_id FROM _tag_items)
            )
            SELECT raw.item_id, raw.feed_id, m.tag, arg_min(raw.tag_raw, raw.position)
            FROM raw JOIN _tag_map m USING (tag_raw)
            WHERE m.tag <> ''
            GROUP BY raw.item_id, raw.feed_id, m.tag
            """
        )
    con.execute("DELETE FROM item_tag_sources WHERE item_id IN (SELECT item_id FROM _tag_items)")
    con.execute(
        """INSERT INTO item_tag_sources SELECT item_id, entry_sha256 FROM items
           WHERE item_id IN (SELECT item_id FROM _tag_items)"""
    )
    set_meta(con, "tag_aliases", aliases_key)
    return con.execute("SELECT count(*) FROM _tag_items").fetchone()[0]


def save_stoplist(con: duckdb.DuckDBPyConnection, tags: list[str]) -> None:
    """The placeholder tags the aggregates leave out, as the feed list has them now."""
    con.execute("DELETE FROM tag_stoplist")
    with registered(con, "_stoplist", pa.table({"tag": pa.array(tags, pa.string())})):
        con.execute("INSERT INTO tag_stoplist SELECT DISTINCT tag FROM _stoplist")


def rebuild_aggregates(con: duckdb.DuckDBPyConnection) -> None:
    """tag_counts and tag_cooccurrence from item_tags, placeholders left out: milliseconds even at 100k items,
    always exact, whichever items and shards wrote item_tags."""
    con.execute("DELETE FROM tag_counts")
    con.execute(
        f"""INSERT INTO tag_counts
            SELECT {ITEM_DAY_SQL} AS day, t.feed_id, t.tag, count(DISTINCT t.item_id)
            FROM item_tags t JOIN items i USING (item_id)
            WHERE t.tag NOT IN (SELECT tag FROM tag_stoplist)
            GROUP BY ALL"""
    )
    con.execute("DELETE FROM tag_cooccurrence")
    con.execute(
        """INSERT INTO tag_cooccurrence
           WITH counted AS (SELECT * FROM item_tags WHERE tag NOT IN (SELECT tag FROM tag_stoplist))
           SELECT a.tag, b.tag, count(DISTINCT a.item_id)
           FROM counted a JOIN counted b ON a.item_id = b.item_id AND a.tag < b.tag
           GROUP BY ALL"""
    )
