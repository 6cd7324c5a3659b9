"""The [alerts] tables: parsed into typed settings, every problem reported with its key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolkeeper._errors import ConfigValidationError
from toolkeeper.alerts import AlertRule, AlertSettings, NotifierSettings, alert_settings
from toolkeeper.config.files import ConfigFile

GOOD = """\
[alerts]
evaluate_every = "30s"
repeat_every = "2h"
notify = ["ops"]

[alerts.notifiers.ops]
urls = ["json://127.0.0.1:8080/hook", "env:SLACK_WEBHOOK_URL"]

[alerts.notifiers.pager]
urls = ["file:/run/secrets/pager"]

[[alerts.rules]]
name = "openai-errors"
tool = "openai"
metric = "error_rate"
op = ">"
threshold = 0.2
window = "1h"
for = "1m"
severity = "critical"
notify = ["pager"]
min_calls = 10

[[alerts.rules]]
name = "slow"
metric = "p95_latency_ms"
op = ">="
threshold = 2000
"""


def test_a_good_table_parses_into_typed_settings() -> None:
    """Durations become seconds, rules keep their fields, defaults fill the rest."""
    settings = ConfigFile.parse(GOOD).alerts
    assert settings.evaluate_every_seconds == 30.0
    assert settings.repeat_every_seconds == 7200.0
    assert [n.name for n in settings.notifiers] == ["ops", "pager"]
    errors, slow = settings.alert_rules
    assert errors == AlertRule(
        name="openai-errors", tool="openai", metric="error_rate", op=">", threshold=0.2,
        window="1h", for_seconds=60.0, severity="critical", notify=("pager",), min_calls=10,
    )  # fmt: skip
    assert (slow.tool, slow.window, slow.for_seconds, slow.severity) == ("*", "5m", 0.0, "warning")
    assert (slow.notify, slow.min_calls) == ((), 5)  # routed by the policy: the defaults
    assert settings.root_route.match({"rule": slow.name})[0].notify == ("ops",)


def test_without_rules_the_two_builtin_rules_apply_to_every_tool() -> None:
    """No [[alerts.rules]]: circuit-open (critical, at once) and tool-unhealthy (< 50 for 1m)."""
    settings = ConfigFile.parse('[alerts.notifiers.ops]\nurls = ["json://h/x"]\n').alerts
    circuit, unhealthy = settings.alert_rules
    assert (circuit.name, circuit.metric, circuit.op, circuit.threshold) == (
        "circuit-open", "circuit_open", "==", 1.0,
    )  # fmt: skip
    assert (circuit.tool, circuit.for_seconds, circuit.severity) == ("*", 0.0, "critical")
    assert (unhealthy.name, unhealthy.metric, unhealthy.op, unhealthy.threshold) == (
        "tool-unhealthy", "health_score", "<", 50.0,
    )  # fmt: skip
    assert (unhealthy.for_seconds, unhealthy.severity) == (60.0, "warning")
    assert circuit.notify == unhealthy.notify == ()
    assert settings.root_route.notify == ("ops",)
    assert ConfigFile().alerts.alert_rules == ConfigFile.parse("").alerts.alert_rules
    assert AlertSettings().evaluate_every_seconds == 15.0
    assert AlertSettings().repeat_every_seconds == 4 * 3600.0


def test_every_problem_is_reported_with_its_key_value_and_rule() -> None:
    """One parse lists each bad key, with the value shown and the rule it breaks."""
    bad = """\
[alerts]
evaluate_every = "500ms"
repeat_every = "soon"
notify = ["nobody"]
colour = "red"

[alerts.notifiers.ops]
urls = ["not a url", 3]
extra = true

[alerts.notifiers.empty]
urls = []

[[alerts.rules]]
name = "Bad Name"
metric = "happiness"
op = "=~"
threshold = "high"
window = "2m"
for = "-1s"
severity = "loud"
notify = ["ghost"]
min_calls = -1
wat = 1

[[alerts.rules]]
tool = "openai"

[[alerts.rules]]
name = "dup"
metric = "calls"
op = "<"
threshold = 1

[[alerts.rules]]
name = "dup"
metric = "calls"
op = "<"
threshold = 2
"""
    with pytest.raises(ConfigValidationError) as caught:
        ConfigFile.parse(bad)
    issues = {issue.path: issue for issue in caught.value.issues}
    expected = {
        "alerts.colour", "alerts.evaluate_every", "alerts.repeat_every", "alerts.notify",
        "alerts.notifiers.ops.extra", "alerts.notifiers.ops.urls.0", "alerts.notifiers.ops.urls.1",
        "alerts.notifiers.empty.urls",
        "alerts.rules.0.name", "alerts.rules.0.metric", "alerts.rules.0.op",
        "alerts.rules.0.threshold", "alerts.rules.0.window", "alerts.rules.0.for",
        "alerts.rules.0.severity", "alerts.rules.0.notify", "alerts.rules.0.min_calls",
        "alerts.rules.0.wat",
        "alerts.rules.1.name", "alerts.rules.1.metric", "alerts.rules.1.op",
        "alerts.rules.1.threshold", "alerts.rules.3.name",
    }  # fmt: skip
    assert set(issues) == expected
    assert issues["alerts.evaluate_every"].value == "500ms"
    assert ">= 1s" in issues["alerts.evaluate_every"].rule
    assert issues["alerts.rules.0.metric"].value == "happiness"
    assert "error_rate" in issues["alerts.rules.0.metric"].rule
    assert issues["alerts.rules.0.op"].value == "=~"
    assert "must be one of 1m, 5m, 1h, 24h" in issues["alerts.rules.0.window"].rule
    assert issues["alerts.rules.0.notify"].value == ["ghost"]
    assert "not declared" in issues["alerts.notify"].rule
    assert issues["alerts.rules.1.name"].rule == "is required"
    assert issues["alerts.rules.3.name"].rule == "repeats the name of another rule"
    assert issues["alerts.rules.0.metric"].line == 14  # the [[alerts.rules]] header


def test_a_literal_url_in_an_issue_is_masked() -> None:
    """A notifier URL is a secret: an issue about one shows it masked."""
    secret = "https:/hooks.example.com/T000/B000/abcdefgh12345678"
    _, issues = alert_settings(
        ConfigFile(data={"alerts": {"notifiers": {"ops": {"urls": [secret]}}}})
    )
    (issue,) = issues
    assert issue.value == "****5678"
    assert "abcdefgh" not in str(issue)


def test_the_good_parts_are_kept_when_others_are_bad() -> None:
    """Rules and notifiers without problems survive beside those that have some."""
    data = {
        "alerts": {
            "notifiers": {"ops": {"urls": ["json://h/x"]}, "bad": {"urls": "json://h/x"}},
            "rules": [
                {"name": "ok", "metric": "calls", "op": "<", "threshold": 1},
                {"name": "broken", "metric": "calls", "op": "<"},
            ],
        }
    }
    settings, issues = alert_settings(ConfigFile(data=data))
    assert [rule.name for rule in settings.alert_rules] == ["ok"]
    assert [n.name for n in settings.notifiers] == ["ops"]
    assert {issue.path for issue in issues} == {
        "alerts.notifiers.bad.urls", "alerts.rules.1.threshold",
    }  # fmt: skip


def test_bad_arguments_in_python_raise_value_errors_naming_them() -> None:
    """Rules and settings built in code check their arguments as the file parser does."""
    with pytest.raises(ValueError, match=r"alert rule 'x': metric='nope' must be one of"):
        AlertRule(name="x", metric="nope", op=">", threshold=1)
    with pytest.raises(ValueError, match=r"min_calls=-2 must be a whole number >= 0"):
        AlertRule(name="x", metric="calls", op=">", threshold=1, min_calls=-2)
    with pytest.raises(ValueError, match=r"evaluate_every_seconds=0.5 must be >= 1"):
        AlertSettings(evaluate_every_seconds=0.5)
    with pytest.raises(ValueError, match=r"names unknown notifiers \['ghost'\]"):
        AlertSettings(rules=(AlertRule(name="x", metric="calls", op=">", threshold=1,
                                       notify=("ghost",)),))  # fmt: skip
    with pytest.raises(ValueError, match=r"urls must be a non-empty list"):
        NotifierSettings(name="ops", urls=())


def test_notifier_settings_keep_urls_out_of_their_repr() -> None:
    """The repr of settings counts URLs but never shows one."""
    settings = ConfigFile.parse(GOOD).alerts
    assert "127.0.0.1" not in repr(settings)
    assert "NotifierSettings(name='ops', urls=2)" in repr(settings)


def test_config_validate_reports_alert_problems(tmp_path: Path) -> None:
    """`toolkeeper config validate` lists the [alerts] problems with the others, and fails."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text(
        '[tools.openai]\ntimeout_seconds = "slow"\n\n'
        '[[alerts.rules]]\nname = "r"\nmetric = "latency"\nop = ">"\nthreshold = 1\n'
    )
    env = {**os.environ, "TOOLKEEPER_STORE": f"sqlite:///{tmp_path / 'state.db'}", "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "toolkeeper", "config", "validate", str(path)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "alerts.rules.0.metric = 'latency': must be one of" in result.stdout + result.stderr


def test_validation_reports_notifier_references_that_cannot_be_opened(tmp_path: Path) -> None:
    """Configuration.validate() names an unset env: URL by its reference, like a tool secret."""
    from toolkeeper.config import Configuration
    from toolkeeper.store import open_store

    file = ConfigFile.parse(
        '[alerts.notifiers.ops]\nurls = ["env:TK_ALERTS_NOT_SET", "json://h/x"]\n'
    )
    with open_store("memory://") as store:
        configuration = Configuration(file, store=store, environ={})
        (issue,) = configuration.validate()
        assert issue.path == "alerts.notifiers.ops.urls.0"
        assert issue.value == "env:TK_ALERTS_NOT_SET"
        assert "TK_ALERTS_NOT_SET is not set" in issue.rule
        configuration = Configuration(
            file, store=store, environ={"TK_ALERTS_NOT_SET": "json://h/y"}
        )
        assert configuration.validate() == []
