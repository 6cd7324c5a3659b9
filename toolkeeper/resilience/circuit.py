"""A circuit breaker over a count-based sliding window of a tool's recent calls.

::

    CLOSED --(after any outcome: failure or slow-call rate >= threshold,
              over >= circuit_minimum_calls)--> OPEN
    OPEN --(circuit_open_seconds elapsed on the clock)--> HALF_OPEN
    HALF_OPEN, mode "rate" --(all circuit_half_open_probes recorded: rates below the
              thresholds)--> CLOSED (window emptied); else --> OPEN
    HALF_OPEN, mode "all" --(every probe succeeds)--> CLOSED; any bad probe --> OPEN

These are resilience4j's semantics (``CircuitBreakerStateMachine``); mode
``all`` is the stricter alternative. docs/resilience.md tables sequences of
calls against resilience4j's outcome for each.

Thread-safe. ``before_call`` returns a *ticket* (the epoch, bumped on every
transition) that the caller hands back with the call's result; results of calls
admitted before a transition are ignored, so a call from before an outage cannot
close or re-open the circuit after it. A closed ``before_call`` takes no lock.

Every recorded outcome is evaluated, successes included, with one exception
that changes nothing: once a closed window holds ``circuit_minimum_calls`` calls and
its rates are below the thresholds (the state after any evaluation that did
not trip), a fast success can only lower the rates, so it is counted without
the lock and without evaluating. ``closed_epoch`` is set exactly then; it is kept in
``epoch_cell``, one 64-bit integer in an :class:`array.array`, which the C fast path of
``@keeper.tool`` reads through the buffer protocol (no attribute looked up by name).
"""

from __future__ import annotations

import logging
import threading
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from toolkeeper._clock import Clock, SystemClock
from toolkeeper._errors import CircuitOpenError
from toolkeeper.resilience._window import FAILED, SLOW, CallWindow
from toolkeeper.resilience.policy import ResiliencePolicy

__all__ = ["CircuitBreaker", "CircuitState", "CircuitTransition"]

logger = logging.getLogger(__name__)


class CircuitState(StrEnum):
    """Whether a tool's circuit lets calls through."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class CircuitTransition:
    """One change of state, as told to ``on_state_change`` listeners.

    The rates are those of the window at the moment of the change.
    """

    name: str
    old: CircuitState
    new: CircuitState
    at: datetime
    failure_rate: float
    slow_call_rate: float


class CircuitBreaker:
    """Refuse calls to a tool while too many of its recent calls failed or were slow."""

    def __init__(
        self,
        policy: ResiliencePolicy | None = None,
        clock: Clock | None = None,
        name: str = "default",
    ) -> None:
        """Watch one tool's calls under ``policy`` (default: the configuration's defaults)."""
        policy = ResiliencePolicy() if policy is None else policy
        self.name = name
        self._clock: Clock = SystemClock() if clock is None else clock
        self._lock = threading.Lock()
        self._listeners: tuple[Callable[[CircuitTransition], None], ...] = ()
        self._policy = policy
        self._state = CircuitState.CLOSED
        self._epoch = 0
        self._opened_at = 0.0
        self._opened_wall: datetime | None = None
        self._probes_admitted = 0
        self._probes_done = 0
        self._probes_failed = 0
        self._probes_slow = 0
        self._window = CallWindow(policy.circuit_window_size)
        #: ``closed_epoch`` as one signed 64-bit integer (``epoch_cell[0]``), the only place
        #: it is kept: read lock-free by the fast paths (by the C one through the buffer).
        #: Never resized.
        self.epoch_cell = array("q", [-1])
        #: Count a fast success of a closed circuit, lock-free (the window is never replaced).
        self.count_success = self._window.success

    @property
    def closed_epoch(self) -> int:
        """Return the epoch while the circuit is closed and a fast success cannot trip it.

        That is: its window holds ``circuit_minimum_calls`` calls with rates below the
        thresholds; -1 otherwise. One read admits a call and lets its fast success skip
        the lock.
        """
        return self.epoch_cell[0]

    @property
    def policy(self) -> ResiliencePolicy:
        """Return the policy in force."""
        return self._policy

    @property
    def state(self) -> CircuitState:
        """Return the current state, moving an expired open circuit to half-open."""
        if self._state is not CircuitState.OPEN:
            return self._state
        with self._lock:
            transition = self._advance()
            state = self._state
        self._announce(transition)
        return state

    def before_call(self) -> int:
        """Admit a call and return its ticket, or raise :class:`CircuitOpenError`."""
        epoch = self.epoch_cell[0]
        if epoch >= 0:
            return epoch
        with self._lock:
            transition = self._advance()
            ticket: int | None = self._epoch
            if self._state is CircuitState.OPEN:
                ticket, wait = None, self._opened_at + self._policy.circuit_open_seconds
                retry_after = max(wait - self._clock.monotonic(), 0.0)
            elif self._state is CircuitState.HALF_OPEN:
                if self._probes_admitted < self._policy.circuit_half_open_probes:
                    self._probes_admitted += 1
                else:  # every probe slot is taken; a failed probe re-opens for this long
                    ticket, retry_after = None, self._policy.circuit_open_seconds
        self._announce(transition)
        if ticket is None:
            raise CircuitOpenError(tool=self.name, retry_after_seconds=retry_after)
        return ticket

    def record_success(self, ticket: int, duration_s: float) -> None:
        """Record that the call admitted with ``ticket`` returned after ``duration_s``.

        A fast success in a closed circuit, the common case, takes no lock.
        """
        if ticket == self.epoch_cell[0]:
            slow_after = self._policy.circuit_slow_call_seconds
            if slow_after is None or duration_s <= slow_after:
                self.count_success()
                return
        self._record(ticket, False, duration_s)

    def record_failure(self, ticket: int, duration_s: float) -> None:
        """Record that the call admitted with ``ticket`` failed after ``duration_s``."""
        self._record(ticket, True, duration_s)

    def release(self, ticket: int) -> None:
        """Forget a call that ended without a result (cancelled), freeing its probe slot."""
        with self._lock:
            if ticket == self._epoch and self._state is CircuitState.HALF_OPEN:
                self._probes_admitted -= 1

    def update_policy(self, policy: ResiliencePolicy) -> None:
        """Apply a new policy from the next recorded call on; the window keeps its newest calls."""
        with self._lock:
            if policy.circuit_window_size != self._window.size:
                self._window = self._window.resized(policy.circuit_window_size)
            self._policy = policy
            if self._state is CircuitState.CLOSED:
                self._settle_closed()

    def on_state_change(self, listener: Callable[[CircuitTransition], None]) -> Callable[[], None]:
        """Call ``listener`` after every transition; return a function that unsubscribes it.

        Listeners run on the thread of the call that caused the transition, outside
        the breaker's lock. One that raises is logged and does not affect the call.
        """
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe

    def snapshot(self) -> dict[str, Any]:
        """Return the state and window figures for monitoring, as plain data."""
        with self._lock:
            transition = self._advance()
            window, state = self._window, self._state
            window.refresh()
            next_probe_at = None
            if state is CircuitState.OPEN and self._opened_wall is not None:
                wait = timedelta(seconds=self._policy.circuit_open_seconds)
                next_probe_at = self._opened_wall + wait
            data: dict[str, Any] = {
                "name": self.name,
                "state": state.value,
                "failure_rate": window.failure_rate(),
                "slow_call_rate": window.slow_call_rate(),
                "calls_in_window": window.count,
                "failures_in_window": window.failures,
                "slow_calls_in_window": window.slow,
                "opened_at": self._opened_wall,
                "next_probe_at": next_probe_at,
                "probes_in_flight": self._probes_admitted - self._probes_done,
            }
        self._announce(transition)
        return data

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self._state.value!r})"

    # -- internals; every method below runs under self._lock except _announce ----

    def _record(self, ticket: int, failed: bool, duration_s: float) -> None:
        slow_after = self._policy.circuit_slow_call_seconds
        slow = slow_after is not None and duration_s > slow_after  # strictly slower
        with self._lock:
            if ticket != self._epoch:
                return
            if self._state is CircuitState.CLOSED:
                self._window.push((FAILED if failed else 0) | (SLOW if slow else 0))
                if not self._should_trip():
                    self._settle_closed()
                    return
                transition = self._move(CircuitState.OPEN)
            elif self._state is not CircuitState.HALF_OPEN:
                return
            else:
                new = self._judge_probe(failed, slow)
                if new is None:
                    return
                transition = self._move(new)
        self._announce(transition)

    def _should_trip(self) -> bool:
        policy, window = self._policy, self._window
        if window.count < policy.circuit_minimum_calls:
            return False
        if window.failure_rate() >= policy.circuit_failure_rate:
            return True
        return (
            policy.circuit_slow_call_seconds is not None
            and window.slow_call_rate() >= policy.circuit_slow_call_rate
        )

    def _settle_closed(self) -> None:
        """Let fast successes skip the lock once they cannot trip the circuit, else stop them."""
        warm = self._window.count >= self._policy.circuit_minimum_calls and not self._should_trip()
        self.epoch_cell[0] = self._epoch if warm else -1

    def _judge_probe(self, failed: bool, slow: bool) -> CircuitState | None:
        """Count one probe's outcome; return the state it moves the circuit to, if any."""
        policy = self._policy
        self._probes_done += 1
        self._probes_failed += failed
        self._probes_slow += slow
        if policy.circuit_half_open_mode == "all":
            if failed or slow:
                return CircuitState.OPEN
            return (
                CircuitState.CLOSED
                if self._probes_done >= policy.circuit_half_open_probes
                else None
            )
        if self._probes_done < policy.circuit_half_open_probes:
            return None  # resilience4j: the probes are the minimum number of calls
        probes = self._probes_done
        if self._probes_failed / probes >= policy.circuit_failure_rate:
            return CircuitState.OPEN
        if (
            policy.circuit_slow_call_seconds is not None
            and self._probes_slow / probes >= policy.circuit_slow_call_rate
        ):
            return CircuitState.OPEN
        return CircuitState.CLOSED

    def _advance(self) -> CircuitTransition | None:
        if self._state is not CircuitState.OPEN:
            return None
        if self._clock.monotonic() - self._opened_at < self._policy.circuit_open_seconds:
            return None
        return self._move(CircuitState.HALF_OPEN)

    def _move(self, new: CircuitState) -> CircuitTransition:
        transition = CircuitTransition(
            name=self.name,
            old=self._state,
            new=new,
            at=self._clock.now(),
            failure_rate=self._window.failure_rate(),
            slow_call_rate=self._window.slow_call_rate(),
        )
        # A ticket read lock-free before this line is stale after it: results it brings are ignored.
        self._state = new
        self._epoch += 1
        self.epoch_cell[0] = -1  # a closed window starts empty: below circuit_minimum_calls
        # Counted afresh in each half-open state.
        self._probes_admitted = self._probes_done = self._probes_failed = self._probes_slow = 0
        if new is CircuitState.OPEN:
            self._opened_at = self._clock.monotonic()
            self._opened_wall = transition.at
        elif new is CircuitState.CLOSED:
            self._opened_wall = None
            self._window = self._window.emptied()
            self._settle_closed()
        return transition

    def _announce(self, transition: CircuitTransition | None) -> None:
        if transition is None:
            return
        for listener in self._listeners:
            try:
                listener(transition)
            except Exception:  # an observer's fault must not change the call it observes
                logger.exception("circuit %r: state-change listener %r failed", self.name, listener)
