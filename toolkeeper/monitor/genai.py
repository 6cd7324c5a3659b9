"""OpenTelemetry's GenAI client metrics, exact, from the records the pipeline drains.

Two histograms of the GenAI semantic conventions, cumulative since the process
started (this process's own operations, see docs/metrics.md):

* ``gen_ai.client.operation.duration`` (``s``): every finished operation;
* ``gen_ai.client.token.usage`` (``{token}``): the tokens of each operation that
  reported some, per ``gen_ai.token.type``: ``input`` and ``output`` (every
  token, as the conventions count them), and the parts of them billed apart,
  ``cache_read``, ``cache_creation`` and ``reasoning`` (named after the
  conventions' ``gen_ai.usage.*`` attributes; see docs/metrics.md).

Attributes: ``gen_ai.operation.name`` (the operation), ``gen_ai.provider.name``
(the tool), ``gen_ai.request.model`` and ``gen_ai.response.model`` (the model that
served the call, when known) and, for failures, ``error.type`` (``timeout`` or
``error``). Bucket bounds are the conventions' advice.

:class:`GenAIHistograms` is folded by the pipeline under its lock (a few hundred
nanoseconds a record, paid only when OTLP export is on); :class:`OtlpMetricsExport`
sends its snapshot with OpenTelemetry's OTLP/HTTP exporter every interval and at
close. OpenTelemetry is imported only by the export.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from toolkeeper.monitor.periodic import PeriodicExport, otlp_exporter
from toolkeeper.monitor.records import (
    DETAILS,
    DURATION_S,
    FAILURE_STATUSES,
    INPUT_TOKENS,
    MODEL,
    OPERATION,
    OUTPUT_TOKENS,
    STATUS,
    TOOL,
    RawRecord,
    token_kinds,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricsData

__all__ = [
    "DURATION_BOUNDS",
    "TOKEN_BOUNDS",
    "GenAIHistograms",
    "HistogramState",
    "OtlpMetricsExport",
]

DURATION_BOUNDS: tuple[float, ...] = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
"""Bucket bounds (seconds) the conventions advise for ``gen_ai.client.operation.duration``."""
TOKEN_BOUNDS: tuple[float, ...] = tuple(float(4**n) for n in range(14))
"""Bucket bounds the conventions advise for ``gen_ai.client.token.usage`` (1, 4, … 4^13)."""

_FAILURES = frozenset(str(s) for s in FAILURE_STATUSES)

Attributes = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class HistogramState:
    """One cumulative explicit-bucket histogram: counts per bucket, count, sum, min, max."""

    bounds: tuple[float, ...]
    buckets: list[int] = field(default_factory=list)
    count: int = 0
    total: float = 0.0
    minimum: float = float("inf")
    maximum: float = float("-inf")

    def __post_init__(self) -> None:
        if not self.buckets:
            self.buckets = [0] * (len(self.bounds) + 1)

    def add(self, value: float) -> None:
        """Count one value (a bucket holds values up to and including its bound)."""
        self.buckets[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)


class GenAIHistograms:
    """Fold finished records into the two GenAI histograms, per attribute set.

    Not thread-safe: the pipeline folds under its lock, :meth:`snapshot` is taken
    under the same lock (see ``RecordPipeline.add_observer``).
    """

    def __init__(self) -> None:
        self.duration: dict[Attributes, HistogramState] = {}
        self.tokens: dict[Attributes, HistogramState] = {}
        self._attributes: dict[tuple[str, str, str | None, str], Attributes] = {}

    def fold(self, batch: list[RawRecord]) -> None:
        """Count each record's duration, and its tokens when it reported some."""
        for raw in batch:
            status = raw[STATUS]
            key = (raw[TOOL], raw[OPERATION], raw[MODEL], status if status in _FAILURES else "")
            attributes = self._attributes.get(key)
            if attributes is None:
                attributes = self._attributes[key] = _attributes_of(*key)
            state = self.duration.get(attributes)
            if state is None:
                state = self.duration[attributes] = HistogramState(DURATION_BOUNDS)
            state.add(raw[DURATION_S])
            self._add_tokens(attributes, "input", raw[INPUT_TOKENS])
            self._add_tokens(attributes, "output", raw[OUTPUT_TOKENS])
            details = raw[DETAILS]
            if details is not None:
                cached, written, reasoning = token_kinds(details)
                self._add_tokens(attributes, "cache_read", cached)
                self._add_tokens(attributes, "cache_creation", written)
                self._add_tokens(attributes, "reasoning", reasoning)

    def _add_tokens(self, attributes: Attributes, token_type: str, tokens: int) -> None:
        if tokens:
            typed = (*attributes, ("gen_ai.token.type", token_type))
            usage = self.tokens.get(typed)
            if usage is None:
                usage = self.tokens[typed] = HistogramState(TOKEN_BOUNDS)
            usage.add(float(tokens))

    def snapshot(self) -> dict[str, dict[Attributes, HistogramState]]:
        """Return copies of both histograms by metric name (safe to read outside the lock)."""
        return {
            "gen_ai.client.operation.duration": _copied(self.duration),
            "gen_ai.client.token.usage": _copied(self.tokens),
        }


def _copied(states: dict[Attributes, HistogramState]) -> dict[Attributes, HistogramState]:
    return {
        key: HistogramState(s.bounds, list(s.buckets), s.count, s.total, s.minimum, s.maximum)
        for key, s in states.items()
    }


def _attributes_of(tool: str, operation: str, model: str | None, error: str) -> Attributes:
    found = [("gen_ai.operation.name", operation), ("gen_ai.provider.name", tool)]
    if model:
        found += [("gen_ai.request.model", model), ("gen_ai.response.model", model)]
    if error:
        found.append(("error.type", error))
    return tuple(found)


_UNITS = {"gen_ai.client.operation.duration": "s", "gen_ai.client.token.usage": "{token}"}
_DESCRIPTIONS = {
    "gen_ai.client.operation.duration": "GenAI operation duration.",
    "gen_ai.client.token.usage": "Number of tokens used, by type.",
}


def metrics_data(
    snapshot: dict[str, dict[Attributes, HistogramState]], *, start_ns: int, now_ns: int
) -> MetricsData:
    """Return a snapshot as OpenTelemetry SDK metrics data (cumulative histograms)."""
    # Deferred: the OpenTelemetry SDK is optional (toolkeeper[otel]); only an OTLP export or span
    # needs it.
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        Histogram,
        HistogramDataPoint,
        Metric,
        MetricsData,
        ResourceMetrics,
        ScopeMetrics,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    metrics = [
        Metric(
            name=name,
            description=_DESCRIPTIONS[name],
            unit=_UNITS[name],
            data=Histogram(
                data_points=[
                    HistogramDataPoint(
                        attributes=dict(attributes),
                        start_time_unix_nano=start_ns,
                        time_unix_nano=now_ns,
                        count=state.count,
                        sum=state.total,
                        bucket_counts=list(state.buckets),
                        explicit_bounds=list(state.bounds),
                        min=state.minimum,
                        max=state.maximum,
                    )
                    for attributes, state in sorted(states.items())
                ],
                aggregation_temporality=AggregationTemporality.CUMULATIVE,
            ),
        )
        for name, states in snapshot.items()
        if states
    ]
    scope = ScopeMetrics(InstrumentationScope("toolkeeper"), metrics, "")
    return MetricsData([ResourceMetrics(Resource.create(), [scope], "")])


class OtlpMetricsExport(PeriodicExport):
    """Send the GenAI histograms over OTLP every ``interval_s``, from a thread, and at close.

    ``snapshot`` returns the histograms (taken under the pipeline's lock);
    ``exporter`` defaults to OpenTelemetry's OTLP/HTTP protobuf exporter
    (:func:`~toolkeeper.monitor.periodic.otlp_exporter`). A failed export is logged
    and retried with the next snapshot (cumulative, so nothing is lost).
    """

    what = "the GenAI metrics"

    def __init__(
        self,
        snapshot: Callable[[], dict[str, dict[Attributes, HistogramState]]],
        *,
        interval_s: float = 10.0,
        exporter: MetricExporter | None = None,
        endpoint: str | None = None,
    ) -> None:
        self._snapshot = snapshot
        self._start_ns = time.time_ns()
        chosen = exporter if exporter is not None else otlp_exporter("metrics", endpoint)
        super().__init__(chosen, interval_s=interval_s, thread_name="toolkeeper-otlp")

    def send(self, *, final: bool) -> bool:  # noqa: ARG002 - every snapshot is cumulative
        """Send the current snapshot."""
        return self.deliver(
            metrics_data(self._snapshot(), start_ns=self._start_ns, now_ns=time.time_ns())
        )
