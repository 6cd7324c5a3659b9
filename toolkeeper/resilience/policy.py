"""The resilience settings of one tool: timeout, retries, backoff and circuit.

A :class:`ResiliencePolicy` is an immutable value. Configuration changes at
runtime produce a new policy; the executor and the circuit breaker pick it up
on the next call, so nothing ever mutates a policy in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from toolkeeper import _defaults
from toolkeeper._defaults import HALF_OPEN_MODES, HalfOpenMode
from toolkeeper._errors import ConfigIssue, ConfigValidationError
from toolkeeper.resilience.classify import ErrorKind, ErrorRules, ErrorSpec, spec_issues

__all__ = ["ResiliencePolicy"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ResiliencePolicy:
    """Decide how one tool's calls time out, retry, back off and break.

    Times are in seconds. ``max_attempts`` counts the first call, so 1 means no
    retry. A failed attempt's error is classified (:mod:`~toolkeeper.resilience.classify`):
    ``retry_on`` entries are retried and counted by the breaker, ``failure_on``
    entries counted but not retried, ``ignore`` entries neither; each entry is an
    HTTP status code, a class such as ``"4xx"``, or an exception class or its
    dotted name. Undeclared errors follow the built-in rules: timeouts,
    connection errors, 408, 429 and 5xx transient, other 4xx ignored,
    toolkeeper's refusals counted only, anything else retried and counted.
    ``BaseException``s such as ``KeyboardInterrupt`` and ``asyncio.CancelledError``
    are never retried.

    Between attempts the executor waits a full-jitter backoff, and at least the
    ``Retry-After`` an error carries, capped at ``retry_after_max_seconds``.

    The circuit looks at the last ``window_size`` calls; after every recorded
    call, once it has seen ``minimum_calls`` of them, it opens when the failure
    rate, or (with ``slow_call_seconds`` set) the rate of calls strictly slower
    than that, reaches its threshold. It stays open ``open_wait_seconds``, then
    lets ``half_open_probes`` probe calls through. With ``half_open_mode`` "rate"
    (resilience4j's rule) the probes are judged together once all have ended:
    rates below the thresholds close the circuit, else it opens again; with
    "all" every probe must succeed and the first bad one re-opens it.

    The circuit's defaults are the configuration's (:mod:`toolkeeper._defaults`).

    ``max_concurrent_calls`` (None: unbounded) caps the attempts running at once
    when the executor is given a bulkhead; one that finds them all taken waits
    up to ``bulkhead_wait_seconds`` for a permit, then fails with ``BulkheadFull``.
    """

    timeout_seconds: float | None = None
    max_attempts: int = 1
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    backoff_multiplier: float = 2.0
    retry_after_max_seconds: float = 60.0
    retry_on: tuple[ErrorSpec, ...] = ()
    failure_on: tuple[ErrorSpec, ...] = ()
    ignore: tuple[ErrorSpec, ...] = ()
    failure_rate_threshold: float = _defaults.CIRCUIT_FAILURE_RATE
    minimum_calls: int = _defaults.CIRCUIT_MINIMUM_CALLS
    window_size: int = _defaults.CIRCUIT_WINDOW_SIZE
    open_wait_seconds: float = _defaults.CIRCUIT_OPEN_SECONDS
    half_open_probes: int = _defaults.CIRCUIT_HALF_OPEN_PROBES
    half_open_mode: HalfOpenMode = _defaults.CIRCUIT_HALF_OPEN_MODE
    slow_call_seconds: float | None = None
    slow_call_rate_threshold: float = _defaults.CIRCUIT_SLOW_CALL_RATE
    max_concurrent_calls: int | None = None
    bulkhead_wait_seconds: float = 0.0
    _rules: ErrorRules = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        issues = [issue for rule in _RULES for issue in rule(self)]
        if issues:
            raise ConfigValidationError(issues)
        rules = ErrorRules(self.retry_on, self.failure_on, self.ignore)
        object.__setattr__(self, "_rules", rules)

    def classify(self, error: BaseException) -> ErrorKind:
        """Return whether ``error`` is retried and counted, counted only, or ignored."""
        return self._rules.classify(error)

    def should_retry(self, error: BaseException) -> bool:
        """Return whether ``error`` is one this policy retries (attempts aside)."""
        return self._rules.classify(error) is ErrorKind.TRANSIENT


def _issue(path: str, value: Any, rule: str) -> ConfigIssue:
    return ConfigIssue(path=path, value=value, rule=rule)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positive_int(policy: ResiliencePolicy, name: str) -> list[ConfigIssue]:
    value = getattr(policy, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return [_issue(name, value, "must be a whole number of at least 1")]
    return []


def _seconds(
    policy: ResiliencePolicy, name: str, *, allow_zero: bool, optional: bool = False
) -> list[ConfigIssue]:
    value = getattr(policy, name)
    if value is None and optional:
        return []
    bound = ">= 0" if allow_zero else "> 0"
    if (
        not _is_number(value)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        rule = f"must be a finite number of seconds {bound}" + (" or None" if optional else "")
        return [_issue(name, value, rule)]
    return []


def _rate(policy: ResiliencePolicy, name: str) -> list[ConfigIssue]:
    value = getattr(policy, name)
    if not _is_number(value) or not 0 < value <= 1:
        return [_issue(name, value, "must be a rate in (0, 1]: above 0 and at most 1")]
    return []


def _error_lists(policy: ResiliencePolicy) -> list[ConfigIssue]:
    lists = [(name, getattr(policy, name)) for name in ("retry_on", "failure_on", "ignore")]
    issues = [
        _issue(name, specs, "must be a tuple (of status codes, status classes, exception classes)")
        for name, specs in lists
        if not isinstance(specs, tuple)
    ]
    issues += [issue for name, specs in lists for issue in spec_issues(name, specs)]
    if not issues:
        issues = ErrorRules.overlaps(lists)
    return issues


def _check_timing(policy: ResiliencePolicy) -> list[ConfigIssue]:
    issues = _seconds(policy, "timeout_seconds", allow_zero=False, optional=True)
    issues += _positive_int(policy, "max_attempts")
    issues += _seconds(policy, "backoff_initial_seconds", allow_zero=True)
    issues += _seconds(policy, "backoff_max_seconds", allow_zero=True)
    issues += _seconds(policy, "retry_after_max_seconds", allow_zero=True)
    multiplier = policy.backoff_multiplier
    if not _is_number(multiplier) or not math.isfinite(multiplier) or multiplier < 1:
        issues.append(_issue("backoff_multiplier", multiplier, "must be a finite number >= 1"))
    if not issues and policy.backoff_initial_seconds > policy.backoff_max_seconds:
        issues.append(
            _issue(
                "backoff_initial_seconds",
                policy.backoff_initial_seconds,
                f"must not exceed backoff_max_seconds ({policy.backoff_max_seconds:g})",
            )
        )
    return issues + _error_lists(policy)


def _check_bulkhead(policy: ResiliencePolicy) -> list[ConfigIssue]:
    issues = _seconds(policy, "bulkhead_wait_seconds", allow_zero=True)
    if policy.max_concurrent_calls is not None:
        issues += _positive_int(policy, "max_concurrent_calls")
    return issues


def _check_circuit(policy: ResiliencePolicy) -> list[ConfigIssue]:
    issues = _rate(policy, "failure_rate_threshold")
    issues += _positive_int(policy, "window_size")
    issues += _positive_int(policy, "minimum_calls")
    issues += _seconds(policy, "open_wait_seconds", allow_zero=True)
    issues += _positive_int(policy, "half_open_probes")
    issues += _seconds(policy, "slow_call_seconds", allow_zero=False, optional=True)
    issues += _rate(policy, "slow_call_rate_threshold")
    if policy.half_open_mode not in HALF_OPEN_MODES:
        allowed = " or ".join(repr(mode) for mode in HALF_OPEN_MODES)
        issues.append(_issue("half_open_mode", policy.half_open_mode, f"must be {allowed}"))
    if not issues and policy.minimum_calls > policy.window_size:
        issues.append(
            _issue(
                "minimum_calls",
                policy.minimum_calls,
                f"must not exceed window_size ({policy.window_size}): the window never holds "
                "that many calls",
            )
        )
    return issues


_RULES = (_check_timing, _check_circuit, _check_bulkhead)
