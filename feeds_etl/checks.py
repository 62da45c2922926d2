"""Asset checks: data-quality promises, verified on the published database after each run."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb

from feeds_etl.assets import cleaned_text, parsed_items, raw_feed_xml, tag_aggregates
from feeds_etl.resources import FeedListResource, WarehouseResource

# A feed failing this many hourly attempts in a row gets a warning.
FAILING_FEED_THRESHOLD = 3
FRESHNESS_LIMIT = timedelta(hours=2)


def _query(
    warehouse: WarehouseResource, evaluate: Callable[[duckdb.DuckDBPyConnection], dg.AssetCheckResult]
) -> dg.AssetCheckResult:
    # The working database, under the writer lock: the run publishes once, after its last step.
    with warehouse.get().reading() as con:
        return evaluate(con)


@dg.asset_check(asset=parsed_items, description="Every item_id appears exactly once in `items`.")
def items_have_unique_ids(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    def evaluate(con: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
        duplicates = con.execute(
            "SELECT count(*) FROM (SELECT item_id FROM items GROUP BY item_id HAVING count(*) > 1)"
        ).fetchone()[0]
        return dg.AssetCheckResult(passed=duplicates == 0, metadata={"duplicate_item_ids": duplicates})

    return _query(warehouse, evaluate)


@dg.asset_check(
    asset=parsed_items,
    description="Required item fields (item_id, feed_id, entry_sha256, first/last_seen_at) are never NULL.",
)
def items_have_required_fields(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    def evaluate(con: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
        missing = con.execute(
            """SELECT count(*) FROM items WHERE item_id IS NULL OR feed_id IS NULL OR entry_sha256 IS NULL
               OR first_seen_at IS NULL OR last_seen_at IS NULL"""
        ).fetchone()[0]
        return dg.AssetCheckResult(passed=missing == 0, metadata={"items_missing_fields": missing})

    return _query(warehouse, evaluate)


@dg.asset_check(asset=raw_feed_xml, description="Every enabled feed of the feed list has a row in `feed_health`.")
def every_feed_accounted_for(warehouse: WarehouseResource, feed_list: FeedListResource) -> dg.AssetCheckResult:
    listed = {feed.feed_id for feed in feed_list.load().enabled}

    def evaluate(con: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
        known = {row[0] for row in con.execute("SELECT feed_id FROM feed_health").fetchall()}
        missing = sorted(listed - known)
        return dg.AssetCheckResult(
            passed=not missing,
            metadata={"feeds_listed": len(listed), "missing": ", ".join(missing) or "none"},
        )

    return _query(warehouse, evaluate)


@dg.asset_check(
    asset=raw_feed_xml,
    description=f"Warns when a feed has failed {FAILING_FEED_THRESHOLD} or more attempts in a row.",
)
def feeds_not_failing_repeatedly(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    def evaluate(con: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
        failing = con.execute(
            """SELECT feed_id, consecutive_failures, last_error FROM feed_health
               WHERE in_feed_list AND consecutive_failures >= ? ORDER BY consecutive_failures DESC""",
            [FAILING_FEED_THRESHOLD],
        ).fetchall()
        lines = "\n".join(f"| {f} | {n} | {(e or '').replace('|', '/')} |" for f, n, e in failing)
        return dg.AssetCheckResult(
            passed=not failing,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "failing_feeds": len(failing),
                "details": dg.MetadataValue.md("| feed | failures | last error |\n|---|---|---|\n" + lines),
            },
        )

    return _query(warehouse, evaluate)


@dg.asset_check(asset=raw_feed_xml, description="The newest snapshot is at most 2 hours old.")
def archive_is_fresh(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    def evaluate(con: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
        newest = con.execute("SELECT max(fetched_at) FROM feed_snapshots").fetchone()[0]
        if newest is None:
            return dg.AssetCheckResult(passed=False, metadata={"newest_snapshot": "none"})
        age = datetime.now(UTC) - newest
        return dg.AssetCheckResult(
            passed=age <= FRESHNESS_LIMIT,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "newest_snapshot": newest.isoformat(),
                "age_minutes": round(age.total_seconds() / 60, 1),
            },
        )

    return _query(warehouse, evaluate)


@dg.asset_check(asset=cleaned_text, description="Every item with HTML has a row in `item_text`.")
def items_with_html_have_text(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    def evaluate(con: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
        missing = con.execute(
            """SELECT count(*) FROM items i ANTI JOIN item_text t USING (item_id)
               WHERE coalesce(i.content_html, i.summary_html) IS NOT NULL"""
        ).fetchone()[0]
        return dg.AssetCheckResult(passed=missing == 0, metadata={"items_without_text": missing})

    return _query(warehouse, evaluate)


@dg.asset_check(asset=tag_aggregates, description="`tag_counts` adds up to exactly what `item_tags` holds.")
def tag_counts_match_item_tags(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    def evaluate(con: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
        counted, tagged = con.execute(
            "SELECT (SELECT coalesce(sum(item_count), 0) FROM tag_counts), (SELECT count(*) FROM item_tags)"
        ).fetchone()
        return dg.AssetCheckResult(
            passed=counted == tagged, metadata={"sum_tag_counts": counted, "item_tags_rows": tagged}
        )

    return _query(warehouse, evaluate)


feed_checks = [
    items_have_unique_ids,
    items_have_required_fields,
    every_feed_accounted_for,
    feeds_not_failing_repeatedly,
    archive_is_fresh,
    items_with_html_have_text,
    tag_counts_match_item_tags,
]
