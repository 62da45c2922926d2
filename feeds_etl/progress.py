"""How far a step is: a progress bar in a terminal (tqdm), and a line in the run's log at least every 10 s.

Steps report what they count (feeds fetched, bodies parsed, items cleaned) to the current `Progress`; they know
nothing of Dagster. An asset makes one that writes to the step's log (`reporting`), so the UI shows the lines.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from tqdm import tqdm

LOG_EVERY_SECONDS = 10.0


class Progress:
    """Where progress lines go (`log`), and whether a terminal bar is drawn too (stderr is a terminal)."""

    def __init__(
        self,
        log: Callable[[str], None] = lambda line: None,
        bar: bool | None = None,
        every: float = LOG_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # `every` in seconds; `clock` only dates the lines (tests pass their own)
        self.log, self.every, self.clock = log, every, clock
        self.bar = sys.stderr.isatty() if bar is None else bar

    def stage(self, name: str, total: int, unit: str) -> Stage:
        """One counted stage of a step, e.g. `stage("fetch", 1000, "feeds")`: it ends when all are counted."""
        return Stage(self, name, total, unit)


class Stage:
    """Counts one stage; while it runs, a line goes to the log every `every` seconds, however slow the work."""

    def __init__(self, progress: Progress, name: str, total: int, unit: str) -> None:
        self.progress, self.name, self.total, self.unit = progress, name, total, unit
        self.done = 0
        self._started = progress.clock()
        self._finished = threading.Event()
        self._bar = tqdm(total=total, desc=name, unit=f" {unit}", leave=False) if progress.bar and total else None
        if not total:
            self._finished.set()
            return
        progress.log(f"{name}: {total:,} {unit} to do")
        threading.Thread(target=self._tick, name=f"progress-{name}", daemon=True).start()

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
        if self.done >= self.total and not self._finished.is_set():
            self._finished.set()
            if self._bar is not None:
                self._bar.close()
            self.progress.log(self.line() + ", done")

    def line(self) -> str:
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        elapsed = self.progress.clock() - self._started
        return f"{self.name}: {self.done:,} of {self.total:,} {self.unit}{share}, {elapsed:.0f} s"

    def _tick(self) -> None:
        while not self._finished.wait(self.progress.every):
            self.progress.log(self.line())


_SILENT = Progress(bar=False)
_current: ContextVar[Progress | None] = ContextVar("feeds_etl_progress", default=None)


@contextmanager
def reporting(progress: Progress) -> Iterator[Progress]:
    """Steps run inside the block report to `progress`."""
    token = _current.set(progress)
    try:
        yield progress
    finally:
        _current.reset(token)


def stage(name: str, total: int, unit: str) -> Stage:
    """A stage of the current progress (silent outside `reporting`)."""
    return (_current.get() or _SILENT).stage(name, total, unit)
