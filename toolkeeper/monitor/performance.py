"""Record finished operations in about a microsecond and report per-tool stats and health.

:class:`PerformanceMonitor` is the aggregate engine: its
:class:`~toolkeeper.monitor.recorder.Recorder` (``monitor.recorder``) is the hot path
the decorator layer calls, and :meth:`~PerformanceMonitor.record` its public form;
every report reads the same exact aggregates (see :mod:`toolkeeper.monitor.aggregates`)
after folding what is queued.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from toolkeeper._clock import Clock, SystemClock
from toolkeeper.monitor import reports
from toolkeeper.monitor.aggregates import TOTAL_WINDOW, WINDOWS, Aggregates
from toolkeeper.monitor.buckets import Bucket, WindowStats
from toolkeeper.monitor.genai import Attributes, GenAIHistograms, HistogramState
from toolkeeper.monitor.pipeline import RecordPipeline, Sink
from toolkeeper.monitor.recorder import Recorder
from toolkeeper.monitor.records import (
    TOOL,
    OperationDetails,
    OperationStatus,
    RawRecord,
    WrapperOperationMetrics,
    materialize,
    start_ts,
)
from toolkeeper.monitor.reports import WrapperHealthStatus
from toolkeeper.monitor.sketch import LatencySketch

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["PerformanceMonitor"]


def _none(_: str) -> None:
    return None


def epoch(moment: datetime, name: str) -> float:
    """Return epoch seconds for an aware datetime; a naive one is an error naming ``name``."""
    if moment.tzinfo is None:
        raise ValueError(f"{name}={moment.isoformat()!r} has no time zone; pass an aware datetime")
    return moment.timestamp()


class PerformanceMonitor:
    """Aggregate finished operations per tool and operation, exactly and in bounded memory.

    Thread-safe: any thread may record and read. ``record`` appends one tuple to
    a queue and returns; readers fold the queue first, so what they report
    includes every record made before the read began. Time comes from ``clock``.
    ``sink`` (optional) receives finished records in batches from a background
    thread, which spends at most ``writer_share`` of the time delivering them; see
    :mod:`toolkeeper.monitor.pipeline` for bounds and loss counting.
    The providers tell health about a tool's circuit (``"closed"``, ``"open"``,
    ``"half_open"``), its p95 latency objective (seconds) and its budget burn
    (fraction spent); each returns ``None`` when it has nothing to say.
    ``redact`` (a keeper passes its secret redactor's) removes secrets from every
    text of a record before it is queued: error message, fallback reason, original
    error, labels, ids, model and text custom metrics (not the tool and operation
    names, which are identities); see :mod:`toolkeeper.config.redaction`.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        sink: Sink | None = None,
        sink_queue_size: int = 100_000,
        sink_batch_size: int = 1_000,
        recent_size: int = 10_000,
        flush_interval_s: float | None = 1.0,
        writer_share: float = 0.1,
        max_operations_per_tool: int = 100,
        circuit_state_provider: Callable[[str], str | None] = _none,
        latency_objective_provider: Callable[[str], float | None] = _none,
        budget_burn_provider: Callable[[str], float | None] = _none,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._redact = redact
        # time.time is a C call; any other clock goes through its now().
        clock_now = self.clock.now
        self._now_s: Callable[[], float] = (
            time.time if type(self.clock) is SystemClock else lambda: clock_now().timestamp()
        )
        self._pipeline = RecordPipeline(
            Aggregates(max_operations_per_tool=max_operations_per_tool),
            sink=sink,
            sink_queue_size=sink_queue_size,
            sink_batch_size=sink_batch_size,
            recent_size=recent_size,
            flush_interval_s=flush_interval_s,
            writer_share=writer_share,
        )
        self.recorder = Recorder(self._pipeline, self._now_s, redact)
        """Builds and queues every record (the wrappers call it directly: the hot path)."""
        self.circuit_state_provider = circuit_state_provider
        self.latency_objective_provider = latency_objective_provider
        self.budget_burn_provider = budget_burn_provider
        self.created_at = self.clock.now()
        self._others_shed = (0, 0)
        self._genai: GenAIHistograms | None = None

    def record(
        self,
        wrapper_name: str,
        operation_type: str,
        status: OperationStatus,
        duration_s: float,
        *,
        cost: float = 0.0,
        input_tokens: int = 0,
        output_tokens: int = 0,
        custom_metrics: dict[str, Any] | None = None,
        error_message: str | None = None,
        model: str | None = None,
        seq: int | None = None,
        **details: Unpack[OperationDetails],
    ) -> None:
        """Record one finished operation that ended now and took ``duration_s`` seconds.

        ``cost`` is US dollars; ``model`` names the model that served the call
        (recorded as the ``model`` label); ``seq`` is the sequence number the
        operation took from :func:`toolkeeper.monitor.ids.next_seq` when it
        started (its id derives from it; one is taken now when it is ``None``);
        ``details`` are the optional fields of
        :class:`OperationDetails` (ids, error code, fallback, quality score,
        labels). Type checkers reject other names; at run time they are ignored,
        because checking them would add about 100 ns to every call. The dicts are
        kept, not copied: do not change them afterwards. Never blocks on I/O; it
        may fold the queue when it is long. The same as ``self.recorder.record``.
        """
        self.recorder.record(
            wrapper_name, operation_type, status, duration_s, cost=cost,
            input_tokens=input_tokens, output_tokens=output_tokens,
            custom_metrics=custom_metrics, error_message=error_message, model=model, seq=seq,
            **details,
        )  # fmt: skip

    def now_s(self) -> float:
        """Return the monitor's clock now, in epoch seconds (the end of a record made now)."""
        return self._now_s()

    @property
    def dropped_events(self) -> int:
        """Return how many finished records never reached the sink; aggregates have them all."""
        return self._pipeline.dropped_events

    def count_genai(self) -> None:
        """Count OpenTelemetry's GenAI histograms of every record finished from now on.

        Off by default (it costs a few hundred nanoseconds a record); the keeper
        turns it on when OTLP export is configured. Idempotent.
        """
        with self._pipeline.lock:
            if self._genai is None:
                self._genai = GenAIHistograms()
                self._pipeline.observers.append(self._genai.fold)

    def observe_records(self, observer: Callable[[list[RawRecord]], None]) -> None:
        """Hand every batch of records finished from now on to ``observer``, under the lock.

        The observer runs on whichever thread drains (a caller's, now and then):
        it must only queue the batch, as the span export does.
        """
        with self._pipeline.lock:
            self._pipeline.observers.append(observer)

    def genai_snapshot(self) -> dict[str, dict[Attributes, HistogramState]]:
        """Return the GenAI histograms counted so far (empty unless :meth:`count_genai`)."""
        with self._pipeline.drained():
            return {} if self._genai is None else self._genai.snapshot()

    @property
    def refused_rows(self) -> int:
        """Return how many raw records the store refused (isolated; their batch was stored)."""
        return self._pipeline.refused_rows

    @property
    def others_dropped_rows(self) -> int:
        """Return how many raw rows the other writers shown (:meth:`show_others`) shed."""
        return self._others_shed[0]

    @property
    def others_refused_rows(self) -> int:
        """Return how many raw rows the store refused from the other writers shown."""
        return self._others_shed[1]

    def seed(
        self,
        buckets: Iterable[tuple[str, str, float, Bucket, tuple[float, str | None] | None]],
    ) -> None:
        """Add other writers' history: (tool, operation, start, bucket, last error) items.

        Shown in windows, health and charts beside this process's own operations;
        never added to its own counters. See :func:`toolkeeper.monitor.persist.restore`.
        """
        now = self.clock.now().timestamp()
        with self._pipeline.drained() as aggregates:
            for tool, operation, start, bucket, last_error in buckets:
                aggregates.seed(tool, operation, start, bucket, now, last_error)
            self._pipeline.changes += 1

    def show_others(
        self,
        buckets: Iterable[tuple[str, str, float, Bucket, tuple[float, str | None] | None]],
        totals: Mapping[tuple[str, str], Bucket],
        *,
        dropped_rows: int = 0,
        refused_rows: int = 0,
    ) -> None:
        """Replace what is shown of other writers: their history, totals and shed raw rows.

        ``buckets`` are items as for :meth:`seed` (their recent history, for
        windows); ``totals`` their all-time totals per (tool, operation), for
        ``total`` reads. This process's own operations are kept as they are, so a
        process that reloads the others periodically (``toolkeeper serve``) shows
        the fleet, counting each writer once, and its lifetime totals never fall.
        """
        now = self.clock.now().timestamp()
        limit = self._pipeline.aggregates.max_operations_per_tool
        fresh = Aggregates(max_operations_per_tool=limit)
        for tool, operation, start, bucket, last_error in buckets:
            fresh.seed(tool, operation, start, bucket, now, last_error)
        with self._pipeline.drained() as aggregates:
            aggregates.adopt_others(fresh)
            aggregates.show_totals(totals)
            self._others_shed = (dropped_rows, refused_rows)
            self._pipeline.changes += 1

    def changes(self) -> int | None:
        """Return a count that grows whenever the figures shown change; ``None`` while unknown.

        It grows when recorded operations are folded in and when other writers'
        history is shown (:meth:`show_others`); ``None`` means records are queued,
        not yet folded, so the figures are about to change. Figures that move with
        the clock alone (a window sliding) do not change it. Readers that keep a
        summary compare it to decide whether to compute the summary again.
        """
        pipeline = self._pipeline
        if pipeline.pending or pipeline.unread:
            return None
        return pipeline.changes

    def flush(self) -> None:
        """Fold everything recorded so far and deliver it to the sink, in this thread."""
        self._pipeline.flush()

    def close(self) -> None:
        """Stop the background thread and flush; idempotent. The owner registers it with atexit."""
        self._pipeline.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def active_operation_counts(self) -> dict[str, int]:
        """Return operations in flight per tool (only the lifecycle API has any)."""
        return {}

    def tools(self) -> list[str]:
        """Return every tool that finished an operation or has one in flight, sorted."""
        with self._pipeline.drained() as aggregates:
            known = set(aggregates.tools())
        return sorted(known | set(self.active_operation_counts()))

    def knows(self, name: str) -> bool:
        """Return whether tool ``name`` finished an operation or has one in flight."""
        with self._pipeline.drained() as aggregates:
            known = aggregates.has_tool(name)
        return known or name in self.active_operation_counts()

    def operations(self, name: str) -> list[str]:
        """Return the operation names counted for tool ``name``, sorted."""
        with self._pipeline.drained() as aggregates:
            return aggregates.operations(name)

    def _read(
        self,
        name: str,
        window: str,
        operations: Collection[str] | None,
        *,
        latency: bool = True,
        others: bool = True,
    ) -> tuple[datetime, Bucket] | None:
        """Return a window's start and merged bucket for a known tool, else ``None``."""
        if window != TOTAL_WINDOW and window not in WINDOWS:
            known = ", ".join([*WINDOWS, TOTAL_WINDOW])
            raise ValueError(f"window {window!r} is not one of {known}")
        now = self._now_s()
        with self._pipeline.drained() as aggregates:
            if not aggregates.has_tool(name):
                return None
            if window == TOTAL_WINDOW:
                return self.created_at, aggregates.lifetime(
                    name, operations, latency=latency, others=others
                )
            start, bucket = aggregates.window(
                name, WINDOWS[window], now, operations, latency=latency, others=others
            )
        return datetime.fromtimestamp(start, UTC), bucket

    def get_window_stats(
        self,
        name: str,
        window: str = "5m",
        *,
        operations: Collection[str] | None = None,
        latency: bool = True,
        others: bool = True,
    ) -> WindowStats | None:
        """Return a tool's stats over ``window`` (1m, 5m, 1h, 24h or total); ``None`` if unknown.

        ``operations`` restricts the stats to some of the tool's operations;
        ``latency=False`` skips the percentiles (much cheaper over long windows);
        ``others=False`` counts only this process's operations (see :meth:`show_others`).
        """
        read = self._read(name, window, operations, latency=latency, others=others)
        return None if read is None else read[1].stats(read[0], self.clock.now())

    def get_latency_sketch(
        self,
        name: str,
        window: str = TOTAL_WINDOW,
        *,
        operations: Collection[str] | None = None,
        others: bool = True,
    ) -> LatencySketch | None:
        """Return a tool's latency sketch (seconds) over ``window``; ``None`` if unknown."""
        read = self._read(name, window, operations, others=others)
        return None if read is None else read[1].latency

    def last_error(self, name: str) -> tuple[datetime, str | None] | None:
        """Return when tool ``name`` last failed and its message, or ``None``."""
        with self._pipeline.drained() as aggregates:
            last = aggregates.last_error(name)
        return (datetime.fromtimestamp(last[0], UTC), last[1]) if last else None

    def get_wrapper_stats(self, name: str) -> dict[str, Any] | None:
        """Return a tool's totals since creation plus each rolling window; ``None`` if unknown."""
        report = reports.wrapper_stats(self, name)
        return None if report is None else report.to_dict()

    def wrapper_stats_report(self, name: str) -> reports.WrapperStatsReport | None:
        """Return a tool's totals and rolling windows, typed (the fields of get_wrapper_stats)."""
        return reports.wrapper_stats(self, name)

    def get_wrapper_metrics(self, name: str, since: datetime | None = None) -> list[WindowStats]:
        """Return a tool's time buckets since ``since`` (default: one hour ago), oldest first.

        Buckets share one size, chosen by the span: 10 s up to 6 min, 1 min up to
        61 min, else 15 min (at most the last 24 h 15 min are kept).
        """
        now = self.clock.now()
        if since is None:
            since = now - timedelta(hours=1)
        start = epoch(since, "since")
        with self._pipeline.drained() as aggregates:
            buckets = aggregates.history(name, start, now.timestamp())
        return [
            bucket.stats(
                datetime.fromtimestamp(begin, UTC), datetime.fromtimestamp(begin + size, UTC)
            )
            for begin, size, bucket in buckets
        ]

    def get_wrapper_health(self, name: str) -> WrapperHealthStatus:
        """Return a tool's health (formula in docs/health.md); ``unknown`` if it has no data.

        Asking about a tool never seen does not create it, and does not call the
        providers with its name.
        """
        return reports.wrapper_health(self, name)

    def get_active_wrappers(self) -> list[str]:
        """Return tools with an operation in flight or finished in the last hour, sorted."""
        return reports.active_wrappers(self)

    def get_system_health(self) -> dict[str, Any]:
        """Return health and totals over every tool as plain data (keys in docs/health.md)."""
        return reports.system_health(self).to_dict()

    def system_health_report(
        self, judged: Mapping[str, WrapperHealthStatus] | None = None
    ) -> reports.SystemHealthReport:
        """Return health and totals over every tool, typed (the fields of get_system_health).

        ``judged``: tools' health from :meth:`get_wrapper_health` for the same view, reused.
        """
        return reports.system_health(self, judged)

    def recent_operations(
        self, wrapper_name: str | None = None, limit: int | None = None
    ) -> list[WrapperOperationMetrics]:
        """Return recent finished records (newest last), from the bounded in-memory ring."""
        raws = [r for r in self._pipeline.recent() if wrapper_name in (None, r[TOOL])]
        if limit is not None:
            raws = raws[-limit:] if limit > 0 else []
        return [materialize(raw) for raw in raws]

    def export_metrics(
        self,
        wrapper_name: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Return recent records as dicts, filtered by tool and by start time (inclusive).

        Only the ring of recent records (``recent_size``) is searched; older
        records live in the store once one is attached.
        """
        low = epoch(start_time, "start_time") if start_time is not None else float("-inf")
        high = epoch(end_time, "end_time") if end_time is not None else float("inf")
        return [
            materialize(raw).to_dict()
            for raw in self._pipeline.recent()
            if (wrapper_name is None or raw[TOOL] == wrapper_name) and low <= start_ts(raw) <= high
        ]
