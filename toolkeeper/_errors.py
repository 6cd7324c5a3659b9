"""Exceptions raised by toolkeeper.

Every error toolkeeper raises derives from :class:`ToolkeeperError`, so an
application can catch them all in one place. Backend errors (SQLAlchemy,
drivers, cryptography) are wrapped, never leaked raw::

    ToolkeeperError
    ├── ConfigError
    │   ├── ConfigValidationError      every problem at once, each with a path
    │   ├── UnknownEnvironmentError
    │   ├── UnknownToolError
    │   ├── UnknownVersionError
    │   └── VersionConflictError       a stale ``expected_version``
    ├── SecretError
    │   ├── SecretKeyMissingError      a secret to encrypt or decrypt, and no key
    │   └── SecretDecryptionError      the key does not open the ciphertext
    ├── StoreError                     the store could not be opened or written
    ├── MonitoringError
    │   ├── DuplicateOperationError    an operation id already in use
    │   └── UnknownOperationError      an operation id never started, or already ended
    ├── ToolCallError                  a wrapped call failed in a way toolkeeper decided
    │   ├── CallTimeoutError           the call ran past its timeout
    │   ├── CircuitOpenError           the tool's circuit is open; the call was not made
    │   ├── BudgetExceeded             the call would overspend a budget; it was not made
    │   ├── BulkheadFull               the tool's concurrent calls are at their limit; not made
    │   └── RateLimited                the call would pass a rate limit; it was not made
    └── MissingDependencyError         an optional extra is not installed

A message never contains a secret: values of sensitive fields are masked
before they reach an exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BudgetExceeded",
    "BulkheadFull",
    "CallTimeoutError",
    "CircuitOpenError",
    "ConfigError",
    "ConfigIssue",
    "ConfigValidationError",
    "DuplicateOperationError",
    "MissingDependencyError",
    "MonitoringError",
    "SecretDecryptionError",
    "SecretError",
    "SecretKeyMissingError",
    "StoreError",
    "ToolCallError",
    "ToolkeeperError",
    "UnknownEnvironmentError",
    "UnknownOperationError",
    "UnknownToolError",
    "UnknownVersionError",
    "VersionConflictError",
]


class ToolkeeperError(Exception):
    """Root of every error toolkeeper raises."""


class ConfigError(ToolkeeperError):
    """A configuration could not be read, resolved or changed."""


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a configuration.

    ``value`` is already safe to show: a sensitive value arrives masked.
    ``file`` and ``line`` are set when the value came from a file.
    """

    path: str
    rule: str
    value: Any = None
    file: str | None = None
    line: int | None = None
    has_value: bool = True

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = f" ({self.file}" + (f":{self.line}" if self.line else "") + ")"
        shown = f" = {self.value!r}" if self.has_value else ""
        return f"{self.path}{shown}: {self.rule}{where}"

    def to_dict(self) -> dict[str, Any]:
        """Return the issue as plain data for JSON output."""
        data: dict[str, Any] = {"path": self.path, "rule": self.rule}
        if self.has_value:
            data["value"] = self.value
        if self.file is not None:
            data["file"] = self.file
            data["line"] = self.line
        return data


class ConfigValidationError(ConfigError):
    """A configuration broke one or more rules; ``issues`` lists every one."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues: tuple[ConfigIssue, ...] = tuple(issues)
        count = len(self.issues)
        head = f"{count} configuration problem{'s' if count != 1 else ''}"
        super().__init__(head + ":\n" + "\n".join(f"  - {issue}" for issue in self.issues))


class UnknownEnvironmentError(ConfigError):
    """An environment name that the configuration does not declare."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        listed = ", ".join(self.known) or "none"
        super().__init__(f"unknown environment {name!r}; declared environments: {listed}")


class UnknownToolError(ConfigError):
    """A tool name that the configuration does not declare."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        listed = ", ".join(self.known) or "none"
        super().__init__(f"unknown tool {name!r}; configured tools: {listed}")


class UnknownVersionError(ConfigError):
    """A configuration version that does not exist."""

    def __init__(self, tool: str, version: int, latest: int) -> None:
        self.tool = tool
        self.version = version
        self.latest = latest
        super().__init__(
            f"tool {tool!r} has no configuration version {version}; versions run from 0 to {latest}"
        )


class VersionConflictError(ConfigError):
    """An update was based on a version that is no longer the latest."""

    def __init__(self, tool: str, expected: int, actual: int) -> None:
        self.tool = tool
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"configuration of {tool!r} changed underneath you: expected version {expected}, "
            f"but the latest is version {actual}; reload and apply your change again"
        )


class SecretError(ToolkeeperError):
    """A secret could not be resolved, encrypted or decrypted."""


class SecretKeyMissingError(SecretError):
    """A secret must be encrypted or decrypted and no key is configured."""


class SecretDecryptionError(SecretError):
    """An ``enc:`` value could not be opened with the configured keys."""


class StoreError(ToolkeeperError):
    """The store could not be opened, migrated, read or written."""


class MonitoringError(ToolkeeperError):
    """The monitoring lifecycle API was used out of order."""


class DuplicateOperationError(MonitoringError):
    """``start_operation`` was given an id that is already active."""


class UnknownOperationError(MonitoringError):
    """An operation id that was never started, or has already ended."""


class ToolCallError(ToolkeeperError):
    """A wrapped call was stopped by toolkeeper (timeout, circuit, budget, rate limit).

    ``tool`` names the tool whose call it was.
    """

    def __init__(self, message: str, *, tool: str) -> None:
        self.tool = tool
        super().__init__(message)


class CallTimeoutError(ToolCallError):
    """The call did not finish within its timeout."""

    def __init__(self, *, tool: str, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        super().__init__(f"call to {tool!r} timed out after {timeout_seconds:g}s", tool=tool)


class CircuitOpenError(ToolCallError):
    """The tool's circuit is open: the call was refused without being made."""

    def __init__(self, *, tool: str, retry_after_seconds: float) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(
            f"circuit for {tool!r} is open; the next probe is allowed in "
            f"{retry_after_seconds:.1f}s",
            tool=tool,
        )


class BudgetExceeded(ToolCallError):  # noqa: N818 - public name kept (docs/architecture.md, the public contract)
    """A call would have overspent a budget, so it was refused before it ran."""


class BulkheadFull(ToolCallError):  # noqa: N818 - named like BudgetExceeded and RateLimited
    """The tool already runs ``max_concurrent_calls`` calls and none ended within the wait."""

    def __init__(self, *, tool: str, max_concurrent_calls: int, waited_seconds: float) -> None:
        self.max_concurrent_calls = max_concurrent_calls
        self.waited_seconds = waited_seconds
        super().__init__(
            f"bulkhead of {tool!r} is full: {max_concurrent_calls} concurrent calls already "
            f"running, none ended within {waited_seconds:g}s; the call was not made",
            tool=tool,
        )


class RateLimited(ToolCallError):  # noqa: N818 - public name kept (docs/architecture.md, the public contract)
    """A call would have passed a rate limit; ``retry_after_seconds`` says when to retry."""

    def __init__(self, message: str, *, tool: str, retry_after_seconds: float) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message, tool=tool)


class MissingDependencyError(ToolkeeperError):
    """An optional part of toolkeeper needs an extra that is not installed."""

    def __init__(self, feature: str, extra: str) -> None:
        self.feature = feature
        self.extra = extra
        super().__init__(
            f"{feature} needs the optional dependencies of toolkeeper[{extra}]; "
            f"install them with: pip install 'toolkeeper[{extra}]'"
        )
