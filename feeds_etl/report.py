"""What the UI shows about each materialization: counts, failures, previews, a chart of top tags."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path
from typing import Any

import dagster as dg

from feeds_etl.pipeline import ArchiveReport, CleanReport, ParseReport, TagReport
from feeds_etl.warehouse import Warehouse
from feeds_etl.warehouse.schema import COLUMN_DOCS, table_columns


def table_schema_metadata(table: str) -> dict[str, Any]:
    columns = [dg.TableColumn(name, type_, description=COLUMN_DOCS.get(name)) for name, type_ in table_columns(table)]
    return {"dagster/column_schema": dg.TableSchema(columns=columns), "table": table}


def _row_count(warehouse: Warehouse, table: str) -> int:
    with warehouse.reading() as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _markdown_table(headers: list[str], rows: list[tuple[Any, ...]]) -> str:
    if not rows:
        return "_none_"
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        cells = [str(cell if cell is not None else "").replace("|", "\\|").replace("\n", " ") for cell in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def archive_metadata(archived: ArchiveReport, warehouse: Warehouse) -> dict[str, Any]:
    outcomes = archived.outcomes
    failures = sorted({**archived.failures, **archived.skipped}.items())
    metadata: dict[str, Any] = {
        "dagster/row_count": _row_count(warehouse, "feed_snapshots"),
        "feeds_fetched": archived.attempted,
        "feeds_new_content": outcomes.get("new", 0),
        "feeds_unchanged": outcomes.get("unchanged", 0) + outcomes.get("not_modified", 0),
        "feeds_not_modified_304": outcomes.get("not_modified", 0),
        "feeds_failed": outcomes.get("failed", 0),
        "feeds_skipped": outcomes.get("skipped", 0),
        "new_body_bytes": archived.new_bytes,
        "fetched_hours": ", ".join(archived.fetched_hours) or "none (past hours only)",
        "failed_feeds": dg.MetadataValue.md(_markdown_table(["feed", "reason"], failures)),
        "durations_s": dg.MetadataValue.json(archived.timings.seconds),
    }
    if archived.archive_only_hours:
        empty = sorted(key for key, counts in archived.archive_only_hours.items() if not counts)
        metadata["archive_only_hours"] = len(archived.archive_only_hours)
        metadata["hours_without_snapshots"] = len(empty)
        metadata["note"] = (
            "Past hours are never fetched: the archive is what it is. "
            f"{len(empty)} of {len(archived.archive_only_hours)} past hour(s) have no snapshot."
        )
    return metadata


def parse_metadata(parsed: ParseReport, warehouse: Warehouse) -> dict[str, Any]:
    with warehouse.reading() as con:
        preview = con.execute(
            """SELECT feed_id, strftime(published_at, '%Y-%m-%d %H:%M'), title FROM items
               ORDER BY coalesce(published_at, first_seen_at) DESC, item_id LIMIT 10"""
        ).fetchall()
    problems = sorted({**parsed.warnings, **parsed.errors}.items())
    return {
        "dagster/row_count": _row_count(warehouse, "items"),
        "contents_parsed": parsed.contents_parsed,
        "items_seen": parsed.touched,
        "new_items": parsed.new_items,
        "updated_items": parsed.updated_items,
        "feeds_with_parse_problems": dg.MetadataValue.md(_markdown_table(["feed", "problem"], problems)),
        "newest_items": dg.MetadataValue.md(_markdown_table(["feed", "published (UTC)", "title"], preview)),
        "durations_s": dg.MetadataValue.json(parsed.timings.seconds),
    }


def clean_metadata(cleaned: CleanReport, warehouse: Warehouse) -> dict[str, Any]:
    return {
        "dagster/row_count": _row_count(warehouse, "item_text"),
        "items_cleaned": cleaned.cleaned,
        "links_found": cleaned.links,
        "languages": dg.MetadataValue.json(dict(cleaned.languages.most_common())),
        "durations_s": dg.MetadataValue.json(cleaned.timings.seconds),
    }


def tag_metadata(tagged: TagReport, warehouse: Warehouse, chart: str | None) -> dict[str, Any]:
    """`chart`: from `cached_top_tags_chart` (base64 PNG)."""
    table = _markdown_table(["tag", "items"], tagged.top_tags)
    return {
        "dagster/row_count": _row_count(warehouse, "tag_counts"),
        "items_tagged": tagged.items_tagged,
        "item_tags": tagged.item_tags,
        "distinct_tags": tagged.distinct_tags,
        "top_tags": dg.MetadataValue.md(table + (f"\n\n![top tags](data:image/png;base64,{chart})" if chart else "")),
        "durations_s": dg.MetadataValue.json(tagged.timings.seconds),
    }


def cached_top_tags_chart(top_tags: list[tuple[str, int]], cache_dir: Path) -> str | None:
    """The chart only changes when the top tags do; drawing it costs a matplotlib import, so keep the last one."""
    key = hashlib.sha256(repr(top_tags).encode()).hexdigest()[:16]
    cached = cache_dir / f"top-tags-{key}.png.b64"
    if cached.exists():
        return cached.read_text() or None
    chart = top_tags_chart(top_tags)
    for old in cache_dir.glob("top-tags-*.png.b64"):
        old.unlink(missing_ok=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached.write_text(chart or "")
    return chart


def top_tags_chart(top_tags: list[tuple[str, int]]) -> str | None:
    """A small horizontal bar chart as base64 PNG (people would rather look than read)."""
    if not top_tags:
        return None
    from matplotlib.figure import Figure  # the object API: no pyplot, no global state, half the import time

    tags = [tag for tag, _ in reversed(top_tags[:12])]
    counts = [count for _, count in reversed(top_tags[:12])]
    fig = Figure(figsize=(5, 0.25 * len(tags) + 0.8), dpi=80)
    ax = fig.subplots()
    ax.barh(tags, counts, color="#4F43DD")
    ax.set_xlabel("items")
    ax.set_title("Top tags")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode()
