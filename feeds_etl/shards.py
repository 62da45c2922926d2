"""FEEDS_ETL_SHARDS=N: the feed list in N stable parts, whose fetch, parse and clean run as separate steps (on
different Celery workers at once), each asset finished by one small step that writes what spans all feeds.

Feeds are split by host, so one site's feeds are always fetched by one step and the per-host limit holds across
workers. Each shard-level asset is a graph-backed asset: the asset graph still shows the same four assets, and
inside each, one op per shard plus its final op, so the UI shows which worker ran which part.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any, TypeVar
from urllib.parse import urlsplit

import dagster as dg

from feeds_etl.feeds import Feed, FeedList
from feeds_etl.steps.work import Timings

R = TypeVar("R")
# (context, feed_ids of the shard, op config) -> the step's report
ShardWork = Callable[[dg.OpExecutionContext, Collection[str], dict[str, Any]], Any]
# (context, the shards' reports merged) -> the asset's materialization metadata
Finish = Callable[[dg.OpExecutionContext, Any], dict[str, Any]]
RESOURCES = {"warehouse", "feed_list", "fetcher"}


def shard_count() -> int:
    """FEEDS_ETL_SHARDS (1 when unset): how many parts a run splits the feed list into."""
    raw = os.environ.get("FEEDS_ETL_SHARDS", "1").strip() or "1"
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"FEEDS_ETL_SHARDS={raw!r}: a whole number, 1 or more")
    return int(raw)


def feed_host(feed: Feed) -> str:
    """What a shard is chosen by: the feed's host (local files: the feed itself)."""
    host = urlsplit(feed.url).hostname if "://" in feed.url else None
    return (host or f"feed:{feed.feed_id}").lower()


def shard_of(feed: Feed, shards: int) -> int:
    """The same shard on every machine and every run (a hash of the host, not Python's salted hash())."""
    digest = hashlib.blake2b(feed_host(feed).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def shard_feed_ids(feed_list: FeedList, shard: int, shards: int) -> set[str]:
    return {feed.feed_id for feed in feed_list.feeds if shard_of(feed, shards) == shard}


def worker_label() -> str:
    """The Celery worker running this step (name@host), else this machine's name."""
    try:
        from celery import current_task

        if current_task and current_task.request.hostname:
            return str(current_task.request.hostname)
    except ImportError:
        pass
    return socket.gethostname()


def report_to_json(report: Any) -> dict[str, Any]:
    """A step report as JSON for the event log (dataclasses.asdict would count a Counter's items as keys)."""
    data = {}
    for item in dataclasses.fields(report):
        value = getattr(report, item.name)
        data[item.name] = {"seconds": dict(value.seconds)} if isinstance(value, Timings) else value
    return data


def report_from_json(report_type: type[R], data: dict[str, Any]) -> R:
    values = {}
    for item in dataclasses.fields(report_type):  # type: ignore[arg-type]
        value = data.get(item.name)
        if value is None:
            if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
                values[item.name] = [] if str(item.type).startswith("list") else {}  # an empty required field
            continue
        if item.name == "timings":
            value = Timings(**value)
        elif item.name in {"outcomes", "languages"}:
            value = Counter(value)
        values[item.name] = value
    return report_type(**values)


def merge_reports(report_type: type[R], reports: list[R]) -> R:
    """One report for the asset: counts added, lists and mappings joined, each phase's longest shard."""
    merged = report_from_json(report_type, {})
    for report in reports:
        for item in dataclasses.fields(report_type):  # type: ignore[arg-type]
            mine, theirs = getattr(merged, item.name), getattr(report, item.name)
            if isinstance(mine, Timings):
                for phase, seconds in theirs.seconds.items():
                    mine.seconds[phase] = max(mine.seconds.get(phase, 0.0), seconds)
            elif isinstance(mine, dict):
                mine.update(theirs)  # a Counter adds the counts
            elif isinstance(mine, list):
                mine.extend(value for value in theirs if value not in mine)
            elif isinstance(mine, int | float):
                setattr(merged, item.name, mine + theirs)
    return merged


def _shard_op(
    asset: str, verb: str, shard: int, shards: int, work: ShardWork, config: dict[str, Any] | None, retry: Any
) -> dg.OpDefinition:
    @dg.op(
        name=f"{verb}_shard_{shard}",
        ins={"after": dg.In(dg.Nothing)},
        out=dg.Out(dg.Nothing),
        config_schema=config,
        required_resource_keys=RESOURCES,
        retry_policy=retry,
        tags={"feeds_etl/shard": f"{shard + 1} of {shards}"},
        description=f"{asset}: the work of shard {shard + 1} of {shards} (feeds whose host hashes to it).",
    )
    def run_shard(context) -> None:  # unannotated: Dagster checks the hint, and a string one fails
        feed_ids = shard_feed_ids(context.resources.feed_list.load(), shard, shards)
        worker = worker_label()
        context.log.info(f"{asset} shard {shard + 1}/{shards}: {len(feed_ids)} feed(s) on worker {worker}")
        report = work(context, feed_ids, dict(context.op_config or {}))
        context.add_output_metadata(
            {
                "worker": worker,
                "shard": f"{shard + 1} of {shards}",
                "feeds": len(feed_ids),
                "report": dg.MetadataValue.json(report_to_json(report)),
            }
        )

    return run_shard


def _final_op(asset: str, verb: str, report_type: type, finish: Finish, retry: Any) -> dg.OpDefinition:
    @dg.op(
        name=f"{verb}_all",
        ins={"shards": dg.In(dg.Nothing)},
        out=dg.Out(dg.Nothing),
        required_resource_keys=RESOURCES,
        retry_policy=retry,
        description=f"{asset}: what spans all feeds, once every shard has committed; the asset's summary.",
    )
    def finish_asset(context) -> None:
        prefix = f"{asset}.{verb}_shard_"
        latest: dict[str, Any] = {}
        # The shards' reports from the run's event log (in PostgreSQL on a cluster), not from files on one machine.
        for entry in context.instance.all_logs(context.run_id, of_type=dg.DagsterEventType.STEP_OUTPUT):
            event = entry.dagster_event
            if event is not None and event.step_key and event.step_key.startswith(prefix):
                metadata = event.step_output_data.metadata
                if "report" in metadata:
                    latest[event.step_key] = metadata["report"].value
        reports = [report_from_json(report_type, latest[key]) for key in sorted(latest)]
        context.add_output_metadata(
            {**finish(context, merge_reports(report_type, reports)), "shards_reported": len(reports)}
        )

    return finish_asset


def sharded_asset(
    *,
    name: str,
    verb: str,
    shards: int,
    work: ShardWork,
    finish: Finish,
    report_type: type,
    upstream: dg.AssetsDefinition | None,
    config: dict[str, Any] | None = None,
    retry_policy: dg.RetryPolicy | None = None,
    **asset_kwargs: Any,
) -> dg.AssetsDefinition:
    """A graph-backed asset: `shards` ops doing `work` side by side, then one op doing `finish`."""
    shard_ops = [_shard_op(name, verb, i, shards, work, config, retry_policy) for i in range(shards)]
    final = _final_op(name, verb, report_type, finish, retry_policy)
    mapping = None
    if config is not None:
        # The asset keeps its one config block (history_import_job's), handed to each shard.
        mapping = dg.ConfigMapping(
            config_schema=config, config_fn=lambda values: {op.name: {"config": values} for op in shard_ops}
        )
    if upstream is None:

        def compose() -> Any:
            return final([op() for op in shard_ops])

    else:

        def compose(previous: Any) -> Any:  # type: ignore[misc]
            return final([op(previous) for op in shard_ops])

    ins = {"previous": dg.AssetIn(key=upstream.key, dagster_type=dg.Nothing)} if upstream is not None else None
    return dg.graph_asset(name=name, ins=ins, config=mapping, **asset_kwargs)(compose)
