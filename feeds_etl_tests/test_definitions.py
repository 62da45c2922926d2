"""The loaded definitions: what the UI and the daemon will see."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from datetime import UTC, datetime

import dagster as dg

from feeds_etl.definitions import defs
from feeds_etl.feeds import REPO_ROOT
from feeds_etl.partitions import hourly_partitions

ASSETS = ["raw_feed_xml", "parsed_items", "cleaned_text", "tag_aggregates"]


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)


def test_definitions_snapshot() -> None:
    """Catches accidental changes to the public shape: asset keys, lineage, jobs, schedules, checks."""
    graph = defs.resolve_asset_graph()
    keys = sorted(key.to_user_string() for key in graph.get_all_asset_keys())
    assert keys == sorted(ASSETS)
    for upstream, downstream in itertools.pairwise(ASSETS):
        assert dg.AssetKey(upstream) in graph.get(dg.AssetKey(downstream)).parent_keys
    for key in ASSETS:
        node = graph.get(dg.AssetKey(key))
        assert node.partitions_def == hourly_partitions
        assert node.backfill_policy == dg.BackfillPolicy.single_run()
        assert node.group_name == "feeds" and node.description and node.code_version
        assert "dagster/column_schema" in node.metadata
    assert hourly_partitions.timezone == "UTC" and hourly_partitions.end_offset == 1
    job = defs.resolve_job_def("feeds_hourly_job")
    assert job.partitions_def == hourly_partitions
    schedule = defs.resolve_schedule_def("feeds_hourly_job_schedule")
    assert schedule.cron_schedule == "5 * * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    upkeep = defs.resolve_schedule_def("daily_lake_maintenance")
    assert upkeep.job_name == "maintain_lake_job" and upkeep.cron_schedule == "40 3 * * *"
    assert upkeep.default_status == dg.DefaultScheduleStatus.RUNNING
    checks = sorted(key.name for key in graph.asset_check_keys)
    assert checks == sorted(
        [
            "archive_is_fresh",
            "every_feed_accounted_for",
            "feeds_not_failing_repeatedly",
            "items_have_required_fields",
            "items_have_unique_ids",
            "items_with_html_have_text",
            "tag_counts_match_item_tags",
        ]
    )


def test_schedule_requests_the_hour_under_way() -> None:
    tick = datetime(2026, 11, 24, 13, 5, tzinfo=UTC)
    context = dg.build_schedule_context(scheduled_execution_time=tick)
    requests = defs.resolve_schedule_def("feeds_hourly_job_schedule").evaluate_tick(context).run_requests
    assert [request.partition_key for request in requests] == ["2026-11-24-13:00"]


def test_dagster_cli_validates_the_workspace() -> None:
    done = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "DAGSTER_HOME": str(REPO_ROOT / ".dagster_home")},
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_worker_processes_import_no_dagster() -> None:
    """Parse/clean workers fork from a server that imports `feeds_etl._preload` (the pipeline included);
    Dagster there would cost each run a second of start-up for nothing."""
    code = "import sys, feeds_etl._preload; sys.exit(1 if 'dagster' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT).returncode == 0


SNAPSHOT = REPO_ROOT / "feeds_etl_tests" / "snapshots" / "definitions.json"


def definitions_summary() -> dict[str, object]:
    """The public shape of the code location, as plain data: what the UI, the daemon and users rely on."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        assets[key.to_user_string()] = {
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "group": node.group_name,
            "partitions": type(partitions).__name__ if partitions else None,
            "backfill_policy": str(node.backfill_policy.policy_type) if node.backfill_policy else None,
            "checks": sorted(check.name for check in node.check_keys),
        }
    repository = defs.get_repository_def()
    return {
        "assets": assets,
        "jobs": sorted(job.name for job in repository.get_all_jobs() if not job.name.startswith("__")),
        "schedules": {
            s.name: {"job": s.job_name, "cron": s.cron_schedule, "status": s.default_status.value}
            for s in sorted(repository.schedule_defs, key=lambda s: s.name)
        },
        "sensors": {s.name: s.default_status.value for s in sorted(repository.sensor_defs, key=lambda s: s.name)},
        "resources": sorted(defs.resources or {}),
    }


def test_definitions_match_the_recorded_snapshot() -> None:
    """A change to the graph, jobs, schedules, sensors or resources must be deliberate: record it with
    `UPDATE_SNAPSHOTS=1 make test` (or the same pytest) and commit feeds_etl_tests/snapshots/definitions.json."""
    import json

    current = json.dumps(definitions_summary(), indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(current, encoding="utf-8")
    assert SNAPSHOT.exists() and SNAPSHOT.read_text(encoding="utf-8") == current, (
        "the definitions changed; if that is deliberate, record them: UPDATE_SNAPSHOTS=1 "
        "pytest feeds_etl_tests/test_definitions.py"
    )
