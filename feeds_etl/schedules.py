"""The hourly job and its schedule (RUNNING by default: every hour is ingested while the UI is up)."""

from __future__ import annotations

import dagster as dg

from feeds_etl.assets import feed_assets
from feeds_etl.partitions import hourly_partitions

feeds_job = dg.define_asset_job(
    name="feeds_hourly_job",
    selection=dg.AssetSelection.assets(*feed_assets),
    partitions_def=hourly_partitions,
    description="Fetch, parse, clean and tag one hour (or, as a backfill, a range of hours in one run).",
)

# Launch from the UI (Jobs -> history_import_job -> pick the latest partition) to pull feeds' older pages again.
history_import_job = dg.define_asset_job(
    name="history_import_job",
    selection=dg.AssetSelection.assets(*feed_assets),
    partitions_def=hourly_partitions,
    config={"ops": {"raw_feed_xml": {"config": {"reimport_history": True}}}},
    description="Re-import the history (older pages) of every feed with `history:` set, then derive as usual.",
)

# At minute 5 of each hour: the partition under way (end_offset=1) is the one the run ingests.
hourly_schedule = dg.build_schedule_from_partitioned_job(
    feeds_job,
    minute_of_hour=5,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Ingest the hour under way, every hour.",
)
