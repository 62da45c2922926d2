"""How many processes a step's CPU work gets."""

from __future__ import annotations

import multiprocessing

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
