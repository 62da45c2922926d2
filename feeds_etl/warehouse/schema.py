"""The lake's schema users query. Tables hold data; views and macros answer common questions.

Views and macros live in the lake's catalog and are copied into exports (`make export`), so they use core SQL
only: a plain DuckDB session on an export needs no extension.
"""

from __future__ import annotations

from feeds_etl.search import SEARCH_ITEMS_MACRO

# Bump when a table changes shape; `migrate` then brings the lake up to date.
SCHEMA_VERSION = 15

TABLES: dict[str, str] = {
    "feed_snapshots": """
        snapshot_id VARCHAR NOT NULL,
        feed_id VARCHAR NOT NULL,
        partition_key VARCHAR NOT NULL,
        fetched_at TIMESTAMPTZ NOT NULL,
        url VARCHAR NOT NULL,
        final_url VARCHAR,
        http_status INTEGER,
        etag VARCHAR,
        last_modified VARCHAR,
        content_type VARCHAR,
        content_sha256 VARCHAR,
        body BLOB,
        body_bytes BIGINT,
        outcome VARCHAR NOT NULL,
        error VARCHAR,
        elapsed_ms DOUBLE,
        has_body BOOLEAN NOT NULL DEFAULT false
    """,
    "feed_health": """
        feed_id VARCHAR NOT NULL,
        url VARCHAR NOT NULL,
        effective_url VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        last_attempt_at TIMESTAMPTZ,
        last_success_at TIMESTAMPTZ,
        last_status INTEGER,
        consecutive_failures INTEGER NOT NULL,
        last_error VARCHAR,
        next_attempt_at TIMESTAMPTZ,
        etag VARCHAR,
        last_modified VARCHAR,
        last_content_sha256 VARCHAR,
        redirect_target VARCHAR,
        redirect_seen INTEGER NOT NULL,
        in_feed_list BOOLEAN NOT NULL
    """,
    # The feed list as of the latest run (titles and folders from OPML, per-feed settings).
    "feeds": """
        feed_id VARCHAR NOT NULL,
        url VARCHAR NOT NULL,
        title VARCHAR,
        feed_group VARCHAR,
        html_url VARCHAR,
        enabled BOOLEAN NOT NULL,
        full_text VARCHAR NOT NULL
    """,
    "parsed_contents": """
        feed_id VARCHAR NOT NULL,
        content_sha256 VARCHAR NOT NULL,
        parser_version VARCHAR NOT NULL,
        feed_title VARCHAR,
        entry_count INTEGER NOT NULL,
        warning VARCHAR,
        error VARCHAR
    """,
    "feed_entries": """
        feed_id VARCHAR NOT NULL,
        content_sha256 VARCHAR NOT NULL,
        position INTEGER NOT NULL,
        item_id VARCHAR NOT NULL,
        entry_sha256 VARCHAR NOT NULL
    """,
    "item_versions": """
        item_id VARCHAR NOT NULL,
        entry_sha256 VARCHAR NOT NULL,
        feed_id VARCHAR NOT NULL,
        guid VARCHAR,
        link VARCHAR,
        title VARCHAR,
        author VARCHAR,
        published_at TIMESTAMPTZ,
        updated_at TIMESTAMPTZ,
        published_raw VARCHAR,
        summary_html VARCHAR,
        content_html VARCHAR,
        categories VARCHAR[],
        teaser BOOLEAN
    """,
    # Which version of each item is current, and when the item was seen: `items` joins it to its version.
    "item_state": """
        item_id VARCHAR NOT NULL,
        entry_sha256 VARCHAR NOT NULL,
        first_seen_at TIMESTAMPTZ NOT NULL,
        last_seen_at TIMESTAMPTZ NOT NULL,
        version_count INTEGER NOT NULL
    """,
    "item_text": """
        item_id VARCHAR NOT NULL,
        text VARCHAR NOT NULL,
        word_count INTEGER NOT NULL,
        language VARCHAR,
        reading_time_minutes DOUBLE NOT NULL,
        cleaner_version VARCHAR NOT NULL,
        source_sha256 VARCHAR NOT NULL,
        text_source VARCHAR DEFAULT 'feed',
        article_status VARCHAR,
        article_error VARCHAR,
        article_url VARCHAR
    """,
    # Every fetch of an item's article page (full_text); bodies stored once per page URL and content.
    "article_pages": """
        item_id VARCHAR NOT NULL,
        url VARCHAR NOT NULL,
        final_url VARCHAR,
        fetched_at TIMESTAMPTZ NOT NULL,
        partition_key VARCHAR NOT NULL,
        http_status INTEGER,
        etag VARCHAR,
        last_modified VARCHAR,
        content_type VARCHAR,
        content_sha256 VARCHAR,
        body BLOB,
        body_bytes BIGINT,
        has_body BOOLEAN NOT NULL,
        elapsed_ms DOUBLE,
        outcome VARCHAR NOT NULL,
        error VARCHAR
    """,
    "item_links": """
        item_id VARCHAR NOT NULL,
        position INTEGER NOT NULL,
        url VARCHAR NOT NULL,
        domain VARCHAR NOT NULL,
        anchor_text VARCHAR
    """,
    "item_tags": """
        item_id VARCHAR NOT NULL,
        feed_id VARCHAR NOT NULL,
        tag VARCHAR NOT NULL,
        tag_raw VARCHAR NOT NULL
    """,
    "item_tag_sources": """
        item_id VARCHAR NOT NULL,
        entry_sha256 VARCHAR NOT NULL
    """,
    "tag_counts": """
        day DATE NOT NULL,
        feed_id VARCHAR NOT NULL,
        tag VARCHAR NOT NULL,
        item_count BIGINT NOT NULL
    """,
    # Placeholder categories ("uncategorized", "misc", ...) the aggregates leave out; item_tags keeps them.
    "tag_stoplist": """
        tag VARCHAR NOT NULL
    """,
    "tag_cooccurrence": """
        tag_a VARCHAR NOT NULL,
        tag_b VARCHAR NOT NULL,
        item_count BIGINT NOT NULL
    """,
    # Full-text index maintained incrementally by the pipeline (BM25 in plain SQL, see search_items). The
    # ~200 rows per item are integers: documents and terms are numbered in search_docs and search_vocab (as
    # strings they cost the writer more CPU and space).
    "search_terms": """
        doc_id INTEGER NOT NULL,
        term_id INTEGER NOT NULL,
        tf INTEGER NOT NULL
    """,
    "search_docs": """
        item_id VARCHAR NOT NULL,
        doc_id INTEGER NOT NULL,
        doc_length INTEGER NOT NULL
    """,
    "search_vocab": """
        term_id INTEGER NOT NULL,
        term VARCHAR NOT NULL
    """,
    "search_stems": """
        word VARCHAR NOT NULL,
        stem VARCHAR NOT NULL
    """,
    "history_imports": """
        feed_id VARCHAR NOT NULL,
        url VARCHAR NOT NULL,
        imported_at TIMESTAMPTZ NOT NULL,
        pages INTEGER NOT NULL,
        error VARCHAR
    """,
    "partition_log": """
        partition_key VARCHAR NOT NULL,
        asset VARCHAR NOT NULL,
        note VARCHAR NOT NULL
    """,
}


def _ddl_columns(table: str) -> list[tuple[str, str]]:
    """(column, type) pairs of a table, read from its DDL."""
    columns = []
    for line in TABLES[table].strip().splitlines():
        name, type_ = line.strip().rstrip(",").split()[:2]
        columns.append((name, type_))
    return columns


# The `items` view: a version's columns, then item_state's (the order of the table `items` once was).
_STATE_COLUMNS = ("first_seen_at", "last_seen_at", "entry_sha256", "version_count")
ITEM_COLUMNS = [(name, type_) for name, type_ in _ddl_columns("item_versions") if name not in _STATE_COLUMNS] + [
    column for name in _STATE_COLUMNS for column in _ddl_columns("item_state") if column[0] == name
]

# Sorted by these keys when the daily maintenance merges their files (not on insert, which would slow each run):
# a search then reads the row groups of its terms only, as the files' min/max statistics let it skip the others.
SORTED_BY: dict[str, str] = {"search_terms": "term_id"}

VIEWS: dict[str, str] = {
    # Every item once, as its current version: the HTML is stored once, in item_versions (first, since the
    # other views read it).
    "items": f"""
        SELECT {", ".join(("s." if name in _STATE_COLUMNS else "v.") + name for name, _ in ITEM_COLUMNS)}
        FROM item_state s JOIN item_versions v USING (item_id, entry_sha256)
    """,
    "tag_trends": """
        WITH tagged AS (
            SELECT t.tag, (coalesce(i.published_at, i.first_seen_at) AT TIME ZONE 'UTC')::DATE AS day
            FROM item_tags t JOIN items i USING (item_id)
            WHERE t.tag NOT IN (SELECT tag FROM tag_stoplist)
        ), bounds AS (SELECT max(day) AS today FROM tagged), windows AS (
            SELECT tag,
                   count(*) FILTER (WHERE day > today - 7) AS last_7d,
                   count(*) FILTER (WHERE day <= today - 7 AND day > today - 35) AS prior_28d
            FROM tagged, bounds GROUP BY tag
        )
        SELECT tag, last_7d, prior_28d,
               round(prior_28d / 4.0, 2) AS prior_weekly_avg,
               round((last_7d + 1) / (prior_28d / 4.0 + 1), 3) AS rise_ratio,
               rank() OVER (ORDER BY (last_7d + 1) / (prior_28d / 4.0 + 1) DESC, last_7d DESC, tag) AS rank
        FROM windows WHERE last_7d > 0
    """,
    "latest_items": """
        SELECT i.item_id, i.feed_id, i.published_at, i.title, i.link, i.author, t.text, t.word_count,
               t.language, i.categories
        FROM items i LEFT JOIN item_text t USING (item_id)
        ORDER BY coalesce(i.published_at, i.first_seen_at) DESC, i.item_id
    """,
    "items_per_feed_day": """
        SELECT (coalesce(published_at, first_seen_at) AT TIME ZONE 'UTC')::DATE AS day, feed_id,
               count(*) AS item_count
        FROM items GROUP BY ALL
    """,
    "top_tags": """
        SELECT tag, sum(item_count) AS item_count, count(DISTINCT feed_id) AS feeds,
               min(day) AS first_day, max(day) AS last_day
        FROM tag_counts GROUP BY tag
    """,
    "cited_domains": """
        SELECT l.domain, count(DISTINCT l.item_id) AS items, count(*) AS links,
               count(DISTINCT i.feed_id) AS feeds
        FROM item_links l JOIN items i USING (item_id)
        GROUP BY l.domain
    """,
    "feed_status": """
        SELECT h.feed_id, f.feed_group, f.title AS feed_title, h.status, h.url, h.effective_url,
               h.last_attempt_at, h.last_success_at, h.last_status, h.consecutive_failures, h.last_error,
               h.next_attempt_at,
               (SELECT count(*) FROM items i WHERE i.feed_id = h.feed_id) AS items
        FROM feed_health h LEFT JOIN feeds f USING (feed_id)
    """,
    # Per feed: items whose feed text was a teaser (full_text), and what became of their article pages.
    "feed_articles": """
        SELECT i.feed_id, any_value(f.full_text) AS full_text,
               count(*) FILTER (WHERE t.article_status IS NOT NULL) AS teasers,
               count(*) FILTER (WHERE t.article_status = 'article') AS with_article,
               count(*) FILTER (WHERE t.article_status = 'disallowed') AS disallowed,
               count(*) FILTER (WHERE t.article_status = 'failed') AS failed,
               count(*) FILTER (WHERE t.article_status = 'unfetched') AS unfetched,
               arg_max(t.article_error, i.last_seen_at) FILTER (WHERE t.article_status IN ('failed', 'disallowed'))
                   AS last_error
        FROM item_text t JOIN items i USING (item_id) LEFT JOIN feeds f USING (feed_id)
        GROUP BY i.feed_id
    """,
}

MACROS: dict[str, str] = {
    # Top tags within a published-day window: SELECT * FROM tags_between('2026-06-01', '2026-06-30').
    "tags_between": """
        (start_day, end_day) AS TABLE
        SELECT tag, sum(item_count) AS item_count FROM tag_counts
        WHERE day BETWEEN CAST(start_day AS DATE) AND CAST(end_day AS DATE)
        GROUP BY tag ORDER BY item_count DESC, tag
    """,
    # BM25 over title + cleaned text with phrases, a title boost and minimum should-match (feeds_etl.search);
    # query words are stemmed through search_stems, so readers need no extension.
    "search_items": SEARCH_ITEMS_MACRO,
}


def ddl_statements() -> list[str]:
    """Idempotent DDL: tables if missing, views and macros always replaced."""
    statements = [f"CREATE TABLE IF NOT EXISTS {name} ({columns})" for name, columns in TABLES.items()]
    statements.append("CREATE TABLE IF NOT EXISTS _meta (key VARCHAR NOT NULL, value VARCHAR)")
    statements += [f"CREATE OR REPLACE VIEW {name} AS {body}" for name, body in VIEWS.items()]
    statements += [f"CREATE OR REPLACE MACRO {name}{body}" for name, body in MACROS.items()]
    return statements


# Shown beside each column in the UI (the README documents every table in full).
COLUMN_DOCS: dict[str, str] = {
    "feed_id": "the feed's `name` in feeds.yaml",
    "partition_key": "ingestion hour (UTC) of the snapshot",
    "fetched_at": "when the attempt started (UTC)",
    "url": "what was fetched",
    "final_url": "URL after redirects",
    "content_sha256": "hash of the body; same hash, same content",
    "body": "raw bytes as served; NULL when unchanged, 304, or failed without a body",
    "has_body": "true when this row holds the body (filter on it rather than on `body`: cheaper)",
    "outcome": "new | unchanged | not_modified | failed | skipped | history",
    "error": "why the attempt failed, NULL on success",
    "item_id": "stable id: feed + guid, else link, else title + date",
    "published_at": "publication time (UTC); the update time when a feed gives only that; NULL when impossible",
    "published_raw": "the feed's own date text when it was impossible (before 1990 or days ahead), else NULL",
    "categories": "categories exactly as in the feed",
    "teaser": "the feed's text looks like an excerpt (full_text: auto fetches the article); NULL if stored before",
    "first_seen_at": "first snapshot that contained the item",
    "last_seen_at": "latest snapshot that contained the item",
    "entry_sha256": "hash of the item's current version",
    "version_count": "distinct versions seen",
    "text": "plain text, paragraphs separated by a blank line",
    "language": "ISO 639-1, detected offline",
    "cleaner_version": "cleaner rules that made this text",
    "text_source": "feed | article: the feed's own text, or the main text of the linked page",
    "article_status": "article | disallowed | failed | unfetched; NULL when no article was wanted",
    "article_error": "why the article page gave no text (the feed's teaser is the text then)",
    "day": "published day (UTC)",
    "feed_group": "the feed's folder in an OPML list, or its `group` key",
    "tag": "normalised tag",
    "item_count": "items with this tag that day in that feed",
}


def table_columns(name: str) -> list[tuple[str, str]]:
    """(column, type) pairs of a table or of the `items` view: for metadata column schemas."""
    return list(ITEM_COLUMNS) if name == "items" else _ddl_columns(name)
