"""Asset checks: data-quality promises, verified on the working database after the run's last step.

They are one multi-asset check, so a run pays for one step and one database connection instead of seven;
each promise is still its own check in the UI, on its own asset, and runs only when that asset is selected.
"""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb

from feeds_etl.assets import cleaned_text, parsed_items, raw_feed_xml, tag_aggregates
from feeds_etl.resources import FeedListResource, WarehouseResource
from feeds_etl.warehouse.bulk import registered_ids

# A feed failing this many hourly attempts in a row gets a warning.
FAILING_FEED_THRESHOLD = 3
FRESHNESS_LIMIT = timedelta(hours=2)

Evaluate = Callable[[duckdb.DuckDBPyConnection, set[str]], dg.AssetCheckResult]


def items_have_unique_ids(con: duckdb.DuckDBPyConnection, _listed: set[str]) -> dg.AssetCheckResult:
    duplicates = con.execute(
        "SELECT count(*) FROM (SELECT item_id FROM items GROUP BY item_id HAVING count(*) > 1)"
    ).fetchone()[0]
    return dg.AssetCheckResult(passed=duplicates == 0, metadata={"duplicate_item_ids": duplicates})


def items_have_required_fields(con: duckdb.DuckDBPyConnection, _listed: set[str]) -> dg.AssetCheckResult:
    missing = con.execute(
        """SELECT count(*) FROM items WHERE item_id IS NULL OR feed_id IS NULL OR entry_sha256 IS NULL
           OR first_seen_at IS NULL OR last_seen_at IS NULL"""
    ).fetchone()[0]
    return dg.AssetCheckResult(passed=missing == 0, metadata={"items_missing_fields": missing})


def every_feed_accounted_for(con: duckdb.DuckDBPyConnection, listed: set[str]) -> dg.AssetCheckResult:
    known = {row[0] for row in con.execute("SELECT feed_id FROM feed_health").fetchall()}
    missing = sorted(listed - known)
    return dg.AssetCheckResult(
        passed=not missing,
        metadata={"feeds_listed": len(listed), "missing": ", ".join(missing) or "none"},
    )


def feeds_not_failing_repeatedly(con: duckdb.DuckDBPyConnection, _listed: set[str]) -> dg.AssetCheckResult:
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


def archive_is_fresh(con: duckdb.DuckDBPyConnection, _listed: set[str]) -> dg.AssetCheckResult:
    newest = con.execute("SELECT max(fetched_at) FROM feed_snapshots").fetchone()[0]
    if newest is None:
        return dg.AssetCheckResult(passed=False, metadata={"newest_snapshot": "none"})
    age = datetime.now(UTC) - newest
    return dg.AssetCheckResult(
        passed=age <= FRESHNESS_LIMIT,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"newest_snapshot": newest.isoformat(), "age_minutes": round(age.total_seconds() / 60, 1)},
    )


def items_with_html_have_text(con: duckdb.DuckDBPyConnection, _listed: set[str]) -> dg.AssetCheckResult:
    # Ids first: testing every item's HTML for NULL would read all of it; only items without text need it.
    without_text = [
        row[0] for row in con.execute("SELECT item_id FROM items ANTI JOIN item_text USING (item_id)").fetchall()
    ]
    missing = 0
    if without_text:
        with registered_ids(con, "_without_text", "item_id", without_text):
            missing = con.execute(
                """SELECT count(*) FROM items SEMI JOIN _without_text USING (item_id)
                   WHERE coalesce(content_html, summary_html) IS NOT NULL"""
            ).fetchone()[0]
    return dg.AssetCheckResult(passed=missing == 0, metadata={"items_without_text": missing})


def tag_counts_match_item_tags(con: duckdb.DuckDBPyConnection, _listed: set[str]) -> dg.AssetCheckResult:
    counted, tagged = con.execute(
        """SELECT (SELECT coalesce(sum(item_count), 0) FROM tag_counts),
                  (SELECT count(*) FROM item_tags WHERE tag NOT IN (SELECT tag FROM tag_stoplist))"""
    ).fetchone()
    return dg.AssetCheckResult(passed=counted == tagged, metadata={"sum_tag_counts": counted, "item_tags_rows": tagged})


CHECKS: dict[dg.AssetCheckKey, tuple[Evaluate, dg.AssetCheckSpec]] = {}
for asset, evaluate, description in [
    (parsed_items, items_have_unique_ids, "Every item_id appears exactly once in `items`."),
    (
        parsed_items,
        items_have_required_fields,
        "Required item fields (item_id, feed_id, entry_sha256, first/last_seen_at) are never NULL.",
    ),
    (raw_feed_xml, every_feed_accounted_for, "Every enabled feed of the feed list has a row in `feed_health`."),
    (
        raw_feed_xml,
        feeds_not_failing_repeatedly,
        f"Warns when a feed has failed {FAILING_FEED_THRESHOLD} or more attempts in a row.",
    ),
    (raw_feed_xml, archive_is_fresh, "The newest snapshot is at most 2 hours old."),
    (cleaned_text, items_with_html_have_text, "Every item with HTML has a row in `item_text`."),
    (
        tag_aggregates,
        tag_counts_match_item_tags,
        "`tag_counts` adds up to exactly what `item_tags` holds, placeholder tags (`tag_stoplist`) left out.",
    ),
]:
    spec = dg.AssetCheckSpec(name=evaluate.__name__, asset=asset, description=description)
    CHECKS[spec.key] = (evaluate, spec)


@dg.multi_asset_check(
    specs=[spec for _, spec in CHECKS.values()],
    can_subset=True,
    name="warehouse_checks",
    description="Data-quality promises about the warehouse, evaluated in one step on one connection.",
)
def warehouse_checks(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, feed_list: FeedListResource
) -> Iterator[dg.AssetCheckResult]:
    listed = {feed.feed_id for feed in feed_list.load().enabled}
    # The working database, under the writer lock: the run publishes once, after its last asset.
    with warehouse.get().reading() as con:
        for key in sorted(context.selected_asset_check_keys, key=lambda k: k.to_user_string()):
            evaluate, spec = CHECKS[key]
            yield evaluate(con, listed)._replace(asset_key=spec.asset_key, check_name=spec.name)


feed_checks = [warehouse_checks]
