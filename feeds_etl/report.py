"""What the UI shows about each materialization: counts, failures, previews, a chart of top tags."""

from __future__ import annotations

import base64
from typing import Any
from xml.sax.saxutils import escape

import dagster as dg

from feeds_etl.steps.archive import ArchiveReport
from feeds_etl.steps.clean import CleanReport
from feeds_etl.steps.parse import ParseReport
from feeds_etl.steps.tags import TagReport
from feeds_etl.warehouse import Warehouse
from feeds_etl.warehouse.schema import COLUMN_DOCS, table_columns


def table_schema_metadata(table: str) -> dict[str, Any]:
    columns = [dg.TableColumn(name, type_, description=COLUMN_DOCS.get(name)) for name, type_ in table_columns(table)]
    return {"dagster/column_schema": dg.TableSchema(columns=columns), "table": table}


def _row_count(warehouse: Warehouse, table: str) -> int:
    with warehouse.reading() as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def lake_metadata(warehouse: Warehouse, table: str) -> dict[str, Any]:
    """Row count and the lake snapshot this step left: `SELECT ... FROM t AT (VERSION => n)` reads it back."""
    return {"dagster/row_count": _row_count(warehouse, table), "lake_snapshot_id": warehouse.snapshot_id()}


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
        **lake_metadata(warehouse, "feed_snapshots"),
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
        **lake_metadata(warehouse, "items"),
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
        **lake_metadata(warehouse, "item_text"),
        "items_cleaned": cleaned.cleaned,
        "links_found": cleaned.links,
        "languages": dg.MetadataValue.json(dict(cleaned.languages.most_common())),
        # Teasers' article pages: requests sent this run, then items by what their page gave.
        "article_pages_fetched": cleaned.pages.get("requested", 0),
        "items_with_article": cleaned.articles.get("article", 0),
        "articles_disallowed": cleaned.articles.get("disallowed", 0),
        "articles_failed": cleaned.articles.get("failed", 0),
        "article_pages": dg.MetadataValue.json(dict(cleaned.pages)),
        "durations_s": dg.MetadataValue.json(cleaned.timings.seconds),
    }


def tag_metadata(tagged: TagReport, warehouse: Warehouse) -> dict[str, Any]:
    table = _markdown_table(["tag", "items"], tagged.top_tags)
    chart = top_tags_chart(tagged.top_tags)
    # The UI's Markdown shows images from data: URIs (its sanitizer allows http, https and data for img src).
    image = f"\n\n![top tags](data:image/svg+xml;base64,{base64.b64encode(chart.encode()).decode()})" if chart else ""
    return {
        **lake_metadata(warehouse, "tag_counts"),
        "items_tagged": tagged.items_tagged,
        "item_tags": tagged.item_tags,
        "distinct_tags": tagged.distinct_tags,
        "top_tags": dg.MetadataValue.md(table + image),
        "durations_s": dg.MetadataValue.json(tagged.timings.seconds),
    }


# The chart's geometry, in pixels. Label widths are estimated (about 0.6 em per character of a sans-serif
# font), so long tags are shortened rather than measured: exact text metrics would need a font library.
_CHART_BARS = 12
_CHART_FONT = 12
_CHART_ROW = 20
_CHART_TOP = 28  # room for the title
_CHART_LABEL_CHARS = 28
_CHART_BAR_WIDTH = 300
_CHART_COLOUR = "#4F43DD"


def top_tags_chart(top_tags: list[tuple[str, int]]) -> str | None:
    """A horizontal bar chart of the top tags as SVG (people would rather look than read). Plain SVG text:
    matplotlib drew the same chart as PNG, but its import alone cost every run half a second."""
    rows = top_tags[:_CHART_BARS]
    if not rows:
        return None
    labels = [_shortened(tag) for tag, _ in rows]
    label_width = round(max(map(len, labels)) * _CHART_FONT * 0.6) + 8
    most = max(count for _, count in rows) or 1
    width = label_width + _CHART_BAR_WIDTH + 60
    height = _CHART_TOP + _CHART_ROW * len(rows) + 8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="{_CHART_FONT}">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{width // 2}" y="18" text-anchor="middle" font-weight="bold">Top tags</text>',
    ]
    for row, ((tag, count), label) in enumerate(zip(rows, labels, strict=True)):
        y = _CHART_TOP + row * _CHART_ROW
        bar = max(1, round(_CHART_BAR_WIDTH * count / most))
        text_y = y + _CHART_ROW // 2 + _CHART_FONT // 3
        parts += [
            f'<text x="{label_width - 6}" y="{text_y}" text-anchor="end">{escape(label)}</text>',
            f'<rect x="{label_width}" y="{y + 3}" width="{bar}" height="{_CHART_ROW - 6}" fill="{_CHART_COLOUR}">'
            f"<title>{escape(tag)}: {count}</title></rect>",  # the whole tag, on hover
            f'<text x="{label_width + bar + 4}" y="{text_y}">{count}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)


def _shortened(tag: str) -> str:
    return tag if len(tag) <= _CHART_LABEL_CHARS else tag[: _CHART_LABEL_CHARS - 1] + "\u2026"
