"""Schema upgrades of an existing working database."""

from __future__ import annotations

from pathlib import Path

import duckdb

from feeds_etl.warehouse.schema import SCHEMA_VERSION
from feeds_etl.warehouse.store import migrate


def test_version_7_database_gains_has_body_from_its_bodies(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            """CREATE TABLE feed_snapshots (snapshot_id VARCHAR NOT NULL, feed_id VARCHAR NOT NULL,
               partition_key VARCHAR NOT NULL, fetched_at TIMESTAMPTZ NOT NULL, url VARCHAR NOT NULL,
               final_url VARCHAR, http_status INTEGER, etag VARCHAR, last_modified VARCHAR, content_type VARCHAR,
               content_sha256 VARCHAR, body BLOB, body_bytes BIGINT, outcome VARCHAR NOT NULL, error VARCHAR,
               elapsed_ms DOUBLE)"""
        )
        con.execute(
            """INSERT INTO feed_snapshots VALUES
               ('a', 'f', '2026-11-24-10:00', now(), 'u', NULL, 200, NULL, NULL, NULL, 'h1', 'x'::BLOB, 1, 'new',
                NULL, 1.0),
               ('b', 'f', '2026-11-24-11:00', now(), 'u', NULL, 304, NULL, NULL, NULL, 'h1', NULL, NULL,
                'not_modified', NULL, 1.0)"""
        )
        con.execute("CREATE TABLE _meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("INSERT INTO _meta VALUES ('schema_version', '7')")
    with duckdb.connect(str(path)) as con:
        migrate(con)
        assert con.execute("SELECT snapshot_id, has_body FROM feed_snapshots ORDER BY 1").fetchall() == [
            ("a", True),
            ("b", False),
        ]
        assert con.execute("SELECT value FROM _meta").fetchall() == [(str(SCHEMA_VERSION),)]
