"""Build every raw record of a monitor and queue it: the one boundary of the recording hot path.

:class:`Recorder` is the only code that builds a raw record (laid out by the index
constants of :mod:`toolkeeper.monitor.records`) and queues it in the monitor's
pipeline. Its callers:

- the wrappers of ``@keeper.tool`` (sync, async, and the C kernel of
  :mod:`toolkeeper._speedups`): :meth:`~Recorder.success` for a success whose
  usage was read inline, :meth:`~Recorder.unread` for one whose response is still to
  read and price, which the pipeline then reads off the caller's thread;
- everything else (failures, fallbacks, streams, ``keeper.operation``, the lifecycle
  API): :meth:`~Recorder.record`, :meth:`~Recorder.defer` and :meth:`~Recorder.finished`,
  which redact every recorded text;
- a stream read to its end whose cost nobody waits for: :meth:`~Recorder.later` queues
  it with the time, and the pipeline builds its record (:meth:`~Recorder.unread_record`)
  off the caller's thread.

A record is one ``deque.append`` of a tuple: no lock, no I/O; a caller that finds
the queue at its threshold helps drain it (see :mod:`toolkeeper.monitor.pipeline`).
Thread-safe under the GIL.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from toolkeeper._text import map_texts
from toolkeeper.monitor.ids import next_seq, operation_id
from toolkeeper.monitor.pipeline import RecordPipeline
from toolkeeper.monitor.records import (
    COST,
    CUSTOM,
    DETAILS,
    DURATION_S,
    END_TS,
    ERROR_MESSAGE,
    MODEL,
    OPERATION,
    PLAIN_STATUS,
    SEQ,
    STATUS,
    TOOL,
    OperationDetails,
    OperationStatus,
    RawRecord,
    TokenKinds,
    WrapperOperationMetrics,
    raw_from_record,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["Measure", "Measured", "Recorder", "Success", "Unread"]

#: (input tokens, output tokens, cost in USD, model, unpriced, token kinds) of one
#: response; the kinds (cached, cache-write and reasoning tokens) are ``None`` when all are 0.
Measured = tuple[int, int, float, str | None, bool, TokenKinds | None]
#: Reads an unread record's response: ``measure(meter, response)``, where ``meter`` is
#: what the caller queued with it (the wrap layer's tool runtime).
Measure = Callable[[Any, Any], Measured]

#: What a response whose reading raised is recorded as: unmetered (its cost unknown).
UNREADABLE: Measured = (0, 0, 0.0, None, True, None)
_SUCCESS = PLAIN_STATUS[OperationStatus.SUCCESS]
#: The length of what :meth:`Recorder.later` queues: (build, subject, end_s).
_LATER = 3
_log = logging.getLogger("toolkeeper.wrap")

HotQueues: Any
try:
    from toolkeeper._speedups import HotQueues
except ImportError:  # built without a C compiler: the Python methods do the same steps
    HotQueues = None
if os.environ.get("TOOLKEEPER_PURE_PYTHON"):
    HotQueues = None

#: ``success(seq, parent, tool, operation, duration_s, cost, input_tokens, output_tokens,
#: model, labels)``: see :meth:`Recorder.queue_success`.
Success = Callable[[int, int | None, str, str, float, float, int, int, str | None, Any], None]
#: ``unread(seq, parent, tool, operation, duration_s, response, meter, labels)``: see
#: :meth:`Recorder.queue_unread`.
Unread = Callable[[int, int | None, str, str, float, Any, Any, Any], None]


def _no_detail(_name: str) -> None:
    return None


def _details(parent: int | None, labels: dict[str, str] | None) -> dict[str, Any]:
    """Return the details of a fast-path record: its parent operation's id, its labels."""
    if parent is None:
        return {"labels": labels}
    return {"parent_id": operation_id(parent), "labels": labels}


class Recorder:
    """Queue a monitor's finished operations as raw records; nothing else builds one.

    ``now_s`` is the monitor's clock in epoch seconds (a record's end); ``redact``
    removes secrets from every text :meth:`record` and :meth:`defer` queue. Unread
    records are read by the function given to :meth:`measure_with`. The hot path's
    two entries, ``success`` and ``unread``, are :meth:`queue_success` and
    :meth:`queue_unread`, or their C twin (``toolkeeper._speedups.HotQueues``, chosen
    once at import when it was built; ``TOOLKEEPER_PURE_PYTHON=1`` chooses Python).
    """

    __slots__ = (
        "_drain_at", "_measure", "_now_s", "_pending", "_redact", "_relieve", "_relieve_unread",
        "_unread", "_unread_at", "success", "unread",
    )  # fmt: skip

    success: Success
    """Queue a success that ended now, its usage read inline (:meth:`queue_success`)."""
    unread: Unread
    """Queue a success whose response is still to read and price (:meth:`queue_unread`)."""

    def __init__(
        self,
        pipeline: RecordPipeline,
        now_s: Callable[[], float],
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self._pending = pipeline.pending
        self._drain_at = pipeline.drain_threshold
        self._relieve = pipeline.relieve
        self._unread = pipeline.unread
        self._unread_at = pipeline.unread_threshold
        self._relieve_unread = pipeline.relieve_unread
        self._now_s = now_s
        self._redact = redact
        self._measure: Measure | None = None
        pipeline.reader = self._read
        if HotQueues is None:
            self.success, self.unread = self.queue_success, self.queue_unread
        else:
            hot = HotQueues(
                pending=self._pending, drain_at=self._drain_at, relieve=self._relieve,
                unread=self._unread, unread_at=self._unread_at,
                relieve_unread=self._relieve_unread, now_s=now_s, operation_id=operation_id,
                status=_SUCCESS,
            )  # fmt: skip
            self.success, self.unread = hot.success, hot.unread

    def measure_with(self, measure: Measure) -> None:
        """Read every unread record with ``measure(meter, response)`` (the wrap layer's reader)."""
        self._measure = measure

    def queue_success(  # noqa: PLR0917 - the hot path: positional, one call from C too
        self,
        seq: int,
        parent: int | None,
        tool: str,
        operation: str,
        duration_s: float,
        cost: float,
        input_tokens: int,
        output_tokens: int,
        model: str | None,
        labels: dict[str, str] | None,
    ) -> None:
        """Queue a success that ended now, its usage read inline by the caller.

        ``seq`` is the number the call took when it started, ``parent`` the enclosing
        operation's (``None`` at the top). The texts are the caller's as they are.
        """
        details = None if parent is None and labels is None else _details(parent, labels)
        pending = self._pending
        # The raw layout: the index constants of records.py.
        pending.append((
            seq, self._now_s(), tool, operation, _SUCCESS, duration_s, cost, input_tokens,
            output_tokens, None, None, details, model,
        ))  # fmt: skip
        if len(pending) >= self._drain_at:
            self._relieve()

    def queue_unread(  # noqa: PLR0917 - the hot path: positional, one call from C too
        self,
        seq: int,
        parent: int | None,
        tool: str,
        operation: str,
        duration_s: float,
        response: Any,
        meter: Any,
        labels: dict[str, str] | None,
    ) -> None:
        """Queue a success that ended now whose ``response`` is still to read and price.

        The pipeline reads it (``measure(meter, response)``, see :meth:`measure_with`)
        off the caller's thread, before anything folds it. ``meter`` and ``response``
        are kept as they are.
        """
        details = None if parent is None and labels is None else _details(parent, labels)
        unread = self._unread
        # An unread record: the response where the cost goes, the meter where the model goes.
        unread.append((
            seq, self._now_s(), tool, operation, _SUCCESS, duration_s, response, 0, 0, None, None,
            details, meter,
        ))  # fmt: skip
        if len(unread) >= self._unread_at:
            self._relieve_unread()

    def defer(self, record: RawRecord, /) -> None:
        """Queue an unread record (:meth:`unread_record`): its response is still to read.

        As :meth:`queue_unread`, for any final status (an ended stream); its texts are
        redacted when the pipeline reads it.
        """
        unread = self._unread
        unread.append(record)
        if len(unread) >= self._unread_at:
            self._relieve_unread()

    @staticmethod
    def unread_record(  # noqa: PLR0917 - positional for speed: once per stream
        tool: str,
        operation: str,
        status: str,
        duration_s: float,
        response: Any,
        meter: Any,
        seq: int,
        end_s: float,
        custom_metrics: dict[str, Any] | None,
        error_message: str | None,
        parent_id: str | None,
        labels: dict[str, str] | None,
        error_code: str | None,
        /,
    ) -> RawRecord:
        """Return the unread record of an operation that ended at ``end_s``, for :meth:`defer`.

        Its status is plain (``PLAIN_STATUS``'s values); ``response`` is read and priced by
        the pipeline with ``meter`` (see :meth:`measure_with`). What a :meth:`later`
        build returns.
        """
        details: dict[str, Any] = {"parent_id": parent_id, "labels": labels}
        if error_code is not None:
            details["error_code"] = error_code
        return (
            seq, end_s, tool, operation, status, duration_s, response, 0, 0,
            custom_metrics, error_message, details, meter,
        )  # fmt: skip

    def later(self, build: Callable[[Any, float], RawRecord], subject: Any, /) -> None:
        """Queue an operation that ended now, its record to build off the caller's thread.

        Where the pipeline reads the unread records it calls ``build(subject, end_s)``
        (``end_s``: when this was called, in epoch seconds), which returns the record
        (:meth:`unread_record`); then reads it as any. A build that raises is logged,
        and its operation is not recorded.
        """
        unread = self._unread
        unread.append((build, subject, self._now_s()))
        if len(unread) >= self._unread_at:
            self._relieve_unread()

    def record(
        self,
        tool: str,
        operation: str,
        status: OperationStatus | str,
        duration_s: float,
        *,
        cost: float = 0.0,
        input_tokens: int = 0,
        output_tokens: int = 0,
        custom_metrics: dict[str, Any] | None = None,
        error_message: str | None = None,
        model: str | None = None,
        seq: int | None = None,
        end_s: float | None = None,
        **details: Unpack[OperationDetails],
    ) -> None:
        """Queue any finished operation, every text redacted: see ``PerformanceMonitor.record``.

        ``end_s`` is when it ended (epoch seconds), now when ``None``.
        """
        pending = self._pending
        pending.append(self._raw(
            tool, operation, status, duration_s, cost, input_tokens, output_tokens,
            custom_metrics, error_message, model, seq, end_s, details,
        ))  # fmt: skip
        if len(pending) >= self._drain_at:
            self._relieve()

    def finished(self, record: WrapperOperationMetrics) -> None:
        """Queue a finished record of the lifecycle API, whole (its texts already redacted)."""
        pending = self._pending
        pending.append(raw_from_record(next_seq(), record))
        if len(pending) >= self._drain_at:
            self._relieve()

    def _plain(self, status: OperationStatus | str) -> str:
        plain = PLAIN_STATUS.get(status)
        if plain is None:
            raise ValueError(
                f"status {str(status)!r} is not a final status; use one of "
                f"{', '.join(sorted(PLAIN_STATUS))}"
            )
        return plain

    def _raw(  # noqa: PLR0917 - record()'s arguments, positional for speed
        self,
        tool: str,
        operation: str,
        status: OperationStatus | str,
        duration_s: float,
        cost: float,
        input_tokens: int,
        output_tokens: int,
        custom_metrics: dict[str, Any] | None,
        error_message: str | None,
        model: str | None,
        seq: int | None,
        end_s: float | None,
        details: OperationDetails,
    ) -> RawRecord:
        """Return the raw record of one finished operation, its texts redacted."""
        plain = self._plain(status)
        redact = self._redact
        if redact is not None:  # every recorded text, however the caller got here
            if error_message is not None:
                error_message = redact(error_message)
            if model is not None:
                model = redact(model)
            if custom_metrics:
                custom_metrics = map_texts(custom_metrics, redact)
            if details:
                details = map_texts(details, redact)
        # One flat tuple, in the order of the index constants in records.py.
        return (
            next_seq() if seq is None else seq, self._now_s() if end_s is None else end_s,
            tool, operation, plain, duration_s, cost, input_tokens, output_tokens,
            custom_metrics, error_message, details or None, model,
        )  # fmt: skip

    def _read(self, unread: list[RawRecord]) -> list[RawRecord]:
        """Return the raw records of unread records, their responses read and priced.

        The pipeline's reader: it runs where the pipeline drains, off the caller's
        thread when a background thread is running. A response whose reading raises
        is logged and recorded unmetered, never lost.
        """
        measure = self._measure
        if measure is None:  # nothing can read them: a bug, not a loss to hide
            raise RuntimeError(f"{len(unread)} unread records were queued with no reader set")
        raws = []
        for queued in unread:
            raw = queued
            if len(queued) == _LATER:  # an operation whose record is built here (see later())
                build, subject, end_s = queued
                try:
                    raw = build(subject, end_s)
                except Exception:  # noqa: BLE001 - one record is lost, not the whole batch
                    _log.exception("could not build the record of an operation that ended")
                    continue
            try:
                measured = measure(raw[MODEL], raw[COST])
            except Exception:  # noqa: BLE001 - a response that cannot be read is unmetered, not lost
                _log.exception("could not read the usage of a response of tool %r", raw[TOOL])
                measured = UNREADABLE
            input_tokens, output_tokens, cost, model, unpriced, kinds = measured
            details = raw[DETAILS]
            get = details.get if details else _no_detail
            found: OperationDetails = {
                "parent_id": get("parent_id"), "labels": get("labels"),
                "error_code": get("error_code"), "unpriced": unpriced or None,
            }  # fmt: skip
            if kinds is not None:
                found["cached_tokens"], found["cache_write_tokens"], found["reasoning_tokens"] = (
                    kinds
                )
            raws.append(self._raw(
                raw[TOOL], raw[OPERATION], raw[STATUS], raw[DURATION_S], cost, input_tokens,
                output_tokens, raw[CUSTOM], raw[ERROR_MESSAGE], model, raw[SEQ], raw[END_TS],
                found,
            ))  # fmt: skip
        return raws
