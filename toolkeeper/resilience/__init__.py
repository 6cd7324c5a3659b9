"""Resilience for calls to external tools: timeout, retry, error kinds, circuit, bulkhead, fallback.

The policy objects are pure and free of I/O; :func:`call` and :func:`acall`
compose them around one call, sync or async.
"""

from toolkeeper.resilience.bulkhead import Bulkhead, LocalBulkhead, RedisBulkhead
from toolkeeper.resilience.circuit import CircuitBreaker, CircuitState, CircuitTransition
from toolkeeper.resilience.classify import ErrorKind, ErrorRules
from toolkeeper.resilience.executor import acall, call
from toolkeeper.resilience.fallback import Fallback
from toolkeeper.resilience.outcome import CallOutcome, EventKind, ResilienceEvent
from toolkeeper.resilience.policy import ResiliencePolicy
from toolkeeper.resilience.retry import backoff_ceiling, retry_after_seconds, retry_delay

__all__ = [
    "Bulkhead",
    "CallOutcome",
    "CircuitBreaker",
    "CircuitState",
    "CircuitTransition",
    "ErrorKind",
    "ErrorRules",
    "EventKind",
    "Fallback",
    "LocalBulkhead",
    "RedisBulkhead",
    "ResilienceEvent",
    "ResiliencePolicy",
    "acall",
    "backoff_ceiling",
    "call",
    "retry_after_seconds",
    "retry_delay",
]
