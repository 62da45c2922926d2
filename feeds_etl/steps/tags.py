"""tag_aggregates' work: normalised tags of the items seen in a range, then the aggregates over all items."""

from __future__ import annotations

from dataclasses import dataclass, field

from feeds_etl.feeds import FeedList
from feeds_etl.steps.work import Timings
from feeds_etl.tags import normalise_aliases, normalise_tag, stoplist
from feeds_etl.warehouse import Warehouse
from feeds_etl.warehouse import tags as tag_store


@dataclass
class TagReport:
    items_tagged: int = 0
    item_tags: int = 0
    distinct_tags: int = 0
    top_tags: list[tuple[str, int]] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)


def tag_range(warehouse: Warehouse, feed_list: FeedList | None, first_key: str, last_key: str) -> TagReport:
    report = TagReport()
    aliases = normalise_aliases(feed_list.tag_aliases if feed_list else {})

    def normalise(raw: str) -> str:
        tag = normalise_tag(raw)
        return aliases.get(tag, tag)

    with warehouse.writing() as con, report.timings.measure("aggregate"):
        report.items_tagged = tag_store.refresh_item_tags(
            con, first_key, last_key, normalise, tag_store.aliases_fingerprint(aliases)
        )
        tag_store.save_stoplist(con, stoplist(feed_list.tag_stoplist if feed_list else ()))
        tag_store.rebuild_aggregates(con)
        report.item_tags, report.distinct_tags = con.execute(
            "SELECT count(*), count(DISTINCT tag) FROM item_tags"
        ).fetchone()
        report.top_tags = con.execute(
            """SELECT tag, count(*) AS n FROM item_tags WHERE tag NOT IN (SELECT tag FROM tag_stoplist)
               GROUP BY tag ORDER BY n DESC, tag LIMIT 15"""
        ).fetchall()
    return report
