"""``GET /api/v1/events``: server-sent events for live pages.

Three kinds of event, each ``data`` a JSON object:

- ``tick`` every ``events_interval_seconds`` (1 s): ``{"health": <SystemHealthReport>,
  "tools": [<ToolSummary>, ...], "skipped_operations": n}``, its ``id`` the tick's
  number (the same tick has the same id on every connection);
- ``operation`` for each operation finished since the last tick: an
  ``Operation``, at most :data:`MAX_OPERATIONS_PER_TICK` a tick (a burst beyond
  that is not replayed: ``skipped_operations`` on the tick says at least
  how many were left out; pages reload ``/operations`` when it is not 0);
- ``config`` when a tool's configuration gets a new version, from this process
  or another: a ``ConfigVersionEntry`` (secrets only as "changed").

Ticks are built once per interval for every connection
(:class:`~toolkeeper.server.api._ticks.TickBroadcast`): the same encoded JSON
goes to each, and its figures are the shared summary's, the ones
``/api/v1/tools`` and the dashboard show. Each connection holds a bounded queue
of configuration changes; nothing is kept per operation. Browsers authenticate
with their session cookie.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from toolkeeper.config.live import ConfigVersion
from toolkeeper.server.api._shared import KeeperDep
from toolkeeper.server.api._ticks import MAX_OPERATIONS_PER_TICK, OperationCursor, TickBroadcast
from toolkeeper.server.api.config_models import ConfigVersionEntry

__all__ = ["MAX_OPERATIONS_PER_TICK", "OperationCursor", "router", "ticks_of"]

router = APIRouter(tags=["events"])

_CONFIG_QUEUE = 100
_RETRY_MS = 2000


def ticks_of(request: Request) -> TickBroadcast:
    """Return the tick broadcast of the app serving ``request``."""
    ticks: TickBroadcast = request.app.state.ticks
    return ticks


@router.get(
    "/events",
    response_class=EventSourceResponse,
    summary="Live events (server-sent)",
    responses={200: {"description": "text/event-stream of tick, operation and config events."}},
)
async def events(request: Request, keeper: KeeperDep) -> AsyncIterator[ServerSentEvent]:
    """Stream ``tick``, ``operation`` and ``config`` events until the client goes away."""
    loop = asyncio.get_running_loop()
    changes: asyncio.Queue[ConfigVersion] = asyncio.Queue(maxsize=_CONFIG_QUEUE)

    def offer(version: ConfigVersion) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            changes.put_nowait(version)

    def on_change(version: ConfigVersion) -> None:
        # Called from whichever thread stored or noticed the version.
        with contextlib.suppress(RuntimeError):  # the loop closed: the stream is over
            loop.call_soon_threadsafe(offer, version)

    broadcast = ticks_of(request)
    unsubscribe = keeper.config.subscribe(on_change)
    # The stream ends when the client disconnects: Starlette cancels this generator.
    try:
        yield ServerSentEvent(comment="connected", retry=_RETRY_MS)
        last: int | None = None
        while True:
            if last is None or broadcast.number_now() > last:
                # Built once for every connection: the first to need it builds it, in a thread.
                ticks = None if last is None else broadcast.built(last)
                if not ticks:
                    ticks = await run_in_threadpool(broadcast.since, last)
                yield ServerSentEvent(
                    event="tick", raw_data=ticks[-1].data, id=str(ticks[-1].number)
                )
                for tick in ticks:  # a connection that fell behind still sends every operation
                    for operation in tick.operations:
                        yield ServerSentEvent(event="operation", raw_data=operation)
                last = ticks[-1].number
            with contextlib.suppress(TimeoutError):
                version = await asyncio.wait_for(changes.get(), broadcast.seconds_until(last + 1))
                yield ServerSentEvent(event="config", data=_plain(ConfigVersionEntry.of(version)))
    finally:
        unsubscribe()


def _plain(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
