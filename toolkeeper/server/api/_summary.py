"""One summary of every tool, shared by the API, the event stream and the dashboard.

:class:`SharedSummary` keeps the latest :class:`Summary`: every tool's card and
the system's health, with the ``/api/v1/tools`` body already encoded and its
ETag. It is computed again only when it is older than ``max_age_s`` (at most the
event stream's tick) or when the monitor's figures changed since (an operation
recorded here, or other processes' history read from the store:
:meth:`~toolkeeper.monitor.performance.PerformanceMonitor.changes`) or the
configuration did. However many requests ask at once, one computes it and the
others wait for that one (single flight): :meth:`SharedSummary.current` for
threads, :meth:`SharedSummary.acurrent` for requests on the event loop, which
share one computation in the thread pool rather than each taking a thread. So
every view shows the same numbers, and a request costs a comparison, not ten
tools' windows merged afresh.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

from fastapi import Request

from toolkeeper.config.live import ConfigVersion
from toolkeeper.keeper import Keeper
from toolkeeper.monitor.reports import SystemHealthReport, WrapperHealthStatus
from toolkeeper.monitor.series import WINDOWS
from toolkeeper.server.api._shared import known_tools
from toolkeeper.server.api.models import ToolList, ToolSummary
from toolkeeper.server.flights import Flights

__all__ = ["SharedSummary", "Summary", "shared_summary", "tool_summary"]

_SUMMARY_WINDOW = "5m"


def tool_summary(
    keeper: Keeper, name: str, health: WrapperHealthStatus | None = None
) -> ToolSummary:
    """Return one tool's card, computed now (the shared summary holds every tool's).

    ``health``: the tool's health if already judged for the same view.
    """
    health = health or keeper.monitoring.get_wrapper_health(name)
    recent = (
        keeper.monitoring.get_window_stats(name, _SUMMARY_WINDOW, latency=False)
        if keeper.monitoring.knows(name)
        else None
    )
    minutes = WINDOWS[_SUMMARY_WINDOW] / 60
    return ToolSummary(
        name=name,
        configured=name in keeper.config.tools(),
        status=health.status,
        health_score=health.health_score,
        success_rate=health.success_rate,
        error_rate=health.error_rate,
        fallback_rate=health.fallback_rate,
        provider_error_rate=health.provider_error_rate,
        total_operations=health.total_operations,
        p50_latency_ms=health.p50_latency_ms,
        p95_latency_ms=health.p95_latency_ms,
        p99_latency_ms=health.p99_latency_ms,
        operations_per_minute=(recent.total_operations / minutes) if recent else 0.0,
        circuit_state=health.circuit_state,
        last_error_time=health.last_error_time,
        window=health.window,
    )


@dataclass(frozen=True, slots=True)
class Summary:
    """Every tool's card and the system's health at one moment, with the API's body encoded."""

    tools: tuple[ToolSummary, ...]
    health: SystemHealthReport
    body: bytes
    """The ``/api/v1/tools`` response (a ``ToolList``) as JSON."""
    etag: str
    """A strong ETag of :attr:`body`."""
    version: tuple[int | None, int]
    """The monitor's :meth:`changes` and the configuration changes seen, before computing."""
    taken: float
    """When it was computed (``time.monotonic()``)."""


class SharedSummary:
    """Keep the latest :class:`Summary` of a keeper, computed at most once per ``max_age_s``.

    Computed again sooner when new figures or configuration arrive; one
    computation at a time, whatever the number of callers waiting.
    """

    def __init__(self, keeper: Keeper, *, max_age_s: float) -> None:
        if not max_age_s > 0:
            raise ValueError(f"max_age_s must be positive, got {max_age_s!r}")
        self._keeper = keeper
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._latest: Summary | None = None
        self._config_changes = 0
        self._flights = Flights()
        keeper.config.subscribe(self._config_changed)

    def _config_changed(self, _: ConfigVersion) -> None:
        self._config_changes += 1  # one attribute store: atomic under the GIL

    def _version(self) -> tuple[int | None, int]:
        return self._keeper.monitoring.changes(), self._config_changes

    def fresh(self) -> Summary | None:
        """Return the latest summary if still current, else ``None``; never blocks or computes."""
        latest = self._latest
        if (
            latest is None
            or latest.version[0] is None
            or time.monotonic() - latest.taken >= self.max_age_s
            or self._version() != latest.version
        ):
            return None
        return latest

    def current(self) -> Summary:
        """Return a current summary, computing it if needed (one caller computes, others wait)."""
        latest = self.fresh()
        if latest is not None:
            return latest
        with self._lock:
            latest = self.fresh()  # another caller may have computed it while this one waited
            if latest is not None:
                return latest
            latest = self._compute()
            self._latest = latest
            return latest

    async def acurrent(self) -> Summary:
        """Return a current summary without blocking the event loop.

        The computation runs in the thread pool; requests that find the summary
        stale while it runs await that same computation (:class:`Flights`)
        instead of each taking a thread to wait on the lock.
        """
        latest = self.fresh()
        if latest is not None:
            return latest
        return await self._flights.run(None, self.current)

    def _compute(self) -> Summary:
        keeper = self._keeper
        names = known_tools(keeper)  # folds the queued records first
        version = self._version()
        taken = time.monotonic()
        judged = {name: keeper.monitoring.get_wrapper_health(name) for name in names}
        tools = tuple(tool_summary(keeper, name, judged[name]) for name in names)
        health = keeper.monitoring.system_health_report(judged)  # each tool judged once
        body = ToolList(tools=list(tools)).model_dump_json().encode()
        etag = f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'
        return Summary(tools, health, body, etag, version, taken)


def shared_summary(request: Request) -> SharedSummary:
    """Return the shared summary of the app serving ``request``."""
    shared: SharedSummary = request.app.state.summary
    return shared
