"""``toolkeeper alerts list|test|silence`` over a store where real failing calls fired alerts."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tests.server.test_alerts_api import ALERT_CONFIG, HOOK_CANARY, HOOK_VARIABLE, Hook
from toolkeeper import Keeper
from toolkeeper._errors import ToolkeeperError
from toolkeeper.cli._context import CliState
from toolkeeper.cli.alerts_cmd import app as alerts_app
from toolkeeper.config.files import ConfigFile
from toolkeeper.demo import demo_config

DEAD_NOTIFIER = """
[alerts.notifiers.dead]
urls = ["json://127.0.0.1:9/nobody-listens"]
"""


def make_app() -> typer.Typer:
    """Return an app with the global options of ``toolkeeper`` and the alerts commands."""
    app = typer.Typer()

    @app.callback()
    def options(
        ctx: typer.Context,
        config: str = typer.Option(..., "--config"),
        store: str = typer.Option(..., "--store"),
    ) -> None:
        ctx.obj = CliState(config_path=config, store_uri=store)

    app.add_typer(alerts_app, name="alerts")
    return app


@pytest.fixture
def hook() -> Iterator[Hook]:
    """Serve a notification endpoint on loopback, its URL in the notifier's variable."""
    served = Hook()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(HOOK_VARIABLE, served.url)
        yield served
    served.close()


@pytest.fixture
def folder(tmp_path: Path, hook: Hook) -> Path:
    """Write the configuration, open a keeper, make alerts fire for real and close it."""
    del hook  # the notifier's URL must be set when the keeper opens
    (tmp_path / "toolkeeper.toml").write_text(ALERT_CONFIG + DEAD_NOTIFIER)
    keeper = Keeper.open(tmp_path / "toolkeeper.toml", store=store_of(tmp_path))
    try:

        @keeper.tool("flaky", operation="call")
        def call() -> None:
            raise RuntimeError("upstream is down")

        for _ in range(8):
            with contextlib.suppress(RuntimeError, ToolkeeperError):
                call()
        keeper.flush()
        keeper.alerts.evaluate()
    finally:
        keeper.close()
    return tmp_path


def store_of(folder: Path) -> str:
    """Return the URI of the folder's SQLite store."""
    return f"sqlite:///{folder / 'state.db'}"


def invoke(folder: Path, *args: str) -> Any:
    """Run ``toolkeeper alerts ...`` over the folder's configuration and store."""
    options = ["--config", str(folder / "toolkeeper.toml"), "--store", store_of(folder)]
    return CliRunner().invoke(make_app(), [*options, "alerts", *args])


def test_list_shows_the_rules_and_the_alerts_the_store_keeps(folder: Path) -> None:
    """A new process lists the rules and the alerts another one fired, firing first."""
    result = invoke(folder, "list", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {rule["name"] for rule in data["rules"]} == {"flaky-errors", "circuit-open"}
    firing = {(s["rule"], s["tool"]) for s in data["statuses"] if s["state"] == "firing"}
    assert {("flaky-errors", "flaky"), ("circuit-open", "flaky")} <= firing
    assert data["statuses"][0]["state"] == "firing"
    text = invoke(folder, "list")
    assert text.exit_code == 0, text.output
    assert "flaky-errors" in text.output
    assert "firing" in text.output


def test_silence_by_label_matchers(folder: Path) -> None:
    """--matcher (repeatable) silences by labels; the list shows them; a bad one names itself."""
    made = invoke(
        folder, "silence", "--matcher", 'severity="critical"', "--matcher", "tool=~'fla.*'",
        "--for", "1h", "--comment", "drill", "--json",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    silence = json.loads(made.output)
    assert silence["matchers"] == ['severity="critical"', "tool=~\"'fla.*'\""]
    listed = json.loads(invoke(folder, "silence", "--list", "--json").output)
    assert [item["matchers"] for item in listed] == [silence["matchers"]]
    bad = invoke(folder, "silence", "--matcher", "severity", "--for", "1h", "--comment", "x")
    assert bad.exit_code != 0
    assert str(bad.exception).startswith("matchers: matcher 'severity' must read")
    mixed = invoke(folder, "silence", "--list", "--matcher", 'a="b"')
    assert mixed.exit_code != 0
    assert "--matcher only apply when creating a silence" in str(mixed.exception)


def test_silence_create_list_and_expire(folder: Path) -> None:
    """A silence is created with who and why, listed while active, and expired by id."""
    made = invoke(
        folder, "silence", "--rule", "flaky-errors", "--tool", "flaky", "--for", "2h",
        "--comment", "provider incident", "--by", "ana", "--json",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    silence = json.loads(made.output)
    assert (silence["rule"], silence["tool"]) == ("flaky-errors", "flaky")
    assert silence["created_by"] == "ana"
    assert silence["comment"] == "provider incident"
    listed = json.loads(invoke(folder, "silence", "--list", "--json").output)
    assert [item["id"] for item in listed] == [silence["id"]]
    table = invoke(folder, "silence", "--list")
    assert "provider" in table.output  # the column may wrap
    assert "ana" in table.output
    ended = invoke(folder, "silence", "--expire", str(silence["id"]), "--by", "bob", "--json")
    assert ended.exit_code == 0, ended.output
    assert json.loads(ended.output)["expired_by"] == "bob"
    assert json.loads(invoke(folder, "silence", "--list", "--json").output) == []
    every = json.loads(invoke(folder, "silence", "--list", "--all", "--json").output)
    assert [item["id"] for item in every] == [silence["id"]]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--for", "2x", "--comment", "why"], ["--for", "'2x'", "is not a duration"]),
        (["--for", "0s", "--comment", "why"], ["--for", "'0s'", "longer than 0s"]),
        (["--for", "400d", "--comment", "why"], ["--for", "'400d'", "at most 366d"]),
        (["--comment", "why"], ["--for is required"]),
        (["--for", "1h"], ["--comment is required"]),
        (["--for", "1h", "--comment", "  "], ["--comment is required"]),
        (["--expire", "4242"], ["--expire", "4242"]),
        (["--list", "--expire", "1"], ["--list", "--expire"]),
        (["--list", "--for", "1h"], ["--for", "--list"]),
    ],
)
def test_bad_silence_options_are_refused_naming_them(
    folder: Path, args: list[str], words: list[str]
) -> None:
    """Bad input fails with a message naming the option, the value and the rule; nothing is made."""
    result = invoke(folder, "silence", *args)
    assert result.exit_code != 0
    message = str(result.exception)
    for word in words:
        assert word in message, message
    assert json.loads(invoke(folder, "silence", "--list", "--all", "--json").output) == []


def test_test_reaches_a_working_notifier(folder: Path, hook: Hook) -> None:
    """``alerts test hook`` posts to the notifier's endpoint and says so, URL masked."""
    result = invoke(folder, "test", "hook")
    assert result.exit_code == 0, result.output
    assert "hook: delivered" in result.output
    assert HOOK_CANARY not in result.output
    assert "****cdef" in result.output
    assert hook.received


def test_test_fails_naming_the_notifier_that_failed(folder: Path) -> None:
    """A notifier that cannot deliver makes ``alerts test`` exit 1, naming it."""
    result = invoke(folder, "test", "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["results"] == {"hook": True, "dead": False}
    assert "'dead'" in str(result.exception)
    unknown = invoke(folder, "test", "pager")
    assert unknown.exit_code == 1
    assert "'pager'" in str(unknown.exception)
    assert "dead, hook" in str(unknown.exception) or "hook, dead" in str(unknown.exception)


def test_every_alerts_command_has_help(folder: Path) -> None:
    """``--help`` describes each command."""
    for command in ([], ["list"], ["test"], ["silence"]):
        result = invoke(folder, *command, "--help")
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_the_real_command_reports_bad_input_on_stderr(folder: Path) -> None:
    """``toolkeeper alerts silence --for soon`` prints one error line and exits 1."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLKEEPER_")}
    result = subprocess.run(
        [sys.executable, "-m", "toolkeeper", "--config", str(folder / "toolkeeper.toml"),
         "--store", store_of(folder), "alerts", "silence", "--for", "soon", "--comment", "x"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "error:" in result.stderr
    assert "--for: 'soon' is not a duration" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_demo_configuration_carries_rules_for_its_outages() -> None:
    """The demo's configuration has rules on the strong model's circuit and fallbacks."""
    file = ConfigFile.parse(demo_config("http://127.0.0.1:9/v1"))
    with Keeper.open(file, store="memory://", follow_changes=False) as keeper:
        rules = {rule.name: rule for rule in keeper.alerts.rules()}
    assert rules["strong-circuit-open"].metric == "circuit_open"
    assert rules["strong-circuit-open"].tool == "openai-strong"
    assert any(rule.metric == "fallback_rate" for rule in rules.values())


def test_ack_keeps_who_and_why_and_list_shows_it(folder: Path) -> None:
    """`alerts ack` acknowledges a firing alert another process fired; twice fails naming why."""
    result = invoke(folder, "ack", "flaky-errors", "flaky", "-m", "rolling back", "--by", "ana")
    assert result.exit_code == 0, result.output
    assert "acknowledged flaky-errors on flaky as ana" in result.output
    data = json.loads(invoke(folder, "list", "--json").output)
    (status,) = [s for s in data["statuses"] if s["rule"] == "flaky-errors"]
    assert (status["acknowledged_by"], status["ack_comment"]) == ("ana", "rolling back")
    again = invoke(folder, "ack", "flaky-errors", "flaky", "-m", "again", "--by", "bob")
    assert again.exit_code == 1
    assert "already acknowledged by ana" in str(again.exception)
    unknown = invoke(folder, "ack", "flaky-errors", "nope", "-m", "x")
    assert "no alert of rule 'flaky-errors' on tool 'nope'" in str(unknown.exception)


def test_escalate_without_a_chain_fails_naming_why(folder: Path) -> None:
    """`alerts escalate` on an alert whose route names no escalation exits 1 and says so."""
    result = invoke(folder, "escalate", "circuit-open", "flaky", "--by", "ana")
    assert result.exit_code == 1
    assert "names no escalation" in str(result.exception)
