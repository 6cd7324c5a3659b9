"""``toolkeeper costs``: spend, unpriced calls, budgets and routing savings from the store."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from toolkeeper import Keeper
from toolkeeper.cli._context import CliState
from toolkeeper.cli.costs_cmd import costs
from toolkeeper.config.files import ConfigFile

CONFIG = """\
[prices."strong-x"]
input_per_mtok = "10"
output_per_mtok = "30"

[prices."weak-x"]
input_per_mtok = "1"
output_per_mtok = "2"

[tools.llm]
daily_budget = 5.0
max_retry_attempts = 0
timeout_sync_calls = false

[tools.router]
type = "routellm"
strong_model = "strong-x"
weak_model = "weak-x"
"""


def make_app() -> typer.Typer:
    """Return an app with the global options of ``toolkeeper`` and the costs command."""
    app = typer.Typer()

    @app.callback()
    def options(
        ctx: typer.Context,
        config: str = typer.Option(..., "--config"),
        store: str = typer.Option(..., "--store"),
    ) -> None:
        ctx.obj = CliState(config_path=config, store_uri=store)

    app.command("costs")(costs)
    return app


def invoke(folder: Path, *args: str) -> Any:
    """Run ``toolkeeper costs`` over the folder's configuration and store."""
    options = ["--config", str(folder / "toolkeeper.toml"), "--store", store_of(folder)]
    return CliRunner().invoke(make_app(), [*options, "costs", *args])


def store_of(folder: Path) -> str:
    """Return the URI of the folder's SQLite store."""
    return f"sqlite:///{folder / 'state.db'}"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Write the configuration file an application and the command share."""
    (tmp_path / "toolkeeper.toml").write_text(CONFIG)
    return tmp_path


def record(folder: Path, work: Any) -> None:
    """Open a keeper over the folder's store, run ``work(keeper)`` and close it."""
    keeper = Keeper.open(ConfigFile.parse(CONFIG), store=store_of(folder), follow_changes=False)
    work(keeper)
    keeper.close()


def test_an_unpriced_model_is_reported_as_unpriced_not_as_zero(folder: Path) -> None:
    """Calls of a model without a price are listed as unpriced; totals cover priced calls only."""

    def work(keeper: Keeper) -> None:
        chat = keeper.tool("llm", operation="chat", estimated_cost=0.01)(
            lambda model: {"model": model, "usage": {"prompt_tokens": 1000, "completion_tokens": 0}}
        )
        chat("strong-x")
        chat("mystery-model-x")
        chat("mystery-model-x")

    record(folder, work)
    result = invoke(folder, "--by", "model", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    groups = {group["key"]: group for group in report["groups"]}
    assert groups["mystery-model-x"]["cost"] is None
    assert groups["mystery-model-x"]["unpriced_calls"] == 2
    assert Decimal(groups["strong-x"]["cost"]) == Decimal("0.01")
    assert report["unpriced"] == [{"model": "mystery-model-x", "calls": 2}]
    assert (report["priced_calls"], report["unpriced_calls"]) == (1, 2)
    assert Decimal(report["total"]) == Decimal("0.01")
    text = invoke(folder, "--by", "model")
    assert text.exit_code == 0, text.output
    assert "unpriced" in text.output
    assert "mystery-model-x: 2 calls, cost unknown" in text.output


def test_routing_savings_equal_the_catalogs_prices(folder: Path) -> None:
    """A recorded mix of strong and weak decisions saves what a hand computation says."""

    def work(keeper: Keeper) -> None:
        mix = [("strong-x", 1000, 200)] * 3 + [("weak-x", 2000, 500)] * 5
        for chosen, tokens_in, tokens_out in mix:
            with keeper.operation("router", "route") as op:
                op.route(
                    router="mf", threshold=0.11593, score=0.3, chosen_model=chosen,
                    strong_model="strong-x", weak_model="weak-x",
                )  # fmt: skip
                op.usage(model=chosen, input_tokens=tokens_in, output_tokens=tokens_out)

    record(folder, work)
    result = invoke(folder, "--json")
    assert result.exit_code == 0, result.output
    routing = json.loads(result.output)["routing"]
    # Strong: 1000 x $10/M + 200 x $30/M = $0.016; weak: 2000 x $1/M + 500 x $2/M = $0.003,
    # and $0.035 had those weak requests gone to the strong model.
    baseline = 3 * Decimal("0.016") + 5 * Decimal("0.035")
    actual = 3 * Decimal("0.016") + 5 * Decimal("0.003")
    assert Decimal(routing["baseline_cost"]) == baseline
    assert Decimal(routing["actual_cost"]) == actual
    assert Decimal(routing["savings"]) == baseline - actual == Decimal("0.16")
    assert routing["savings_percent"] == "71.75"
    assert (routing["strong_requests"], routing["weak_requests"]) == (3, 5)


def test_budgets_show_spend_burn_and_projection(folder: Path) -> None:
    """Each budget is listed with its spend from the ledger, burn rate and projection."""

    def work(keeper: Keeper) -> None:
        chat = keeper.tool("llm", estimated_cost=0.25)(
            lambda: {"model": "strong-x", "usage": {"prompt_tokens": 1, "cost": 0.25}}
        )
        chat()
        chat()

    record(folder, work)
    report = json.loads(invoke(folder, "--json").output)
    (budget,) = report["budgets"]
    assert budget["scope"] == "tool:llm"
    assert Decimal(budget["spent"]) == Decimal("0.5")
    assert Decimal(budget["limit"]) == Decimal("5")
    assert budget["projected"] is not None
    assert Decimal(budget["projected"]) >= Decimal("0.5")
    assert Decimal(report["cost_per_success"]) == Decimal("0.25")
    text = invoke(folder)
    assert "budgets" in text.output
    assert "tool:llm" in text.output


def test_grouping_by_label_and_a_bad_grouping(folder: Path) -> None:
    """--by label --label team groups by that label; an unknown --by is an error naming it."""

    def work(keeper: Keeper) -> None:
        for team in ("search", "search", "ads"):
            with keeper.operation("llm", "chat", labels={"team": team}) as op:
                op.cost(0.1)

    record(folder, work)
    report = json.loads(invoke(folder, "--by", "label", "--label", "team", "--json").output)
    groups = {group["key"]: Decimal(group["cost"]) for group in report["groups"]}
    assert groups == {"team=search": Decimal("0.2"), "team=ads": Decimal("0.1")}
    bad = invoke(folder, "--by", "colour")
    assert bad.exit_code != 0
    assert "--by must be one of" in str(bad.exception)


def test_keeper_costs_report_gives_the_same_data(folder: Path) -> None:
    """keeper.costs.report() returns the report the command prints; to_dict() is its JSON."""

    def work(keeper: Keeper) -> None:
        with keeper.operation("llm", "chat") as op:
            op.usage(model="weak-x", input_tokens=1_000_000)
        report = keeper.costs.report(by="operation").to_dict()
        assert Decimal(report["total"]) == Decimal("1")
        assert [group["key"] for group in report["groups"]] == ["chat"]
        assert report["truncated"] is False
        assert "overrides" in report["prices"]

    record(folder, work)


def test_every_token_kind_is_summed_and_shown(folder: Path) -> None:
    """op.usage's cached, cache-write and reasoning tokens reach the report and its text."""

    def work(keeper: Keeper) -> None:
        for _ in range(2):
            with keeper.operation("llm", "chat") as op:
                op.usage(
                    model="strong-x", input_tokens=1000, output_tokens=500, cached_tokens=200,
                    cache_write_tokens=50, reasoning_tokens=100,
                )  # fmt: skip

    record(folder, work)
    result = invoke(folder, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    expected = {
        "input_tokens": 2000, "output_tokens": 1000, "cached_tokens": 400,
        "cache_write_tokens": 100, "reasoning_tokens": 200,
    }  # fmt: skip
    assert report["tokens"] == expected
    assert [group["tokens"] for group in report["groups"]] == [expected]
    # Without cached or reasoning prices, they are charged at the input and output prices.
    assert Decimal(report["total"]) == 2 * (1000 * Decimal(10) + 500 * Decimal(30)) / 10**6
    text = invoke(folder)
    assert text.exit_code == 0, text.output
    shown = " ".join(text.output.split())  # a line longer than the terminal wraps
    said = "tokens: 2,000 input (400 cache read, 100 cache write), 1,000 output (200 reasoning)"
    assert said in shown


def test_one_report_holds_the_groups_of_every_grouping_asked_for(folder: Path) -> None:
    """A report with also_by gives the model and label groups that reports by each would."""

    def work(keeper: Keeper) -> None:
        for model, team in (("weak-x", "search"), ("strong-x", "ads"), ("weak-x", "ads")):
            with keeper.operation("llm", "chat", labels={"team": team}) as op:
                op.usage(model=model, input_tokens=100_000)
        report = keeper.costs.report(by="tool", also_by=("model", "label"))
        for by in ("model", "label"):
            alone = keeper.costs.report(by=by).to_dict()["groups"]
            assert [group.to_dict() for group in report.groups_by(by)] == alone
        by_tool = keeper.costs.report(by="tool").to_dict()
        assert (report.to_dict()["groups"], report.to_dict()["total"]) == (
            by_tool["groups"],
            by_tool["total"],
        )
        assert {group.key: group.cost for group in report.groups_by("model")} == {
            "strong-x": Decimal("1"),
            "weak-x": Decimal("0.2"),
        }
        with pytest.raises(ValueError, match="no groups by 'operation'"):
            report.groups_by("operation")
        with pytest.raises(ValueError, match="cannot group costs by 'colour'"):
            keeper.costs.report(also_by=("colour",))

    record(folder, work)
