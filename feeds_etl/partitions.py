"""The hourly partitions every asset shares: a partition is an ingestion hour (UTC)."""

from __future__ import annotations

import dagster as dg

from feeds_etl.hours import current_hour_key, hour_key

PARTITION_FORMAT = "%Y-%m-%d-%H:%M"
PARTITIONS_START = "2026-01-01-00:00"

# end_offset=1: the hour under way is a partition, so `make run` and the schedule ingest "now".
hourly_partitions = dg.HourlyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC", end_offset=1)
single_run_backfill = dg.BackfillPolicy.single_run()

__all__ = ["current_hour_key", "hour_key", "hourly_partitions", "single_run_backfill"]
