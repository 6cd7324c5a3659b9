"""Budget thresholds as built-in alert rules, notified once across processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests._processes import run_in_processes
from toolkeeper.alerts.budget_rules import budget_rules
from toolkeeper.config.schema import ExternalToolConfig

from .conftest import Webhook

CONFIG = """\
[tools.openai]
api_endpoint = "http://127.0.0.1:9/v1"
daily_budget = 1.0
budget_alert_thresholds = [0.5]
budget_policy = "warn"

[alerts.notifiers.ops]
urls = ["{url}"]
"""


def spend_and_evaluate(config: str, store: str, barrier: Any, results: Any) -> None:
    """Spend $0.30 on openai, wait for the other process, then evaluate the alert rules."""
    from toolkeeper.keeper import Keeper

    keeper = Keeper.open(config, store=store, follow_changes=False)
    try:
        with keeper.operation("openai", "chat") as op:
            op.cost(0.30)
        keeper.flush()
        barrier.wait(timeout=120)
        states = {s.rule: s.state for s in keeper.alerts.evaluate() if s.tool == "openai"}
        results.put(("ok", states))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put(("error", repr(exc)))
    finally:
        keeper.close()


def test_a_threshold_crossing_notifies_once_across_two_processes(
    tmp_path: Path, store_uri: str, webhook: Webhook
) -> None:
    """Two processes spend $0.60 of $1 together; both see budget-openai-50 fire; one notifies."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text(CONFIG.format(url=webhook.url()))
    outcomes = run_in_processes(spend_and_evaluate, 2, str(path), store_uri)
    assert [status for status, _ in outcomes] == ["ok", "ok"], outcomes
    for _, states in outcomes:
        assert states["budget-openai-50"] == "firing"
        assert states["budget-openai-100"] == "inactive"
    (body,) = webhook.bodies
    assert body["title"] == "[FIRING] budget-openai-50 on openai (warning)"
    assert "budget_burn 0.6 >= 0.5" in body["message"]


def test_each_threshold_and_the_limit_become_a_rule_for_tools_with_budgets() -> None:
    """A tool with a daily budget gets one rule per threshold and one for the limit; others none."""
    budgeted = ExternalToolConfig(api_endpoint="http://x", daily_budget=5,
                                  budget_alert_thresholds=[0.8, 0.95])  # fmt: skip
    plain = ExternalToolConfig(api_endpoint="http://x")
    rules = budget_rules([("open.ai[eu]", budgeted), ("plain", plain)])
    assert [(r.name, r.threshold, r.severity) for r in rules] == [
        ("budget-open-ai-eu-80", 0.8, "warning"),
        ("budget-open-ai-eu-95", 0.95, "warning"),
        ("budget-open-ai-eu-100", 1.0, "critical"),
    ]
    assert all(rule.applies_to("open.ai[eu]") and not rule.applies_to("open.aie") for rule in rules)
