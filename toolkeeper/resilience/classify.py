"""Classify a failed attempt's error: retried and counted, counted only, or ignored.

Three kinds, as resilience4j separates its Retry's ``retryExceptions`` from its
CircuitBreaker's ``recordExceptions``/``ignoreExceptions``:

- ``TRANSIENT``: retried (attempts permitting) and counted as a failure by the breaker;
- ``FAILURE``: counted by the breaker, not retried;
- ``IGNORED``: neither; the breaker forgets the call (a half-open probe slot is freed).

An entry of a tool's ``retry_on``, ``failure_on`` or ``ignore`` is an HTTP status
code (``401``), a status class (``"4xx"``), an exception class, or an exception
class's dotted name (``"httpx.ConnectError"``, ``"ValueError"``). A name is
looked up only among modules already imported, never imported on its behalf:
an error of a class can only exist once its module is loaded.

The first rule that matches decides:

1. the error's HTTP status named by the tool (an exact code before a class);
2. the error's class or one of its bases named by the tool, most specific first;
3. the built-in status rules: 408, 429 and 5xx transient, any other 4xx ignored;
4. the built-in class rules: toolkeeper's own refusals (open circuit, budget,
   rate limit, full bulkhead) counted but not retried;
5. anything else is transient: counted and retried. That covers timeouts and
   connection errors of every client (builtin, httpx, requests, aiohttp, openai,
   anthropic) and the caller's own exceptions, as resilience4j's Retry and
   tenacity retry every exception by default; declare ``failure_on`` to stop it.

The status comes from ``error.status_code`` (openai, anthropic),
``error.response.status_code`` (httpx, requests) or ``error.status`` (aiohttp).

Imports nothing above :mod:`toolkeeper._errors`, so the configuration schema
validates its lists with :func:`spec_issues` without reaching up a layer.
"""

from __future__ import annotations

import builtins
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

from toolkeeper._errors import (
    BudgetExceeded,
    BulkheadFull,
    CallTimeoutError,
    CircuitOpenError,
    ConfigIssue,
    RateLimited,
)

__all__ = ["ErrorKind", "ErrorRules", "ErrorSpec", "spec_issues", "status_of"]

#: One entry of retry_on / failure_on / ignore.
ErrorSpec: TypeAlias = int | str | type[BaseException]


class ErrorKind(StrEnum):
    """What a failed attempt's error means for retries and for the circuit."""

    TRANSIENT = "transient"  # retried, counted
    FAILURE = "failure"  # counted, not retried
    IGNORED = "ignored"  # neither


_STATUS_CLASS = re.compile(r"[1-5]xx")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_SPEC_RULE = (
    "must be an HTTP status code (100-599), a status class such as '5xx', "
    "or an exception class (or its dotted name, such as 'httpx.ConnectError')"
)

_BUILTIN_TYPES: tuple[tuple[type[BaseException], ErrorKind], ...] = (
    (CallTimeoutError, ErrorKind.TRANSIENT),
    (TimeoutError, ErrorKind.TRANSIENT),
    (ConnectionError, ErrorKind.TRANSIENT),
    (CircuitOpenError, ErrorKind.FAILURE),
    (BudgetExceeded, ErrorKind.FAILURE),
    (RateLimited, ErrorKind.FAILURE),
    (BulkheadFull, ErrorKind.FAILURE),
)


def status_of(error: BaseException) -> int | None:
    """Return the HTTP status an error carries, or None."""
    for status in (
        getattr(error, "status_code", None),
        getattr(getattr(error, "response", None), "status_code", None),
        getattr(error, "status", None),
    ):
        if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
            return status
    return None


def resolve(name: str) -> type[BaseException] | None:
    """Return the exception class a dotted name denotes among imported modules, else None."""
    if "." not in name:
        found = getattr(builtins, name, None)
    else:
        found = None
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = sys.modules.get(".".join(parts[:cut]))
            if module is None:
                continue
            found = module
            for attribute in parts[cut:]:
                found = getattr(found, attribute, None)
            break
    if isinstance(found, type) and issubclass(found, BaseException):
        return found
    return None


def spec_issues(path: str, specs: object) -> list[ConfigIssue]:
    """Return the problems of one list of error specs, each naming its index and value."""
    if not isinstance(specs, tuple | list):
        rule = "must be a list of HTTP status codes, status classes and exception classes"
        return [ConfigIssue(path=path, value=specs, rule=rule)]
    issues = []
    for index, spec in enumerate(specs):
        problem = _spec_problem(spec)
        if problem is not None:
            shown = spec.__qualname__ if isinstance(spec, type) else spec
            issues.append(ConfigIssue(path=f"{path}[{index}]", value=shown, rule=problem))
    return issues


def _spec_problem(spec: object) -> str | None:  # noqa: PLR0911 - one return per kind of entry
    if isinstance(spec, bool):
        return _SPEC_RULE
    if isinstance(spec, int):
        return None if 100 <= spec <= 599 else _SPEC_RULE
    if isinstance(spec, type):
        return None if issubclass(spec, BaseException) else _SPEC_RULE
    if not isinstance(spec, str):
        return _SPEC_RULE
    if _STATUS_CLASS.fullmatch(spec) or (spec.isdigit() and 100 <= int(spec) <= 599):
        return None
    if not _NAME.fullmatch(spec):
        return _SPEC_RULE
    if "." not in spec:
        return None if resolve(spec) else "names no built-in exception class"
    if spec.rpartition(".")[0] in sys.modules and resolve(spec) is None:
        return "names no exception class of its (loaded) module"
    return None  # its module is not loaded yet: no error of it can be raised before it is


def _key(spec: ErrorSpec) -> ErrorSpec:
    """Return the canonical form of a spec: status codes as int, classes as given."""
    if isinstance(spec, str) and spec.isdigit():
        return int(spec)
    return spec


@dataclass(frozen=True, slots=True)
class ErrorRules:
    """A tool's declared error kinds over the built-in ones; see the module docstring."""

    retry_on: tuple[ErrorSpec, ...] = ()
    failure_on: tuple[ErrorSpec, ...] = ()
    ignore: tuple[ErrorSpec, ...] = ()
    _declared: dict[ErrorSpec, ErrorKind] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        declared: dict[ErrorSpec, ErrorKind] = {}
        for kind, specs in (
            (ErrorKind.TRANSIENT, self.retry_on),
            (ErrorKind.FAILURE, self.failure_on),
            (ErrorKind.IGNORED, self.ignore),
        ):
            for spec in specs:
                declared[_key(spec)] = kind
        object.__setattr__(self, "_declared", declared)

    @staticmethod
    def overlaps(lists: Iterable[tuple[str, tuple[Any, ...]]]) -> list[ConfigIssue]:
        """Return an issue for every entry named in two of the lists."""
        seen: dict[Any, str] = {}
        issues = []
        for name, specs in lists:
            for index, spec in enumerate(specs):
                key = _key(spec) if isinstance(spec, int | str | type) else spec
                try:
                    other = seen.setdefault(key, name)
                except TypeError:  # unhashable: reported by spec_issues
                    continue
                if other != name:
                    shown = spec.__qualname__ if isinstance(spec, type) else spec
                    issues.append(
                        ConfigIssue(
                            path=f"{name}[{index}]",
                            value=shown,
                            rule=f"is also listed in {other}; an error has one kind",
                        )
                    )
        return issues

    def classify(self, error: BaseException) -> ErrorKind:
        """Return what ``error`` means: retried and counted, counted only, or ignored.

        A ``BaseException`` that is not an ``Exception`` (cancelled, interrupted) is
        ignored: the call has no outcome to count or retry.
        """
        if not isinstance(error, Exception):
            return ErrorKind.IGNORED
        status = status_of(error)
        if self._declared:
            kind = self._declared_kind(error, status)
            if kind is not None:
                return kind
        return _built_in_kind(error, status)

    def _declared_kind(self, error: BaseException, status: int | None) -> ErrorKind | None:
        declared = self._declared
        if status is not None:
            kind = declared.get(status) or declared.get(f"{status // 100}xx")
            if kind is not None:
                return kind
        return self._declared_type(type(error))

    def _declared_type(self, kind_of: type[BaseException]) -> ErrorKind | None:
        classes: dict[type[BaseException], ErrorKind] = {}
        for spec, kind in self._declared.items():
            if isinstance(spec, type):
                classes[spec] = kind
            elif isinstance(spec, str) and not _STATUS_CLASS.fullmatch(spec):
                resolved = resolve(spec)
                if resolved is not None:
                    classes[resolved] = kind
        for base in kind_of.__mro__:  # most specific first
            if base in classes:
                return classes[base]
        return None


def _built_in_kind(error: BaseException, status: int | None) -> ErrorKind:
    if status is not None:
        if status in {408, 429} or status >= 500:
            return ErrorKind.TRANSIENT
        if 400 <= status < 500:
            return ErrorKind.IGNORED
    for kind_of, kind in _BUILTIN_TYPES:
        if isinstance(error, kind_of):
            return kind
    return ErrorKind.TRANSIENT  # timeouts, connection errors, the caller's own exceptions
