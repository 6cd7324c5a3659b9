"""``GET /api/v1/events``: server-sent events for live pages.

Three kinds of event, each ``data`` a JSON object:

- ``tick`` every ``events_interval_seconds`` (1 s): ``{"health": <SystemHealthReport>,
  "tools": [<ToolSummary>, ...], "skipped_operations": n}``;
- ``operation`` for each operation finished since the last tick: an
  ``Operation``, at most :data:`MAX_OPERATIONS_PER_TICK` a tick (a burst beyond
  that is not replayed: ``skipped_operations`` on the next tick says at least
  how many were left out; pages reload ``/operations`` when it is not 0);
- ``config`` when a tool's configuration gets a new version, from this process
  or another: a ``ConfigVersionEntry`` (secrets only as "changed").

Each connection holds a bounded queue and polls the monitor; nothing is kept
per operation. Browsers authenticate with their session cookie.
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
from toolkeeper.keeper import Keeper
from toolkeeper.monitor.records import WrapperOperationMetrics
from toolkeeper.server.api._shared import KeeperDep
from toolkeeper.server.api._summary import SharedSummary, shared_summary
from toolkeeper.server.api.config_models import ConfigVersionEntry
from toolkeeper.server.api.models import SYSTEM_HEALTH
from toolkeeper.server.api.operations import Operation

__all__ = ["MAX_OPERATIONS_PER_TICK", "OperationCursor", "router"]

router = APIRouter(tags=["events"])

MAX_OPERATIONS_PER_TICK = 50
_CONFIG_QUEUE = 100
_RETRY_MS = 2000


class OperationCursor:
    """Remember the newest operation seen, to hand out only newer ones."""

    def __init__(self, keeper: Keeper) -> None:
        self._monitor = keeper.monitoring
        latest = self._monitor.recent_operations(limit=1)
        self._last = _key(latest[-1]) if latest else None

    def newer(self) -> tuple[list[WrapperOperationMetrics], int]:
        """Return operations finished since the last call, oldest first, and the number skipped."""
        window = self._monitor.recent_operations(limit=4 * MAX_OPERATIONS_PER_TICK)
        keys = [_key(record) for record in window]
        start = 0
        if self._last is not None and self._last in keys:
            start = len(keys) - keys[::-1].index(self._last)
        fresh = window[start:]
        if fresh:
            self._last = keys[-1]
        skipped = max(len(fresh) - MAX_OPERATIONS_PER_TICK, 0)
        return fresh[skipped:], skipped


def _key(record: WrapperOperationMetrics) -> tuple[str, str | None]:
    return record.operation_id, record.end_time.isoformat() if record.end_time else None


def _tick(shared: SharedSummary, skipped: int) -> dict[str, Any]:
    summary = shared.current()  # the same figures as /api/v1/tools and the dashboard
    return {
        "health": SYSTEM_HEALTH.dump_python(summary.health, mode="json"),
        "tools": [tool.model_dump(mode="json") for tool in summary.tools],
        "skipped_operations": skipped,
    }


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

    interval = request.app.state.settings.events_interval_seconds
    shared = shared_summary(request)
    unsubscribe = keeper.config.subscribe(on_change)
    # The stream ends when the client disconnects: Starlette cancels this generator.
    try:
        cursor = await run_in_threadpool(OperationCursor, keeper)
        yield ServerSentEvent(comment="connected", retry=_RETRY_MS)
        skipped = 0
        next_tick = loop.time()
        while True:
            if loop.time() >= next_tick:
                next_tick = loop.time() + interval
                yield ServerSentEvent(
                    event="tick", data=await run_in_threadpool(_tick, shared, skipped)
                )
                fresh, skipped = await run_in_threadpool(cursor.newer)
                for record in fresh:
                    yield ServerSentEvent(event="operation", data=_plain(Operation.of(record)))
            with contextlib.suppress(TimeoutError):
                version = await asyncio.wait_for(changes.get(), max(next_tick - loop.time(), 0.0))
                yield ServerSentEvent(event="config", data=_plain(ConfigVersionEntry.of(version)))
    finally:
        unsubscribe()


def _plain(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
