"""keeper.costs: cost tables of the file, the catalog, budgets from config, events and tallies."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from toolkeeper import BudgetExceeded, ConfigValidationError, FakeClock, Keeper
from toolkeeper.config import ExternalToolConfig
from toolkeeper.config.files import ConfigFile
from toolkeeper.costs import Usage
from toolkeeper.costs.settings import GLOBAL_SCOPE

EXAMPLE = Path(__file__).parents[2] / "examples" / "toolkeeper.toml"
CONFIG = """\
[costs]
time_zone = "Europe/Paris"

[prices."house-model"]
input_per_mtok = "2.00"
output_per_mtok = "8.00"

[tools.paid]
daily_budget = 0.05
budget_alert_thresholds = [0.5]
max_retry_attempts = 0
timeout_sync_calls = false

[tools.free]
max_retry_attempts = 0
timeout_sync_calls = false

[[budgets]]
scope = "label:team=search"
limit = "$0.02/day"
"""


def answer(cost: float = 0.01, model: str = "house-model") -> dict[str, Any]:
    """Return an OpenAI-style response that reports its own cost."""
    return {"model": model, "usage": {"prompt_tokens": 10, "completion_tokens": 5, "cost": cost}}


@pytest.fixture
def clock() -> FakeClock:
    """Return a fake clock at noon UTC on a weekday."""
    return FakeClock(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))


@pytest.fixture
def keeper(clock: FakeClock, tmp_path: Path) -> Iterator[Keeper]:
    """Open a keeper over an SQLite store with the cost tables above."""
    opened = Keeper.open(
        ConfigFile.parse(CONFIG),
        store=f"sqlite:///{tmp_path / 'state.db'}",
        follow_changes=False,
        clock=clock,
    )
    yield opened
    opened.close()


def test_the_cost_tables_are_parsed_into_typed_settings() -> None:
    """[costs], [prices] and [[budgets]] become a time zone, overrides and label budgets."""
    settings = ConfigFile.parse(CONFIG).costs
    assert settings.time_zone == "Europe/Paris"
    assert settings.ledger is None
    assert settings.rate_limits == "memory://"
    assert [price.model for price in settings.prices] == ["house-model"]
    (budget,) = settings.budgets
    assert budget.scope == "label:team=search"
    assert budget.limit == Decimal("0.02")
    assert budget.period.key == "daily@Europe/Paris"


def test_a_global_budget_is_written_global() -> None:
    """``scope = "global"`` names the budget every call belongs to."""
    file = ConfigFile.parse('[[budgets]]\nscope = "global"\nlimit = "$5/24h"\npolicy = "warn"\n')
    (budget,) = file.costs.budgets
    assert (budget.scope, budget.period.key, budget.policy) == (GLOBAL_SCOPE, "rolling:24h", "warn")


def test_bad_cost_tables_name_each_path_value_and_rule() -> None:
    """Every problem in the cost tables is reported at once, with its path and line."""
    text = """\
[costs]
time_zone = "Mars/Olympus"
rate_limits = "postgresql://db"

[prices."m"]
input_per_mtok = "-1"

[[budgets]]
scope = "tool:openai"
limit = "$50"
policy = "maybe"
"""
    with pytest.raises(ConfigValidationError) as raised:
        ConfigFile.parse(text)
    found = {issue.path: issue for issue in raised.value.issues}
    assert set(found) == {
        "costs.time_zone", "costs.rate_limits", "prices.m", "budgets.0.scope",
        "budgets.0.limit", "budgets.0.policy",
    }  # fmt: skip
    assert found["costs.time_zone"].value == "Mars/Olympus"
    assert "IANA" in found["costs.time_zone"].rule
    assert found["costs.time_zone"].line == 2
    assert ">= 0" in found["prices.m"].rule
    assert "daily_budget" in found["budgets.0.scope"].rule
    assert "'$50/day'" in found["budgets.0.limit"].rule


def test_budget_tables_must_be_an_array_of_tables() -> None:
    """``budgets = 5`` is refused as a layout problem naming the key."""
    with pytest.raises(ConfigValidationError, match="budgets = 5: must be an array of tables"):
        ConfigFile.parse("budgets = 5\n")


def test_the_tool_policy_and_wait_fields_are_validated() -> None:
    """budget_policy takes refuse, fallback or warn; the wait is a bounded non-negative number."""
    assert ExternalToolConfig().budget_policy == "refuse"
    assert ExternalToolConfig().rate_limit_max_wait_seconds == 0
    with pytest.raises(ConfigValidationError, match="budget_policy"):
        ExternalToolConfig(budget_policy="maybe")  # type: ignore[arg-type]
    with pytest.raises(ConfigValidationError, match="greater than or equal to 0"):
        ExternalToolConfig(rate_limit_max_wait_seconds=-1)


def test_the_example_file_declares_costs_prices_and_a_label_budget() -> None:
    """examples/toolkeeper.toml carries a [costs] table, a price override and a label budget."""
    settings = ConfigFile.load(EXAMPLE).costs
    assert settings.time_zone == "Europe/Paris"
    assert [price.model for price in settings.prices] == ["gpt-4o-mini"]
    assert [budget.scope for budget in settings.budgets] == ["label:team=search"]


def test_overrides_price_usage_exactly(keeper: Keeper) -> None:
    """The tracker prices from [prices] first, in exact dollars."""
    priced = keeper.costs.price("house-model", Usage(input_tokens=1000, output_tokens=500))
    assert priced.cost == Decimal("0.006")
    assert keeper.costs.price("no-such-model-anywhere", Usage(input_tokens=1)).cost is None


def test_without_the_package_only_overrides_price_and_the_report_says_so(tmp_path: Path) -> None:
    """With package=False the catalog holds the overrides alone, and prices_source says it."""
    from toolkeeper.costs.ledger_memory import MemoryLedger
    from toolkeeper.costs.tracker import CostTracker

    file = ConfigFile.parse(CONFIG)
    tracker = CostTracker(
        file.costs, config_of=lambda _: ExternalToolConfig(), tools=list,
        ledger=MemoryLedger(), package=False,
    )  # fmt: skip
    assert tracker.price("gpt-4o", Usage(input_tokens=1000)).cost is None
    assert "overrides only" in tracker.prices_source
    tracker.close()


def test_only_tools_with_a_budget_or_limit_are_guarded(tmp_path: Path) -> None:
    """A tool without budgets or limits (and no label budget) pays nothing: guarded is False."""
    text = "[tools.plain]\n[tools.limited]\nrate_limit_requests_per_minute = 5\n"
    with Keeper.open(
        ConfigFile.parse(text), store=f"sqlite:///{tmp_path / 's.db'}", follow_changes=False
    ) as keeper:
        assert keeper.runtimes.get("plain").guarded is False
        assert keeper.runtimes.get("limited").guarded is True
        assert keeper.runtimes.get("never-configured").guarded is False


def test_label_budgets_guard_every_tool(keeper: Keeper) -> None:
    """With a [[budgets]] label budget, every tool is guarded and calls with the label are held."""
    assert keeper.runtimes.get("free").guarded is True

    @keeper.tool("free", labels={"team": "search"}, estimated_cost=0.01)
    def search() -> dict[str, Any]:
        return answer(0.01)

    @keeper.tool("free", operation="other", labels={"team": "ads"}, estimated_cost=0.01)
    def ads() -> dict[str, Any]:
        return answer(0.01)

    search()
    search()
    with pytest.raises(BudgetExceeded, match="label:team=search"):
        search()
    for _ in range(3):
        ads()


def test_budget_events_are_logged_and_kept(
    keeper: Keeper, caplog: pytest.LogCaptureFixture
) -> None:
    """Threshold and limit events go to the log at WARNING and to keeper.costs.events()."""

    @keeper.tool("paid", estimated_cost=0.01)
    def chat() -> dict[str, Any]:
        return answer(0.01)

    with caplog.at_level(logging.WARNING, logger="toolkeeper.costs"):
        for _ in range(5):
            chat()
    kinds = [(event.kind, event.threshold) for event in keeper.costs.events()]
    assert kinds == [("threshold", 0.5), ("limit", 1.0)]
    assert "passed 50%" in caplog.text
    assert "reached its limit" in caplog.text


def test_a_runtime_budget_change_applies_to_the_next_call(keeper: Keeper) -> None:
    """Raising daily_budget through the configuration lets further calls run."""

    @keeper.tool("paid", estimated_cost=0.01)
    def chat() -> dict[str, Any]:
        return answer(0.01)

    for _ in range(5):
        chat()
    with pytest.raises(BudgetExceeded):
        chat()
    keeper.config.update("paid", {"daily_budget": 0.10}, actor="ana", reason="launch day")
    chat()
    (status,) = [s for s in keeper.costs.status() if s.budget.scope == "tool:paid"]
    assert (status.budget.limit, status.spent) == (Decimal("0.1"), Decimal("0.06"))


def test_unpriced_calls_are_tallied_by_tool_and_model(keeper: Keeper) -> None:
    """A response of a model without a price counts in keeper.costs.unpriced()."""

    @keeper.tool("free")
    def chat() -> dict[str, Any]:
        return {"model": "mystery-model-x", "usage": {"prompt_tokens": 3, "completion_tokens": 1}}

    chat()
    chat()
    assert keeper.costs.unpriced() == {("free", "mystery-model-x"): 2}


def test_shared_redis_keeps_budgets_and_rate_limits(tmp_path: Path, redis_url: str) -> None:
    """Keeper.open(shared=redis://…) puts the ledger and the rate-limit windows in Redis."""
    from toolkeeper.costs.ledger_redis import RedisLedger

    with Keeper.open(
        ConfigFile.parse(CONFIG),
        store=f"sqlite:///{tmp_path / 's.db'}",
        shared=redis_url,
        follow_changes=False,
    ) as keeper:
        assert isinstance(keeper.costs.ledger, RedisLedger)
        assert keeper.costs.rate_limits == redis_url


def test_shared_must_be_redis(tmp_path: Path) -> None:
    """A shared URI that is not Redis is refused with the scheme named."""
    with pytest.raises(ValueError, match="redis"):
        Keeper.open(
            ConfigFile(), store=f"sqlite:///{tmp_path / 's.db'}", shared="memory://",
            follow_changes=False,
        )  # fmt: skip


def test_cost_per_success_divides_by_successes_with_a_fallback_served(keeper: Keeper) -> None:
    """Two successes and two fallbacks at $0.01 each: $0.04 over 2 successes, from the store."""
    failing = {"now": False}

    def backup() -> dict[str, Any]:
        return answer(0.01)

    @keeper.tool("free", operation="chat", fallback=backup)
    def chat() -> dict[str, Any]:
        if failing["now"]:
            raise ConnectionError("upstream down")
        return answer(0.01)

    chat(), chat()
    failing["now"] = True
    chat(), chat()
    keeper.flush()
    report = keeper.costs.report()
    assert report.detail_calls is not None  # counted from the store's exact totals
    assert report.calls == 4
    assert report.total == Decimal("0.04")
    assert report.cost_per_success == Decimal("0.02")
