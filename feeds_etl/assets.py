"""The four assets. Each is thin: it calls one pipeline function and tells the UI what happened."""

from collections.abc import Collection
from pathlib import Path

import dagster as dg
from pydantic import Field

from feeds_etl import cluster, progress, report, shards
from feeds_etl.clean import CLEANER_VERSION
from feeds_etl.parse import PARSER_VERSION
from feeds_etl.partitions import hourly_partitions, single_run_backfill
from feeds_etl.resources import FeedListResource, WarehouseResource
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


ARCHIVE_SPEC = dict(
    code_version="1",
    description=(
        "What each feed returned, archived in `feed_snapshots` (bodies stored once per distinct content), "
        "and each feed's state in `feed_health`. Fetches only for the hour under way; past hours are the "
        "archive as it is."
    ),
    metadata=report.table_schema_metadata("feed_snapshots"),
)
PARSE_SPEC = dict(
    code_version=f"parser-{PARSER_VERSION}",
    description=(
        "Items parsed with feedparser from the partition's snapshots into `items`: one row per stable "
        "`item_id`, latest version wins, `first_seen_at`/`last_seen_at` span every sighting."
    ),
    metadata=report.table_schema_metadata("items"),
)
CLEAN_SPEC = dict(
    code_version=f"cleaner-{CLEANER_VERSION}",
    description=(
        "Readable plain text of each item (`item_text`: paragraphs, word count, language, reading time) "
        "and its outbound links (`item_links`), with boilerplate removed; also keeps the full-text index."
    ),
    metadata=report.table_schema_metadata("item_text"),
)
# On a cluster a retry lands on whichever worker is free; on one machine it would repeat the same failure.
RETRY = cluster.STEP_RETRY_POLICY if cluster.on_celery() else None
SHARDS = shards.shard_count()


def _progress(context: dg.OpExecutionContext) -> progress.Progress:
    """The step's progress: lines in its log (the UI), and a bar when the run has a terminal."""
    return progress.Progress(context.log.info)


def _archive(
    context: dg.OpExecutionContext,
    reimport_history: bool,
    feed_ids: Collection[str] | None = None,
) -> archive.ArchiveReport:
    warehouse, fetcher = context.resources.warehouse, context.resources.fetcher
    feeds = context.resources.feed_list.load()  # an invalid list fails here, before anything is written
    if warehouse.legacy_database:
        # Every shard tries before it fetches; the first one imports, the others find data and skip.
        imported = warehouse.get().import_legacy(Path(warehouse.legacy_database))
        if imported:
            context.log.info(f"imported {warehouse.legacy_database} into the lake: {imported}")
        elif imported is not None:
            context.log.warning(f"{warehouse.legacy_database} not imported: the lake already held data")
    args = (warehouse.get(), feeds, context.partition_keys, fetcher.settings())
    with progress.reporting(_progress(context)):
        archived = archive.archive_feeds(*args, reimport_history=reimport_history, feed_ids=feed_ids)
    for feed_id, reason in sorted(archived.failures.items()):
        context.log.warning(f"feed {feed_id} failed: {reason}")
    if archived.archive_only_hours:
        context.log.info(f"{len(archived.archive_only_hours)} past hour(s): not fetched, the archive is what it is")
    return archived


def _parse_problems(context: dg.OpExecutionContext, parsed: parse.ParseReport) -> dict[str, object]:
    for feed_id, reason in sorted(parsed.errors.items()):
        context.log.warning(f"feed {feed_id} yielded no items: {reason}")
    return report.parse_metadata(parsed, context.resources.warehouse.get())


def _clean(context: dg.OpExecutionContext, feed_ids: Collection[str] | None = None) -> clean.CleanReport:
    first, last = first_and_last(context.partition_keys)
    warehouse, feeds = context.resources.warehouse.get(), context.resources.feed_list.load()
    fetcher = context.resources.fetcher
    fetching = articles.ArticleFetching(fetcher.settings(), fetcher.politeness())
    with progress.reporting(_progress(context)):
        return clean.clean_range(warehouse, feeds, first, last, feed_ids=feed_ids, fetching=fetching)


if SHARDS == 1:
    # One op per asset, in one process: the single-machine path as it always was.

    @dg.asset(**_COMMON, **ARCHIVE_SPEC, retry_policy=RETRY, required_resource_keys=shards.RESOURCES)
    def raw_feed_xml(context: dg.AssetExecutionContext, config: ArchiveConfig) -> dg.MaterializeResult:
        archived = _archive(context.op_execution_context, config.reimport_history)
        return dg.MaterializeResult(metadata=report.archive_metadata(archived, context.resources.warehouse.get()))

    @dg.asset(**_COMMON, **PARSE_SPEC, deps=[raw_feed_xml], retry_policy=RETRY, required_resource_keys=shards.RESOURCES)
    def parsed_items(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        first, last = first_and_last(context.partition_keys)
        with progress.reporting(_progress(context.op_execution_context)):
            parsed = parse.parse_range(context.resources.warehouse.get(), first, last)
        return dg.MaterializeResult(metadata=_parse_problems(context.op_execution_context, parsed))

    @dg.asset(**_COMMON, **CLEAN_SPEC, deps=[parsed_items], retry_policy=RETRY, required_resource_keys=shards.RESOURCES)
    def cleaned_text(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        cleaned = _clean(context.op_execution_context)
        return dg.MaterializeResult(metadata=report.clean_metadata(cleaned, context.resources.warehouse.get()))

else:

    def _finish_archive(context: dg.OpExecutionContext, archived: archive.ArchiveReport) -> dict[str, object]:
        if archived.attempted and archived.outcomes.get("failed", 0) == archived.attempted:
            raise dg.Failure(archive._all_failed_message(archived.failures), allow_retries=False)
        return report.archive_metadata(archived, context.resources.warehouse.get())

    def _archive_shard(
        context: dg.OpExecutionContext, feed_ids: Collection[str], config: dict
    ) -> archive.ArchiveReport:
        try:
            return _archive(context, config.get("reimport_history", False), feed_ids)
        except archive.NothingFetched as error:
            # One shard's feeds all failing is not the run failing: the final op judges all feeds together.
            context.log.warning(str(error))
            return error.report

    raw_feed_xml = shards.sharded_asset(
        name="raw_feed_xml", verb="fetch", shards=SHARDS, work=_archive_shard, finish=_finish_archive,
        report_type=archive.ArchiveReport, upstream=None, retry_policy=RETRY,
        config={"reimport_history": dg.Field(bool, default_value=False)}, **_COMMON, **ARCHIVE_SPEC,
    )  # fmt: skip

    def _parse_shard(context: dg.OpExecutionContext, feed_ids: Collection[str], _config: dict) -> parse.ParseReport:
        first, last = first_and_last(context.partition_keys)
        with progress.reporting(_progress(context)):
            return parse.parse_range(context.resources.warehouse.get(), first, last, feed_ids=feed_ids, refresh=False)

    def _merge_items(context: dg.OpExecutionContext, parsed: parse.ParseReport) -> dict[str, object]:
        first, last = first_and_last(context.partition_keys)
        parse.refresh_range(context.resources.warehouse.get(), first, last, parsed)
        return _parse_problems(context, parsed)

    parsed_items = shards.sharded_asset(
        name="parsed_items", verb="parse", shards=SHARDS, work=_parse_shard, finish=_merge_items,
        report_type=parse.ParseReport, upstream=raw_feed_xml, retry_policy=RETRY, **_COMMON, **PARSE_SPEC,
    )  # fmt: skip

    def _finish_clean(context: dg.OpExecutionContext, cleaned: clean.CleanReport) -> dict[str, object]:
        return report.clean_metadata(cleaned, context.resources.warehouse.get())

    cleaned_text = shards.sharded_asset(
        name="cleaned_text", verb="clean", shards=SHARDS, work=lambda c, ids, _: _clean(c, ids),
        finish=_finish_clean, report_type=clean.CleanReport, upstream=parsed_items, retry_policy=RETRY,
        **_COMMON, **CLEAN_SPEC,
    )  # fmt: skip


@dg.asset(
    **_COMMON,
    deps=[cleaned_text],
    code_version="1",
    description=(
        "Normalised tags per item (`item_tags`) and their aggregates: `tag_counts` per published day and "
        "feed, `tag_cooccurrence`, and the `tag_trends` view."
    ),
    metadata=report.table_schema_metadata("tag_counts"),
    retry_policy=RETRY,
)
def tag_aggregates(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, feed_list: FeedListResource
) -> dg.MaterializeResult:
    first, last = first_and_last(context.partition_keys)
    store = warehouse.get()
    tagged = tags.tag_range(store, feed_list.load(), first, last)
    return dg.MaterializeResult(metadata=report.tag_metadata(tagged, store))


feed_assets = [raw_feed_xml, parsed_items, cleaned_text, tag_aggregates]
