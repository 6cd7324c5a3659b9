"""The fallback chain: what serves a call after its primary has finally failed.

Each fallback receives the primary's arguments. They are tried in order; the
first that returns serves the call, and the outcome keeps the primary's
*original* error. When every fallback fails, the original error is raised,
with one note (:pep:`678`) per failed fallback naming it and its error: the
caller's ``except`` clauses keep matching the tool's own error, and the
traceback still tells the whole story. Fallbacks run without a timeout or
retries of their own; a fallback that needs them can be another wrapped tool.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from toolkeeper._clock import Clock
from toolkeeper._errors import CallTimeoutError
from toolkeeper.resilience.circuit import CircuitState
from toolkeeper.resilience.outcome import CallOutcome, EventKind, ResilienceEvent, notify

__all__ = ["Fallback", "FallbackFailure", "FallbackLike", "arun_fallbacks", "run_fallbacks"]


@dataclass(frozen=True, slots=True)
class Fallback:
    """A callable (sync or async) to try when the primary fails, and its recorded name."""

    fn: Callable[..., Any]
    name: str

    @classmethod
    def of(cls, item: FallbackLike) -> Fallback:
        """Return ``item`` as a :class:`Fallback`, naming a bare callable after its qualname."""
        if isinstance(item, Fallback):
            return item
        name = getattr(item, "__qualname__", None) or getattr(item, "__name__", None)
        return cls(fn=item, name=name or repr(item))


@dataclass(frozen=True, slots=True, kw_only=True)
class FallbackFailure:
    """Why a call needs its fallbacks: the original error and what led to it."""

    error: BaseException
    tool: str
    attempts: int
    circuit_state: CircuitState | None


FallbackLike: TypeAlias = Callable[..., Any] | Fallback


class _Chain:
    """The fallback chain's one state machine: which fallback is next, and what each one did.

    :func:`run_fallbacks` and :func:`arun_fallbacks` drive it: they call (or
    await) the fallback it hands them and report the value or the error.
    """

    __slots__ = ("_clock", "_failure", "_items", "_on_event", "_started", "current")

    def __init__(
        self,
        fallbacks: Sequence[FallbackLike],
        failure: FallbackFailure,
        clock: Clock,
        on_event: Callable[[ResilienceEvent], None] | None,
    ) -> None:
        self._items = iter(fallbacks)
        self._failure, self._clock, self._on_event = failure, clock, on_event
        self._started = 0.0
        self.current: Fallback | None = None

    def next(self) -> Fallback:
        """Return the next fallback to try; raise the original error when none is left."""
        item = next(self._items, None)
        if item is None:
            raise self._failure.error
        self.current = Fallback.of(item)
        self._started = self._clock.monotonic()
        return self.current

    def failed(self, error: Exception) -> None:
        """Note the current fallback's error on the original one; the chain moves on."""
        assert self.current is not None  # reported only after next()
        duration = self._clock.monotonic() - self._started
        _failed(self.current, error, duration, self._failure, self._on_event)

    def served(self, value: Any) -> CallOutcome:
        """Return the outcome of a call the current fallback served."""
        assert self.current is not None  # reported only after next()
        duration = self._clock.monotonic() - self._started
        return _served(self.current, value, duration, self._failure, self._on_event)

    def refuse_async(self, value: Any) -> TypeError:
        """Return the error of an async fallback met by a sync call (its coroutine closed)."""
        assert self.current is not None  # reported only after next()
        if inspect.iscoroutine(value):
            value.close()  # never awaited; closing avoids a "never awaited" warning
        return TypeError(
            f"fallback {self.current.name!r} of tool {self._failure.tool!r} is async; "
            "call the tool with acall() to use it"
        )


def run_fallbacks(
    fallbacks: Sequence[FallbackLike],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    failure: FallbackFailure,
    *,
    clock: Clock,
    on_event: Callable[[ResilienceEvent], None] | None,
) -> CallOutcome:
    """Serve the call from the first fallback that returns, or raise the original error.

    Raises ``TypeError`` for an async fallback: it needs ``acall``.
    """
    chain = _Chain(fallbacks, failure, clock, on_event)
    while True:
        fallback = chain.next()
        try:
            value = fallback.fn(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - moves the chain on; noted on the original
            chain.failed(error)
            continue
        if inspect.isawaitable(value):
            raise chain.refuse_async(value) from failure.error
        return chain.served(value)


async def arun_fallbacks(
    fallbacks: Sequence[FallbackLike],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    failure: FallbackFailure,
    *,
    clock: Clock,
    on_event: Callable[[ResilienceEvent], None] | None,
) -> CallOutcome:
    """Serve the call from the first fallback that returns, awaiting async ones.

    Sync fallbacks run inline on the event loop, so they should be quick.
    """
    chain = _Chain(fallbacks, failure, clock, on_event)
    while True:
        fallback = chain.next()
        try:
            value = fallback.fn(*args, **kwargs)
            if inspect.isawaitable(value):
                value = await value
        except Exception as error:  # noqa: BLE001 - moves the chain on; noted on the original
            chain.failed(error)
            continue
        return chain.served(value)


def _served(
    fallback: Fallback,
    value: Any,
    duration_s: float,
    failure: FallbackFailure,
    on_event: Callable[[ResilienceEvent], None] | None,
) -> CallOutcome:
    notify(
        on_event,
        ResilienceEvent(
            kind=EventKind.FALLBACK_SUCCEEDED,
            tool=failure.tool,
            attempt=failure.attempts,
            error=failure.error,
            fallback_name=fallback.name,
            duration_s=duration_s,
        ),
    )
    return CallOutcome(
        value=value,
        attempts=failure.attempts,
        error=failure.error,
        fallback_used=True,
        fallback_name=fallback.name,
        fallback_duration_s=duration_s,
        circuit_state=failure.circuit_state,
        timed_out=isinstance(failure.error, CallTimeoutError),
    )


def _failed(
    fallback: Fallback,
    error: Exception,
    duration_s: float,
    failure: FallbackFailure,
    on_event: Callable[[ResilienceEvent], None] | None,
) -> None:
    failure.error.add_note(
        f"fallback {fallback.name!r} also failed: {type(error).__name__}: {error}"
    )
    notify(
        on_event,
        ResilienceEvent(
            kind=EventKind.FALLBACK_FAILED,
            tool=failure.tool,
            attempt=failure.attempts,
            error=error,
            fallback_name=fallback.name,
            duration_s=duration_s,
        ),
    )
