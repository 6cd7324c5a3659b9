"""The docs' table of call sequences, run through the public CircuitBreaker on a fake clock."""

from __future__ import annotations

import pytest

from tests.resilience.sequences import SLOW_S, Sequence, letter, policy_of, sequences
from toolkeeper import FakeClock
from toolkeeper._errors import CircuitOpenError
from toolkeeper.config.schema import BaseWrapperConfig
from toolkeeper.resilience import CircuitBreaker, ResiliencePolicy
from toolkeeper.wrap.runtime import policy_for

ROWS = sequences()
DURATIONS = {"S": 0.01, "F": 0.01, "W": SLOW_S + 0.05, "E": SLOW_S}


def run(row: Sequence) -> str:
    """Run a row's calls through a breaker; return the state letter after each step."""
    clock = FakeClock()
    policy = policy_of(row)
    breaker = CircuitBreaker(policy, clock, "tool")
    seen = ""
    for step in row.calls:
        if step == ".":
            clock.advance(policy.open_wait_seconds)
            seen += letter(breaker.state)
            continue
        try:
            ticket = breaker.before_call()
        except CircuitOpenError:
            seen += "R"
            continue
        if step == "F":
            breaker.record_failure(ticket, DURATIONS[step])
        else:
            breaker.record_success(ticket, DURATIONS[step])
        seen += letter(breaker.state)
    return seen


def test_the_docs_table_has_the_issues_sequences() -> None:
    """The table covers FFFSS, FFFFS, slow-slow-slow-S-S and nine F then S at minimum 10."""
    calls = {(row.calls, row.settings.get("minimum_calls")) for row in ROWS}
    assert {("FFFSS", None), ("FFFFS", None), ("WWWSS", None)} <= calls
    assert ("FFFFFFFFFS", 10) in calls
    assert len(ROWS) >= 20


@pytest.mark.parametrize("row", ROWS, ids=[f"row{row.number}-{row.calls}" for row in ROWS])
def test_the_breaker_follows_the_documented_sequence(row: Sequence) -> None:
    """Each row's states after each call are the documented ones (resilience4j's in mode rate)."""
    assert run(row) == row.expected
    if row.mode == "rate":
        assert row.expected == row.resilience4j


def test_a_hand_built_breaker_has_the_configurations_defaults() -> None:
    """ResiliencePolicy() and a default tool configuration give the breaker the same settings."""
    by_hand = ResiliencePolicy()
    configured = policy_for(BaseWrapperConfig(), sync=False)
    for name in ("failure_rate_threshold", "minimum_calls", "window_size", "open_wait_seconds",
                 "half_open_probes", "half_open_mode", "slow_call_seconds",
                 "slow_call_rate_threshold"):  # fmt: skip
        assert getattr(by_hand, name) == getattr(configured, name), name
    assert (by_hand.minimum_calls, by_hand.window_size) == (10, 50)
    assert CircuitBreaker().policy == by_hand
