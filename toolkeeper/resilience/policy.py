"""The resilience settings of one tool: timeout, retries, backoff and circuit.

A :class:`ResiliencePolicy` is an immutable value. Configuration changes at
runtime produce a new policy; the executor and the circuit breaker pick it up
on the next call, so nothing ever mutates a policy in place.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any, Final

from toolkeeper import _defaults
from toolkeeper._defaults import HALF_OPEN_MODES, HalfOpenMode
from toolkeeper._errors import ConfigIssue, ConfigValidationError
from toolkeeper.resilience.classify import ErrorKind, ErrorRules, ErrorSpec, spec_issues

__all__ = ["DEPRECATED_NAMES", "ResiliencePolicy"]


#: Names this class had before it took the configuration's (``[tools.*]`` keys), each
#: with its new name; still accepted and readable, with a ``DeprecationWarning``.
#: ``max_attempts`` counted the first attempt: it is ``1 + max_retry_attempts``.
DEPRECATED_NAMES: Final[dict[str, str]] = {
    "max_attempts": "max_retry_attempts",
    "backoff_initial_seconds": "retry_backoff_seconds",
    "backoff_max_seconds": "retry_backoff_max_seconds",
    "backoff_multiplier": "retry_backoff_multiplier",
    "failure_rate_threshold": "circuit_failure_rate",
    "minimum_calls": "circuit_minimum_calls",
    "window_size": "circuit_window_size",
    "open_wait_seconds": "circuit_open_seconds",
    "half_open_probes": "circuit_half_open_probes",
    "half_open_mode": "circuit_half_open_mode",
    "slow_call_seconds": "circuit_slow_call_seconds",
    "slow_call_rate_threshold": "circuit_slow_call_rate",
}


@dataclass(slots=True, init=False, unsafe_hash=True)
class ResiliencePolicy:
    """Decide how one tool's calls time out, retry, back off and break.

    The fields are the resilience keys of a tool's configuration, with the same
    names, meanings and rules (:class:`~toolkeeper.BaseWrapperConfig` builds its
    policy with :meth:`~toolkeeper.BaseWrapperConfig.resilience_policy` and
    validates its cross-field rules here, once). Only the defaults of
    ``timeout_seconds`` and ``max_retry_attempts`` differ: a hand-built policy has
    no timeout and makes one attempt. Arguments are keyword-only; the names of
    :data:`DEPRECATED_NAMES` still work, with a ``DeprecationWarning``.

    Times are in seconds. ``max_retry_attempts`` counts the retries after the
    first attempt, so 0 means no retry. A failed attempt's error is classified
    (:mod:`~toolkeeper.resilience.classify`): ``retry_on`` entries are retried and
    counted by the breaker, ``failure_on`` entries counted but not retried,
    ``ignore`` entries neither; each entry is an HTTP status code, a class such as
    ``"4xx"``, or an exception class or its dotted name. Undeclared errors follow
    the built-in rules: timeouts, connection errors, 408, 429 and 5xx transient,
    other 4xx ignored, toolkeeper's refusals counted only, anything else retried
    and counted. ``BaseException``s such as ``KeyboardInterrupt`` and
    ``asyncio.CancelledError`` are never retried.

    Between attempts the executor waits a full-jitter backoff, and at least the
    ``Retry-After`` an error carries, capped at ``retry_after_max_seconds``.

    The circuit looks at the last ``circuit_window_size`` calls; after every
    recorded call, once it has seen ``circuit_minimum_calls`` of them, it opens
    when the failure rate, or (with ``circuit_slow_call_seconds`` set) the rate of
    calls strictly slower than that, reaches its threshold. It stays open
    ``circuit_open_seconds``, then lets ``circuit_half_open_probes`` probe calls
    through. With ``circuit_half_open_mode`` "rate" (resilience4j's rule) the
    probes are judged together once all have ended: rates below the thresholds
    close the circuit, else it opens again; with "all" every probe must succeed
    and the first bad one re-opens it.

    ``max_concurrent_calls`` (None: unbounded) caps the attempts running at once
    when the executor is given a bulkhead; one that finds them all taken waits
    up to ``bulkhead_wait_seconds`` for a permit, then fails with ``BulkheadFull``.
    """

    timeout_seconds: float | None
    max_retry_attempts: int
    retry_backoff_seconds: float
    retry_backoff_max_seconds: float
    retry_backoff_multiplier: float
    retry_after_max_seconds: float
    retry_on: tuple[ErrorSpec, ...]
    failure_on: tuple[ErrorSpec, ...]
    ignore: tuple[ErrorSpec, ...]
    circuit_failure_rate: float
    circuit_minimum_calls: int
    circuit_window_size: int
    circuit_open_seconds: float
    circuit_half_open_probes: int
    circuit_half_open_mode: HalfOpenMode
    circuit_slow_call_seconds: float | None
    circuit_slow_call_rate: float
    max_concurrent_calls: int | None
    bulkhead_wait_seconds: float
    _rules: ErrorRules = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        *,
        timeout_seconds: float | None = None,
        max_retry_attempts: int = 0,
        retry_backoff_seconds: float = _defaults.RETRY_BACKOFF_SECONDS,
        retry_backoff_max_seconds: float = _defaults.RETRY_BACKOFF_MAX_SECONDS,
        retry_backoff_multiplier: float = _defaults.RETRY_BACKOFF_MULTIPLIER,
        retry_after_max_seconds: float = 60.0,
        retry_on: tuple[ErrorSpec, ...] = (),
        failure_on: tuple[ErrorSpec, ...] = (),
        ignore: tuple[ErrorSpec, ...] = (),
        circuit_failure_rate: float = _defaults.CIRCUIT_FAILURE_RATE,
        circuit_minimum_calls: int = _defaults.CIRCUIT_MINIMUM_CALLS,
        circuit_window_size: int = _defaults.CIRCUIT_WINDOW_SIZE,
        circuit_open_seconds: float = _defaults.CIRCUIT_OPEN_SECONDS,
        circuit_half_open_probes: int = _defaults.CIRCUIT_HALF_OPEN_PROBES,
        circuit_half_open_mode: HalfOpenMode = _defaults.CIRCUIT_HALF_OPEN_MODE,
        circuit_slow_call_seconds: float | None = None,
        circuit_slow_call_rate: float = _defaults.CIRCUIT_SLOW_CALL_RATE,
        max_concurrent_calls: int | None = None,
        bulkhead_wait_seconds: float = 0.0,
        **deprecated: Any,
    ) -> None:
        values: dict[str, Any] = {
            "timeout_seconds": timeout_seconds,
            "max_retry_attempts": max_retry_attempts,
            "retry_backoff_seconds": retry_backoff_seconds,
            "retry_backoff_max_seconds": retry_backoff_max_seconds,
            "retry_backoff_multiplier": retry_backoff_multiplier,
            "retry_after_max_seconds": retry_after_max_seconds,
            "retry_on": retry_on,
            "failure_on": failure_on,
            "ignore": ignore,
            "circuit_failure_rate": circuit_failure_rate,
            "circuit_minimum_calls": circuit_minimum_calls,
            "circuit_window_size": circuit_window_size,
            "circuit_open_seconds": circuit_open_seconds,
            "circuit_half_open_probes": circuit_half_open_probes,
            "circuit_half_open_mode": circuit_half_open_mode,
            "circuit_slow_call_seconds": circuit_slow_call_seconds,
            "circuit_slow_call_rate": circuit_slow_call_rate,
            "max_concurrent_calls": max_concurrent_calls,
            "bulkhead_wait_seconds": bulkhead_wait_seconds,
        }
        given_as = _adopt_deprecated(values, deprecated)
        for name, value in values.items():
            object.__setattr__(self, name, value)
        issues = [issue for rule in _RULES for issue in rule(self)]
        if issues:
            raise ConfigValidationError(_as_given(issue, given_as) for issue in issues)
        rules = ErrorRules(self.retry_on, self.failure_on, self.ignore)
        object.__setattr__(self, "_rules", rules)

    # Frozen by hand: a frozen dataclass's __setattr__ breaks on the deprecated names' properties.
    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    @property
    def max_attempts(self) -> int:
        """Return the attempts a call may make, the first included (deprecated name)."""
        _warn("max_attempts")
        return 1 + self.max_retry_attempts

    def classify(self, error: BaseException) -> ErrorKind:
        """Return whether ``error`` is retried and counted, counted only, or ignored."""
        return self._rules.classify(error)

    def should_retry(self, error: BaseException) -> bool:
        """Return whether ``error`` is one this policy retries (attempts aside)."""
        return self._rules.classify(error) is ErrorKind.TRANSIENT


def _deprecated_reader(old: str, new: str) -> property:
    def read(policy: ResiliencePolicy) -> Any:
        _warn(old)
        return getattr(policy, new)

    read.__doc__ = f"Return ``{new}`` (the deprecated name ``{old}``)."
    return property(read)


for _old, _new in DEPRECATED_NAMES.items():
    if _old != "max_attempts":
        setattr(ResiliencePolicy, _old, _deprecated_reader(_old, _new))


def _warn(old: str) -> None:
    warnings.warn(
        f"ResiliencePolicy.{old} is deprecated: use {DEPRECATED_NAMES[old]}"
        + (" (one less: the retries after the first attempt)" if old == "max_attempts" else ""),
        DeprecationWarning,
        stacklevel=3,
    )


@dataclass(frozen=True, slots=True)
class _GivenAs:
    """A value given under a deprecated name: the name and the value as the caller wrote them."""

    name: str
    value: Any


def _adopt_deprecated(values: dict[str, Any], deprecated: dict[str, Any]) -> dict[str, _GivenAs]:
    """Move values given under deprecated names onto the new ones; a deprecated name wins.

    It wins because ``dataclasses.replace(policy, old_name=...)`` passes every
    field under its new name besides the change under the old one.
    """
    given_as: dict[str, _GivenAs] = {}
    for old, value in deprecated.items():
        new = DEPRECATED_NAMES.get(old)
        if new is None:
            raise TypeError(f"ResiliencePolicy() got an unexpected keyword argument {old!r}")
        _warn(old)
        given_as[new] = _GivenAs(old, value)
        counts_first = old == "max_attempts" and isinstance(value, int)
        values[new] = value - 1 if counts_first and not isinstance(value, bool) else value
    return given_as


def _as_given(issue: ConfigIssue, given_as: dict[str, _GivenAs]) -> ConfigIssue:
    """Return ``issue`` naming the field and value as the caller gave them."""
    given = given_as.get(issue.path)
    if given is None:
        return issue
    rule = issue.rule
    if given.name == "max_attempts":
        rule = rule.replace("at least 0", "at least 1")
    return ConfigIssue(path=given.name, value=given.value, rule=rule)


def _issue(path: str, value: Any, rule: str) -> ConfigIssue:
    return ConfigIssue(path=path, value=value, rule=rule)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(policy: ResiliencePolicy, name: str, minimum: int = 1) -> list[ConfigIssue]:
    value = getattr(policy, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        return [_issue(name, value, f"must be a whole number of at least {minimum}")]
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
    issues += _whole(policy, "max_retry_attempts", 0)
    issues += _seconds(policy, "retry_backoff_seconds", allow_zero=True)
    issues += _seconds(policy, "retry_backoff_max_seconds", allow_zero=True)
    issues += _seconds(policy, "retry_after_max_seconds", allow_zero=True)
    multiplier = policy.retry_backoff_multiplier
    if not _is_number(multiplier) or not math.isfinite(multiplier) or multiplier < 1:
        issues.append(
            _issue("retry_backoff_multiplier", multiplier, "must be a finite number >= 1")
        )
    if not issues and policy.retry_backoff_seconds > policy.retry_backoff_max_seconds:
        issues.append(
            _issue(
                "retry_backoff_seconds",
                policy.retry_backoff_seconds,
                f"must not exceed retry_backoff_max_seconds ({policy.retry_backoff_max_seconds:g})",
            )
        )
    return issues + _error_lists(policy)


def _check_bulkhead(policy: ResiliencePolicy) -> list[ConfigIssue]:
    issues = _seconds(policy, "bulkhead_wait_seconds", allow_zero=True)
    if policy.max_concurrent_calls is not None:
        issues += _whole(policy, "max_concurrent_calls")
    return issues


def _check_circuit(policy: ResiliencePolicy) -> list[ConfigIssue]:
    issues = _rate(policy, "circuit_failure_rate")
    issues += _whole(policy, "circuit_window_size")
    issues += _whole(policy, "circuit_minimum_calls")
    issues += _seconds(policy, "circuit_open_seconds", allow_zero=True)
    issues += _whole(policy, "circuit_half_open_probes")
    issues += _seconds(policy, "circuit_slow_call_seconds", allow_zero=False, optional=True)
    issues += _rate(policy, "circuit_slow_call_rate")
    if policy.circuit_half_open_mode not in HALF_OPEN_MODES:
        allowed = " or ".join(repr(mode) for mode in HALF_OPEN_MODES)
        issues.append(
            _issue("circuit_half_open_mode", policy.circuit_half_open_mode, f"must be {allowed}")
        )
    if not issues and policy.circuit_minimum_calls > policy.circuit_window_size:
        issues.append(
            _issue(
                "circuit_minimum_calls",
                policy.circuit_minimum_calls,
                f"must not exceed circuit_window_size ({policy.circuit_window_size}): "
                "the window never holds that many calls",
            )
        )
    return issues


_RULES = (_check_timing, _check_circuit, _check_bulkhead)
