"""Sum the operations of one tool and operation over one span of time, and report them.

A :class:`Bucket` is the unit the rolling windows are built from: exact counts by
status, a latency sketch, cost and token sums, and count/sum/min/max for each
numeric custom metric. Buckets merge exactly (the sketch within its accuracy).
:class:`WindowStats` is the read-only report of a merged bucket.
Not thread-safe: the aggregates fold and read buckets under one lock.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from operator import itemgetter
from typing import Any

from toolkeeper.monitor.records import (
    COST,
    CUSTOM,
    DETAILS,
    DURATION_S,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    STATUS,
    OperationStatus,
    RawRecord,
    token_kinds,
)
from toolkeeper.monitor.sketch import LatencySketch, count_keys

__all__ = [
    "CALL_NOT_MADE",
    "COST_UNITS",
    "TOKEN_TYPES",
    "Bucket",
    "MetricSummary",
    "Tally",
    "WindowStats",
    "failed_attempt",
    "python_tally",
    "stored_units",
    "tally",
]

#: Each kind of token exporters count, as (``token_type`` label value, field name).
#: ``input`` and ``output`` are every token, as OpenTelemetry's GenAI conventions count
#: them (``gen_ai.token.type``); the others are parts of them, named after the
#: conventions' usage attributes (``gen_ai.usage.cache_read.input_tokens``,
#: ``gen_ai.usage.cache_creation.input_tokens``, ``gen_ai.usage.reasoning.output_tokens``),
#: so a sum over every type counts cached and reasoning tokens twice.
TOKEN_TYPES: tuple[tuple[str, str], ...] = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_read", "cached_tokens"),
    ("cache_creation", "cache_write_tokens"),
    ("reasoning", "reasoning_tokens"),
)

_SUCCESS = OperationStatus.SUCCESS.value
_FALLBACK = OperationStatus.FALLBACK.value
_FAILURES = (OperationStatus.ERROR.value, OperationStatus.TIMEOUT.value)
_NUMBER_TYPES = (int, float)
_STATUS_OF = itemgetter(STATUS)
_DURATION_OF = itemgetter(DURATION_S)
_COST_OF = itemgetter(COST)
#: Buckets sum costs as integers of 10⁻¹⁵ dollars: exact and order-independent (float
#: sums are neither), and fine enough that a cost read as a float keeps every digit a
#: price gives it (``0.01235``, or ``2⁻¹⁴`` = ``0.00006103515625``).
COST_UNITS = 10**15


def _units(cost: float) -> int:
    """Return a recorded cost (US dollars) in whole :data:`COST_UNITS`."""
    return round(cost * COST_UNITS)


def stored_units(data: Mapping[str, Any]) -> int:
    """Return a stored bucket's cost in :data:`COST_UNITS` (older rollups kept only dollars)."""
    if "cost_units" in data:
        return int(data["cost_units"])
    return round(float(data.get("cost", 0.0)) * COST_UNITS)


_INPUT_OF = itemgetter(INPUT_TOKENS)
_OUTPUT_OF = itemgetter(OUTPUT_TOKENS)
_CUSTOM_OF = itemgetter(CUSTOM)
_DETAILS_OF = itemgetter(DETAILS)
#: What :func:`tally` returns: statuses, zero latencies, duration sum, minimum, maximum,
#: cost units, input tokens, output tokens, and whether a record has custom metrics or details.
Tally = tuple[dict[str, int], int, float, float, float, int, int, int, bool]


#: Fallback reasons that mean the primary was never called, so no attempt failed
#: (see ``_fallback_reason`` in toolkeeper/wrap/calls.py).
CALL_NOT_MADE = frozenset({"circuit_open", "budget", "bulkhead_full"})


def failed_attempt(details: object) -> bool:
    """Return whether a fallback record's DETAILS say the primary was called and failed.

    A fallback served after the primary raised keeps that error as ``original_error``;
    one served because the circuit was open, the budget spent or the bulkhead full
    made no call, so no attempt failed.
    """
    if details is None:
        return False
    if isinstance(details, dict):
        original, reason = details.get("original_error"), details.get("fallback_reason")
    else:
        original = getattr(details, "original_error", None)
        reason = getattr(details, "fallback_reason", None)
    return original is not None and reason not in CALL_NOT_MADE


def python_tally(
    records: list[RawRecord], bins: dict[int, int], minimum: float, maximum: float
) -> Tally:
    """Count ``records`` in C-level passes: what :meth:`Bucket.add_many` adds, in Python.

    Adds the latency keys to the sketch's ``bins`` and returns the rest: the count of
    each status (first seen first), the latency values that count as zero, the sum of
    the durations, their minimum and maximum (from ``minimum`` and ``maximum``), the
    cost in :data:`COST_UNITS`, the input and output tokens, and whether a record has
    custom metrics or details. ``tally`` is this function's C twin when the extension
    was built (``TOOLKEEPER_PURE_PYTHON=1`` chooses this one); both give equal results.
    """
    column = list(map(_STATUS_OF, records))
    successes = column.count(_SUCCESS)  # the common case costs a C-level count
    statuses = {_SUCCESS: successes} if successes == len(column) else dict(Counter(column))
    durations = list(map(_DURATION_OF, records))
    zero = count_keys(durations, bins)
    # Equal costs are rounded once: a batch usually repeats a few prices.
    costs = Counter(filter(None, map(_COST_OF, records)))
    detailed = any(map(_CUSTOM_OF, records)) or any(map(_DETAILS_OF, records))
    return (
        statuses, zero, sum(durations), min(minimum, *durations), max(maximum, *durations),
        sum(_units(cost) * count for cost, count in costs.items()),
        sum(map(_INPUT_OF, records)), sum(map(_OUTPUT_OF, records)), detailed,
    )  # fmt: skip


_c_tally: Callable[[list[RawRecord], dict[int, int], float, float], Tally] | None
try:
    from toolkeeper._speedups import tally as _c_tally
except ImportError:  # built without a C compiler: python_tally does the same
    _c_tally = None
#: Counts a batch for :meth:`Bucket.add_many`: :func:`python_tally` or its C twin, chosen once.
tally = python_tally if _c_tally is None or os.environ.get("TOOLKEEPER_PURE_PYTHON") else _c_tally


class MetricSummary:
    """Summarise one numeric custom metric: count, sum, minimum and maximum."""

    __slots__ = ("count", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.minimum = float("inf")
        self.maximum = float("-inf")

    def add(self, value: float) -> None:
        """Count one observation."""
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)

    def merge(self, other: MetricSummary) -> None:
        """Add every observation summarised by ``other``."""
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    def to_dict(self) -> dict[str, float | int | None]:
        """Return count, sum, min, max and mean (``None`` for an empty summary)."""
        empty = self.count == 0
        return {
            "count": self.count,
            "sum": self.total,
            "min": None if empty else self.minimum,
            "max": None if empty else self.maximum,
            "mean": None if empty else self.total / self.count,
        }


class Bucket:
    """Accumulate the finished operations of one series over one span of time.

    Token sums follow :class:`~toolkeeper.monitor.records.WrapperOperationMetrics`:
    ``cached_tokens`` and ``cache_write_tokens`` are parts of ``input_tokens``,
    ``reasoning_tokens`` a part of ``output_tokens``.
    """

    __slots__ = (
        "cache_write_tokens",
        "cached_tokens",
        "cost_units",
        "counts",
        "custom",
        "duration_sum",
        "failed_attempts",
        "input_tokens",
        "latency",
        "max_duration",
        "min_duration",
        "output_tokens",
        "reasoning_tokens",
    )

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.latency = LatencySketch()
        self.duration_sum = 0.0
        self.min_duration = float("inf")
        self.max_duration = float("-inf")
        #: Cost in :data:`COST_UNITS`: an integer, so sums are exact in any order and split.
        self.cost_units = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cached_tokens = 0
        self.cache_write_tokens = 0
        self.reasoning_tokens = 0
        self.custom: dict[str, MetricSummary] | None = None
        #: Fallbacks served after the primary's attempt failed (see :func:`failed_attempt`).
        self.failed_attempts = 0

    def add(  # noqa: PLR0917 - positional arguments are cheaper on the fold path
        self,
        status: str,
        duration_s: float,
        cost: float,
        input_tokens: int,
        output_tokens: int,
        custom: dict[str, Any] | None,
        details: object = None,
    ) -> None:
        """Count one finished operation; non-numeric custom metrics are not summarised.

        ``details`` is the raw record's DETAILS (its token kinds are counted from it).
        """
        counts = self.counts
        counts[status] = counts.get(status, 0) + 1
        self.latency.add(duration_s)
        self.duration_sum += duration_s
        # A comparison costs a third of a min()/max() call, and this runs per record.
        if duration_s < self.min_duration:  # noqa: PLR1730 - speed, see above
            self.min_duration = duration_s
        if duration_s > self.max_duration:  # noqa: PLR1730 - speed, see above
            self.max_duration = duration_s
        if cost:
            self.cost_units += round(cost * COST_UNITS)
        if input_tokens:
            self.input_tokens += input_tokens
        if output_tokens:
            self.output_tokens += output_tokens
        if custom:
            self._add_custom(custom)
        if details is not None:
            self._add_kinds(details)
            if status == _FALLBACK and failed_attempt(details):
                self.failed_attempts += 1

    def add_many(self, records: list[RawRecord]) -> bool:
        """Count many raw records at once (:func:`tally`); return whether any failed.

        Equivalent to :meth:`add` per record, a fraction of the cost for large batches.
        """
        statuses, zero, duration_sum, self.min_duration, self.max_duration, units, inputs, \
            outputs, detailed = tally(records, self.latency.bins, self.min_duration,
                                      self.max_duration)  # fmt: skip
        counts = self.counts
        for status, count in statuses.items():
            counts[status] = counts.get(status, 0) + count
        self.latency.zero_count += zero
        self.duration_sum += duration_sum
        self.cost_units += units
        self.input_tokens += inputs
        self.output_tokens += outputs
        if detailed:
            for custom in filter(None, map(_CUSTOM_OF, records)):
                self._add_custom(custom)
            for details in filter(None, map(_DETAILS_OF, records)):
                self._add_kinds(details)
        if _FALLBACK in statuses:
            self.failed_attempts += sum(
                1 for r in records if r[STATUS] == _FALLBACK and failed_attempt(r[DETAILS])
            )
        return any(status in _FAILURES for status in statuses)

    def _add_kinds(self, details: object) -> None:
        """Add the cached, cache-write and reasoning tokens a record's details hold."""
        cached, written, reasoning = token_kinds(details)
        if cached:
            self.cached_tokens += cached
        if written:
            self.cache_write_tokens += written
        if reasoning:
            self.reasoning_tokens += reasoning

    def _add_custom(self, custom: dict[str, Any]) -> None:
        summaries = self.custom
        if summaries is None:
            summaries = self.custom = {}
        for name, value in custom.items():
            # bool is an int subclass; a flag is not a measurement.
            if type(value) in _NUMBER_TYPES:
                summary = summaries.get(name)
                if summary is None:
                    summary = summaries[name] = MetricSummary()
                summary.add(value)

    @property
    def cost(self) -> float:
        """Return the cost in US dollars: the float nearest the exact sum."""
        return self.cost_units / COST_UNITS

    def merge(self, other: Bucket, *, latency: bool = True) -> None:
        """Add ``other`` into this bucket; ``latency=False`` skips the sketch (cheaper)."""
        counts = self.counts
        for status, count in other.counts.items():
            counts[status] = counts.get(status, 0) + count
        if latency:
            self.latency.merge(other.latency)
        self.duration_sum += other.duration_sum
        self.min_duration = min(self.min_duration, other.min_duration)
        self.max_duration = max(self.max_duration, other.max_duration)
        self.cost_units += other.cost_units
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cached_tokens += other.cached_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.failed_attempts += other.failed_attempts
        if other.custom:
            if self.custom is None:
                self.custom = {}
            for name, summary in other.custom.items():
                mine = self.custom.get(name)
                if mine is None:
                    mine = self.custom[name] = MetricSummary()
                mine.merge(summary)

    def copy(self) -> Bucket:
        """Return a bucket holding the same counts, sharing nothing with this one."""
        bucket = Bucket()
        bucket.merge(self)  # into an empty bucket: every field equal, nothing shared
        return bucket

    def to_dict(self) -> dict[str, Any]:
        """Return everything the bucket holds as JSON-ready data (for the store's rollups)."""
        empty = not self.counts
        return {
            "counts": dict(self.counts),
            "latency": self.latency.to_dict(),
            "duration_sum": self.duration_sum,
            "min_duration": None if empty else self.min_duration,
            "max_duration": None if empty else self.max_duration,
            "cost": self.cost,
            "cost_units": self.cost_units,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "failed_attempts": self.failed_attempts,
            "custom": {
                name: [m.count, m.total, m.minimum, m.maximum]
                for name, m in (self.custom or {}).items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Bucket:
        """Rebuild a bucket from :meth:`to_dict` output."""
        bucket = cls()
        bucket.counts = {str(k): int(v) for k, v in data.get("counts", {}).items()}
        bucket.latency = LatencySketch.from_dict(data.get("latency", {}))
        bucket.duration_sum = float(data.get("duration_sum", 0.0))
        if data.get("min_duration") is not None:
            bucket.min_duration = float(data["min_duration"])
            bucket.max_duration = float(data["max_duration"])
        bucket.cost_units = stored_units(data)
        bucket.input_tokens = int(data.get("input_tokens", 0))
        bucket.output_tokens = int(data.get("output_tokens", 0))
        # Rollups stored before token kinds were kept have none.
        bucket.cached_tokens = int(data.get("cached_tokens", 0))
        bucket.cache_write_tokens = int(data.get("cache_write_tokens", 0))
        bucket.reasoning_tokens = int(data.get("reasoning_tokens", 0))
        # Rollups stored before failed attempts were counted have none.
        bucket.failed_attempts = int(data.get("failed_attempts", 0))
        custom = data.get("custom") or {}
        if custom:
            bucket.custom = {}
            for name, (count, total, minimum, maximum) in custom.items():
                summary = bucket.custom[name] = MetricSummary()
                summary.count, summary.total = int(count), float(total)
                summary.minimum, summary.maximum = float(minimum), float(maximum)
        return bucket

    @property
    def operations(self) -> int:
        """Return how many operations the bucket counted."""
        return sum(self.counts.values())

    def stats(self, start: datetime, end: datetime) -> WindowStats:
        """Return the bucket's report for the span ``[start, end)``."""
        total = self.operations
        p50, p95, p99 = self.latency.quantiles((0.5, 0.95, 0.99))

        def rate(count: int) -> float:
            return count / total if total else 0.0

        failures = sum(self.counts.get(s, 0) for s in _FAILURES)

        def ms(seconds: float | None) -> float | None:
            return None if seconds is None else seconds * 1000.0

        return WindowStats(
            start=start,
            end=end,
            total_operations=total,
            counts={status: self.counts[status] for status in sorted(self.counts)},
            success_rate=rate(self.counts.get(_SUCCESS, 0)),
            error_rate=rate(failures),
            fallback_rate=rate(self.counts.get(_FALLBACK, 0)),
            mean_latency_ms=ms(self.duration_sum / total) if total else None,
            min_latency_ms=ms(self.min_duration) if total else None,
            max_latency_ms=ms(self.max_duration) if total else None,
            p50_latency_ms=ms(p50),
            p95_latency_ms=ms(p95),
            p99_latency_ms=ms(p99),
            cost_usd=self.cost,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cached_tokens=self.cached_tokens,
            cache_write_tokens=self.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens,
            failed_attempt_count=self.failed_attempts,
            provider_error_rate=rate(failures + self.failed_attempts),
            custom_metrics={k: v.to_dict() for k, v in sorted((self.custom or {}).items())},
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowStats:
    """Report what one tool (or operation) did over ``[start, end)``.

    ``error_rate`` counts failed calls (errors and timeouts); ``fallback_rate`` counts
    calls a fallback served; ``failed_attempt_count`` those of them served after the
    primary was called and failed; ``provider_error_rate`` counts failed calls plus
    those failed attempts, so a fallback that hides an outage from the caller does not
    hide it here. The rates share ``total_operations`` as denominator.
    Latencies are milliseconds, percentiles within 1%; ``cost_usd`` is US dollars.
    ``cached_tokens`` and ``cache_write_tokens`` are parts of ``input_tokens``,
    ``reasoning_tokens`` a part of ``output_tokens``.
    """

    start: datetime
    end: datetime
    total_operations: int
    counts: dict[str, int]
    success_rate: float
    error_rate: float
    fallback_rate: float
    mean_latency_ms: float | None
    min_latency_ms: float | None
    max_latency_ms: float | None
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    p99_latency_ms: float | None
    cost_usd: float
    input_tokens: int
    output_tokens: int
    custom_metrics: dict[str, dict[str, float | int | None]]
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    failed_attempt_count: int = 0
    provider_error_rate: float = 0.0

    def count(self, status: OperationStatus | str) -> int:
        """Return how many operations ended with ``status``."""
        return self.counts.get(str(status), 0)

    @property
    def success_count(self) -> int:
        """Return how many operations succeeded."""
        return self.counts.get(_SUCCESS, 0)

    @property
    def error_count(self) -> int:
        """Return how many operations failed (errors and timeouts)."""
        return sum(self.counts.get(s, 0) for s in _FAILURES)

    @property
    def fallback_count(self) -> int:
        """Return how many operations a fallback served."""
        return self.counts.get(_FALLBACK, 0)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain data, times as ISO 8601 strings."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["success_count"] = self.success_count
        data["error_count"] = self.error_count
        data["fallback_count"] = self.fallback_count
        data["start"] = self.start.isoformat()
        data["end"] = self.end.isoformat()
        data["counts"] = dict(self.counts)
        data["custom_metrics"] = {k: dict(v) for k, v in self.custom_metrics.items()}
        return data
