"""ResiliencePolicy: defaults, validation that names field, value and rule, and retryable errors."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from typing import Any

import pytest

from toolkeeper._errors import (
    BudgetExceeded,
    CallTimeoutError,
    CircuitOpenError,
    ConfigValidationError,
    RateLimited,
)
from toolkeeper.resilience import ResiliencePolicy


def test_defaults_are_valid_and_do_not_retry() -> None:
    """Build a default policy: no timeout and a single attempt."""
    policy = ResiliencePolicy()
    assert policy.timeout_seconds is None
    assert policy.max_attempts == 1
    assert policy.minimum_calls <= policy.window_size


def test_policy_is_immutable_and_replace_validates_again() -> None:
    """Refuse assignment, and validate a copy made with dataclasses.replace."""
    policy = ResiliencePolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_attempts = 3  # type: ignore[misc]
    assert dataclasses.replace(policy, max_attempts=3).max_attempts == 3
    with pytest.raises(ConfigValidationError):
        dataclasses.replace(policy, max_attempts=0)


def test_arguments_are_keyword_only() -> None:
    """Reject positional arguments, so a reordered field cannot change a meaning."""
    with pytest.raises(TypeError):
        ResiliencePolicy(5.0)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("timeout_seconds", 0, "> 0"),
        ("timeout_seconds", -1.0, "> 0"),
        ("timeout_seconds", math.nan, "finite"),
        ("timeout_seconds", "10s", "finite number of seconds"),
        ("max_attempts", 0, "at least 1"),
        ("max_attempts", 2.5, "whole number"),
        ("max_attempts", True, "whole number"),
        ("backoff_initial_seconds", -0.1, ">= 0"),
        ("backoff_max_seconds", math.inf, "finite"),
        ("backoff_multiplier", 0.5, ">= 1"),
        ("retry_after_max_seconds", -1, ">= 0"),
        ("retry_on", [ValueError], "tuple"),
        ("failure_rate_threshold", 0.0, "(0, 1]"),
        ("failure_rate_threshold", 1.5, "(0, 1]"),
        ("window_size", 0, "at least 1"),
        ("minimum_calls", -3, "at least 1"),
        ("open_wait_seconds", -5, ">= 0"),
        ("half_open_probes", 0, "at least 1"),
        ("slow_call_seconds", 0.0, "> 0"),
        ("slow_call_rate_threshold", 2, "(0, 1]"),
    ],
)
def test_a_bad_value_names_field_value_and_rule(field: str, value: Any, rule: str) -> None:
    """Reject an out-of-range or mistyped value with one issue naming all three."""
    with pytest.raises(ConfigValidationError) as caught:
        ResiliencePolicy(**{field: value})
    (issue,) = caught.value.issues
    assert issue.path == field
    assert issue.value is value
    assert rule in issue.rule
    assert field in str(caught.value)


@pytest.mark.parametrize(
    ("field", "entries", "shown", "rule"),
    [
        ("retry_on", (ValueError, int), "int", "exception class"),
        ("failure_on", (503, 99), 99, "HTTP status code (100-599)"),
        ("ignore", (401, "not a name!"), "not a name!", "status class such as '5xx'"),
        ("ignore", (401, "NoSuchBuiltinError"), "NoSuchBuiltinError", "no built-in exception"),
    ],
)
def test_a_bad_error_entry_names_its_list_index_value_and_rule(
    field: str, entries: tuple[Any, ...], shown: Any, rule: str
) -> None:
    """Reject a bad entry of retry_on, failure_on or ignore with its index, value and rule."""
    with pytest.raises(ConfigValidationError) as caught:
        ResiliencePolicy(**{field: entries})
    (issue,) = caught.value.issues
    assert (issue.path, issue.value) == (f"{field}[1]", shown)
    assert rule in issue.rule


def test_cross_field_rules_name_the_other_field() -> None:
    """Reject minimum_calls above window_size and an initial backoff above its maximum."""
    with pytest.raises(ConfigValidationError) as caught:
        ResiliencePolicy(minimum_calls=50, window_size=10)
    assert "window_size (10)" in str(caught.value)
    with pytest.raises(ConfigValidationError) as caught:
        ResiliencePolicy(backoff_initial_seconds=5, backoff_max_seconds=1)
    assert "backoff_max_seconds (1)" in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    """Report all bad fields in one error rather than stopping at the first."""
    with pytest.raises(ConfigValidationError) as caught:
        ResiliencePolicy(max_attempts=0, window_size=0, failure_rate_threshold=7)
    assert {issue.path for issue in caught.value.issues} == {
        "max_attempts",
        "window_size",
        "failure_rate_threshold",
    }


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (ConnectionError("reset"), True),
        (ValueError("bad json"), True),
        (CallTimeoutError(tool="t", timeout_seconds=1), True),
        (CircuitOpenError(tool="t", retry_after_seconds=1), False),
        (BudgetExceeded("over budget", tool="t"), False),
        (RateLimited("slow down", tool="t", retry_after_seconds=1), False),
        (KeyboardInterrupt(), False),
        (asyncio.CancelledError(), False),
    ],
)
def test_default_retries_failures_but_not_refusals(error: BaseException, retried: bool) -> None:
    """Retry tool failures and timeouts, never toolkeeper's refusals or cancellations."""
    assert ResiliencePolicy().should_retry(error) is retried


def test_declared_lists_override_the_defaults_most_specific_class_first() -> None:
    """Retry what retry_on names, count but not retry failure_on, and prefer the nearer class."""
    policy = ResiliencePolicy(failure_on=(OSError,), retry_on=(FileNotFoundError,))
    assert policy.should_retry(FileNotFoundError())
    assert not policy.should_retry(ConnectionError())  # OSError: declared beats built-in
    assert policy.should_retry(ValueError())  # undeclared: the caller's own, retried


def test_one_entry_in_two_lists_is_refused() -> None:
    """Reject a status code named both retried and ignored, naming both lists."""
    with pytest.raises(ConfigValidationError) as caught:
        ResiliencePolicy(retry_on=(503,), ignore=(503,))
    assert "ignore[0] = 503: is also listed in retry_on" in str(caught.value)
