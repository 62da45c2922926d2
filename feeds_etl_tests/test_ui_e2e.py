"""The Dagster UI as the cockpit, tested in a real browser.

Starts `make ui` (the README path) on a free loopback port with a throwaway DAGSTER_HOME and database, checks
the definitions through GraphQL and in headless Chromium, launches a backfill of the latest partition through
the GraphQL API, waits for it to succeed and reads the rows back from DuckDB. Screenshots land in tmp_path.

Needs Debian's Chromium at /usr/bin/chromium (`apt-get install chromium`); Playwright cannot download browsers
here. Everything is bounded by DEADLINE_S (polling, never fixed sleeps) plus the teardown grace period.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

from feeds_etl.warehouse import LakeConfig
from feeds_etl.warehouse.readers import connect

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",  # loopback only, whatever the environment's proxy settings say
]
ASSETS = ("raw_feed_xml", "parsed_items", "cleaned_text", "tag_aggregates")
SCHEDULE = "feeds_hourly_job_schedule"
COMPACTION_SCHEDULE = "daily_lake_maintenance"
SENSOR = "feed_list_changes"

DEADLINE_S = 240.0  # start-up, checks, backfill and browser work together; teardown comes on top
TERM_GRACE_S = 60.0  # dagster dev can take a while to stop its webserver, daemon and code servers
POLL_S = 0.5
# raw_feed_xml fetches only for the hour under way. A run that starts after its hour has ended archives nothing,
# so the test does not launch within this many seconds of the end of an hour (it waits for the next one).
HOUR_MARGIN_S = 120.0
# No proxy from the environment may see our loopback requests.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))
T = TypeVar("T")


class Deadline:
    """One time budget shared by every wait in the test."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() == 0.0


@dataclass
class DagsterUI:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    lake: LakeConfig
    deadline: Deadline
    location: str = field(default="")

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with _HTTP.open(request, timeout=min(30.0, max(1.0, self.deadline.remaining()))) as response:
            payload = json.load(response)
        assert not payload.get("errors"), f"GraphQL errors: {payload['errors']}"
        return payload["data"]

    def wait_for(self, what: str, probe: Callable[[], T | None], interval: float = POLL_S) -> T:
        """Polls `probe()` until it returns something truthy; fails with the server log on timeout or exit."""
        last_error: BaseException | None = None
        while not self.deadline.expired():
            if self.process.poll() is not None:
                pytest.fail(
                    f"the UI server exited ({self.process.returncode}) while waiting for {what}:\n{self.log_tail()}"
                )
            try:
                result = probe()
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                last_error, result = exc, None
            if result:
                return result
            time.sleep(interval)
        pytest.fail(f"timed out waiting for {what} (last error: {last_error!r}):\n{self.log_tail()}")


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _live_members(pgid: int) -> list[int]:
    """Processes of the group that are not zombies (zombies are gone for every practical purpose)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ')'.
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole process group, give it TERM_GRACE_S, then SIGKILL whatever is left."""
    pgid = process.pid  # start_new_session=True: the child leads its own group
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    end = time.monotonic() + TERM_GRACE_S
    while time.monotonic() < end:
        process.poll()  # reap `make` itself
        if not _live_members(pgid):
            break
        time.sleep(POLL_S)
    else:
        leftover = _live_members(pgid)
        print(f"process group {pgid} still had {leftover} after {TERM_GRACE_S:.0f}s; sending SIGKILL")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def _get_ok(url: str) -> bool:
    with _HTTP.open(url, timeout=5) as response:
        return response.status == 200


def _ui_command(port: int) -> list[str]:
    """`make ui` as the README says; plain `dagster dev` when this interpreter is not the repo's .venv."""
    if shutil.which("make") and (REPO_ROOT / ".venv" / "bin" / "dagster").exists():
        # -o: never let the test (re)install packages; the venv running the test is the one to serve.
        return ["make", "--no-print-directory", "-o", ".venv/.installed", "ui", "HOST=127.0.0.1", f"PORT={port}"]
    return [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]


@pytest.fixture
def dagster_ui(tmp_path: Path) -> Iterator[DagsterUI]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's Chromium with `apt-get install chromium`")
    pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency: pip install -e '.[dev]'")
    deadline = Deadline(DEADLINE_S)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    lake = LakeConfig(str(tmp_path / "feeds.sqlite"), f"{tmp_path / 'lake'}/")
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    env.update(
        DAGSTER_HOME=str(home),
        FEEDS_ETL_CATALOG=lake.catalog,
        FEEDS_ETL_DATA_PATH=lake.data_path,
        FEEDS_ETL_DATABASE=str(tmp_path / "feeds.duckdb"),
        FEEDS_ETL_FEEDS=str(REPO_ROOT / "data" / "feeds.yaml"),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    port = _free_loopback_port()
    log_path = tmp_path / "dagster_dev.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _ui_command(port),
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ui = DagsterUI(f"http://127.0.0.1:{port}", process, log_path, lake, deadline)
    started = time.monotonic()
    try:
        ui.wait_for("the webserver", lambda: _get_ok(f"{ui.base_url}/server_info"))
        ui.location = ui.wait_for("the code location to load", lambda: _loaded_location(ui))
        print(f"\n`{' '.join(_ui_command(port))}` ready in {time.monotonic() - started:.1f}s")
        yield ui
    finally:
        stopping = time.monotonic()
        _stop_group(process)
        print(f"process group stopped in {time.monotonic() - stopping:.1f}s; server log: {log_path}")


def _loaded_location(ui: DagsterUI) -> str | None:
    """The code location's name once its repository serves all four assets, else None."""
    data = ui.graphql(
        """{ repositoriesOrError { __typename ... on RepositoryConnection {
             nodes { name location { name } assetNodes { assetKey { path } } } } } }"""
    )
    repositories = data["repositoriesOrError"]
    for repo in repositories.get("nodes", []):
        if {"/".join(node["assetKey"]["path"]) for node in repo["assetNodes"]} >= set(ASSETS):
            return repo["location"]["name"]
    return None


DEFINITIONS_QUERY = """
{
  assetNodes {
    assetKey { path }
    description groupName kinds opVersion isPartitioned
    partitionKeyConnection(limit: 1, ascending: false) { results }
    metadataEntries {
      __typename label
      ... on TableSchemaMetadataEntry { schema { columns { name type } } }
    }
    assetChecksOrError { __typename ... on AssetChecks { checks { name description } } }
  }
  repositories: repositoriesOrError { ... on RepositoryConnection { nodes {
    schedules { name cronSchedule scheduleState { status } }
    sensors { name sensorState { status } }
  } } }
}
"""

LAUNCH_BACKFILL = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""

BACKFILL_STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status partitionNames runs(limit: 10) { runId status } error { message } }
    ... on PythonError { message }
  }
}
"""

MATERIALIZATIONS = """
query Materialized($partition: String!) {
  assetNodes {
    assetKey { path }
    assetMaterializations(partitions: [$partition], limit: 1) {
      partition runId
      metadataEntries { __typename label ... on IntMetadataEntry { intValue } }
    }
    assetChecksOrError { ... on AssetChecks { checks {
      name executionForLatestMaterialization { status runId evaluation { severity } }
    } } }
  }
}
"""

BACKFILL_DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def _by_asset(nodes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {"/".join(node["assetKey"]["path"]): node for node in nodes}


def _check_definitions(ui: DagsterUI) -> str:
    """Every asset is documented and typed the way the UI shows it; returns the latest partition key."""
    data = ui.graphql(DEFINITIONS_QUERY)
    nodes = _by_asset(data["assetNodes"])
    assert set(nodes) == set(ASSETS)
    latest_keys = set()
    for name, node in nodes.items():
        assert node["description"], f"{name} has no description"
        assert node["groupName"] == "feeds", f"{name} is in group {node['groupName']!r}"
        assert node["kinds"], f"{name} has no kinds"
        assert node["opVersion"], f"{name} has no code version"
        assert node["isPartitioned"], f"{name} is not partitioned"
        schemas = [e for e in node["metadataEntries"] if e["label"] == "dagster/column_schema"]
        assert schemas and schemas[0]["__typename"] == "TableSchemaMetadataEntry", f"{name}: no column schema"
        assert schemas[0]["schema"]["columns"], f"{name}: empty column schema"
        checks = node["assetChecksOrError"]
        assert checks["__typename"] == "AssetChecks" and checks["checks"], f"{name} has no asset checks"
        for check in checks["checks"]:
            assert check["description"], f"check {name}/{check['name']} has no description"
        latest_keys.update(node["partitionKeyConnection"]["results"])
    assert len(latest_keys) == 1, f"assets disagree on the latest partition: {latest_keys}"

    (repo,) = data["repositories"]["nodes"]
    schedules = {s["name"]: s for s in repo["schedules"]}
    sensors = {s["name"]: s for s in repo["sensors"]}
    assert SCHEDULE in schedules, f"no {SCHEDULE}: {sorted(schedules)}"
    assert schedules[SCHEDULE]["scheduleState"]["status"] == "RUNNING"
    assert schedules[COMPACTION_SCHEDULE]["scheduleState"]["status"] == "RUNNING"
    assert SENSOR in sensors, f"no {SENSOR}: {sorted(sensors)}"
    assert sensors[SENSOR]["sensorState"]["status"] == "RUNNING"
    return latest_keys.pop()


def _wait_out_hour_boundary(ui: DagsterUI) -> None:
    """Near the end of an hour, wait for the next one and give the deadline the time waited."""
    now = datetime.now(UTC)
    left = 3600 - (now.minute * 60 + now.second + now.microsecond / 1e6)
    if left > HOUR_MARGIN_S:
        return
    print(f"{left:.0f}s left in hour {now:%H}:00: waiting for the next hour before launching the backfill")
    ui.deadline.end += left + 5
    ui.wait_for("the next hour", lambda: datetime.now(UTC).hour != now.hour)


def _launch_backfill(ui: DagsterUI, partition: str) -> str:
    params = {
        "assetSelection": [{"path": [name]} for name in ASSETS],
        "partitionNames": [partition],
        "title": "test_ui_e2e: latest partition",
    }
    result = ui.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", f"backfill not launched: {result}"
    return result["backfillId"]


def _wait_for_backfill(ui: DagsterUI, backfill_id: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        backfill = ui.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        assert backfill["__typename"] == "PartitionBackfill", backfill
        return backfill if backfill["status"] in BACKFILL_DONE else None

    return ui.wait_for(f"backfill {backfill_id}", finished, interval=1.0)


def _check_materializations(ui: DagsterUI, partition: str) -> dict[str, tuple[int, int]]:
    """Each asset's materialization of `partition` has a row count and passing checks.

    Returns {asset: (dagster/row_count, number of checks)} for what the browser should then show.
    """
    nodes = _by_asset(ui.graphql(MATERIALIZATIONS, {"partition": partition})["assetNodes"])
    shown = {}
    for name in ASSETS:
        (event,) = nodes[name]["assetMaterializations"] or [None]
        assert event and event["partition"] == partition, f"{name} has no materialization for {partition}"
        counts = {e["label"]: e.get("intValue") for e in event["metadataEntries"]}
        row_count = counts.get("dagster/row_count")
        assert isinstance(row_count, int), f"{name}: no dagster/row_count in {counts}"
        checks = nodes[name]["assetChecksOrError"]["checks"]
        for check in checks:
            execution = check["executionForLatestMaterialization"]
            assert execution, f"check {name}/{check['name']} did not run with the backfill"
            assert execution["status"] == "SUCCEEDED", f"check {name}/{check['name']}: {execution}"
        shown[name] = (row_count, len(checks))
    return shown


def test_ui_cockpit_in_a_real_browser(dagster_ui: DagsterUI, tmp_path: Path) -> None:
    from playwright.sync_api import Page, Route, expect, sync_playwright
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    ui = dagster_ui
    started = time.monotonic()
    _wait_out_hour_boundary(ui)
    partition = _check_definitions(ui)
    print(f"code location {ui.location!r}; latest partition {partition}")
    # Launched first: the backfill daemon picks it up on its next 30-second tick while the browser looks around.
    backfill_id = _launch_backfill(ui, partition)
    launched = time.monotonic()

    blocked: list[str] = []

    def loopback_only(route: Route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname in {"127.0.0.1", "localhost"}:
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    def ms() -> float:
        return max(1000.0, ui.deadline.remaining() * 1000)

    def open_page(page: Page, path: str) -> None:
        page.goto(f"{ui.base_url}{path}", wait_until="domcontentloaded", timeout=ms())

    def see(page: Page, *texts: str) -> None:
        for text in texts:
            page.get_by_text(text, exact=True).first.wait_for(timeout=ms())

    screenshots: list[Path] = []

    def screenshot(page: Page, name: str) -> None:
        path = tmp_path / "screenshots" / f"{name}.png"
        page.screenshot(path=str(path))
        screenshots.append(path)
        print(f"screenshot: {path}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            context.route("**/*", loopback_only)
            page = context.new_page()
            group_graph = f"/locations/{ui.location}/asset-groups/feeds"

            # The asset graph: four nodes, once the first-visit "Join the Dagster community" dialog is skipped.
            open_page(page, group_graph)
            with contextlib.suppress(PlaywrightTimeout):  # no dialog this time
                page.get_by_role("dialog").get_by_role("button", name="Skip").click(timeout=min(ms(), 15_000))
            see(page, *ASSETS)
            assert page.get_by_role("dialog").count() == 0, "a dialog still covers the asset graph"
            screenshot(page, "asset_graph_first_visit")

            # The hourly schedule is RUNNING in the UI (its switch is on), as GraphQL said; the sensor is listed.
            open_page(page, f"/locations/{ui.location}/schedules/{SCHEDULE}")
            page.get_by_text(SCHEDULE).first.wait_for(timeout=ms())  # the breadcrumb "Automation / <name>"
            see(page, "Running")
            switch = page.locator("tr", has=page.get_by_text("Running", exact=True)).locator("input[type=checkbox]")
            assert switch.first.is_checked(), "the schedule's Running switch is off"
            open_page(page, "/automation")
            see(page, SCHEDULE, COMPACTION_SCHEDULE, SENSOR, "Standard sensor")
            # All three rows loaded with their switches on (no row is selected: these are the only checked boxes).
            expect(page.locator("input[type=checkbox]:checked")).to_have_count(3, timeout=ms())
            screenshot(page, "automation")

            # The backfill of the latest partition, launched through GraphQL above, completes successfully.
            backfill = _wait_for_backfill(ui, backfill_id)
            print(f"backfill {backfill_id} {backfill['status']} {time.monotonic() - launched:.1f}s after launch")
            assert backfill["status"] in {"COMPLETED", "COMPLETED_SUCCESS"}, f"backfill failed: {backfill}"
            assert backfill["runs"] and all(run["status"] == "SUCCESS" for run in backfill["runs"]), backfill
            shown = _check_materializations(ui, partition)

            # What the UI shows afterwards: every node's checks passed, and an asset page with row count and columns.
            open_page(page, group_graph)
            see(page, *ASSETS, *{f"{n} / {n} Passed" for _, n in shown.values()})
            screenshot(page, "asset_graph")
            open_page(page, "/assets/parsed_items")
            see(page, "Row count", f"{shown['parsed_items'][0]:,}", "Columns", "item_id", "first_seen_at")
            screenshot(page, "asset_parsed_items")

            # The top tags' Markdown (a table and an SVG chart) renders, the chart as a loaded image.
            open_page(page, "/assets/tag_aggregates")
            page.get_by_text("Show Markdown").first.click(timeout=ms())
            chart = page.get_by_role("dialog").locator("img[alt='top tags']")
            chart.wait_for(timeout=ms())
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=chart.element_handle())
            screenshot(page, "top_tags_chart")
        finally:
            browser.close()

    with connect(read_only=True, config=ui.lake) as con:
        items = con.execute("SELECT count(*) FROM items").fetchone()[0]
        feeds = con.execute("SELECT count(*) FROM feed_health").fetchone()[0]
    print(f"{items} items from {feeds} feeds in {ui.lake.catalog}; test body took {time.monotonic() - started:.1f}s")
    if blocked:
        print(f"blocked {len(blocked)} non-loopback request(s), e.g. {blocked[:3]}")
    assert items > 0
    assert all(path.stat().st_size > 0 for path in screenshots)
