"""Single flight on the event loop: one blocking call per key, shared by every request asking.

A figure that expires every second (the shared summary, a remembered token)
expires for every request in flight at once: under 128 clients, 128 requests
would each take a thread from the pool to do the same work, or to wait on a lock
for it. :class:`Flights` runs the call once in the thread pool; the requests that
ask for the same key meanwhile await that one call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from functools import partial
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

__all__ = ["Flights"]

T = TypeVar("T")


class Flights:
    """Run blocking calls in the thread pool, one at a time per key, their result shared."""

    def __init__(self) -> None:
        self._pending: dict[Hashable, asyncio.Future[Any]] = {}

    async def run(self, key: Hashable, call: Callable[[], T]) -> T:
        """Return ``call()``, run in the thread pool unless a call for ``key`` is already running.

        A request that goes away while waiting leaves the call running for the
        others; an exception the call raises reaches every request that awaited it.
        """
        pending = self._pending.get(key)
        if pending is None or pending.get_loop() is not asyncio.get_running_loop():
            pending = asyncio.ensure_future(run_in_threadpool(call))
            self._pending[key] = pending
            pending.add_done_callback(partial(self._landed, key))
        result: T = await asyncio.shield(pending)
        return result

    def _landed(self, key: Hashable, pending: asyncio.Future[Any]) -> None:
        if self._pending.get(key) is pending:
            del self._pending[key]
        if not pending.cancelled():
            pending.exception()  # retrieved: raised to every request that awaited it
