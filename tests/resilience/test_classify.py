"""Error kinds: which failed attempts are retried, which the circuit counts, which neither."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from toolkeeper._errors import (
    BudgetExceeded,
    BulkheadFull,
    CallTimeoutError,
    CircuitOpenError,
    ConfigValidationError,
)
from toolkeeper.config.schema import BaseWrapperConfig
from toolkeeper.resilience import ErrorKind, ErrorRules, ResiliencePolicy

TRANSIENT, FAILURE, IGNORED = ErrorKind.TRANSIENT, ErrorKind.FAILURE, ErrorKind.IGNORED


def http_error(status: int) -> httpx.HTTPStatusError:
    """Return the error httpx raises for a response of ``status``."""
    request = httpx.Request("GET", "http://127.0.0.1/v1/chat")
    response = httpx.Response(status, request=request)
    with pytest.raises(httpx.HTTPStatusError) as caught:
        response.raise_for_status()
    return caught.value


class AppError(Exception):
    """The caller's own exception."""


class StatusCodeError(Exception):
    """An SDK-style error with a ``status_code`` attribute (openai, anthropic)."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"status {status_code}")
        self.status_code = status_code


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (http_error(401), IGNORED),
        (http_error(403), IGNORED),
        (http_error(404), IGNORED),
        (http_error(422), IGNORED),
        (http_error(408), TRANSIENT),
        (http_error(429), TRANSIENT),
        (http_error(500), TRANSIENT),
        (http_error(503), TRANSIENT),
        (StatusCodeError(401), IGNORED),
        (StatusCodeError(502), TRANSIENT),
        (httpx.ConnectError("refused"), TRANSIENT),
        (httpx.ReadTimeout("slow"), TRANSIENT),
        (ConnectionResetError("reset"), TRANSIENT),
        (TimeoutError(), TRANSIENT),
        (CallTimeoutError(tool="t", timeout_seconds=1), TRANSIENT),
        (CircuitOpenError(tool="t", retry_after_seconds=1), FAILURE),
        (BudgetExceeded("over", tool="t"), FAILURE),
        (BulkheadFull(tool="t", max_concurrent_calls=4, waited_seconds=0), FAILURE),
        (AppError("bad input"), TRANSIENT),
        (asyncio.CancelledError(), IGNORED),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_built_in_kinds(error: BaseException, kind: ErrorKind) -> None:
    """Timeouts, connection errors, 408, 429 and 5xx are transient; other 4xx are ignored."""
    assert ErrorRules().classify(error) is kind


def test_declared_status_codes_beat_the_built_in_ones() -> None:
    """A tool may retry its 409s, refuse to retry its 503s and ignore its 5xx class."""
    rules = ErrorRules(retry_on=(409,), failure_on=("503",), ignore=("5xx",))
    assert rules.classify(http_error(409)) is TRANSIENT
    assert rules.classify(http_error(503)) is FAILURE  # the exact code beats its class
    assert rules.classify(http_error(502)) is IGNORED


def test_declared_classes_by_name_most_specific_first() -> None:
    """A dotted name matches the class and its subclasses; the nearest declared base wins."""
    rules = ErrorRules(ignore=("httpx.HTTPError",), retry_on=("httpx.ReadTimeout",))
    assert rules.classify(httpx.ReadTimeout("slow")) is TRANSIENT
    assert rules.classify(httpx.ConnectError("refused")) is IGNORED  # declared beats built-in
    assert rules.classify(AppError()) is TRANSIENT


def test_the_callers_exceptions_can_be_declared_failures() -> None:
    """failure_on makes the caller's own exception counted but not retried."""
    policy = ResiliencePolicy(failure_on=(AppError,), max_attempts=3)
    assert policy.classify(AppError()) is FAILURE
    assert not policy.should_retry(AppError())
    assert policy.should_retry(ConnectionError())


def test_the_configuration_validates_its_lists() -> None:
    """A bad entry is refused naming the field, the entry and the rule; lists may not overlap."""
    assert BaseWrapperConfig(retry_on=[409, "httpx.ConnectError"]).retry_on == [
        409,
        "httpx.ConnectError",
    ]
    with pytest.raises(
        ConfigValidationError, match=r"retry_on[\s\S]*entry \[1\] = 'x y'.*status class"
    ):
        BaseWrapperConfig(retry_on=[409, "x y"])
    with pytest.raises(
        ConfigValidationError, match=r"entry \[0\] = 'httpx.NoSuchError' names no exception"
    ):
        BaseWrapperConfig(ignore=["httpx.NoSuchError"])
    with pytest.raises(
        ConfigValidationError, match=r"ignore\[0\] = 401 is also listed in failure_on"
    ):
        BaseWrapperConfig(ignore=[401], failure_on=[401])
    with pytest.raises(ConfigValidationError, match="retry_on"):
        ResiliencePolicy(retry_on=(True,))
