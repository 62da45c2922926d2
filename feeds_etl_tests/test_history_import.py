"""History import through the real assets: older WordPress pages land in `items`, once per feed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from feeds_etl_tests.conftest import Project

PAGES = 4
PER_PAGE = 5


def page_xml(page: int) -> bytes:
    items = "".join(
        f"""<item><title>Story {n}</title><link>http://127.0.0.1/story/{n}</link>
            <guid isPermaLink="false">http://127.0.0.1/?p={n}</guid>
            <pubDate>Mon, {1 + n % 28:02d} Jun 2026 10:00:00 +0000</pubDate>
            <category>Page {page}</category><description>Body of story {n}.</description></item>"""
        for n in range((page - 1) * PER_PAGE, page * PER_PAGE)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>WP</title>'
        f"<generator>https://wordpress.org/?v=6.5</generator>{items}</channel></rss>"
    ).encode()


class WordPressPager(BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        WordPressPager.requests.append(self.path)
        page = int(parse_qs(urlsplit(self.path).query).get("paged", ["1"])[0])
        if page > PAGES:
            self.send_error(404)
            return
        body = page_xml(page)
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def pager() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), WordPressPager)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    WordPressPager.requests = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/feed/"
    finally:
        server.shutdown()
        server.server_close()


def test_history_import_pulls_older_pages_once(project: Project, pager: str, current_hour: str) -> None:
    project.write_feeds(
        [
            {"name": "wp", "url": pager, "history": {"mode": "wordpress", "max_pages": 10}},
            {"name": "plain", "url": pager},
        ]
    )
    assert project.materialize(current_hour).success
    counts = dict(project.query("SELECT feed_id, count(*) FROM items GROUP BY ALL"))
    assert counts == {"wp": PAGES * PER_PAGE, "plain": PER_PAGE}
    assert project.query("SELECT pages, error FROM history_imports WHERE feed_id = 'wp'") == [(PAGES - 1, None)]
    assert project.query("SELECT count(*) FROM feed_snapshots WHERE outcome = 'history'")[0][0] == PAGES - 1

    WordPressPager.requests = []
    assert project.materialize(current_hour).success
    assert all("paged" not in path for path in WordPressPager.requests)  # imported once, not every hour
    assert dict(project.query("SELECT feed_id, count(*) FROM items GROUP BY ALL"))["wp"] == PAGES * PER_PAGE


def test_history_import_job_imports_again(project: Project, pager: str, current_hour: str) -> None:
    from feeds_etl.definitions import defs

    project.write_feeds([{"name": "wp", "url": pager, "history": {"mode": "wordpress", "max_pages": 2}}])
    assert project.materialize(current_hour).success
    WordPressPager.requests = []
    job = defs.resolve_job_def("history_import_job")
    result = job.execute_in_process(partition_key=current_hour, resources=project.resources())
    assert result.success
    assert any("paged=2" in path for path in WordPressPager.requests)
    assert project.query("SELECT count(*) FROM items")[0][0] == 2 * PER_PAGE
