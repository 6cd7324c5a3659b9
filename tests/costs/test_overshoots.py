"""Budget overshoots are a stored fact: every process that shares the ledger shows the same sum."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.monitor.test_promtool import promtool
from tests.server.conftest import live
from tests.server.test_pages import signed_in
from tests.test_cli import run
from toolkeeper.costs import Ledger, Overshoot, open_ledger
from toolkeeper.server import Role

from ._workers import overshoot_calls, run_workers

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
CALLS_PER_PROCESS = 3
PROCESSES = 2
BEYOND = Decimal("0.009")  # a one-cent call that reserved a tenth of a cent


def test_a_ledger_keeps_each_tools_overshoots(ledger: Ledger, ledger_uri: str) -> None:
    """Calls, amount and largest add up per tool, exactly, and another opening reads them."""
    ledger.add_overshoot("openai", 9_000_000, now=NOW)
    ledger.add_overshoot("openai", 123_456_789_012, now=NOW)
    ledger.add_overshoot("anthropic", 1, now=NOW)
    expected = {
        "anthropic": Overshoot(calls=1, amount=Decimal("1E-9"), largest=Decimal("1E-9")),
        "openai": Overshoot(
            calls=2, amount=Decimal("123.465789012"), largest=Decimal("123.456789012")
        ),
    }
    assert ledger.overshoots() == expected
    if ledger_uri != "memory://":  # a shared ledger: another client reads the same totals
        with open_ledger(ledger_uri) as other:
            assert other.overshoots() == expected


def test_a_ledger_without_overshoots_reports_none(ledger: Ledger) -> None:
    """A ledger where every call stayed within its reservation lists no tool."""
    assert ledger.overshoots() == {}


def _samples(text: str, name: str) -> dict[str, float]:
    return {
        sample.labels["tool"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def test_two_processes_overshooting_show_the_sum_everywhere(store_uri: str, tmp_path: Path) -> None:
    """Two processes overshoot 3 times each: serve's /metrics, API and page and the CLI show 6."""
    seen = run_workers(overshoot_calls, PROCESSES, store_uri, CALLS_PER_PROCESS)
    calls = PROCESSES * CALLS_PER_PROCESS
    # Each process read the ledger after its own calls: at least its own, at most everyone's.
    assert all(CALLS_PER_PROCESS <= found["paid"] <= calls for found in seen)
    amount = BEYOND * calls

    with live(store_uri, tmp_path) as server:
        viewer = server.client(Role.VIEWER)
        metrics = viewer.get("/metrics")
        assert metrics.status_code == 200, metrics.text
        assert _samples(metrics.text, "toolkeeper_budget_overshoots_total") == {"paid": calls}
        usd = _samples(metrics.text, "toolkeeper_budget_overshoot_usd_total")
        assert Decimal(str(usd["paid"])) == amount
        checked = promtool(metrics.content)  # the families pass promtool's lint too
        assert (checked.returncode, checked.stdout.strip()) == (0, ""), checked.stderr

        api = viewer.get("/api/v1/costs", params={"since": "1h"})
        assert api.status_code == 200, api.text
        body = api.json()
        money = [body["total"], *(group["cost"] for group in body["groups"])]
        money += [
            value for item in body["overshoots"] for value in (item["amount"], item["largest"])
        ]
        assert all(re.fullmatch(r"\d+(\.\d{1,9})?", value) for value in money), money
        assert api.json()["overshoots"] == [
            {"tool": "paid", "calls": calls, "amount": str(amount), "largest": str(BEYOND)}
        ]

        with signed_in(server, Role.VIEWER) as client:
            page = client.get("/costs")
        assert page.status_code == 200
        row = page.text.split('data-testid="overshoots"', 1)[1].split("</table>", 1)[0]
        assert '<th scope="row">paid</th>' in row
        assert f'<td class="num">{calls}</td>' in row
        assert '<td class="num">$0.054</td><td class="num">$0.009</td>' in row

        env = {"TOOLKEEPER_STORE": store_uri}
        cli = run(["costs", "--json", "--since", "1h"], tmp_path, **env)
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["overshoots"] == api.json()["overshoots"]
        table = run(["costs", "--since", "1h"], tmp_path, **env)
        assert table.returncode == 0, table.stderr
        overshoots = table.stdout.split("budget overshoots (all time, every process)", 1)[1]
        rows = [line.split() for line in overshoots.splitlines() if line.split()[:1] == ["paid"]]
        assert rows[0] == ["paid", str(calls), "$0.054", "$0.009"]


def test_an_overshoot_that_cannot_be_counted_still_settles_the_call(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store without the overshoot table: the call returns, its spend is settled, it is logged."""
    from toolkeeper import Keeper
    from toolkeeper.config.files import ConfigFile

    from ._workers import OVERSHOOT_CONFIG

    path = tmp_path / "state.db"
    keeper = Keeper.open(
        ConfigFile.parse(OVERSHOOT_CONFIG), store=f"sqlite:///{path}", follow_changes=False
    )
    try:
        with sqlite3.connect(path) as conn:  # a store whose overshoot table went missing
            conn.execute("DROP TABLE budget_overshoots")
        chat = keeper.tool("paid", estimated_cost=0.001)(
            lambda: {"model": "m", "usage": {"prompt_tokens": 1, "cost": 0.01}}
        )
        assert chat() == {"model": "m", "usage": {"prompt_tokens": 1, "cost": 0.01}}
        (status,) = keeper.costs.status()
        assert (status.spent, status.reserved) == (Decimal("0.01"), Decimal(0))
        assert "could not count an overshoot of tool 'paid'" in caplog.text
        assert "could not settle" not in caplog.text
    finally:
        keeper.close()
