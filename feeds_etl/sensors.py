"""A sensor that reports (never crashes on) changes to the feed list, so the UI says what changed."""

import hashlib
import json

import dagster as dg

from feeds_etl.feeds import FeedListError, feeds_file_from_env, load_feed_list


@dg.sensor(
    name="feed_list_changes",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reports feeds added, removed or changed in the feed list, and explains an invalid list.",
)
def feed_list_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    path = feeds_file_from_env()
    try:
        feeds = load_feed_list(path)
    except FeedListError as exc:
        return dg.SkipReason(f"feed list is invalid, runs will fail until it is fixed: {exc}")
    current = {feed.feed_id: feed.url for feed in feeds.enabled}
    previous = json.loads(context.cursor) if context.cursor else None
    context.update_cursor(json.dumps(current, sort_keys=True))
    if previous is None:
        return dg.SkipReason(f"watching {path}: {len(current)} enabled feed(s)")
    added = sorted(set(current) - set(previous))
    removed = sorted(set(previous) - set(current))
    moved = sorted(f for f in set(current) & set(previous) if current[f] != previous[f])
    if not (added or removed or moved):
        digest = hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()[:8]
        return dg.SkipReason(f"feed list unchanged ({len(current)} feeds, {digest})")
    message = f"feed list changed: added {added or 'none'}, removed {removed or 'none'}, url changed {moved or 'none'}"
    context.log.info(message)
    return dg.SkipReason(message + "; the next hourly run picks it up")
