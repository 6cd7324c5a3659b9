"""Budgets and rate limits around wrapped calls: the decorator and the operation block."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from toolkeeper import BudgetExceeded, FakeClock, Keeper, RateLimited
from toolkeeper.config.files import ConfigFile
from toolkeeper.costs import BudgetStatus
from toolkeeper.monitor.persist import stored_operations

CONFIG = """\
[prices."house-model"]
input_per_mtok = "2.00"
output_per_mtok = "8.00"

[tools.paid]
daily_budget = 1.0
max_retry_attempts = 0
timeout_sync_calls = false

[tools.cheap]
daily_budget = 0.02
budget_policy = "fallback"
max_retry_attempts = 0
timeout_sync_calls = false

[tools.lenient]
daily_budget = 0.02
budget_policy = "warn"
timeout_sync_calls = false

[tools.limited]
rate_limit_requests_per_minute = 5
max_retry_attempts = 0
timeout_sync_calls = false

[tools.patient]
rate_limit_requests_per_minute = 1
rate_limit_max_wait_seconds = 120
timeout_sync_calls = false

[tools.local]
timeout_sync_calls = false
"""
THREADS, CALLS = 16, 20


def answer(cost: float | None = 0.01, model: str = "house-model") -> dict[str, Any]:
    """Return an OpenAI-style response, with ``usage.cost`` unless ``cost`` is None."""
    usage: dict[str, Any] = {"prompt_tokens": 1000, "completion_tokens": 500}
    if cost is not None:
        usage["cost"] = cost
    return {"model": model, "usage": usage}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Give a FakeClock that also drives the wall time ``limits`` reads in memory."""
    import limits.storage.memory
    import limits.strategies

    fake = FakeClock(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    wall = SimpleNamespace(time=lambda: fake.now().timestamp())
    for module in (limits.storage.memory, limits.strategies):
        monkeypatch.setattr(module, "time", wall)
    return fake


def opener(uri: str, clock: FakeClock) -> Callable[[], Keeper]:
    """Return a function opening a keeper over ``uri`` with the fake clock."""
    return lambda: Keeper.open(
        ConfigFile.parse(CONFIG), store=uri, follow_changes=False, clock=clock
    )


@pytest.fixture
def keeper(clock: FakeClock, tmp_path: Path) -> Iterator[Keeper]:
    """Open a keeper over an SQLite store."""
    opened = opener(f"sqlite:///{tmp_path / 'state.db'}", clock)()
    yield opened
    opened.close()


def hammer(call: Callable[[], object]) -> tuple[int, int]:
    """Run ``call`` from 16 threads, 20 times each; return (admitted, refused) counts."""
    admitted, refused = [], []
    start = threading.Barrier(THREADS)

    def worker() -> None:
        start.wait()
        for _ in range(CALLS):
            try:
                call()
            except BudgetExceeded:
                refused.append(1)
            else:
                admitted.append(1)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(admitted), len(refused)


def status_of(keeper: Keeper, tool: str) -> BudgetStatus:
    """Return the state of the tool's daily budget."""
    (status,) = [s for s in keeper.costs.status() if s.budget.scope == f"tool:{tool}"]
    return status


def spent(keeper: Keeper, tool: str) -> Decimal:
    """Return the settled spend of the tool's daily budget."""
    return status_of(keeper, tool).spent


def errors(keeper: Keeper, tool: str) -> list[str | None]:
    """Return the error codes of the tool's recorded operations."""
    return [r["error_code"] for r in keeper.monitoring.export_metrics(wrapper_name=tool)]


def test_sixteen_threads_through_the_decorator_spend_exactly_the_budget(
    store_uri: str, clock: FakeClock
) -> None:
    """$1.00 a day, $0.01 a call, 16 threads x 20 calls: 100 run, 220 get BudgetExceeded."""
    keeper = opener(store_uri, clock)()
    ran = []

    @keeper.tool("paid", operation="chat", estimated_cost=0.01)
    def chat() -> dict[str, Any]:
        ran.append(1)
        return answer(0.01)

    assert hammer(chat) == (100, 220)
    assert len(ran) == 100
    assert spent(keeper, "paid") == Decimal("1.00")
    codes = errors(keeper, "paid")
    assert codes.count("BUDGET_EXCEEDED") == 220
    keeper.close()


def test_sixteen_threads_through_operation_blocks_spend_exactly_the_budget(
    store_uri: str, clock: FakeClock
) -> None:
    """The same hammering through ``keeper.operation`` blocks that report op.cost(0.01)."""
    keeper = opener(store_uri, clock)()

    def block() -> None:
        with keeper.operation("paid", "chat", estimated_cost=Decimal("0.01")) as op:
            op.cost(0.01)

    assert hammer(block) == (100, 220)
    assert spent(keeper, "paid") == Decimal("1.00")
    keeper.close()


def test_spend_survives_reopening_the_keeper(clock: FakeClock, tmp_path: Path) -> None:
    """After a restart on the same SQLite store the day's spend is still $1.00, and enforced."""
    open_keeper = opener(f"sqlite:///{tmp_path / 'state.db'}", clock)
    keeper = open_keeper()
    chat = keeper.tool("paid", estimated_cost=0.01)(lambda: answer(0.01))
    assert hammer(chat) == (100, 220)
    keeper.close()
    reopened = open_keeper()
    assert spent(reopened, "paid") == Decimal("1.00")
    again = reopened.tool("paid", estimated_cost=0.01)(lambda: answer(0.01))
    with pytest.raises(BudgetExceeded):
        again()
    reopened.close()


def test_a_fallback_policy_routes_to_the_fallback_once_the_budget_is_spent(
    keeper: Keeper,
) -> None:
    """budget_policy = "fallback": calls beyond the budget are served by the fallback."""

    def local(prompt: str) -> str:
        return f"local:{prompt}"

    @keeper.tool("cheap", fallback=local, estimated_cost=0.01)
    def chat(prompt: str) -> dict[str, Any]:
        return answer(0.01)

    assert [chat("a"), chat("b")] == [answer(0.01), answer(0.01)]
    assert chat("c") == "local:c"
    records = keeper.monitoring.export_metrics(wrapper_name="cheap")
    assert [r["status"] for r in records] == ["success", "success", "fallback"]
    assert records[-1]["fallback_reason"] == "budget"
    assert records[-1]["error_code"] == "BUDGET_EXCEEDED"
    assert spent(keeper, "cheap") == Decimal("0.02")


def test_a_fallback_policy_without_a_fallback_refuses(keeper: Keeper) -> None:
    """With nowhere to go, a call a fallback budget cannot afford raises BudgetExceeded."""
    chat = keeper.tool("cheap", estimated_cost=0.03)(lambda: answer(0.03))
    with pytest.raises(BudgetExceeded, match="tool:cheap"):
        chat()


def test_an_operation_block_over_a_fallback_budget_is_told_to_fall_back(keeper: Keeper) -> None:
    """The block runs with budget_fallback set and is recorded as a fallback for the budget."""
    with keeper.operation("cheap", "chat", estimated_cost=0.05) as op:
        assert op.budget_fallback
        assert op.budget_refusal is not None
        assert "tool:cheap" in op.budget_refusal
    (record,) = keeper.monitoring.export_metrics(wrapper_name="cheap")
    assert (record["status"], record["fallback_reason"]) == ("fallback", "budget")


def test_a_warn_policy_runs_past_the_limit_and_says_so(keeper: Keeper) -> None:
    """budget_policy = "warn": every call runs, and reaching the limit raises one event."""
    chat = keeper.tool("lenient", estimated_cost=0.01)(lambda: answer(0.01))
    for _ in range(4):
        chat()
    assert spent(keeper, "lenient") == Decimal("0.04")
    assert [e.kind for e in keeper.costs.events()] == ["threshold", "threshold", "limit"]


def test_a_failed_call_releases_its_reservation(keeper: Keeper) -> None:
    """A call that raises spends nothing: its reservation is given back."""

    @keeper.tool("paid", estimated_cost=0.5)
    def chat() -> dict[str, Any]:
        raise ConnectionError("down")

    for _ in range(5):
        with pytest.raises(ConnectionError):
            chat()
    status = status_of(keeper, "paid")
    assert (status.spent, status.reserved) == (Decimal(0), Decimal(0))


def test_a_failed_call_teaches_no_estimate(keeper: Keeper) -> None:
    """A call of unknown cost that fails leaves the next one of unknown cost: it never overshoots.

    A failure released as a $0 settle would teach the estimate $0, and the next
    call would reserve nothing and overshoot by its whole cost.
    """
    outcomes = iter([ConnectionError("down"), None, None])

    @keeper.tool("paid", operation="chat")
    def chat() -> dict[str, Any]:
        failure = next(outcomes)
        if failure is not None:
            raise failure
        return answer(0.25)

    with pytest.raises(ConnectionError):
        chat()
    chat()
    chat()
    assert spent(keeper, "paid") == Decimal("0.50")
    assert keeper.costs.overshoots() == {}


def test_the_actual_cost_is_priced_when_the_response_has_none(keeper: Keeper) -> None:
    """Without usage.cost, the response's usage is priced from [prices] and settled."""
    chat = keeper.tool("paid", estimated_cost=0.01)(lambda: answer(cost=None))
    chat()
    # 1000 input tokens at $2/M and 500 output at $8/M.
    assert spent(keeper, "paid") == Decimal("0.006")
    (record,) = keeper.monitoring.export_metrics(wrapper_name="paid")
    assert record["cost_estimate"] == pytest.approx(0.006)


def test_async_calls_are_held_to_the_budget_too(keeper: Keeper) -> None:
    """The async wrapper reserves and settles like the sync one."""

    @keeper.tool("paid", estimated_cost=0.25)
    async def chat() -> dict[str, Any]:
        await asyncio.sleep(0)
        return answer(0.25)

    async def run() -> list[str]:
        outcomes = []
        for _ in range(5):
            try:
                await chat()
                outcomes.append("ok")
            except BudgetExceeded:
                outcomes.append("refused")
        return outcomes

    assert asyncio.run(run()) == ["ok"] * 4 + ["refused"]


def test_the_rate_limit_refuses_the_sixth_call_in_a_minute(
    keeper: Keeper, clock: FakeClock
) -> None:
    """Five calls a minute pass; the sixth raises RateLimited, and a minute later calls pass."""
    chat = keeper.tool("limited")(lambda: "ok")
    for _ in range(5):
        assert chat() == "ok"
        clock.advance(1)
    with pytest.raises(RateLimited) as raised:
        chat()
    assert raised.value.retry_after_seconds > 0
    assert errors(keeper, "limited")[-1] == "RATE_LIMITED"
    clock.advance(60)
    assert chat() == "ok"


def test_operation_blocks_are_rate_limited_too(keeper: Keeper, clock: FakeClock) -> None:
    """The sixth block in a minute is refused before it runs."""
    ran = []
    for _ in range(5):
        with keeper.operation("limited", "step"):
            ran.append(1)
    with pytest.raises(RateLimited), keeper.operation("limited", "step"):
        ran.append(1)
    assert len(ran) == 5
    clock.advance(61)
    with keeper.operation("limited", "step"):
        ran.append(1)
    assert len(ran) == 6


def test_a_rate_limit_with_a_wait_sleeps_on_the_clock(keeper: Keeper, clock: FakeClock) -> None:
    """rate_limit_max_wait_seconds = 120 waits for the next window instead of raising."""
    chat = keeper.tool("patient")(lambda: "ok")
    assert chat() == "ok"
    assert chat() == "ok"
    assert clock.sleeps == [pytest.approx(60, abs=0.01)]


def test_an_unpriced_model_is_marked_in_the_store_not_charged_as_zero(keeper: Keeper) -> None:
    """A response of a model with no price is recorded with cost 0 and unpriced in details."""
    chat = keeper.tool("local")(lambda: answer(cost=None, model="mystery-model-x"))
    chat()
    keeper.flush()
    (stored,), _ = stored_operations(keeper.store, tool="local")
    assert stored.unpriced is True
    assert stored.cost_estimate == 0
    with keeper.operation("local", "block") as op:
        op.usage(model="mystery-model-x", input_tokens=5, output_tokens=1)
    keeper.flush()
    block = stored_operations(keeper.store, tool="local")[0][0]
    assert (block.operation_type, block.unpriced) == ("block", True)
    assert keeper.costs.unpriced() == {("local", "mystery-model-x"): 2}


def test_an_unpriced_call_under_a_budget_is_charged_its_estimate(keeper: Keeper) -> None:
    """A budget cannot count an unknown cost as zero: the call's estimate is kept as spent."""
    chat = keeper.tool("paid", estimated_cost=0.3)(lambda: answer(None, model="mystery-model-x"))
    chat()
    assert spent(keeper, "paid") == Decimal("0.3")


def test_operation_usage_is_priced_from_the_catalog(keeper: Keeper) -> None:
    """op.usage(model=...) is priced at the block's end; op.cost(...) replaces it."""
    with keeper.operation("local", "priced") as op:
        op.usage(model="house-model", input_tokens=1000, output_tokens=500)
    with keeper.operation("local", "given") as op:
        op.usage(model="house-model", input_tokens=1000, output_tokens=500)
        op.cost(Decimal("0.5"))
    priced, given = keeper.monitoring.export_metrics(wrapper_name="local")
    assert priced["cost_estimate"] == pytest.approx(0.006)
    assert given["cost_estimate"] == pytest.approx(0.5)
    assert priced["unpriced"] is False


@pytest.mark.parametrize("ledger", ["memory", "sqlite"])
def test_sixteen_threads_without_an_estimate_never_overshoot(ledger: str, tmp_path: Path) -> None:
    """$1.00, 16 threads x 20 calls of $0.01 with no estimate: at most 100 run, none beyond."""
    from tests.costs._workers import WRAPPED_CONFIG, run_cent_calls

    text = WRAPPED_CONFIG + ('[costs]\nledger = "memory://"\n' if ledger == "memory" else "")
    keeper = Keeper.open(
        ConfigFile.parse(text), store=f"sqlite:///{tmp_path / 'state.db'}", follow_changes=False
    )
    try:
        ran, refused = run_cent_calls(keeper, THREADS, CALLS)
        assert 0 < ran <= 100
        assert ran + refused == THREADS * CALLS
        assert status_of(keeper, "paid").spent == Decimal("0.01") * ran
        assert keeper.costs.overshoots() == {}
    finally:
        keeper.close()


def test_max_tokens_and_the_model_price_bound_the_reservation(keeper: Keeper) -> None:
    """With no estimate, a call's max_tokens priced on its model is what it reserves."""
    held: list[Decimal] = []

    @keeper.tool("paid")
    def chat(*, model: str, max_tokens: int, messages: list[dict[str, str]]) -> dict[str, Any]:
        held.append(status_of(keeper, "paid").reserved)
        return answer(cost=None, model=model)

    chat(model="house-model", max_tokens=1000, messages=[{"role": "user", "content": "x" * 40}])
    # 1000 output tokens at $8/M, plus the prompt counted generously at $2/M.
    assert Decimal("0.008") < held[0] < Decimal("0.0082")
    assert spent(keeper, "paid") == Decimal("0.006")


def test_an_actual_beyond_its_reservation_is_counted_as_overshoot(keeper: Keeper) -> None:
    """A call that costs more than its estimate is settled in full and counted as overshoot."""
    chat = keeper.tool("paid", estimated_cost=0.001)(lambda: answer(cost=0.01))
    chat()
    assert spent(keeper, "paid") == Decimal("0.01")
    (overshoot,) = keeper.costs.overshoots().values()
    assert (overshoot.calls, overshoot.amount) == (1, Decimal("0.009"))


def test_a_call_of_unknown_cost_waits_on_the_keepers_clock_for_the_one_in_flight(
    clock: FakeClock, tmp_path: Path
) -> None:
    """A second call of unknown cost waits 60 s of the keeper's clock, then is refused."""
    keeper = Keeper.open(
        ConfigFile.parse(CONFIG + '[costs]\nledger = "memory://"\n'),
        store=f"sqlite:///{tmp_path / 'state.db'}", follow_changes=False, clock=clock,
    )  # fmt: skip
    try:
        inner = keeper.tool("paid", operation="inner")(lambda: answer(0.01))

        @keeper.tool("paid", operation="outer")
        def outer() -> Any:
            return inner()  # runs while the outer call of unknown cost holds the budget

        started = clock.monotonic()
        with pytest.raises(BudgetExceeded, match="waited 60s for the call of unknown cost"):
            outer()
        assert clock.monotonic() - started == pytest.approx(60, abs=0.1)
        assert sum(clock.sleeps) == pytest.approx(60, abs=0.1)
    finally:
        keeper.close()


class SettlingClock(FakeClock):
    """A fake clock that runs ``then`` on the first sleep anyone takes on it."""

    then: Callable[[], None] | None = None

    def sleep(self, seconds: float) -> None:
        """Run ``then`` once, then sleep as a FakeClock does."""
        then, self.then = self.then, None
        if then is not None:
            then()
        super().sleep(seconds)


def test_a_call_held_off_by_another_process_in_flight_waits_instead_of_being_refused(
    store_uri: str,
) -> None:
    """A call of unknown cost in one process holds the whole $1; another's $0.01 call waits."""
    clock = SettlingClock(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    first, second = (opener(store_uri, clock)() for _ in range(2))
    try:
        costs = first.runtimes.get("paid").costs
        assert costs is not None
        held = costs.admit(None, operation="first")  # unknown cost: holds all that is left
        assert held is not None
        assert status_of(second, "paid").reserved == Decimal(1)

        def settle_first() -> None:
            costs.settle(held, 0.01)
            first.flush()

        clock.then = settle_first
        chat = second.tool("paid", operation="second", estimated_cost=0.01)(lambda: answer(0.01))
        assert chat() == answer(0.01)  # refused at once before: "reserved $1.00 by calls in flight"
        second.flush()
        assert clock.sleeps  # it waited for the first call to settle
        assert spent(second, "paid") == Decimal("0.02")
        assert second.costs.overshoots() == {}
    finally:
        second.close()
        first.close()


def test_a_call_held_off_until_its_deadline_is_refused_for_what_is_held(clock: FakeClock,
    tmp_path: Path) -> None:  # fmt: skip
    """A call whose budget stays held by a call in flight waits 60 s, then is refused."""
    keeper = opener(f"sqlite:///{tmp_path / 'state.db'}", clock)()
    try:
        costs = keeper.runtimes.get("paid").costs
        assert costs is not None
        assert costs.admit(None, operation="first") is not None  # never settles
        chat = keeper.tool("paid", operation="second", estimated_cost=0.01)(lambda: answer(0.01))
        started = clock.monotonic()
        with pytest.raises(BudgetExceeded, match=r"reserved \$1\.00 by calls in flight"):
            chat()
        assert clock.monotonic() - started == pytest.approx(60, abs=0.1)
    finally:
        keeper.close()
