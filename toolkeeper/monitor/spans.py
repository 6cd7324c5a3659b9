"""OpenTelemetry spans of finished operations: a trace tree per request, off the caller's path.

Spans are made after the fact from the records the pipeline drains, so tracing
costs the caller nothing but a deque append (paid only when traces are on).
Each operation is one ``CLIENT`` span with its own start and end; an operation
started inside another (``parent_id``) is its child. The trace id derives from
the root operation's id, which is known only when the root finishes (children
finish first), so :class:`SpanTrees` holds children until their root is done
and then sends the tree as one trace. A child that outlives its parent joins the
trace already sent; one whose parent never finishes within ``pending_s`` goes
out on its own (trace id from its parent's id), so memory stays bounded.

Span ids are the operation ids' numbers (``op-<prefix>-<seq>``: prefix then
sequence, 64 bits), so a span names the same operation the store, the pages
and the exports do (``toolkeeper.operation.id`` says it in full).

Attributes follow OpenTelemetry's GenAI semantic conventions: ``gen_ai.operation.name``,
``gen_ai.provider.name`` (the tool), ``gen_ai.request.model``/``gen_ai.response.model``,
``gen_ai.usage.input_tokens``/``output_tokens`` and ``error.type``; the span's
name is ``"{operation} {model}"``. toolkeeper's own are under ``toolkeeper.``:
the status, cost, fallback and labels. Texts are the recorded ones (redacted).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from toolkeeper.monitor.periodic import PeriodicExport, otlp_exporter
from toolkeeper.monitor.records import (
    FAILURE_STATUSES,
    OperationStatus,
    RawRecord,
    WrapperOperationMetrics,
    materialize,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["OtlpSpanExport", "SpanTrees", "span_id_of", "trace_id_of"]

_log = logging.getLogger("toolkeeper.monitor")
_FAILURES = frozenset(FAILURE_STATUSES)
_MAX_DEPTH = 64  # a lineage deeper than this is cut (bad data cannot recurse without end)

Ready = list[tuple[WrapperOperationMetrics, int]]
"""Records ready to send, each with its trace id."""


def span_id_of(operation_id: str) -> int:
    """Return the 64-bit span id of an operation: its prefix and sequence number, else a hash."""
    _, _, rest = operation_id.partition("op-")
    prefix, _, seq = rest.partition("-")
    try:
        value = (int(prefix, 16) << 32) | (int(seq, 16) & 0xFFFFFFFF)
    except ValueError:
        value = 0
    if value == 0 or value >= 1 << 64:  # not one of ours: a stable hash instead
        value = int.from_bytes(hashlib.blake2b(operation_id.encode(), digest_size=8).digest())
    return value or 1


def trace_id_of(root_operation_id: str) -> int:
    """Return the 128-bit trace id of the tree whose root is ``root_operation_id``."""
    digest = hashlib.blake2b(root_operation_id.encode(), digest_size=16).digest()
    return int.from_bytes(digest) or 1


class SpanTrees:
    """Hold finished records until their tree's root is done; hand back what can go out.

    Not thread-safe: one exporter thread owns it.
    """

    def __init__(
        self,
        *,
        sample_ratio: float = 1.0,
        pending_s: float = 600.0,
        max_known: int = 100_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = int(sample_ratio * (1 << 64))
        self._pending_s = pending_s
        self._max_known = max_known
        self._monotonic = monotonic
        self._waiting: dict[str, list[tuple[float, WrapperOperationMetrics]]] = {}
        self._sent: OrderedDict[str, int] = OrderedDict()  # operation id -> trace id (0: dropped)

    @property
    def waiting(self) -> int:
        """Return how many records wait for their root."""
        return sum(len(children) for children in self._waiting.values())

    def add(self, record: WrapperOperationMetrics) -> Ready:
        """Take one finished record; return the records (and trace ids) now ready to send."""
        parent = record.parent_id
        if parent is None:
            return self._release(record, trace_id_of(record.operation_id))
        trace = self._sent.get(parent)
        if trace is not None:  # the parent already went out: join its trace
            return self._release(record, trace)
        self._waiting.setdefault(parent, []).append((self._monotonic(), record))
        return []

    def expire(self, *, everything: bool = False) -> Ready:
        """Send what waited longer than ``pending_s`` (or ``everything``), each tree on its own."""
        cutoff = self._monotonic() - self._pending_s
        ready: Ready = []
        for parent in list(self._waiting):
            children = self._waiting.get(parent)
            if children and (everything or children[0][0] <= cutoff):
                del self._waiting[parent]
                for _, record in children:
                    ready.extend(self._release(record, trace_id_of(parent)))
        return ready

    def _release(self, record: WrapperOperationMetrics, trace: int) -> Ready:
        kept = self._sampled(trace)
        ready: Ready = []
        stack = [(record, 0)]
        while stack:
            current, depth = stack.pop()
            self._remember(current.operation_id, trace if kept else 0)
            if kept:
                ready.append((current, trace))
            if depth < _MAX_DEPTH:
                children = self._waiting.pop(current.operation_id, ())
                stack.extend((child, depth + 1) for _, child in children)
        return ready

    def _sampled(self, trace: int) -> bool:
        # The trace id's high 64 bits against the ratio, as TraceIdRatioBased does: a
        # trace is kept or dropped whole, and the same in every process.
        return trace >> 64 < self._threshold if trace else False

    def _remember(self, operation_id: str, trace: int) -> None:
        self._sent[operation_id] = trace
        self._sent.move_to_end(operation_id)
        while len(self._sent) > self._max_known:
            self._sent.popitem(last=False)


def readable_span(record: WrapperOperationMetrics, trace: int) -> ReadableSpan:
    """Return the OpenTelemetry span of one record in trace ``trace``."""
    # Deferred: the OpenTelemetry SDK is optional (toolkeeper[otel]); only an OTLP export or span
    # needs it.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

    flags = TraceFlags(TraceFlags.SAMPLED)
    context = SpanContext(trace, span_id_of(record.operation_id), False, flags)
    parent = (
        SpanContext(trace, span_id_of(record.parent_id), False, flags) if record.parent_id else None
    )
    failed = record.status in _FAILURES
    status = (
        Status(StatusCode.ERROR, record.error_message or record.status.value)
        if failed
        else Status(StatusCode.UNSET)
    )
    start = int(record.start_time.timestamp() * 1e9)
    end = int(record.end_time.timestamp() * 1e9) if record.end_time else start
    model = record.labels.get("model")
    return ReadableSpan(
        name=f"{record.operation_type} {model}" if model else record.operation_type,
        context=context,
        parent=parent,
        resource=Resource.create(),
        attributes=span_attributes(record),
        kind=SpanKind.CLIENT,
        status=status,
        start_time=start,
        end_time=max(end, start),
        instrumentation_scope=InstrumentationScope("toolkeeper"),
    )


def span_attributes(record: WrapperOperationMetrics) -> dict[str, Any]:
    """Return a record's span attributes: the GenAI conventions', then toolkeeper's own."""
    found: dict[str, Any] = {
        "gen_ai.operation.name": record.operation_type,
        "gen_ai.provider.name": record.wrapper_name,
    }
    model = record.labels.get("model")
    if model:
        found["gen_ai.request.model"] = found["gen_ai.response.model"] = model
    if record.input_tokens:
        found["gen_ai.usage.input_tokens"] = record.input_tokens
    if record.output_tokens:
        found["gen_ai.usage.output_tokens"] = record.output_tokens
    parts = (
        ("gen_ai.usage.cache_read.input_tokens", record.cached_tokens),
        ("gen_ai.usage.cache_creation.input_tokens", record.cache_write_tokens),
        ("gen_ai.usage.reasoning.output_tokens", record.reasoning_tokens),
    )
    found.update((name, count) for name, count in parts if count)
    if record.status in _FAILURES:
        found["error.type"] = record.error_code or record.status.value
    found["toolkeeper.operation.id"] = record.operation_id
    found["toolkeeper.status"] = record.status.value
    if not record.unpriced:
        found["toolkeeper.cost_usd"] = record.cost_estimate
    if record.status is OperationStatus.FALLBACK:
        if record.fallback_name:
            found["toolkeeper.fallback.name"] = record.fallback_name
        if record.fallback_reason:
            found["toolkeeper.fallback.reason"] = record.fallback_reason
    for name, value in record.labels.items():
        if name != "model":
            found[f"toolkeeper.label.{name}"] = value
    return found


class OtlpSpanExport(PeriodicExport):
    """Send a span per finished operation over OTLP, from a thread, every ``interval_s``.

    :meth:`observe` is the pipeline's observer: it only appends the batch (at most
    ``max_queued`` records wait; beyond that they are counted in :attr:`dropped`
    and logged, never blocking the caller). ``exporter`` defaults to
    OpenTelemetry's OTLP/HTTP protobuf span exporter
    (:func:`~toolkeeper.monitor.periodic.otlp_exporter`).
    """

    what = "spans"

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        interval_s: float = 5.0,
        sample_ratio: float = 1.0,
        max_queued: int = 200_000,
        exporter: SpanExporter | None = None,
    ) -> None:
        self._trees = SpanTrees(sample_ratio=sample_ratio)
        self._queue: deque[RawRecord] = deque()
        self._max_queued = max_queued
        self.dropped = 0
        """Records that found the queue full and never became spans."""
        self._lock = threading.Lock()  # the exporter thread's and close()'s turn at the trees
        chosen = exporter if exporter is not None else otlp_exporter("traces", endpoint)
        super().__init__(chosen, interval_s=interval_s, thread_name="toolkeeper-otlp-spans")

    def observe(self, batch: list[RawRecord]) -> None:
        """Queue a batch of finished records (called by the pipeline, under its lock)."""
        room = self._max_queued - len(self._queue)
        if room >= len(batch):
            self._queue.extend(batch)
            return
        self._queue.extend(batch[: max(room, 0)])
        lost = len(batch) - max(room, 0)
        if not self.dropped:
            _log.warning("span queue full (%d records): spans of finished operations are dropped",
                         self._max_queued)  # fmt: skip
        self.dropped += lost

    def send(self, *, final: bool) -> bool:
        """Send every span ready now (``final``: the waiting ones too)."""
        with self._lock:
            ready: Ready = []
            while self._queue:
                ready.extend(self._trees.add(materialize(self._queue.popleft())))
            ready.extend(self._trees.expire(everything=final))
            if not ready:
                return True
            return self.deliver([readable_span(record, trace) for record, trace in ready])
