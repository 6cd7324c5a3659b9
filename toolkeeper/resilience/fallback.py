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
from toolkeeper._drivers import call_and_await, takes_arguments_of
from toolkeeper._errors import CallTimeoutError
from toolkeeper.resilience.circuit import CircuitState
from toolkeeper.resilience.outcome import CallOutcome, EventKind, ResilienceEvent, notify

__all__ = [
    "Fallback",
    "FallbackChain",
    "FallbackFailure",
    "FallbackLike",
    "arun_fallbacks",
    "run_fallbacks",
]


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


class FallbackChain:
    """The fallback chain's one state machine: which fallback is next, and what each one did.

    :meth:`serve` and :meth:`aserve` are its two drivers: each takes the next
    fallback (``with chain as fallback``, which raises the original error when
    none is left), calls or awaits it and, when it returned, reports its value.
    Leaving the ``with`` on an ``Exception`` notes that fallback's error on the
    original one and moves the chain on.
    """

    __slots__ = ("_clock", "_failure", "_items", "_on_event", "_started", "answered", "args",
                 "current", "kwargs", "value")  # fmt: skip

    def __init__(
        self,
        fallbacks: Sequence[FallbackLike],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        failure: FallbackFailure,
        *,
        clock: Clock,
        on_event: Callable[[ResilienceEvent], None] | None,
    ) -> None:
        self._items = iter(fallbacks)
        self.args, self.kwargs = args, kwargs
        self._failure, self._clock, self._on_event = failure, clock, on_event
        self._started = 0.0
        self.current: Fallback | None = None
        self.answered = False
        self.value: Any = None

    def serve(self) -> CallOutcome:
        """Serve the call from the first fallback that returns, or raise the original error.

        Raises ``TypeError`` for an async fallback: it needs :meth:`aserve`.
        """
        while True:
            with self as fallback:
                self.value = fallback.fn(*self.args, **self.kwargs)
            if self.answered:
                return self._served(sync=True)

    async def aserve(self) -> CallOutcome:
        """Serve the call from the first fallback that returns, awaiting async ones.

        Sync fallbacks run inline on the event loop, so they should be quick.
        """
        while True:
            with self as fallback:
                self.value = await call_and_await(fallback.fn, self.args, self.kwargs)
            if self.answered:
                return self._served(sync=False)

    def __enter__(self) -> Fallback:
        """Take the next fallback to try; raise the original error when none is left."""
        item = next(self._items, None)
        if item is None:
            raise self._failure.error
        self.current = Fallback.of(item)
        self.answered = False
        self._started = self._clock.monotonic()
        return self.current

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> bool:
        """Note a fallback's ``Exception`` on the original error and move on; let others out."""
        assert self.current is not None  # entered first
        if error is None:
            self.answered = True
            return False
        if not isinstance(error, Exception):  # KeyboardInterrupt, CancelledError: not a failure
            return False
        self._failure.error.add_note(
            f"fallback {self.current.name!r} also failed: {type(error).__name__}: {error}"
        )
        self._notify(EventKind.FALLBACK_FAILED, error)
        return True

    def _served(self, *, sync: bool) -> CallOutcome:
        """Return the outcome of a call the current fallback served (refusing async in sync)."""
        assert self.current is not None  # reported only after a fallback answered
        value, self.value = self.value, None
        if sync and inspect.isawaitable(value):
            if inspect.iscoroutine(value):
                value.close()  # never awaited; closing avoids a "never awaited" warning
            raise TypeError(
                f"fallback {self.current.name!r} of tool {self._failure.tool!r} is async; "
                "call the tool with acall() to use it"
            ) from self._failure.error
        failure = self._failure
        return CallOutcome(
            value=value,
            attempts=failure.attempts,
            error=failure.error,
            fallback_used=True,
            fallback_name=self.current.name,
            fallback_duration_s=self._notify(EventKind.FALLBACK_SUCCEEDED, failure.error),
            circuit_state=failure.circuit_state,
            timed_out=isinstance(failure.error, CallTimeoutError),
        )

    def _notify(self, kind: EventKind, error: BaseException) -> float:
        """Report what the current fallback did; return how long it took, in seconds."""
        assert self.current is not None  # reported only after a fallback ran
        duration_s = self._clock.monotonic() - self._started
        notify(
            self._on_event,
            ResilienceEvent(
                kind=kind,
                tool=self._failure.tool,
                attempt=self._failure.attempts,
                error=error,
                fallback_name=self.current.name,
                duration_s=duration_s,
            ),
        )
        return duration_s


@takes_arguments_of(FallbackChain)
def run_fallbacks(*arguments: Any, **options: Any) -> CallOutcome:
    """Serve the call from the first fallback that returns, or raise the original error.

    Takes :class:`FallbackChain`'s arguments; see :meth:`FallbackChain.serve`.
    """
    return FallbackChain(*arguments, **options).serve()


@takes_arguments_of(FallbackChain)
async def arun_fallbacks(*arguments: Any, **options: Any) -> CallOutcome:
    """Serve the call from the first fallback that returns, awaiting async ones.

    Takes :class:`FallbackChain`'s arguments; see :meth:`FallbackChain.aserve`.
    """
    return await FallbackChain(*arguments, **options).aserve()
