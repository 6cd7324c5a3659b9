"""``toolkeeper alerts notifier|config`` as users run it: a real process, a real webhook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alerts.conftest import Webhook
from toolkeeper._secrets import KEY_ENV, generate_key
from toolkeeper.keeper import Keeper

CONFIG = """\
[[alerts.rules]]
name = "idle"
metric = "calls"
op = "<"
threshold = 0
"""
TOKEN = "cli-hook-s3cr3t-token-4567"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """Yield a real JSON webhook on loopback."""
    hook = Webhook()
    yield hook
    hook.close()


def prepare(folder: Path) -> None:
    """Write the file and a key; create the store as the application's first run does."""
    (folder / "toolkeeper.toml").write_text(CONFIG)
    (folder / "key").write_text(generate_key())
    Keeper.open(folder / "toolkeeper.toml", store=f"sqlite:///{folder / 'state.db'}").close()


def run(folder: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``python -m toolkeeper alerts ...`` over the folder's file and store, with a key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLKEEPER_")}
    env[KEY_ENV] = (folder / "key").read_text()
    return subprocess.run(
        [sys.executable, "-m", "toolkeeper", "--config", str(folder / "toolkeeper.toml"),
         "--store", f"sqlite:///{folder / 'state.db'}", "alerts", *args],
        input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def test_a_notifier_set_from_the_cli_is_masked_versioned_delivered_and_rolled_back(
    tmp_path: Path, webhook: Webhook
) -> None:
    """set (URL on stdin) → list/history/diff masked → test delivers → rollback removes it."""
    prepare(tmp_path)
    url = webhook.url(f"/{TOKEN}")
    made = run(tmp_path, "notifier", "set", "ops", "--url", "-", "-m", "page ops", "--by", "ana",
               stdin=url + "\n")  # fmt: skip
    assert made.returncode == 0, made.stderr
    listed = run(tmp_path, "notifier", "list", "--json")
    history = run(tmp_path, "config", "history", "--json")
    diff = run(tmp_path, "config", "diff", "0", "1", "--json")
    shown = run(tmp_path, "config", "show")
    sent = run(tmp_path, "test", "ops")
    for result in (made, listed, history, diff, shown, sent):
        assert result.returncode == 0, result.stderr
        assert TOKEN not in result.stdout + result.stderr
    assert list(json.loads(listed.stdout)) == ["ops"]
    versions = json.loads(history.stdout)
    assert [(v["version"], v["actor"], v["reason"], v["source"]) for v in versions] == [
        (1, "ana", "page ops", "cli"), (0, "(file)", "the configuration file", "file")
    ]  # fmt: skip
    assert [change["path"] for change in json.loads(diff.stdout)] == ["notifiers"]
    assert [path for path, _ in webhook.received] == [f"/{TOKEN}"]
    back = run(tmp_path, "config", "rollback", "0", "-m", "no more ops")
    assert back.returncode == 0, back.stderr
    assert json.loads(run(tmp_path, "notifier", "list", "--json").stdout) == {}


def test_a_bad_notifier_from_the_cli_is_refused_naming_the_field(tmp_path: Path) -> None:
    """A URL without a scheme: exit 1, one error naming alerts.notifiers.ops.urls.0, masked."""
    prepare(tmp_path)
    result = run(tmp_path, "notifier", "set", "ops", "--url", f"no-scheme-{TOKEN}", "-m", "try")
    assert result.returncode == 1
    assert "alerts.notifiers.ops.urls.0" in result.stderr
    assert TOKEN not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    missing = run(tmp_path, "notifier", "remove", "pager", "-m", "clean up")
    assert missing.returncode == 1
    assert "no notifier named 'pager'" in missing.stderr
