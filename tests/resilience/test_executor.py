"""The executor: the same scenarios through call() and acall(), plus the real timeout paths."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from toolkeeper._clock import FakeClock
from toolkeeper._errors import CallTimeoutError, CircuitOpenError
from toolkeeper.resilience import (
    CallOutcome,
    CircuitBreaker,
    CircuitState,
    EventKind,
    Fallback,
    ResilienceEvent,
    ResiliencePolicy,
    acall,
    call,
)

POLICY = ResiliencePolicy(
    max_attempts=3,
    backoff_initial_seconds=1.0,
    backoff_max_seconds=10.0,
    failure_rate_threshold=0.5,
    minimum_calls=4,
    window_size=10,
    open_wait_seconds=30.0,
    half_open_probes=2,
)

Runner = Callable[..., CallOutcome]


class UpstreamError(Exception):
    """The tool's own failure."""


class Flaky:
    """A tool that fails its first ``failures`` calls, then answers ``"ok"``."""

    def __init__(
        self, failures: int, error: type[Exception] = UpstreamError, **attributes: Any
    ) -> None:
        self.failures = failures
        self.error = error
        self.attributes = attributes
        self.calls = 0

    def __call__(self, prompt: str) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            error = self.error(f"failure {self.calls}")
            for name, value in self.attributes.items():
                setattr(error, name, value)
            raise error
        return f"ok: {prompt}"


def as_async(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Return an async function that calls ``fn``, keeping its name."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return fn(*args, **kwargs)

    return wrapper


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Runner:
    """Run a scenario through call(), or through acall() with async primary and fallbacks."""
    if request.param == "sync":
        return call

    def run_async(
        fn: Callable[..., Any], *args: Any, fallbacks: Sequence[Any] = (), **kwargs: Any
    ) -> CallOutcome:
        chain = [Fallback(fn=as_async(f.fn), name=f.name) for f in map(Fallback.of, fallbacks)]
        return asyncio.run(acall(as_async(fn), *args, fallbacks=chain, **kwargs))

    return run_async


@pytest.fixture
def clock() -> FakeClock:
    """Give each test its own fake clock."""
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    """Give each test a closed breaker on the fake clock."""
    return CircuitBreaker(POLICY, clock, "openai")


def local_model(prompt: str) -> str:
    """Answer from a local model: the fallback that works."""
    return f"local: {prompt}"


def also_down(prompt: str) -> str:
    """Fail like the primary: a fallback that does not help."""
    raise ConnectionError("secondary down")


def test_a_first_try_success_returns_the_value(
    run: Runner, clock: FakeClock, breaker: CircuitBreaker
) -> None:
    """Return the primary's value after one attempt, with no error and no sleep."""
    outcome = run(Flaky(0), "hi", policy=POLICY, breaker=breaker, clock=clock)
    assert outcome == CallOutcome(value="ok: hi", attempts=1, circuit_state=CircuitState.CLOSED)
    assert clock.sleeps == []


def test_retries_with_jittered_backoff_until_success(
    run: Runner, clock: FakeClock, breaker: CircuitBreaker
) -> None:
    """Retry failed attempts after full-jitter waits on the clock, and report each retry."""
    events: list[ResilienceEvent] = []
    primary = Flaky(2)
    outcome = run(
        primary,
        "hi",
        policy=POLICY,
        breaker=breaker,
        clock=clock,
        on_event=events.append,
        rng=random.Random(5),
    )
    assert (outcome.value, outcome.attempts, outcome.error) == ("ok: hi", 3, None)
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 1.0
    assert 0 <= clock.sleeps[1] <= 2.0
    assert [(e.kind, e.attempt, e.delay_s) for e in events] == [
        (EventKind.RETRY, 1, clock.sleeps[0]),
        (EventKind.RETRY, 2, clock.sleeps[1]),
    ]


def test_retry_waits_at_least_the_retry_after(run: Runner, clock: FakeClock) -> None:
    """Wait the server's Retry-After when it is longer than the jittered backoff."""
    outcome = run(Flaky(1, retry_after=7), "hi", policy=POLICY, clock=clock)
    assert outcome.attempts == 2
    assert clock.sleeps == [7.0]


def test_exhausted_attempts_raise_the_last_error(run: Runner, clock: FakeClock) -> None:
    """Raise the tool's own error once max_attempts have failed and nothing falls back."""
    primary = Flaky(5)
    with pytest.raises(UpstreamError, match="failure 3"):
        run(primary, "hi", policy=POLICY, clock=clock)
    assert primary.calls == 3


def test_an_error_not_retried_goes_straight_to_the_fallback(run: Runner, clock: FakeClock) -> None:
    """Skip retries for an error listed in failure_on and serve from the fallback."""
    policy = dataclasses.replace(POLICY, failure_on=(ValueError,))
    outcome = run(Flaky(5, ValueError), "hi", policy=policy, clock=clock, fallbacks=[local_model])
    assert outcome.attempts == 1
    assert isinstance(outcome.error, ValueError)
    assert clock.sleeps == []


def test_a_fallback_serves_and_the_outcome_keeps_the_original_error(
    run: Runner, clock: FakeClock, breaker: CircuitBreaker
) -> None:
    """Return the fallback's value, its name and duration, and the primary's original error."""
    events: list[ResilienceEvent] = []

    def slow_local(prompt: str) -> str:
        clock.advance(0.25)
        return local_model(prompt)

    primary = Flaky(5)
    outcome = run(
        primary,
        "hi",
        policy=POLICY,
        breaker=breaker,
        clock=clock,
        fallbacks=[also_down, Fallback(fn=slow_local, name="local-llama")],
        on_event=events.append,
    )
    assert outcome.value == "local: hi"
    assert outcome.fallback_used
    assert outcome.fallback_name == "local-llama"
    assert outcome.fallback_duration_s == pytest.approx(0.25)
    assert isinstance(outcome.error, UpstreamError)
    assert str(outcome.error) == "failure 3"
    assert outcome.attempts == 3
    assert not outcome.timed_out
    kinds = [(e.kind, e.fallback_name) for e in events if e.kind is not EventKind.RETRY]
    assert kinds == [
        (EventKind.FALLBACK_FAILED, "also_down"),
        (EventKind.FALLBACK_SUCCEEDED, "local-llama"),
    ]


def test_when_every_fallback_fails_the_original_error_is_raised_with_notes(
    run: Runner, clock: FakeClock
) -> None:
    """Raise the primary's error, noting each fallback that also failed."""
    with pytest.raises(UpstreamError) as caught:
        run(Flaky(5), "hi", policy=POLICY, clock=clock, fallbacks=[also_down])
    assert caught.value.__notes__ == [
        "fallback 'also_down' also failed: ConnectionError: secondary down"
    ]


def test_an_open_circuit_skips_the_primary_and_falls_back(
    run: Runner, clock: FakeClock, breaker: CircuitBreaker
) -> None:
    """Serve from the fallback without calling the primary while the circuit is open."""
    for _ in range(4):
        breaker.record_failure(breaker.before_call(), 0.01)
    events: list[ResilienceEvent] = []
    primary = Flaky(0)
    outcome = run(
        primary,
        "hi",
        policy=POLICY,
        breaker=breaker,
        clock=clock,
        fallbacks=[local_model],
        on_event=events.append,
    )
    assert primary.calls == 0
    assert outcome.attempts == 0
    assert isinstance(outcome.error, CircuitOpenError)
    assert outcome.circuit_state is CircuitState.OPEN
    assert events[0].kind is EventKind.CIRCUIT_REFUSED
    with pytest.raises(CircuitOpenError):
        run(primary, "hi", policy=POLICY, breaker=breaker, clock=clock)


def test_circuit_opens_half_opens_and_closes_through_the_executor(
    run: Runner, clock: FakeClock, breaker: CircuitBreaker
) -> None:
    """Open on failures, refuse, probe after the wait, and close after the probes succeed."""
    policy = dataclasses.replace(POLICY, max_attempts=1)
    down = Flaky(1_000)
    for _ in range(4):
        outcome = run(
            down, "x", policy=policy, breaker=breaker, clock=clock, fallbacks=[local_model]
        )
    assert outcome.circuit_state is CircuitState.OPEN
    assert down.calls == 4
    run(down, "x", policy=policy, breaker=breaker, clock=clock, fallbacks=[local_model])
    assert down.calls == 4  # refused
    clock.advance(30)
    healthy = Flaky(0)
    first = run(healthy, "x", policy=policy, breaker=breaker, clock=clock)
    assert first.circuit_state is CircuitState.HALF_OPEN
    second = run(healthy, "x", policy=policy, breaker=breaker, clock=clock)
    assert second.circuit_state is CircuitState.CLOSED


def test_a_failed_probe_reopens_through_the_executor(
    run: Runner, clock: FakeClock, breaker: CircuitBreaker
) -> None:
    """Re-open once both probes failed (rate mode), without retrying into the open circuit."""
    for _ in range(4):
        breaker.record_failure(breaker.before_call(), 0.01)
    clock.advance(30)
    probe = Flaky(5)
    outcome = run(probe, "x", policy=POLICY, breaker=breaker, clock=clock, fallbacks=[local_model])
    assert probe.calls == 2  # the retry took the second probe slot; the third was refused
    assert outcome.circuit_state is CircuitState.OPEN
    assert len(clock.sleeps) == 1


def test_a_failed_probe_reopens_at_once_in_mode_all(run: Runner, clock: FakeClock) -> None:
    """Re-open on the first failed probe in mode all, without retrying into the open circuit."""
    policy = dataclasses.replace(POLICY, half_open_mode="all")
    breaker = CircuitBreaker(policy, clock, "openai")
    for _ in range(4):
        breaker.record_failure(breaker.before_call(), 0.01)
    clock.advance(30)
    probe = Flaky(5)
    outcome = run(probe, "x", policy=policy, breaker=breaker, clock=clock, fallbacks=[local_model])
    assert probe.calls == 1
    assert outcome.circuit_state is CircuitState.OPEN
    assert clock.sleeps == []


def test_slow_calls_trip_the_circuit_through_the_executor(run: Runner, clock: FakeClock) -> None:
    """Open the circuit on calls that succeed but take longer than slow_call_seconds."""
    policy = dataclasses.replace(POLICY, slow_call_seconds=2.0, slow_call_rate_threshold=0.5)
    breaker = CircuitBreaker(policy, clock, "openai")

    def sluggish(prompt: str) -> str:
        clock.advance(3.0)
        return prompt

    outcomes = [run(sluggish, "x", policy=policy, breaker=breaker, clock=clock) for _ in range(4)]
    assert [o.circuit_state for o in outcomes][-2:] == [CircuitState.CLOSED, CircuitState.OPEN]


def test_a_policy_update_takes_effect_on_the_next_call(
    run: Runner, clock: FakeClock, breaker: CircuitBreaker
) -> None:
    """Apply a new policy passed at runtime to retries and to the breaker it is given with."""
    single = dataclasses.replace(POLICY, max_attempts=1)
    with pytest.raises(UpstreamError):
        run(Flaky(1), "x", policy=single, breaker=breaker, clock=clock)
    patient = dataclasses.replace(
        POLICY, max_attempts=2, minimum_calls=3, window_size=5, failure_rate_threshold=0.7
    )
    outcome = run(Flaky(1), "x", policy=patient, breaker=breaker, clock=clock)
    assert outcome.attempts == 2
    assert breaker.policy is patient
    assert breaker.snapshot()["calls_in_window"] == 3
    assert outcome.circuit_state is CircuitState.CLOSED  # 2 of 3 failed: under 0.7
    strict = dataclasses.replace(patient, max_attempts=1, failure_rate_threshold=0.25)
    outcome = run(Flaky(0), "x", policy=strict, breaker=breaker, clock=clock)
    assert outcome.circuit_state is CircuitState.OPEN  # 2 of 4 failed: over the new 0.25


def test_sync_and_async_paths_give_the_same_outcome(clock: FakeClock) -> None:
    """Produce equal outcomes and equal waits from call() and acall() for one scenario."""
    results = []
    for use_async in (False, True):
        scenario_clock = FakeClock()
        breaker = CircuitBreaker(POLICY, scenario_clock, "openai")
        primary, fallback = Flaky(5), Fallback(fn=local_model, name="local")
        options: dict[str, Any] = {
            "policy": POLICY,
            "breaker": breaker,
            "clock": scenario_clock,
            "rng": random.Random(11),
            "fallbacks": [fallback],
        }
        if use_async:
            outcome = asyncio.run(acall(as_async(primary), "hi", **options))
        else:
            outcome = call(primary, "hi", **options)
        results.append((dataclasses.replace(outcome, error=None), scenario_clock.sleeps))
    assert results[0] == results[1]


def test_a_failing_observer_is_logged_not_raised(
    run: Runner, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Complete the call when on_event raises, logging the observer's fault."""

    def broken(event: ResilienceEvent) -> None:
        raise RuntimeError("metrics sink gone")

    with caplog.at_level(logging.ERROR):
        outcome = run(Flaky(1), "x", policy=POLICY, clock=clock, on_event=broken)
    assert outcome.value == "ok: x"
    assert "metrics sink gone" in caplog.text


def test_without_a_timeout_the_sync_call_runs_inline(clock: FakeClock) -> None:
    """Call the function on the caller's thread when the policy has no timeout."""
    outcome = call(threading.current_thread, policy=POLICY, clock=clock)
    assert outcome.value is threading.current_thread()


def test_an_async_fallback_in_a_sync_call_is_a_type_error(clock: FakeClock) -> None:
    """Refuse an async fallback in call(), pointing at acall()."""
    with pytest.raises(TypeError, match="acall"):
        call(Flaky(5), "x", policy=POLICY, clock=clock, fallbacks=[as_async(local_model)])


def test_keyboard_interrupt_passes_through_and_frees_the_probe(
    clock: FakeClock, breaker: CircuitBreaker
) -> None:
    """Re-raise a BaseException untouched, without fallback, releasing the probe slot."""
    policy = dataclasses.replace(POLICY, half_open_probes=1)
    for _ in range(4):
        breaker.record_failure(breaker.before_call(), 0.01)
    clock.advance(30)

    def interrupted(prompt: str) -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        call(interrupted, "x", policy=policy, breaker=breaker, clock=clock, fallbacks=[local_model])
    assert call(Flaky(0), "x", policy=policy, breaker=breaker, clock=clock).attempts == 1


# -- the real timeout paths: tiny real waits, nothing else sleeps for real ----------

TIMEOUT = dataclasses.replace(POLICY, timeout_seconds=0.05, max_attempts=1)
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def test_sync_timeout_returns_promptly_and_falls_back(clock: FakeClock) -> None:
    """Raise CallTimeoutError promptly from call() while the stuck call runs on in its thread."""
    release = threading.Event()
    try:
        began = time.perf_counter()
        outcome = call(release.wait, 2.0, policy=TIMEOUT, clock=clock, fallbacks=[local_model])
        assert time.perf_counter() - began < 0.5
    finally:
        release.set()
    assert outcome.timed_out
    assert isinstance(outcome.error, CallTimeoutError)
    assert outcome.error.timeout_seconds == 0.05


def test_async_timeout_cancels_and_falls_back(clock: FakeClock) -> None:
    """Raise CallTimeoutError from acall() by cancelling the awaited call."""
    cancelled = []

    async def stuck(prompt: str) -> str:
        try:
            await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            cancelled.append(prompt)
            raise
        return prompt

    outcome = asyncio.run(acall(stuck, "x", policy=TIMEOUT, clock=clock, fallbacks=[local_model]))
    assert outcome.timed_out
    assert outcome.value == "local: x"
    assert cancelled == ["x"]


def test_a_timed_call_sees_the_callers_context(clock: FakeClock) -> None:
    """Run a sync call that has a timeout in a copy of the caller's contextvars."""
    token = request_id.set("req-42")
    try:
        outcome = call(request_id.get, policy=TIMEOUT, clock=clock)
    finally:
        request_id.reset(token)
    assert outcome.value == "req-42"
    assert not outcome.timed_out


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_the_functions_own_timeout_error_is_not_ours(clock: FakeClock, use_async: bool) -> None:
    """Leave a TimeoutError raised by the function itself unconverted."""

    def own_timeout(prompt: str) -> str:
        raise TimeoutError("socket read timed out")

    policy = dataclasses.replace(TIMEOUT, timeout_seconds=1.0)

    def attempt() -> CallOutcome:
        if use_async:
            return asyncio.run(acall(as_async(own_timeout), "x", policy=policy, clock=clock))
        return call(own_timeout, "x", policy=policy, clock=clock)

    with pytest.raises(TimeoutError, match="socket") as caught:
        attempt()
    assert not isinstance(caught.value, CallTimeoutError)
