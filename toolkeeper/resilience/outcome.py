"""What a resilient call reports: its outcome, and the events along the way.

Both are plain values for the monitoring layer to record; neither does I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from toolkeeper.resilience.circuit import CircuitState

__all__ = ["CallOutcome", "EventKind", "ResilienceEvent"]

logger = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class CallOutcome:
    """The result of a call that returned a value, from the primary or a fallback; read-only.

    ``error`` is the primary's *original* error when a fallback served the value
    (a :class:`~toolkeeper.CircuitOpenError` if the circuit refused the call), and
    None when the primary succeeded. ``attempts`` counts calls actually made to
    the primary (0 when the circuit refused the first one). ``timed_out`` says
    that ``error`` is a :class:`~toolkeeper.CallTimeoutError`. ``circuit_state``
    is the breaker's state once the call is over (None without a breaker).

    Not a frozen dataclass only for speed: one is built on every call, and a
    frozen ``__init__`` costs about 1 µs against 0.3 µs for this one.
    """

    value: Any
    attempts: int
    error: BaseException | None = None
    fallback_used: bool = False
    fallback_name: str | None = None
    fallback_duration_s: float | None = None
    circuit_state: CircuitState | None = None
    timed_out: bool = False


class EventKind(StrEnum):
    """What happened during a resilient call."""

    RETRY = "retry"  # an attempt failed and another follows after delay_s
    CIRCUIT_REFUSED = "circuit_refused"  # the open circuit refused an attempt
    BULKHEAD_FULL = "bulkhead_full"  # no permit came within the wait; the attempt was not made
    FALLBACK_FAILED = "fallback_failed"  # a fallback raised; the chain moves on
    FALLBACK_SUCCEEDED = "fallback_succeeded"  # a fallback served the value


@dataclass(frozen=True, slots=True, kw_only=True)
class ResilienceEvent:
    """One event of a resilient call, passed to the executor's ``on_event``.

    ``error`` is the error that caused it: the failed attempt's for ``RETRY``, the
    refusal for ``CIRCUIT_REFUSED``, the fallback's own for ``FALLBACK_FAILED`` and
    the primary's original one for ``FALLBACK_SUCCEEDED``.
    """

    kind: EventKind
    tool: str
    attempt: int
    error: BaseException | None = None
    delay_s: float | None = None
    fallback_name: str | None = None
    duration_s: float | None = None


def notify(on_event: Callable[[ResilienceEvent], None] | None, event: ResilienceEvent) -> None:
    """Pass ``event`` to ``on_event``, logging rather than raising if the observer fails."""
    if on_event is None:
        return
    try:
        on_event(event)
    except Exception:  # an observer's fault must not change the call it observes
        logger.exception("resilience event observer %r failed on %s", on_event, event.kind)
