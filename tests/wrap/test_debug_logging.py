"""``debug_logging``: each call of the tool logged at DEBUG, with its figures and no secret."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from toolkeeper import Keeper
from toolkeeper.config.files import ConfigFile

SECRET = "sk-debug-0123456789abcdef"
CONFIG = """\
[tools.verbose]
api_endpoint = "https://api.example.com/v1"
api_key = "env:TK_DEBUG_KEY"
debug_logging = true
max_retry_attempts = 0
timeout_sync_calls = false

[tools.quiet]
max_retry_attempts = 0
timeout_sync_calls = false
"""


@pytest.fixture
def keeper(monkeypatch: pytest.MonkeyPatch) -> Iterator[Keeper]:
    """Open a keeper with one tool that logs its calls and one that does not."""
    monkeypatch.setenv("TK_DEBUG_KEY", SECRET)
    opened = Keeper.open(ConfigFile.parse(CONFIG), store="memory://", follow_changes=False)
    yield opened
    opened.close()


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return the messages logged to ``toolkeeper.calls``."""
    return [r.getMessage() for r in caplog.records if r.name == "toolkeeper.calls"]


def test_each_call_is_logged_with_status_latency_tokens_and_cost(
    keeper: Keeper, caplog: pytest.LogCaptureFixture
) -> None:
    """A successful decorated call logs tool, operation, status, latency, tokens, cost, model."""

    @keeper.tool("verbose", operation="chat")
    def chat() -> dict[str, Any]:
        return {"model": "m-1",
                "usage": {"prompt_tokens": 12, "completion_tokens": 3, "cost": 0.0042}}  # fmt: skip

    caplog.set_level(logging.DEBUG, logger="toolkeeper.calls")
    chat()
    chat()
    logged = lines(caplog)
    assert len(logged) == 2
    line = logged[0]
    assert line.startswith("tool=verbose operation=chat status=success latency_ms=")
    assert "input_tokens=12 output_tokens=3 cost_usd=0.004200 model=m-1" in line


def test_a_failure_is_logged_with_its_error_and_the_secret_masked(
    keeper: Keeper, caplog: pytest.LogCaptureFixture
) -> None:
    """An error quoting the tool's key is logged with the key masked, never in clear."""

    @keeper.tool("verbose", operation="chat")
    def chat() -> None:
        raise RuntimeError(f"upstream refused key {SECRET}")

    caplog.set_level(logging.DEBUG, logger="toolkeeper.calls")
    with pytest.raises(RuntimeError):
        chat()
    (line,) = lines(caplog)
    assert "status=error" in line
    assert "upstream refused key" in line
    assert SECRET not in caplog.text
    assert "upstream refused key ****" in line  # redacted whole: not even its last four


def test_operation_blocks_are_logged_too(keeper: Keeper, caplog: pytest.LogCaptureFixture) -> None:
    """A ``keeper.operation`` block of the tool logs its usage when it ends."""
    caplog.set_level(logging.DEBUG, logger="toolkeeper.calls")
    with keeper.operation("verbose", "route") as op:
        op.usage(input_tokens=5, output_tokens=7)
    (line,) = lines(caplog)
    assert line.startswith("tool=verbose operation=route status=success")
    assert "input_tokens=5 output_tokens=7" in line


def test_a_tool_without_debug_logging_logs_nothing(
    keeper: Keeper, caplog: pytest.LogCaptureFixture
) -> None:
    """Calls of a tool whose ``debug_logging`` is off produce no log line."""

    @keeper.tool("quiet", operation="chat")
    def chat() -> str:
        return "ok"

    caplog.set_level(logging.DEBUG, logger="toolkeeper.calls")
    chat()
    with keeper.operation("quiet", "block"):
        pass
    assert lines(caplog) == []


def test_turning_debug_logging_on_at_runtime_applies_to_the_next_call(
    keeper: Keeper, caplog: pytest.LogCaptureFixture
) -> None:
    """A runtime change of ``debug_logging`` takes the tool off the fast path and logs its calls."""

    @keeper.tool("quiet", operation="chat")
    def chat() -> str:
        return "ok"

    caplog.set_level(logging.DEBUG, logger="toolkeeper.calls")
    chat()
    keeper.config.update("quiet", {"debug_logging": True}, actor="ana", reason="investigate")
    chat()
    assert len(lines(caplog)) == 1
