"""keeper.alerts: built from the file's [alerts], fed by real calls, closed with the keeper."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from toolkeeper import FakeClock, Keeper
from toolkeeper.config.files import ConfigFile

CONFIG = """\
[tools.primary]
max_retry_attempts = 0
circuit_failure_rate = 0.5
circuit_minimum_calls = 4
circuit_window_size = 4
circuit_open_seconds = 30
timeout_sync_calls = false

[tools.paid]
daily_budget = 1.0
max_retry_attempts = 0
timeout_sync_calls = false
"""


@pytest.fixture
def keeper(clock: FakeClock) -> Iterator[Keeper]:
    """Open a keeper with the built-in alert rules over an in-memory store."""
    opened = Keeper.open(
        ConfigFile.parse(CONFIG), store="memory://", follow_changes=False, clock=clock
    )
    yield opened
    opened.close()


def test_the_engine_is_built_once_from_the_file(keeper: Keeper) -> None:
    """keeper.alerts is one engine, with the built-in rules when the file writes none."""
    engine = keeper.alerts
    assert keeper.alerts is engine
    assert [rule.name for rule in engine.rules()] == [
        "circuit-open", "tool-unhealthy", "budget-paid-80", "budget-paid-95", "budget-paid-100",
    ]  # fmt: skip
    assert engine.notifier_names() == []


def test_an_open_circuit_fires_the_builtin_rule(keeper: Keeper, clock: FakeClock) -> None:
    """Failing calls open the circuit: circuit-open fires at once, tool-unhealthy after 1m."""

    @keeper.tool("primary")
    def call() -> str:
        raise ConnectionError("upstream down")

    for _ in range(4):
        with pytest.raises(ConnectionError):
            call()
    assert keeper.runtimes.circuit_state("primary") == "open"
    found = {(s.rule, s.tool): s for s in keeper.alerts.evaluate()}
    circuit = found["circuit-open", "primary"]
    assert (circuit.state, circuit.value, circuit.severity) == ("firing", 1.0, "critical")
    assert found["tool-unhealthy", "primary"].state == "pending"
    assert found["circuit-open", "paid"].state == "inactive"  # configured, never called
    clock.advance(60)
    found = {(s.rule, s.tool): s for s in keeper.alerts.evaluate()}
    unhealthy = found["tool-unhealthy", "primary"]
    assert unhealthy.state == "firing"
    assert unhealthy.value is not None
    assert unhealthy.value < 50


def test_budget_burn_is_the_spent_fraction_of_the_tool_budget(clock: FakeClock) -> None:
    """A tool that spent $0.90 of its $1 daily budget burns 0.9."""
    text = CONFIG + (
        '\n[[alerts.rules]]\nname = "burn"\nmetric = "budget_burn"\nop = ">="\nthreshold = 0.8\n'
    )
    with Keeper.open(
        ConfigFile.parse(text), store="memory://", follow_changes=False, clock=clock
    ) as keeper:
        with keeper.operation("paid", "chat") as op:
            op.cost(0.9)
        found = {s.tool: s for s in keeper.alerts.evaluate() if s.rule == "burn"}
        assert found["paid"].value == pytest.approx(0.9)
        assert found["paid"].state == "firing"
        assert found["primary"].value is None
        # Health reads the same burn: 90% of the budget spent costs points, and says why.
        health = keeper.monitoring.get_wrapper_health("paid")
        assert any("90% of the budget is spent" in reason for reason in health.reasons)
        assert keeper.costs.budget_burn("primary") is None


def test_closing_the_keeper_stops_the_engine(clock: FakeClock) -> None:
    """Keeper.close() stops a started engine's thread."""
    keeper = Keeper.open(
        ConfigFile.parse(CONFIG), store="memory://", follow_changes=False, clock=clock
    )
    keeper.alerts.start()
    (thread,) = [t for t in threading.enumerate() if t.name == "toolkeeper-alerts"]
    keeper.close()
    assert not thread.is_alive()
