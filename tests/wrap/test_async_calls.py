"""Async wrapped calls: the fast path under its loop's deadline, and everything it hands over."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from toolkeeper import CallTimeoutError, FakeClock, Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.costs import Usage
from toolkeeper.resilience.deadlines import deadlines_of

CONFIG = """\
[tools.llm]
timeout_seconds = 0.2
max_retry_attempts = 1
retry_backoff_seconds = 0.01

[tools.plain]
max_retry_attempts = 0
"""


@pytest.fixture
def keeper() -> Iterator[Keeper]:
    """Open a keeper over an in-memory store."""
    opened = Keeper.open(
        ConfigFile.parse(CONFIG), store="memory://", follow_changes=False, clock=FakeClock()
    )
    yield opened
    opened.close()


def records(keeper: Keeper, tool: str) -> list[dict[str, Any]]:
    """Return every recorded operation of ``tool``, oldest first."""
    return keeper.monitoring.export_metrics(wrapper_name=tool)


def test_a_call_past_its_timeout_is_cancelled_retried_and_recorded_as_a_timeout(
    keeper: Keeper,
) -> None:
    """Cancel each overdue attempt, retry once, then raise CallTimeoutError and record it."""
    cancelled: list[int] = []

    @keeper.tool("llm", operation="chat")
    async def chat() -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(1)
            raise
        return "late"

    async def run() -> int:
        with pytest.raises(CallTimeoutError):
            await chat()
        return len(deadlines_of(asyncio.get_running_loop()))

    assert asyncio.run(run()) == 0
    assert len(cancelled) == 2
    (record,) = records(keeper, "llm")
    assert record["status"] == "timeout"
    assert record["error_code"] == "TIMEOUT"


def test_a_failed_first_attempt_is_retried_as_the_same_operation(keeper: Keeper) -> None:
    """Record one success, with one retry, for a call whose first attempt raised."""
    attempts: list[int] = []

    @keeper.tool("llm", operation="chat")
    async def chat() -> dict[str, Any]:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("reset by peer")
        return {"model": "m", "usage": {"prompt_tokens": 4, "completion_tokens": 2,
                                        "cost": 0.25}}  # fmt: skip

    assert asyncio.run(chat())["model"] == "m"
    (record,) = records(keeper, "llm")
    assert record["status"] == "success"
    assert record["custom_metrics"]["retries"] == 1
    assert (record["input_tokens"], record["output_tokens"]) == (4, 2)
    assert Decimal(str(record["cost_estimate"])) == Decimal("0.25")


def test_a_response_without_a_cost_is_priced_from_the_catalog(keeper: Keeper) -> None:
    """Record the catalog's price of an async call's usage, as keeper.costs prices it."""

    @keeper.tool("plain", operation="chat")
    async def chat() -> dict[str, Any]:
        return {"model": "gpt-4o-mini", "usage": {"prompt_tokens": 1000, "completion_tokens": 50}}

    asyncio.run(chat())
    (record,) = records(keeper, "plain")
    expected = keeper.costs.price("gpt-4o-mini", Usage(input_tokens=1000, output_tokens=50)).cost
    assert expected is not None
    assert Decimal(str(record["cost_estimate"])) == expected


def test_a_call_inside_an_operation_block_names_its_parent(keeper: Keeper) -> None:
    """Record the enclosing operation's id as the async call's parent."""

    @keeper.tool("plain", operation="step")
    async def step() -> str:
        return "done"

    async def run() -> None:
        async with keeper.operation("plain", "pipeline"):
            await step()

    asyncio.run(run())
    by_operation = {r["operation_type"]: r for r in records(keeper, "plain")}
    assert by_operation["step"]["parent_id"] == by_operation["pipeline"]["operation_id"]


def test_a_cancelled_call_is_recorded_as_cancelled_not_timed_out(keeper: Keeper) -> None:
    """Record a call cancelled by its caller as cancelled, and re-raise the cancellation."""
    started = asyncio.Event()

    @keeper.tool("plain", operation="chat")
    async def chat() -> str:
        started.set()
        await asyncio.sleep(30)
        return "late"

    async def run() -> None:
        task = asyncio.ensure_future(chat())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    (record,) = records(keeper, "plain")
    assert record["status"] == "cancelled"
