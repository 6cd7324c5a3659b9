"""Wrapped calls end to end: the decorator and the operation block over config and resilience."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from toolkeeper import CircuitOpenError, FakeClock, Keeper, ToolCallError
from toolkeeper.config.files import ConfigFile

CONFIG = """\
[tools.primary]
api_endpoint = "https://api.example.com/v1"
api_key = "env:TK_WRAP_KEY"
max_retry_attempts = 0
circuit_failure_rate = 0.5
circuit_minimum_calls = 4
circuit_window_size = 4
circuit_open_seconds = 30
circuit_half_open_probes = 2
timeout_sync_calls = false

[tools.backup]
max_retry_attempts = 0
timeout_sync_calls = false
"""
SECRET = "sk-wrap-0123456789abcdef"


@pytest.fixture
def clock() -> FakeClock:
    """Return a fake clock so circuit waits pass without sleeping."""
    return FakeClock()


@pytest.fixture
def keeper(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Keeper]:
    """Open a keeper over an in-memory store with a fake clock."""
    monkeypatch.setenv("TK_WRAP_KEY", SECRET)
    opened = Keeper.open(
        ConfigFile.parse(CONFIG), store="memory://", follow_changes=False, clock=clock
    )
    yield opened
    opened.close()


def records(keeper: Keeper, tool: str) -> list[dict[str, Any]]:
    """Return every recorded operation of ``tool``, oldest first."""
    return keeper.monitoring.export_metrics(wrapper_name=tool)


def test_a_successful_call_is_recorded_with_its_usage(keeper: Keeper) -> None:
    """A call's status, latency, tokens and model (from an OpenAI-style result) are recorded."""

    @keeper.tool("primary", operation="chat")
    def chat(prompt: str) -> dict[str, Any]:
        return {
            "model": "gpt-4o",
            "usage": {"prompt_tokens": 12, "completion_tokens": 3},
            "choices": [{"message": {"content": prompt.upper()}}],
        }

    assert chat("hi")["choices"][0]["message"]["content"] == "HI"
    (record,) = records(keeper, "primary")
    assert record["status"] == "success"
    assert record["operation_type"] == "chat"
    assert (record["input_tokens"], record["output_tokens"]) == (12, 3)
    assert record["labels"] == {"model": "gpt-4o"}
    assert record["duration_ms"] >= 0


def test_fallback_serves_the_call_and_the_circuit_opens_half_opens_and_closes(
    keeper: Keeper, clock: FakeClock
) -> None:
    """The fallback's value is returned with the original error kept; the circuit cycles."""
    healthy = {"up": False}

    def local(prompt: str) -> str:
        return f"local:{prompt}"

    @keeper.tool("primary", operation="chat", fallback=local)
    def chat(prompt: str) -> str:
        if not healthy["up"]:
            raise ConnectionError("upstream down")
        return f"remote:{prompt}"

    assert [chat(str(i)) for i in range(4)] == [f"local:{i}" for i in range(4)]
    first = records(keeper, "primary")[0]
    assert first["status"] == "fallback"
    assert first["fallback_name"].endswith("local")
    assert first["original_error"] == "ConnectionError: upstream down"
    assert keeper.runtimes.circuit_state("primary") == "open"

    healthy["up"] = True
    assert chat("x") == "local:x"  # refused by the open circuit, served by the fallback
    refused = records(keeper, "primary")[-1]
    assert refused["fallback_reason"] == "circuit_open"
    assert refused["error_code"] == "CIRCUIT_OPEN"

    clock.advance(31)
    assert chat("p1") == "remote:p1"
    assert keeper.runtimes.circuit_state("primary") == "half_open"
    assert chat("p2") == "remote:p2"
    assert keeper.runtimes.circuit_state("primary") == "closed"
    health = keeper.monitoring.get_wrapper_health("primary")
    assert health.circuit_state == "closed"


def test_without_a_fallback_the_error_is_raised_and_recorded_without_secrets(
    keeper: Keeper,
) -> None:
    """The original error reaches the caller; its recorded message has the tool's secret masked."""

    @keeper.tool("primary")
    def leak() -> None:
        raise ValueError(f"bad key {SECRET}")

    with pytest.raises(ValueError, match="bad key"):
        leak()
    (record,) = records(keeper, "primary")
    assert record["status"] == "error"
    assert record["error_code"] == "ValueError"
    assert SECRET not in record["error_message"]
    assert record["error_message"] == "ValueError: bad key ****"


def test_a_fallback_may_be_another_tool(keeper: Keeper) -> None:
    """A string fallback calls the other tool's wrapped function, recorded as that tool."""

    @keeper.tool("backup")
    def backup_chat(prompt: str) -> str:
        return f"backup:{prompt}"

    @keeper.tool("primary", fallback="backup")
    def chat(prompt: str) -> str:
        raise ConnectionError("down")

    assert chat("q") == "backup:q"
    assert records(keeper, "primary")[0]["fallback_name"] == "backup"
    assert records(keeper, "backup")[0]["status"] == "success"


def test_async_functions_are_wrapped_too(keeper: Keeper) -> None:
    """A coroutine function gets an async wrapper with the same recording and fallbacks."""

    async def local(prompt: str) -> str:
        return f"local:{prompt}"

    @keeper.tool("primary", fallback=local)
    async def chat(prompt: str) -> str:
        if prompt == "fail":
            raise ConnectionError("down")
        return f"remote:{prompt}"

    async def run() -> list[str]:
        return [await chat("a"), await chat("fail")]

    assert asyncio.run(run()) == ["remote:a", "local:fail"]
    assert [r["status"] for r in records(keeper, "primary")] == ["success", "fallback"]


def test_a_runtime_config_change_applies_to_the_next_call(keeper: Keeper) -> None:
    """Raising max_retry_attempts at runtime makes the next failing call retry."""
    attempts = {"n": 0}

    @keeper.tool("backup")
    def flaky() -> str:
        attempts["n"] += 1
        if attempts["n"] % 3:
            raise ConnectionError("flaky")
        return "ok"

    with pytest.raises(ConnectionError):
        flaky()
    assert attempts["n"] == 1
    keeper.config.update(
        "backup",
        {"max_retry_attempts": 2, "retry_backoff_seconds": 0},
        actor="ana",
        reason="retry flaky upstream",
    )
    assert flaky() == "ok"
    assert attempts["n"] == 3


def test_a_disabled_tool_goes_straight_to_its_fallback(keeper: Keeper) -> None:
    """With enabled = false the primary is never called; without a fallback the call is refused."""
    called = []

    @keeper.tool("primary", fallback=lambda: "fallback")
    def chat() -> str:
        called.append(1)
        return "primary"

    @keeper.tool("primary", operation="bare")
    def bare() -> str:
        return "primary"

    keeper.config.update("primary", {"enabled": False}, actor="ana", reason="maintenance")
    assert chat() == "fallback"
    assert called == []
    with pytest.raises(ToolCallError, match="disabled"):
        bare()


def test_operation_blocks_record_usage_metrics_and_parents(keeper: Keeper) -> None:
    """A with-block records its usage, cost and metrics; a nested block knows its parent."""
    with keeper.operation("router", "route", labels={"team": "search"}) as outer:
        outer.usage(model="gpt-4o-mini", input_tokens=812, output_tokens=64)
        outer.metric("quality_score", 0.92)
        outer.cost(0.0021)
        with keeper.operation("prompts", "render") as inner:
            inner.metric("chars", 1200)
    (route,) = records(keeper, "router")
    (render,) = records(keeper, "prompts")
    assert route["status"] == "success"
    assert (route["input_tokens"], route["output_tokens"]) == (812, 64)
    assert route["quality_score"] == 0.92
    assert route["cost_estimate"] == pytest.approx(0.0021)
    assert route["labels"] == {"team": "search", "model": "gpt-4o-mini"}
    assert render["parent_id"] == route["operation_id"] == outer.id


def test_an_operation_block_that_raises_is_recorded_and_reraises(keeper: Keeper) -> None:
    """An exception in the block is recorded as an error and still propagates."""
    with pytest.raises(KeyError), keeper.operation("router", "route"):
        raise KeyError("missing")
    (record,) = records(keeper, "router")
    assert record["status"] == "error"
    assert record["error_code"] == "KeyError"


def test_an_operation_block_can_report_a_fallback(keeper: Keeper) -> None:
    """``op.fallback`` marks the operation as served by a fallback, not as a failure."""
    with keeper.operation("router", "route") as op:
        op.fallback("primary_failed", name="weak-model")
    (record,) = records(keeper, "router")
    assert record["status"] == "fallback"
    assert record["fallback_name"] == "weak-model"


def test_async_operation_blocks_work(keeper: Keeper) -> None:
    """``async with keeper.operation(...)`` records like the sync form."""

    async def run() -> None:
        async with keeper.operation("router", "route") as op:
            op.usage(input_tokens=5)

    asyncio.run(run())
    assert records(keeper, "router")[0]["input_tokens"] == 5


def test_an_open_circuit_refuses_an_operation_block(keeper: Keeper) -> None:
    """Once the tool's circuit is open, entering its block raises CircuitOpenError."""
    for _ in range(4):
        with pytest.raises(ConnectionError), keeper.operation("primary", "chat"):
            raise ConnectionError("down")
    with pytest.raises(CircuitOpenError), keeper.operation("primary", "chat"):
        pass
    assert records(keeper, "primary")[-1]["error_code"] == "CIRCUIT_OPEN"


def test_unknown_tool_health_is_unknown_and_not_created(keeper: Keeper) -> None:
    """Asking about a tool never called reports unknown and does not make it appear."""
    assert keeper.monitoring.get_wrapper_health("ghost").status == "unknown"
    assert "ghost" not in keeper.monitoring.get_active_wrappers()


def test_the_model_of_an_operation_block_groups_its_cost_by_model(tmp_path: Any) -> None:
    """A model named in an operation block is the model its exact rollups group spend by."""
    keeper = Keeper.open(
        ConfigFile.parse('[prices."block-model"]\ninput_per_mtok = 1.0\n'
                         "output_per_mtok = 2.0\n"),
        store=f"sqlite:///{tmp_path / 'state.db'}", follow_changes=False,
    )  # fmt: skip
    try:
        with keeper.operation("router", "route") as op:
            op.usage(model="block-model", input_tokens=1_000_000, output_tokens=0)
        groups = keeper.costs.report(by="model").to_dict()["groups"]
    finally:
        keeper.close()
    assert [(g["key"], g["calls"]) for g in groups] == [("block-model", 1)]
