"""Run the demo workload on its own event loop in a background thread, and stop it cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any, Self

from toolkeeper.demo.workload import WorkloadStats, run_demo

if TYPE_CHECKING:
    from toolkeeper.keeper import Keeper

__all__ = ["RunningWorkload", "start_workload"]

logger = logging.getLogger(__name__)


class RunningWorkload:
    """A :func:`~toolkeeper.demo.workload.run_demo` running in a daemon thread.

    :attr:`stats` are live. :meth:`stop` asks the users to finish their current
    request, waits for the thread, and re-raises anything that crashed it.
    """

    def __init__(self, keeper: Keeper, options: dict[str, Any]) -> None:
        self.stats = WorkloadStats()
        self._keeper = keeper
        self._options = options
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="toolkeeper-demo", daemon=True)

    def _start(self) -> Self:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as error:  # kept for stop() to re-raise in the caller's thread
            self._error = error
            logger.exception("the demo workload stopped on an unexpected error")
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await run_demo(self._keeper, stop_event=self._stop, stats=self.stats, **self._options)

    @property
    def running(self) -> bool:
        """Tell whether the workload is still running."""
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the workload to end by itself (its duration is over, or it failed).

        Returns whether it has ended; :meth:`stop` then returns its stats or raises its error.
        """
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> WorkloadStats:
        """Stop the workload, wait up to ``timeout`` seconds for it, and return its stats."""
        self._ready.wait(timeout)
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already finished and closed
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the demo workload did not stop within {timeout:g}s")
        if self._error is not None:
            raise self._error
        return self.stats

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningWorkload(running={self.running}, stats={self.stats!r})"


def start_workload(
    keeper: Keeper,
    *,
    users: int = 8,
    rate: float = 6.0,
    duration: float | None = None,
    seed: int | None = None,
) -> RunningWorkload:
    """Start the demo workload in a background thread; call ``stop()`` on the result to end it."""
    options = {"users": users, "rate": rate, "duration": duration, "seed": seed}
    return RunningWorkload(keeper, options)._start()
