"""CircuitBreaker: tripping on failure and slow-call rates, waiting, probing, listeners, threads."""

from __future__ import annotations

import dataclasses
import logging
import threading
from datetime import timedelta

import pytest

from toolkeeper._clock import FakeClock
from toolkeeper._errors import CircuitOpenError
from toolkeeper.resilience import (
    CircuitBreaker,
    CircuitState,
    CircuitTransition,
    ResiliencePolicy,
)

POLICY = ResiliencePolicy(
    failure_rate_threshold=0.5,
    minimum_calls=4,
    window_size=10,
    open_wait_seconds=30.0,
    half_open_probes=2,
)


def record(breaker: CircuitBreaker, outcomes: str, duration_s: float = 0.01) -> None:
    """Run one admitted call per letter: ``s`` succeeds, ``f`` fails."""
    for letter in outcomes:
        ticket = breaker.before_call()
        if letter == "s":
            breaker.record_success(ticket, duration_s)
        else:
            breaker.record_failure(ticket, duration_s)


def state(breaker: CircuitBreaker) -> CircuitState:
    """Read the state afresh (mypy would otherwise narrow the property between reads)."""
    return breaker.state


def tripped(clock: FakeClock, policy: ResiliencePolicy = POLICY) -> CircuitBreaker:
    """Return a breaker that has just opened."""
    breaker = CircuitBreaker(policy, clock, "openai")
    record(breaker, "ffff")
    assert state(breaker) is CircuitState.OPEN
    return breaker


def test_stays_closed_below_the_minimum_number_of_calls() -> None:
    """Ignore a 100% failure rate until minimum_calls calls are in the window."""
    breaker = CircuitBreaker(POLICY, FakeClock(), "openai")
    record(breaker, "fff")
    assert state(breaker) is CircuitState.CLOSED


def test_opens_when_the_failure_rate_reaches_the_threshold() -> None:
    """Open at 2 failures out of 4 calls with a threshold of 0.5."""
    breaker = CircuitBreaker(POLICY, FakeClock(), "openai")
    record(breaker, "sfs")
    assert state(breaker) is CircuitState.CLOSED
    record(breaker, "f")
    assert state(breaker) is CircuitState.OPEN
    assert breaker.snapshot()["failure_rate"] == 0.5


def test_stays_closed_below_the_threshold() -> None:
    """Keep the circuit closed at 4 failures out of 10 with a threshold of 0.5."""
    breaker = CircuitBreaker(POLICY, FakeClock(), "openai")
    record(breaker, "ssfsfsfssf")
    assert state(breaker) is CircuitState.CLOSED


def test_old_calls_slide_out_of_the_window() -> None:
    """Count only the last window_size calls."""
    breaker = CircuitBreaker(POLICY, FakeClock(), "openai")
    record(breaker, "sssf" + "s" * 10)
    snapshot = breaker.snapshot()
    assert snapshot["calls_in_window"] == 10
    assert snapshot["failures_in_window"] == 0


def test_refuses_calls_while_open_and_says_when_to_come_back() -> None:
    """Raise CircuitOpenError with the time left until the next probe."""
    clock = FakeClock()
    breaker = tripped(clock)
    with pytest.raises(CircuitOpenError) as caught:
        breaker.before_call()
    assert caught.value.retry_after_seconds == 30.0
    assert caught.value.tool == "openai"
    clock.advance(29)
    with pytest.raises(CircuitOpenError) as caught:
        breaker.before_call()
    assert caught.value.retry_after_seconds == pytest.approx(1.0)


def test_half_opens_after_the_wait_and_admits_only_the_probes() -> None:
    """Admit half_open_probes calls once open_wait_seconds passed, and refuse the next."""
    clock = FakeClock()
    breaker = tripped(clock)
    clock.advance(30)
    assert state(breaker) is CircuitState.HALF_OPEN
    breaker.before_call()
    breaker.before_call()
    with pytest.raises(CircuitOpenError):
        breaker.before_call()


def test_rate_mode_waits_for_every_probe_before_deciding() -> None:
    """Stay half-open after one failed probe of two in mode rate, then open at 50%."""
    clock = FakeClock()
    breaker = tripped(clock)
    clock.advance(30)
    first, second = breaker.before_call(), breaker.before_call()
    breaker.record_failure(first, 0.01)
    assert state(breaker) is CircuitState.HALF_OPEN
    breaker.record_success(second, 0.01)
    assert state(breaker) is CircuitState.OPEN


def test_a_success_can_open_the_circuit() -> None:
    """Open on the success that brings the window to minimum_calls at a 75% failure rate."""
    breaker = CircuitBreaker(POLICY, FakeClock(), "openai")
    record(breaker, "fff")
    assert state(breaker) is CircuitState.CLOSED
    record(breaker, "s")
    assert state(breaker) is CircuitState.OPEN


def test_a_lowered_threshold_is_applied_by_the_next_success() -> None:
    """Open on the next success after a runtime update puts the rate at the new threshold."""
    breaker = CircuitBreaker(POLICY, FakeClock(), "openai")
    record(breaker, "sfsss")
    assert breaker.closed_epoch >= 0  # warm: successes are counted lock-free
    breaker.update_policy(dataclasses.replace(POLICY, failure_rate_threshold=0.1))
    assert breaker.closed_epoch == -1
    record(breaker, "s")
    assert state(breaker) is CircuitState.OPEN


def test_closes_after_all_probes_succeed_with_an_empty_window() -> None:
    """Close once every probe has succeeded, and forget the failures that opened it."""
    clock = FakeClock()
    breaker = tripped(clock)
    clock.advance(30)
    first, second = breaker.before_call(), breaker.before_call()
    breaker.record_success(first, 0.01)
    assert state(breaker) is CircuitState.HALF_OPEN
    breaker.record_success(second, 0.01)
    assert state(breaker) is CircuitState.CLOSED
    assert breaker.snapshot()["calls_in_window"] == 0


def test_a_failed_probe_opens_the_circuit_again_for_a_full_wait() -> None:
    """Re-open when half the probes failed (rate mode) and restart the wait from that moment."""
    clock = FakeClock()
    breaker = tripped(clock)
    clock.advance(30)
    first, second = breaker.before_call(), breaker.before_call()
    breaker.record_success(first, 0.01)
    breaker.record_failure(second, 0.01)
    assert state(breaker) is CircuitState.OPEN
    with pytest.raises(CircuitOpenError) as caught:
        breaker.before_call()
    assert caught.value.retry_after_seconds == 30.0


def test_slow_calls_trip_the_circuit() -> None:
    """Open when the share of calls strictly slower than slow_call_seconds reaches its threshold."""
    policy = dataclasses.replace(POLICY, slow_call_seconds=2.0, slow_call_rate_threshold=0.75)
    breaker = CircuitBreaker(policy, FakeClock(), "openai")
    record(breaker, "ss", duration_s=2.5)
    record(breaker, "s", duration_s=0.1)
    record(breaker, "s", duration_s=2.01)
    assert state(breaker) is CircuitState.OPEN
    assert breaker.snapshot()["slow_call_rate"] == 0.75
    assert breaker.snapshot()["failure_rate"] == 0.0


def test_a_call_of_exactly_the_slow_threshold_is_not_slow() -> None:
    """Count a call lasting exactly slow_call_seconds as fast: slow means strictly slower."""
    policy = dataclasses.replace(POLICY, slow_call_seconds=2.0, slow_call_rate_threshold=0.5)
    breaker = CircuitBreaker(policy, FakeClock(), "openai")
    record(breaker, "ssss", duration_s=2.0)
    assert state(breaker) is CircuitState.CLOSED
    assert breaker.snapshot()["slow_calls_in_window"] == 0


def test_a_slow_probe_counts_as_a_failed_probe() -> None:
    """Re-open, in mode all, when a probe succeeds but slower than slow_call_seconds."""
    policy = dataclasses.replace(POLICY, slow_call_seconds=2.0, half_open_mode="all")
    clock = FakeClock()
    breaker = tripped(clock, policy)
    clock.advance(30)
    breaker.record_success(breaker.before_call(), 5.0)
    assert state(breaker) is CircuitState.OPEN


def test_a_call_admitted_before_a_transition_does_not_count_after_it() -> None:
    """Ignore results whose ticket predates the current state."""
    clock = FakeClock()
    breaker = CircuitBreaker(POLICY, clock, "openai")
    stale = breaker.before_call()
    record(breaker, "ffff")
    clock.advance(30)
    probe = breaker.before_call()
    breaker.record_failure(stale, 0.01)  # from before the outage: must not re-open
    assert state(breaker) is CircuitState.HALF_OPEN
    breaker.record_success(probe, 0.01)
    breaker.record_success(breaker.before_call(), 0.01)
    assert state(breaker) is CircuitState.CLOSED


def test_release_frees_a_probe_slot() -> None:
    """Let another probe in when one ends without a result (cancelled)."""
    clock = FakeClock()
    breaker = tripped(clock, dataclasses.replace(POLICY, half_open_probes=1))
    clock.advance(30)
    probe = breaker.before_call()
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    breaker.release(probe)
    breaker.record_success(breaker.before_call(), 0.01)
    assert state(breaker) is CircuitState.CLOSED


def test_listeners_see_every_transition_in_order() -> None:
    """Tell each listener of closed→open→half_open→closed with the window's rates."""
    clock = FakeClock()
    seen: list[CircuitTransition] = []
    breaker = CircuitBreaker(POLICY, clock, "openai")
    breaker.on_state_change(seen.append)
    record(breaker, "ffff")
    clock.advance(30)
    record(breaker, "ss")
    assert [(t.old, t.new) for t in seen] == [
        (CircuitState.CLOSED, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.HALF_OPEN),
        (CircuitState.HALF_OPEN, CircuitState.CLOSED),
    ]
    assert seen[0].name == "openai"
    assert seen[0].failure_rate == 1.0
    assert seen[1].at == seen[0].at + timedelta(seconds=30)


def test_an_unsubscribed_listener_hears_nothing_more() -> None:
    """Stop calling a listener once its unsubscribe function has run."""
    seen: list[CircuitTransition] = []
    breaker = CircuitBreaker(POLICY, FakeClock(), "openai")
    unsubscribe = breaker.on_state_change(seen.append)
    unsubscribe()
    record(breaker, "ffff")
    assert seen == []


def test_a_failing_listener_is_logged_and_does_not_break_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Log a listener's exception and still complete the transition and the others."""
    seen: list[CircuitTransition] = []

    def broken(transition: CircuitTransition) -> None:
        raise RuntimeError("alerting is down")

    breaker = CircuitBreaker(POLICY, FakeClock(), "openai")
    breaker.on_state_change(broken)
    breaker.on_state_change(seen.append)
    with caplog.at_level(logging.ERROR):
        record(breaker, "ffff")
    assert state(breaker) is CircuitState.OPEN
    assert len(seen) == 1
    assert "alerting is down" in caplog.text


def test_snapshot_reports_when_it_opened_and_the_next_probe() -> None:
    """Give state, rates, window size, opening time and next probe time as plain data."""
    clock = FakeClock()
    breaker = tripped(clock)
    snapshot = breaker.snapshot()
    assert snapshot["state"] == "open"
    assert snapshot["calls_in_window"] == 4
    assert snapshot["opened_at"] == clock.now()
    assert snapshot["next_probe_at"] == clock.now() + timedelta(seconds=30)
    clock.advance(30)
    assert breaker.snapshot()["state"] == "half_open"
    assert breaker.snapshot()["next_probe_at"] is None


def test_an_updated_policy_applies_from_the_next_call() -> None:
    """Trip under a lowered minimum_calls on the next failure, after a runtime update."""
    breaker = CircuitBreaker(POLICY, FakeClock(), "openai")
    record(breaker, "ff")
    breaker.update_policy(dataclasses.replace(POLICY, minimum_calls=2))
    assert state(breaker) is CircuitState.CLOSED
    record(breaker, "f")
    assert state(breaker) is CircuitState.OPEN


def test_resizing_the_window_keeps_the_newest_calls() -> None:
    """Keep the most recent calls when window_size shrinks at runtime."""
    policy = dataclasses.replace(POLICY, minimum_calls=10, window_size=20)
    breaker = CircuitBreaker(policy, FakeClock(), "openai")
    record(breaker, "ffffffssss")
    breaker.update_policy(dataclasses.replace(policy, minimum_calls=3, window_size=5))
    snapshot = breaker.snapshot()
    assert (snapshot["calls_in_window"], snapshot["failures_in_window"]) == (5, 1)
    assert breaker.policy.window_size == 5


def test_concurrent_calls_lose_no_count() -> None:
    """Record 8 threads x 1,000 calls under the lock without losing one."""
    policy = ResiliencePolicy(window_size=10_000, minimum_calls=10_000)
    breaker = CircuitBreaker(policy, FakeClock(), "openai")
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        record(breaker, "sf" * 500)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snapshot = breaker.snapshot()
    assert (snapshot["calls_in_window"], snapshot["failures_in_window"]) == (8000, 4000)
