"""Run a test's worker in several spawned processes that start together."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any


def run_in_processes(target: Callable[..., None], count: int, *args: Any) -> list[tuple[str, Any]]:
    """Run ``target(*args, barrier, results)`` in ``count`` spawned processes; return outcomes.

    Each worker waits on ``barrier`` before its work and puts one ``(status, detail)``
    on ``results``; every process must exit cleanly.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(count)
    results = context.Queue()
    processes = [
        context.Process(target=target, args=(*args, barrier, results)) for _ in range(count)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=240) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return outcomes
