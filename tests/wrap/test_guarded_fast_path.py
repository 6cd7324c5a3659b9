"""The budgeted fast path, sync and async: a first attempt inline between reserve and settle."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from toolkeeper import BudgetExceeded, CallTimeoutError, FakeClock, Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.costs import BudgetStatus, Usage

CONFIG = """\
[tools.paid]
daily_budget = 1.0
max_retry_attempts = 1
retry_backoff_seconds = 0.01
timeout_sync_calls = false

[tools.inner]
timeout_sync_calls = false
daily_budget = 1.0
max_retry_attempts = 0

[tools.cheap]
timeout_sync_calls = false
budget_policy = "fallback"
daily_budget = 0.02
max_retry_attempts = 0

[tools.spare]
max_retry_attempts = 0
timeout_sync_calls = false

[tools.slow]
daily_budget = 1.0
max_retry_attempts = 0
timeout_seconds = 0.2
"""


@pytest.fixture
def keeper() -> Iterator[Keeper]:
    """Open a keeper over an in-memory store, its budgets in memory, on a fake clock."""
    clock = FakeClock(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    opened = Keeper.open(
        ConfigFile.parse(CONFIG), store="memory://", follow_changes=False, clock=clock
    )
    yield opened
    opened.close()


def answer(cost: float) -> dict[str, Any]:
    """Return an OpenAI-style response carrying its cost."""
    return {"model": "house-model", "usage": {"prompt_tokens": 10, "completion_tokens": 5,
                                              "cost": cost}}  # fmt: skip


def status_of(keeper: Keeper, tool: str) -> BudgetStatus:
    """Return the state of the tool's daily budget."""
    (status,) = [s for s in keeper.costs.status() if s.budget.scope == f"tool:{tool}"]
    return status


def records(keeper: Keeper, tool: str) -> list[dict[str, Any]]:
    """Return the recorded operations of ``tool``, oldest first."""
    keeper.flush()
    return keeper.monitoring.export_metrics(wrapper_name=tool)


def test_a_budgeted_call_runs_in_the_callers_thread_and_settles_its_cost(keeper: Keeper) -> None:
    """The call runs in the caller's thread; its cost is spent, recorded, and nothing stays held."""
    threads = []

    @keeper.tool("paid", operation="chat", estimated_cost=0.05, labels={"team": "a"})
    def chat() -> dict[str, Any]:
        threads.append(threading.get_ident())
        return answer(0.03)

    for _ in range(3):
        assert chat() == answer(0.03)
    assert threads == [threading.get_ident()] * 3
    status = status_of(keeper, "paid")
    assert (status.spent, status.reserved) == (Decimal("0.09"), Decimal(0))
    found = records(keeper, "paid")
    assert [(r["status"], r["cost_estimate"], r["input_tokens"]) for r in found] == [
        ("success", pytest.approx(0.03), 10)
    ] * 3
    assert all(r["labels"] == {"team": "a", "model": "house-model"} for r in found)


def test_a_value_that_is_no_response_spends_nothing(keeper: Keeper) -> None:
    """A call returning a plain value is recorded and settles at $0, its reservation given back."""
    chat = keeper.tool("paid", estimated_cost=0.5)(lambda: "hello")
    assert [chat() for _ in range(4)] == ["hello"] * 4  # 4 x $0.50 would be refused
    status = status_of(keeper, "paid")
    assert (status.spent, status.reserved) == (Decimal(0), Decimal(0))
    assert [r["status"] for r in records(keeper, "paid")] == ["success"] * 4


def test_nested_budgeted_calls_name_their_parent(keeper: Keeper) -> None:
    """A budgeted call inside another records the outer call as its parent."""

    @keeper.tool("inner", operation="leaf", estimated_cost=0.01)
    def leaf() -> dict[str, Any]:
        return answer(0.01)

    @keeper.tool("paid", operation="outer", estimated_cost=0.02)
    def outer() -> dict[str, Any]:
        leaf()
        return answer(0.02)

    outer()
    (outer_record,) = records(keeper, "paid")
    (leaf_record,) = records(keeper, "inner")
    assert outer_record["parent_id"] is None
    assert leaf_record["parent_id"] == outer_record["operation_id"]
    assert status_of(keeper, "inner").spent == Decimal("0.01")
    assert status_of(keeper, "paid").spent == Decimal("0.02")


def test_a_first_attempt_that_fails_is_retried_as_the_same_operation(keeper: Keeper) -> None:
    """The retry's cost settles the one reservation; one record says success after a retry."""
    attempts = []

    @keeper.tool("paid", estimated_cost=0.05)
    def chat() -> dict[str, Any]:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("flaky")
        return answer(0.04)

    assert chat() == answer(0.04)
    assert len(attempts) == 2
    (record,) = records(keeper, "paid")
    assert record["status"] == "success"
    assert record["custom_metrics"]["retries"] == 1
    status = status_of(keeper, "paid")
    assert (status.spent, status.reserved) == (Decimal("0.04"), Decimal(0))


def test_a_call_whose_attempts_all_fail_releases_its_reservation(keeper: Keeper) -> None:
    """Every attempt raising: the caller gets the error, one error is recorded, nothing is held."""

    @keeper.tool("paid", estimated_cost=0.5)
    def chat() -> dict[str, Any]:
        raise ConnectionError("down")

    for _ in range(3):
        with pytest.raises(ConnectionError, match="down"):
            chat()
    status = status_of(keeper, "paid")
    assert (status.spent, status.reserved) == (Decimal(0), Decimal(0))
    assert [r["status"] for r in records(keeper, "paid")] == ["error"] * 3


def test_an_interrupted_first_attempt_is_not_retried_and_releases(keeper: Keeper) -> None:
    """A KeyboardInterrupt ends the call at once, recorded as cancelled, its money given back."""
    calls = []

    @keeper.tool("paid", estimated_cost=0.5)
    def chat() -> dict[str, Any]:
        calls.append(1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        chat()
    assert calls == [1]
    assert [r["status"] for r in records(keeper, "paid")] == ["cancelled"]
    assert status_of(keeper, "paid").reserved == Decimal(0)


def test_a_refusal_reaches_the_caller_and_is_recorded(keeper: Keeper) -> None:
    """Once the budget is spent, the next call is refused before it runs."""
    ran = []

    @keeper.tool("paid", estimated_cost=0.4)
    def chat() -> dict[str, Any]:
        ran.append(1)
        return answer(0.4)

    chat()
    chat()
    with pytest.raises(BudgetExceeded):
        chat()
    assert len(ran) == 2
    assert [r["status"] for r in records(keeper, "paid")] == ["success", "success", "error"]


def test_a_fallback_budget_sends_the_call_to_its_fallback(keeper: Keeper) -> None:
    """A fallback budget that cannot afford a call skips the primary for the fallback tool."""
    spare = keeper.tool("spare")(lambda: "spare")
    chat = keeper.tool("cheap", estimated_cost=0.015, fallback=spare)(lambda: answer(0.015))
    assert chat() == answer(0.015)
    assert chat() == "spare"
    found = records(keeper, "cheap")
    assert [r["status"] for r in found] == ["success", "fallback"]
    assert found[1]["fallback_reason"] == "budget"


def test_async_budgeted_calls_settle_like_sync_ones(keeper: Keeper) -> None:
    """An async call reserves, runs in the caller's task, records and settles its cost."""

    @keeper.tool("paid", operation="chat", estimated_cost=0.05)
    async def chat() -> dict[str, Any]:
        await asyncio.sleep(0)
        return answer(0.03)

    async def run() -> list[dict[str, Any]]:
        return [await chat() for _ in range(3)]

    assert asyncio.run(run()) == [answer(0.03)] * 3
    status = status_of(keeper, "paid")
    assert (status.spent, status.reserved) == (Decimal("0.09"), Decimal(0))
    assert [r["status"] for r in records(keeper, "paid")] == ["success"] * 3


def test_an_async_first_attempt_is_retried_after_a_failure(keeper: Keeper) -> None:
    """An async first attempt that raises is retried; the retry's cost settles the reservation."""
    attempts = []

    @keeper.tool("paid", estimated_cost=0.05)
    async def chat() -> dict[str, Any]:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("flaky")
        return answer(0.04)

    assert asyncio.run(chat()) == answer(0.04)
    (record,) = records(keeper, "paid")
    assert (record["status"], record["custom_metrics"]["retries"]) == ("success", 1)
    status = status_of(keeper, "paid")
    assert (status.spent, status.reserved) == (Decimal("0.04"), Decimal(0))


def test_an_async_call_past_its_timeout_times_out_and_releases(keeper: Keeper) -> None:
    """An async call that never returns ends at its timeout as a timeout; nothing stays held."""

    @keeper.tool("slow", estimated_cost=0.5)
    async def chat() -> dict[str, Any]:
        await asyncio.Event().wait()  # never set: only the timeout ends it
        return answer(0.5)

    with pytest.raises(CallTimeoutError):
        asyncio.run(chat())
    (record,) = records(keeper, "slow")
    assert (record["status"], record["error_code"]) == ("timeout", "TIMEOUT")
    status = status_of(keeper, "slow")
    assert (status.spent, status.reserved) == (Decimal(0), Decimal(0))


def test_a_response_to_price_is_priced_before_its_reservation_settles(keeper: Keeper) -> None:
    """A budgeted call whose response carries no cost is priced from the catalog, then settled."""
    usage = {"prompt_tokens": 1000, "completion_tokens": 50}
    chat = keeper.tool("paid", operation="chat", estimated_cost=0.05)(
        lambda: {"model": "gpt-4o-mini", "usage": usage}
    )
    chat()
    chat()
    expected = keeper.costs.price("gpt-4o-mini", Usage(input_tokens=1000, output_tokens=50)).cost
    assert expected is not None
    assert expected > 0
    status = status_of(keeper, "paid")
    assert (status.spent, status.reserved) == (2 * expected, Decimal(0))
    found = records(keeper, "paid")
    assert [r["cost_estimate"] for r in found] == [pytest.approx(float(expected))] * 2


def test_a_budgeted_call_teaches_the_estimate_of_the_model_it_asked_for(keeper: Keeper) -> None:
    """The actual cost is learned under the model the call's keyword arguments name, and any."""

    @keeper.tool("paid", operation="chat", estimated_cost=0.05)
    def chat(prompt: str, *, model: str) -> dict[str, Any]:
        return answer(0.03 if model == "m-1" else 0.01)

    chat("hi", model="m-1")
    chat("hi", model="m-2")
    learned = keeper.costs.learned
    assert learned.largest(("paid", "chat", "m-1")) == Decimal("0.03")
    assert learned.largest(("paid", "chat", "m-2")) == Decimal("0.01")
    assert learned.largest(("paid", "chat", None)) == Decimal("0.03")  # any model: the largest


def test_a_call_the_budget_cannot_admit_at_once_is_decided_by_the_general_path(
    keeper: Keeper,
) -> None:
    """Near the limit, the call the budget refuses is refused once, recorded once, holds nothing."""
    chat = keeper.tool("paid", operation="chat", estimated_cost=0.4)(lambda: answer(0.4))
    chat()
    chat()
    with pytest.raises(BudgetExceeded, match=r"tool:paid"):
        chat()
    status = status_of(keeper, "paid")
    assert (status.spent, status.reserved) == (Decimal("0.8"), Decimal(0))
    assert [r["status"] for r in records(keeper, "paid")] == ["success", "success", "error"]


def test_async_budgeted_calls_are_priced_refused_and_recorded_like_sync_ones(
    keeper: Keeper,
) -> None:
    """Async: a response to price is priced before its settle; near the limit a call is refused."""
    usage = {"prompt_tokens": 100_000, "completion_tokens": 50_000}

    # Each call costs $0.045 at gpt-4o-mini's catalog price: $0.95 fits twice, not a third time.
    @keeper.tool("paid", operation="chat", estimated_cost=0.95)
    async def chat() -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"model": "gpt-4o-mini", "usage": usage}

    async def run() -> None:
        await chat()
        await chat()
        with pytest.raises(BudgetExceeded, match=r"tool:paid"):
            await chat()

    asyncio.run(run())
    price = keeper.costs.price("gpt-4o-mini", Usage(input_tokens=100_000, output_tokens=50_000))
    assert price.cost is not None
    assert price.cost > 0
    status = status_of(keeper, "paid")
    assert (status.spent, status.reserved) == (2 * price.cost, Decimal(0))
    assert [r["status"] for r in records(keeper, "paid")] == ["success", "success", "error"]
