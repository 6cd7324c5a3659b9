"""Record what a resilient call did: success, fallback (with the original error), failure.

Shared by the decorator's sync and async paths; free of I/O. Error texts pass
through the tool's redaction before they are recorded.
"""

from __future__ import annotations

import asyncio
from typing import Any

from toolkeeper._errors import (
    BudgetExceeded,
    BulkheadFull,
    CallTimeoutError,
    CircuitOpenError,
    RateLimited,
)
from toolkeeper.costs.responses import Reading, is_stream, read_response
from toolkeeper.costs.usage import Usage
from toolkeeper.monitor import OperationStatus
from toolkeeper.monitor.recorder import Measured, Recorder
from toolkeeper.monitor.records import PLAIN_STATUS, TokenKinds, kind_details
from toolkeeper.resilience import CallOutcome
from toolkeeper.wrap.debuglog import log_call
from toolkeeper.wrap.runtime import ToolRuntime
from toolkeeper.wrap.streams import STREAM_ABANDONED, StreamEnd

__all__ = [
    "DEFER",
    "NOTHING",
    "STREAM",
    "Measured",
    "describe",
    "error_code",
    "is_timeout",
    "kind_details",
    "kinds_of",
    "measure",
    "measure_reading",
    "measure_unread",
    "record_failure",
    "record_outcome",
    "record_stream",
    "status_of",
    "stream_ending",
    "usage_of",
]

SUCCESS = OperationStatus.SUCCESS
FALLBACK = OperationStatus.FALLBACK
#: An ended stream's statuses, plain (as raw records carry them).
_SUCCESS, _FALLBACK, _CANCELLED = (PLAIN_STATUS[status] for status in (SUCCESS, FALLBACK,
                                   OperationStatus.CANCELLED))  # fmt: skip
#: A recorded error message is cut to this length, after redaction.
MAX_ERROR_CHARS = 2000

NOTHING: Measured = (0, 0, 0.0, None, False, None)

#: The model :func:`usage_of` gives a value only the Python path can read (an SDK object,
#: an HTTP response, a body without a cost): the fast path queues the call's record
#: unread, with the value, and the pipeline reads and prices it (:func:`measure_unread`).
#: Never recorded.
DEFER = "\x00toolkeeper:read-in-python"
#: The model :func:`usage_of` gives a stream: it is metered as it is read, so the call
#: leaves the fast path (see ``priced`` in decorate.py). Never recorded.
STREAM = "\x00toolkeeper:stream"
_PLAIN = (str, bytes, int, float, bool, list, tuple, set, frozenset)
#: The only keys of ``usage`` a body read inline may have: any other (cached, reasoning or
#: cache-write details) needs the full read. The C fast path checks the same keys.
_PLAIN_USAGE = frozenset(
    {"prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "total_tokens", "cost"}
)


_ERROR_CODES: tuple[tuple[type[BaseException], str], ...] = (
    (CircuitOpenError, "CIRCUIT_OPEN"),
    (BudgetExceeded, "BUDGET_EXCEEDED"),
    (RateLimited, "RATE_LIMITED"),
    (BulkheadFull, "BULKHEAD_FULL"),
)


#: The timeouts of the clients users call through, by (module, class) anywhere in an
#: error's class hierarchy, so none of them is imported: httpx's (whose ``ReadTimeout``…
#: derive from it), and the ``openai`` and ``anthropic`` SDKs' own.
_CLIENT_TIMEOUTS = frozenset({
    ("httpx", "TimeoutException"),
    ("openai", "APITimeoutError"),
    ("anthropic", "APITimeoutError"),
})  # fmt: skip


def is_timeout(error: BaseException) -> bool:
    """Return whether ``error`` says a call ran out of time: ours, Python's or a client's."""
    if isinstance(error, CallTimeoutError | TimeoutError):
        return True
    return any(
        (kind.__module__.partition(".")[0], kind.__name__) in _CLIENT_TIMEOUTS
        for kind in type(error).__mro__
    )


def error_code(error: BaseException) -> str:
    """Return a short code for an error: its HTTP status when it has one, else its kind."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(status, int):
        return f"HTTP_{status}"
    if is_timeout(error):
        return "TIMEOUT"
    for kind, code in _ERROR_CODES:
        if isinstance(error, kind):
            return code
    return type(error).__name__


def describe(error: BaseException, runtime: ToolRuntime) -> str:
    """Return ``Kind: message`` for an error: secrets removed first, then cut to a bound."""
    return runtime.redact(f"{type(error).__name__}: {error}")[:MAX_ERROR_CHARS]


def usage_of(value: Any) -> tuple[int, int, float, str | None]:
    """Return (input tokens, output tokens, cost USD, model) for the fast path to record inline.

    Only a JSON body whose ``usage`` has OpenAI's plain counts and a non-zero
    ``cost`` is read here; a stream gives the model :data:`STREAM`, any other response
    (an SDK object, an HTTP or raw response, a body to price, Anthropic's cache
    counts) the model :data:`DEFER`, which has the pipeline :func:`measure` it. A
    value that is no response at all gives zeros and ``None``.
    """
    read = _READ_BY_CLASS.get(type(value))
    if read is not None:  # a class seen before that is no dict: no usage to read inline
        return read
    if isinstance(value, dict):
        usage = value.get("usage")
        if not isinstance(usage, dict):
            return 0, 0, 0.0, DEFER if "model" in value else None
        model = value.get("model")
        prompt = usage.get("prompt_tokens") or usage.get("input_tokens") or 0
        completion = usage.get("completion_tokens") or usage.get("output_tokens") or 0
        cost = usage.get("cost")
        if (
            type(model) is not str
            or type(prompt) is not int
            or type(completion) is not int
            or not cost
            or type(cost) is not float
            or not _PLAIN_USAGE.issuperset(usage)
        ):
            return 0, 0, 0.0, DEFER
        return prompt, completion, cost, model
    if value is None or isinstance(value, _PLAIN):
        read = _NO_RESPONSE
    else:
        read = _TO_METER if is_stream(value) else _TO_READ
    if len(_READ_BY_CLASS) < _KEEP_CLASSES:
        _READ_BY_CLASS[type(value)] = read
    return read


_NO_RESPONSE: tuple[int, int, float, str | None] = (0, 0, 0.0, None)
_TO_READ: tuple[int, int, float, str | None] = (0, 0, 0.0, DEFER)
_TO_METER: tuple[int, int, float, str | None] = (0, 0, 0.0, STREAM)
#: What :func:`usage_of` gives the instances of a class that is no dict (bounded: classes).
_READ_BY_CLASS: dict[type, tuple[int, int, float, str | None]] = {}
_KEEP_CLASSES = 4096


def measure_unread(runtime: ToolRuntime, value: Any) -> Measured:
    """Return the usage and cost of a response the fast paths queued unread, or of an ended stream.

    The monitor's reader (:meth:`Recorder.measure_with
    <toolkeeper.monitor.recorder.Recorder.measure_with>`): it runs where the pipeline
    drains, off the caller's thread when a background thread is running, with the
    tool's runtime queued beside the response (a :class:`StreamEnd` for a stream).
    """
    if type(value) is StreamEnd:
        return measure_reading(runtime, value.reading)
    return measure(runtime, value)


def measure(runtime: ToolRuntime, value: Any) -> Measured:
    """Return the usage and cost of a call's value (see :func:`measure_reading`)."""
    if not runtime.track_usage or value is None or isinstance(value, _PLAIN):
        return NOTHING
    if type(value) is dict:  # a body carrying its cost reads as the fast path reads it
        input_tokens, output_tokens, cost, model = usage_of(value)
        if model is None:
            return NOTHING
        if model is not DEFER:
            return input_tokens, output_tokens, cost, model, False, None
    reading = read_response(value)
    return NOTHING if reading is None else measure_reading(runtime, reading)


def measure_reading(runtime: ToolRuntime, reading: Reading) -> Measured:
    """Return what a response's reading costs: the reported cost (0 included), else priced.

    A response whose usage cannot be read (unmetered), or whose model has no
    price or is not named, is marked unpriced: its cost is unknown, not $0.
    """
    usage = reading.usage
    if usage is None and reading.cost is not None:  # a cost without counts is still the cost
        return 0, 0, float(reading.cost), reading.model, False, None
    if usage is None:
        if runtime.costs is not None:
            runtime.costs.count_unmetered(reading.model)
        return 0, 0, 0.0, reading.model, True, None
    model = usage.model or reading.model
    kinds = kinds_of(usage)
    if reading.cost is not None:
        return usage.input_tokens, usage.output_tokens, float(reading.cost), model, False, kinds
    if runtime.costs is None:
        return usage.input_tokens, usage.output_tokens, 0.0, model, False, kinds
    priced = runtime.costs.price(usage)
    cost = 0.0 if priced.cost is None else float(priced.cost)
    return usage.input_tokens, usage.output_tokens, cost, model, priced.cost is None, kinds


def kinds_of(usage: Usage) -> TokenKinds | None:
    """Return a usage's (cached, cache write, reasoning) tokens, ``None`` when all are 0."""
    kinds = (usage.cached_tokens, usage.cache_write_tokens, usage.reasoning_tokens)
    return kinds if any(kinds) else None


def status_of(error: BaseException) -> OperationStatus:
    """Return the status an error gives an operation."""
    if isinstance(error, asyncio.CancelledError | KeyboardInterrupt | GeneratorExit):
        return OperationStatus.CANCELLED
    if is_timeout(error):
        return OperationStatus.TIMEOUT
    return OperationStatus.ERROR


def record_outcome(
    recorder: Recorder,
    runtime: ToolRuntime,
    operation: str,
    outcome: CallOutcome,
    duration_s: float,
    *,
    measured: Measured,
    seq: int,
    parent_id: str | None,
    labels: dict[str, str] | None,
) -> None:
    """Record a call that returned a value, from the primary or from a fallback.

    ``measured`` is the value's usage and cost (see :func:`measure`); ``seq``
    the sequence number the call took when it started; attempts beyond the
    first are recorded as the ``retries`` metric.
    """
    input_tokens, output_tokens, cost, model, unpriced, kinds = measured
    retries = {"retries": outcome.attempts - 1} if outcome.attempts > 1 else None
    if not outcome.fallback_used:
        recorder.record(
            runtime.name, operation, SUCCESS, duration_s, cost=cost, input_tokens=input_tokens,
            output_tokens=output_tokens, model=model, parent_id=parent_id, custom_metrics=retries,
            seq=seq, labels=labels, unpriced=unpriced or None, **kind_details(kinds),
        )  # fmt: skip
        if runtime.debug:
            log_call(
                runtime, operation, "success", duration_s, input_tokens=input_tokens,
                output_tokens=output_tokens, cost=cost, model=model,
            )  # fmt: skip
        return
    error = outcome.error
    original = None if error is None else describe(error, runtime)
    recorder.record(
        runtime.name, operation, FALLBACK, duration_s, cost=cost, input_tokens=input_tokens,
        output_tokens=output_tokens, model=model, fallback_name=outcome.fallback_name,
        fallback_reason=_fallback_reason(error), custom_metrics=retries,
        original_error=original,
        error_code=None if error is None else error_code(error),
        parent_id=parent_id, seq=seq, labels=labels, unpriced=unpriced or None,
        **kind_details(kinds),
    )  # fmt: skip
    if runtime.debug:
        log_call(
            runtime, operation, "fallback", duration_s, input_tokens=input_tokens,
            output_tokens=output_tokens, cost=cost, model=model, error=original,
        )  # fmt: skip


def _fallback_reason(error: BaseException | None) -> str:
    if isinstance(error, CircuitOpenError):
        return "circuit_open"
    if isinstance(error, BudgetExceeded):
        return "budget"
    if isinstance(error, BulkheadFull):
        return "bulkhead_full"
    return "primary_failed"


def record_failure(
    recorder: Recorder,
    runtime: ToolRuntime,
    operation: str,
    error: BaseException,
    duration_s: float,
    *,
    seq: int,
    parent_id: str | None,
    labels: dict[str, str] | None,
) -> None:
    """Record a call that raised: cancelled, timed out, or failed."""
    status, message = status_of(error), describe(error, runtime)
    recorder.record(
        runtime.name, operation, status, duration_s,
        error_message=message, error_code=error_code(error),
        parent_id=parent_id, seq=seq, labels=labels,
    )  # fmt: skip
    if runtime.debug:
        log_call(runtime, operation, str(status), duration_s, error=message)


def stream_ending(
    runtime: ToolRuntime, attempts: int, fallback_used: bool, end: StreamEnd
) -> tuple[str, dict[str, Any], str | None, str | None]:
    """Return how an ended stream is recorded: status, metrics, error message and code.

    Read to its end it is a success (or a fallback); closed before its end it is
    cancelled with error code ``STREAM_ABANDONED``; raising while read, a failure.
    ``attempts`` is how many calls were made to get the stream.
    """
    metrics: dict[str, Any] = {"stream_chunks": end.chunks}
    if end.first_chunk_s is not None:
        metrics["time_to_first_token_ms"] = end.first_chunk_s * 1000
    if attempts > 1:
        metrics["retries"] = attempts - 1
    how = end.how
    if how == "completed":
        return (_FALLBACK if fallback_used else _SUCCESS), metrics, None, None
    if how == "failed" and end.error is not None:
        error = end.error
        return PLAIN_STATUS[status_of(error)], metrics, describe(error, runtime), error_code(error)
    message = f"stream closed after {end.chunks} chunks, before its end"
    return _CANCELLED, metrics, message, STREAM_ABANDONED


def record_stream(  # noqa: PLR0917 - the stream's call, handed over whole
    recorder: Recorder,
    runtime: ToolRuntime,
    operation: str,
    attempts: int,
    fallback_used: bool,
    end: StreamEnd,
    *,
    measured: Measured,
    seq: int,
    parent_id: str | None,
    labels: dict[str, str] | None,
) -> None:
    """Record a call whose value was a stream, once the stream ended (see wrap/streams.py).

    Read to its end it is a success (or a fallback); closed before its end it
    is cancelled with error code ``STREAM_ABANDONED``; raising while read, a
    failure. Its chunks and time to first chunk are metrics; its usage is what
    the chunks reported, unmetered (unpriced) when none did.
    """
    input_tokens, output_tokens, cost, model, unpriced, kinds = measured
    status, metrics, message, code = stream_ending(runtime, attempts, fallback_used, end)
    failure: dict[str, Any] = {} if code is None else {"error_code": code}
    recorder.record(
        runtime.name, operation, status, end.duration_s, cost=cost,
        input_tokens=input_tokens, output_tokens=output_tokens, model=model,
        custom_metrics=metrics, seq=seq, parent_id=parent_id, labels=labels,
        unpriced=unpriced or None, error_message=message, **failure, **kind_details(kinds),
    )  # fmt: skip
    if runtime.debug:
        log_call(
            runtime, operation, end.how, end.duration_s, input_tokens=input_tokens,
            output_tokens=output_tokens, cost=cost, model=model,
        )  # fmt: skip
