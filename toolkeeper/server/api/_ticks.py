"""The event stream's ticks, built once per interval for every connection.

:class:`TickBroadcast` numbers ticks by the clock (tick ``n`` is due at
``n * interval`` seconds of ``time.monotonic()``). The first connection that
needs tick ``n`` builds it; every other connection sends the same encoded JSON.
A tick holds the shared summary (:mod:`toolkeeper.server.api._summary`, so the
stream shows what ``/api/v1/tools`` and the dashboard show) and the operations
finished since the tick before, read once through one :class:`OperationCursor`.
The last :data:`KEPT_TICKS` ticks are kept, so a connection that fell behind
still sends every operation it has not sent.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass

from toolkeeper.keeper import Keeper
from toolkeeper.monitor.records import WrapperOperationMetrics
from toolkeeper.server.api._summary import SharedSummary
from toolkeeper.server.api.models import SYSTEM_HEALTH
from toolkeeper.server.api.operations import Operation

__all__ = ["KEPT_TICKS", "MAX_OPERATIONS_PER_TICK", "OperationCursor", "Tick", "TickBroadcast"]

MAX_OPERATIONS_PER_TICK = 50
KEPT_TICKS = 16


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


@dataclass(frozen=True, slots=True)
class Tick:
    """One tick, encoded once: its ``tick`` event's data and its operations' data, as JSON."""

    number: int
    data: str
    operations: tuple[str, ...]


class TickBroadcast:
    """Build each tick once, whatever the number of connections; keep the last few."""

    def __init__(self, keeper: Keeper, summary: SharedSummary, *, interval_s: float) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be positive, got {interval_s!r}")
        self._keeper = keeper
        self._summary = summary
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._ticks: deque[Tick] = deque(maxlen=KEPT_TICKS)
        self._cursor: OperationCursor | None = None

    def number_now(self) -> int:
        """Return the number of the tick due now (the latest whose time has come)."""
        return math.floor(time.monotonic() / self.interval_s)

    def seconds_until(self, number: int) -> float:
        """Return how long until tick ``number`` is due (0 when it is)."""
        return max(number * self.interval_s - time.monotonic(), 0.0)

    def built(self, after: int | None) -> list[Tick] | None:
        """Return the kept ticks after ``after`` if the tick due now is built; never blocks."""
        ticks = self._ticks
        if not ticks or ticks[-1].number < self.number_now():
            return None
        return [tick for tick in list(ticks) if after is None or tick.number > after]

    def since(self, after: int | None) -> list[Tick]:
        """Return the kept ticks after ``after`` (``None``: the latest only), building the one due.

        One caller builds a tick; the others wait for it and share it.
        """
        with self._lock:
            number = self.number_now()
            if not self._ticks or self._ticks[-1].number < number:
                self._ticks.append(self._build(number))
            ticks = list(self._ticks)
        if after is None:
            return [_without_operations(ticks[-1])]
        return [tick for tick in ticks if tick.number > after]

    def _build(self, number: int) -> Tick:
        fresh: list[WrapperOperationMetrics] = []
        skipped = 0
        if self._cursor is None:  # operations are those finished once the stream is watched
            self._cursor = OperationCursor(self._keeper)
        else:
            fresh, skipped = self._cursor.newer()
        summary = self._summary.current()
        data = json.dumps({
            "health": SYSTEM_HEALTH.dump_python(summary.health, mode="json"),
            "tools": [tool.model_dump(mode="json") for tool in summary.tools],
            "skipped_operations": skipped,
        })  # fmt: skip
        operations = tuple(Operation.of(record).model_dump_json() for record in fresh)
        return Tick(number, data, operations)


def _without_operations(tick: Tick) -> Tick:
    """Return ``tick`` for a connection that just joined: its figures, not earlier operations."""
    return Tick(tick.number, tick.data, ())
