"""The four assets. Each is thin: it calls one pipeline function and tells the UI what happened."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from feeds_etl import report
from feeds_etl.clean import CLEANER_VERSION
from feeds_etl.parse import PARSER_VERSION
from feeds_etl.partitions import hourly_partitions, single_run_backfill
from feeds_etl.resources import FeedListResource, FetcherResource, WarehouseResource
from feeds_etl.steps import archive, articles, clean, parse, tags
from feeds_etl.steps.work import first_and_last


class ArchiveConfig(dg.Config):
    reimport_history: bool = Field(
        default=False,
        description="Import older pages again for every feed with `history:` set (normally done once per feed).",
    )


_COMMON = dict(
    partitions_def=hourly_partitions,
    backfill_policy=single_run_backfill,
    group_name="feeds",
    kinds={"duckdb", "parquet", "python"},
)


@dg.asset(
    **_COMMON,
    code_version="1",
    description=(
        "What each feed returned, archived in `feed_snapshots` (bodies stored once per distinct content), "
        "and each feed's state in `feed_health`. Fetches only for the hour under way; past hours are the "
        "archive as it is."
    ),
    metadata=report.table_schema_metadata("feed_snapshots"),
)
def raw_feed_xml(
    context: dg.AssetExecutionContext,
    config: ArchiveConfig,
    warehouse: WarehouseResource,
    feed_list: FeedListResource,
    fetcher: FetcherResource,
) -> dg.MaterializeResult:
    feeds = feed_list.load()  # an invalid list fails here, before anything is written
    if warehouse.legacy_database:
        imported = warehouse.get().import_legacy(Path(warehouse.legacy_database))
        if imported:
            context.log.info(f"imported {warehouse.legacy_database} into the lake: {imported}")
        elif imported is not None:
            context.log.warning(f"{warehouse.legacy_database} not imported: the lake already held data")
    archived = archive.archive_feeds(
        warehouse.get(),
        feeds,
        context.partition_keys,
        fetcher.settings(),
        reimport_history=config.reimport_history,
    )
    for feed_id, reason in sorted(archived.failures.items()):
        context.log.warning(f"feed {feed_id} failed: {reason}")
    if archived.archive_only_hours:
        context.log.info(f"{len(archived.archive_only_hours)} past hour(s): not fetched, the archive is what it is")
    return dg.MaterializeResult(metadata=report.archive_metadata(archived, warehouse.get()))


@dg.asset(
    **_COMMON,
    deps=[raw_feed_xml],
    code_version=f"parser-{PARSER_VERSION}",
    description=(
        "Items parsed with feedparser from the partition's snapshots into `items`: one row per stable "
        "`item_id`, latest version wins, `first_seen_at`/`last_seen_at` span every sighting."
    ),
    metadata=report.table_schema_metadata("items"),
)
def parsed_items(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    first, last = first_and_last(context.partition_keys)
    parsed = parse.parse_range(warehouse.get(), first, last)
    for feed_id, reason in sorted(parsed.errors.items()):
        context.log.warning(f"feed {feed_id} yielded no items: {reason}")
    return dg.MaterializeResult(metadata=report.parse_metadata(parsed, warehouse.get()))


@dg.asset(
    **_COMMON,
    deps=[parsed_items],
    code_version=f"cleaner-{CLEANER_VERSION}",
    description=(
        "Readable plain text of each item (`item_text`: paragraphs, word count, language, reading time) "
        "and its outbound links (`item_links`), with boilerplate removed; also keeps the full-text index."
    ),
    metadata=report.table_schema_metadata("item_text"),
)
def cleaned_text(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    feed_list: FeedListResource,
    fetcher: FetcherResource,
) -> dg.MaterializeResult:
    first, last = first_and_last(context.partition_keys)
    fetching = articles.ArticleFetching(fetcher.settings(), fetcher.politeness())
    cleaned = clean.clean_range(warehouse.get(), feed_list.load(), first, last, fetching=fetching)
    return dg.MaterializeResult(metadata=report.clean_metadata(cleaned, warehouse.get()))


@dg.asset(
    **_COMMON,
    deps=[cleaned_text],
    code_version="1",
    description=(
        "Normalised tags per item (`item_tags`) and their aggregates: `tag_counts` per published day and "
        "feed, `tag_cooccurrence`, and the `tag_trends` view."
    ),
    metadata=report.table_schema_metadata("tag_counts"),
)
def tag_aggregates(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, feed_list: FeedListResource
) -> dg.MaterializeResult:
    first, last = first_and_last(context.partition_keys)
    store = warehouse.get()
    tagged = tags.tag_range(store, feed_list.load(), first, last)
    return dg.MaterializeResult(metadata=report.tag_metadata(tagged, store))


feed_assets = [raw_feed_xml, parsed_items, cleaned_text, tag_aggregates]
