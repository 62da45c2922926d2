"""Progress lines: a start line, at least one line per `every` seconds while a stage runs, a done line."""

from __future__ import annotations

import threading

from feeds_etl import progress


def test_a_stage_logs_its_start_its_progress_and_its_end() -> None:
    lines: list[str] = []
    ticked = threading.Event()

    def log(line: str) -> None:
        lines.append(line)
        if "of 3 feeds" in line and "done" not in line:
            ticked.set()

    with progress.reporting(progress.Progress(log, bar=False, every=0.01)):
        stage = progress.stage("fetch", 3, "feeds")
        stage.advance()
        assert ticked.wait(5)  # the ticker reports while nothing advances
        stage.advance(2)
    assert lines[0] == "fetch: 3 feeds to do"
    assert any(line.startswith("fetch: 1 of 3 feeds (33%)") for line in lines)
    assert lines[-1].startswith("fetch: 3 of 3 feeds (100%)") and lines[-1].endswith(", done")


def test_outside_reporting_stages_are_silent_and_empty_stages_say_nothing() -> None:
    lines: list[str] = []
    progress.stage("parse", 5, "bodies").advance(5)  # the default progress logs nowhere
    with progress.reporting(progress.Progress(lines.append, bar=False)):
        progress.stage("clean", 0, "items")
    assert lines == []


def test_a_terminal_gets_a_bar(capsys) -> None:
    with progress.reporting(progress.Progress(bar=True)):
        stage = progress.stage("clean", 4, "items")
        stage.advance(4)
    assert "clean" in capsys.readouterr().err
