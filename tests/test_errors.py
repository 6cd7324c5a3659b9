"""The exception hierarchy: one root, messages that list every issue and name both versions."""

from __future__ import annotations

import inspect

import pytest

from toolkeeper import _errors
from toolkeeper._errors import (
    ConfigIssue,
    ConfigValidationError,
    ToolkeeperError,
    VersionConflictError,
)

_EXCEPTIONS = [
    name
    for name in _errors.__all__
    if inspect.isclass(getattr(_errors, name)) and getattr(_errors, name) is not ConfigIssue
]


def test_all_names_exist() -> None:
    """Every name in __all__ is defined in the module."""
    missing = [name for name in _errors.__all__ if not hasattr(_errors, name)]
    assert missing == []
    assert _errors.__all__ == sorted(_errors.__all__)


@pytest.mark.parametrize("name", _EXCEPTIONS)
def test_every_exception_derives_from_toolkeeper_error(name: str) -> None:
    """Each exception class toolkeeper exports is a ToolkeeperError and an Exception."""
    error = getattr(_errors, name)
    assert issubclass(error, ToolkeeperError)
    assert issubclass(error, Exception)


def test_every_exported_exception_appears_in_the_documented_tree() -> None:
    """The module docstring's hierarchy names every exported exception."""
    assert _errors.__doc__ is not None
    for name in _EXCEPTIONS:
        assert name in _errors.__doc__


def test_config_validation_error_lists_every_issue() -> None:
    """The message counts the issues and lists each one with its path, value, rule and place."""
    issues = [
        ConfigIssue(
            path="tools.openai.timeout_seconds",
            rule="must be greater than 0",
            value=-1,
            file="toolkeeper.toml",
            line=7,
        ),
        ConfigIssue(
            path="tools.openai.api_endpoint",
            rule="must be an http:// or https:// URL",
            value="ftp://files.example.com",
            file="toolkeeper.toml",
            line=8,
        ),
        ConfigIssue(path="tools.openai.colour", rule="unknown field", has_value=False),
    ]
    error = ConfigValidationError(issues)
    message = str(error)
    assert message.startswith("3 configuration problems:")
    assert error.issues == tuple(issues)
    for issue in issues:
        assert str(issue) in message
    assert "tools.openai.timeout_seconds = -1: must be greater than 0 (toolkeeper.toml:7)" in (
        message
    )
    assert "tools.openai.colour: unknown field" in message


def test_config_validation_error_with_one_issue_is_singular() -> None:
    """A single issue is counted as one problem, not problems."""
    error = ConfigValidationError([ConfigIssue(path="tools.x", rule="broken", has_value=False)])
    assert str(error) == "1 configuration problem:\n  - tools.x: broken"


def test_config_validation_error_accepts_any_iterable() -> None:
    """Issues given as a generator are all kept."""
    error = ConfigValidationError(
        ConfigIssue(path=f"tools.t{index}", rule="broken") for index in range(3)
    )
    assert [issue.path for issue in error.issues] == ["tools.t0", "tools.t1", "tools.t2"]


def test_config_issue_to_dict_omits_what_it_does_not_have() -> None:
    """to_dict includes the value only when there is one, and file and line only from a file."""
    located = ConfigIssue(path="tools.a.b", rule="r", value=1, file="f.toml", line=3)
    assert located.to_dict() == {
        "path": "tools.a.b",
        "rule": "r",
        "value": 1,
        "file": "f.toml",
        "line": 3,
    }
    bare = ConfigIssue(path="tools.a", rule="r", has_value=False)
    assert bare.to_dict() == {"path": "tools.a", "rule": "r"}


def test_version_conflict_error_names_both_versions() -> None:
    """The conflict message names the tool, the expected version and the latest version."""
    error = VersionConflictError("openai", expected=3, actual=5)
    message = str(error)
    assert "'openai'" in message
    assert "expected version 3" in message
    assert "latest is version 5" in message
    assert (error.tool, error.expected, error.actual) == ("openai", 3, 5)
