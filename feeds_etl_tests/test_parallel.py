"""How many processes a step's CPU work gets."""

from __future__ import annotations

import multiprocessing

import pytest

from feeds_etl import parallel


def _workers_in_child(queue: multiprocessing.Queue) -> None:
    queue.put(parallel.workers_for(10, 1, 4))


def test_small_work_stays_in_process_and_big_work_gets_the_workers() -> None:
    assert parallel.workers_for(10, 100, 4) == 1
    assert parallel.workers_for(100, 100, 4) == 4


def test_a_daemonic_process_works_in_process() -> None:
    """A Celery worker's pool processes are daemonic and may not start processes: their steps work in-process."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_workers_in_child, args=(queue,), daemon=True)
    child.start()
    assert queue.get(timeout=60) == 1
    child.join(timeout=60)
    child = context.Process(target=_workers_in_child, args=(queue,), daemon=False)
    child.start()
    assert queue.get(timeout=60) == 4
    child.join(timeout=60)


def test_prestarted_workers_are_the_ones_the_work_then_uses() -> None:
    parallel._shutdown()
    starting = parallel.prestart(2)
    assert starting is not None and parallel.prestart(1) is None  # in-process work needs no workers
    starting.join(timeout=60)
    started = set(parallel._pools[2]._processes)
    assert len(started) == 2
    assert parallel.prestart(2) is None  # the pool is there: nothing more to start
    assert parallel.start_slices(len, list(range(100)), 2).result() == [6] * 16 + [4]
    assert set(parallel._pools[2]._processes) == started


def test_the_fetch_warms_the_workers_up_once_the_parse_will_want_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from feeds_etl.steps.parse import PARALLEL_PARSE_BYTES, warm_up_workers

    monkeypatch.setenv("FEEDS_ETL_WORKERS", "2")
    parallel._shutdown()
    assert warm_up_workers(PARALLEL_PARSE_BYTES - 1) is None  # a steady hour's few bodies parse in-process
    starting = warm_up_workers(PARALLEL_PARSE_BYTES)
    assert starting is not None
    starting.join(timeout=60)
    assert len(parallel._pools[2]._processes) == 2
    assert warm_up_workers(2 * PARALLEL_PARSE_BYTES) is None  # the next batches: already started
    parallel._shutdown()
