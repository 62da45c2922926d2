"""The whole pipeline at a glance.

feeds.yaml -> raw_feed_xml -> parsed_items -> cleaned_text -> tag_aggregates   (hourly partitions)
              feed_snapshots   items            item_text       item_tags, tag_counts,
              feed_health                       item_links      tag_cooccurrence

FEEDS_ETL_SHARDS=N makes each of the first three assets N shard steps plus a final one (feeds_etl/shards.py);
FEEDS_ETL_EXECUTOR=celery hands the steps to Celery workers (feeds_etl/cluster.py).

maintain_lake_job: daily upkeep of the lake (merge files, expire snapshots, delete unreferenced files).
"""

from __future__ import annotations

import dagster as dg

from feeds_etl import cluster
from feeds_etl.assets import feed_assets
from feeds_etl.checks import feed_checks
from feeds_etl.maintenance import daily_maintenance_schedule, maintain_lake_job
from feeds_etl.resources import default_resources
from feeds_etl.schedules import feeds_job, history_import_job, hourly_schedule
from feeds_etl.sensors import feed_list_sensor

defs = dg.Definitions(
    assets=feed_assets,
    asset_checks=feed_checks,
    jobs=[feeds_job, history_import_job, maintain_lake_job],
    schedules=[hourly_schedule, daily_maintenance_schedule],
    sensors=[feed_list_sensor],
    resources=default_resources(),
    # One process, steps in order (no per-step start-up for a four-step job); Celery workers on a cluster.
    executor=cluster.executor(),
)
