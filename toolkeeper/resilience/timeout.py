"""Time-limited calls: a sync one waited for on a daemon thread, an async one cancelled.

Python cannot stop a thread. :func:`wait_in_thread` runs the function on a
shared worker and stops *waiting* at the timeout: the caller gets a
:class:`~toolkeeper.CallTimeoutError` promptly while the function runs on until
it returns by itself, its result discarded. :func:`await_with_timeout` cancels the awaited
work as :func:`asyncio.timeout` does, its deadline kept by one timer per event loop
(:mod:`toolkeeper.resilience.deadlines`).

The workers are not a ``ThreadPoolExecutor``: its threads are joined at
interpreter exit, so a call that hangs past its timeout would also hang the
exit of the process (a call stuck for 5 s delays exit by 5 s). Ours are daemon
threads, abandoned at exit. Otherwise the same design: a job queue, and a new
thread only when no worker is idle, up to ``max_workers``; beyond that jobs
wait in the queue, and a job whose caller timed out first is cancelled before
it starts. A job runs in a copy of the caller's ``contextvars`` context.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from toolkeeper._drivers import call_and_await
from toolkeeper._errors import CallTimeoutError
from toolkeeper.resilience.deadlines import deadlines_of

__all__ = ["DaemonPool", "await_with_timeout", "wait_in_thread"]

_Job = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DaemonPool:
    """Run callables on lazily started daemon threads; thread-safe."""

    def __init__(self, max_workers: int, name: str) -> None:
        self._max_workers = max_workers
        self._name = name
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._started = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Schedule ``fn(*args, **kwargs)`` in a copy of the caller's context."""
        future: Future[Any] = Future()
        context = contextvars.copy_context()
        self._jobs.put((future, context.run, (fn, *args), kwargs))
        if not self._idle.acquire(blocking=False):
            self._start_worker()
        return future

    def _start_worker(self) -> None:
        with self._lock:
            if self._started >= self._max_workers:
                return
            self._started += 1
            number = self._started
        worker = threading.Thread(target=self._work, name=f"{self._name}-{number}", daemon=True)
        worker.start()

    def _work(self) -> None:
        while True:
            _run(self._jobs.get())  # a helper, so no reference to the job outlives it
            self._idle.release()


def _run(job: _Job) -> None:
    future, fn, args, kwargs = job
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn(*args, **kwargs)
    except BaseException as error:  # noqa: BLE001 - handed to the waiting caller
        future.set_exception(error)
    else:
        future.set_result(result)


# Shared by every tool; a job waiting for a free worker counts against its timeout.
_WORKERS = DaemonPool(max_workers=64, name="toolkeeper-timeout")


def wait_in_thread(  # noqa: PLR0917 - the executor's one call site passes them in order
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    timeout: float,
    tool: str,
    on_done: Callable[[], None] | None = None,
) -> Any:
    """Return ``fn(*args, **kwargs)`` from a worker; raise CallTimeoutError after ``timeout``.

    ``on_done`` runs once the function has really ended (or was cancelled before
    it started), which may be after the caller timed out.
    """
    future = _WORKERS.submit(fn, *args, **kwargs)
    if on_done is not None:
        future.add_done_callback(lambda _: on_done())
    try:
        return future.result(timeout)
    except TimeoutError as error:
        if future.done() and not future.cancelled() and future.exception() is error:
            raise  # the function's own TimeoutError, not our wait running out
        future.cancel()  # succeeds only if it never started; then it never will
        raise CallTimeoutError(tool=tool, timeout_seconds=timeout) from None


async def await_with_timeout(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    timeout: float,
    tool: str,
) -> Any:
    """Return ``fn(*args, **kwargs)``, awaited; raise CallTimeoutError after ``timeout``.

    The deadline is kept by the loop's one timer (:mod:`~toolkeeper.resilience.deadlines`),
    which cancels the call as ``asyncio.timeout`` would.
    """
    task = asyncio.current_task()
    if task is None:  # not in a task (a bare coroutine driven by hand): asyncio's own timeout
        scope = asyncio.timeout(timeout)
        try:
            async with scope:
                return await call_and_await(fn, args, kwargs)
        except TimeoutError:
            if scope.expired():
                raise CallTimeoutError(tool=tool, timeout_seconds=timeout) from None
            raise  # the function's own TimeoutError
    deadline = deadlines_of(task.get_loop()).start(task, timeout)
    try:
        value = await call_and_await(fn, args, kwargs)
    except BaseException as error:
        if deadline.raised(error):
            raise CallTimeoutError(tool=tool, timeout_seconds=timeout) from None
        raise  # the function's own error (its own TimeoutError included)
    deadline.returned()
    return value
