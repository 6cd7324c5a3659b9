"""Alerting's configuration changed while running: file edits reloaded, versions in the store."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from toolkeeper._errors import ConfigValidationError, VersionConflictError
from toolkeeper.keeper import Keeper

RULE = """
[[alerts.rules]]
name = "{name}"
metric = "calls"
op = "<"
threshold = {threshold}
"""


def write(path: Path, text: str, *, stamp: int) -> None:
    """Write ``text`` to ``path`` with a modification time of ``stamp`` (seconds)."""
    path.write_text(text)
    os.utime(path, (stamp, stamp))


def test_an_edited_file_is_reloaded_without_restart_and_a_broken_edit_is_ignored(
    tmp_path: Path, store_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The engine takes a changed [alerts] at its next look; a broken one is logged, skipped."""
    path = tmp_path / "toolkeeper.toml"
    write(path, RULE.format(name="first", threshold=1), stamp=1_000_000)
    keeper = Keeper.open(path, store=store_uri, follow_changes=False)
    try:
        assert [rule.name for rule in keeper.alerts.rules()] == ["first"]
        write(path, RULE.format(name="second", threshold=2), stamp=1_000_100)
        assert [rule.name for rule in keeper.alerts.rules()] == ["second"]
        with caplog.at_level(logging.WARNING, logger="toolkeeper.alerts"):
            write(path, RULE.format(name="Bad Name", threshold=3), stamp=1_000_200)
            assert [rule.name for rule in keeper.alerts.rules()] == ["second"]
        assert any("alerting keeps the previous" in r.getMessage() for r in caplog.records)
    finally:
        keeper.close()


def test_versions_are_checked_whole_compared_and_set_and_kept_in_history(
    tmp_path: Path, store_uri: str
) -> None:
    """update() refuses bad documents and stale versions; history keeps who and why."""
    path = tmp_path / "toolkeeper.toml"
    write(path, RULE.format(name="first", threshold=1), stamp=1_000_000)
    keeper = Keeper.open(path, store=store_uri, follow_changes=False)
    try:
        runtime = keeper.alerts.config
        assert runtime is not None
        with pytest.raises(ConfigValidationError, match=r"alerts\.rules\.0\.threshold"):
            runtime.update({"rules": [{"name": "x", "metric": "calls", "op": "<",
                                       "threshold": "lots"}]},
                           actor="ana", reason="try", expected_version=0)  # fmt: skip
        made = runtime.update(
            {"rules": [{"name": "x", "metric": "calls", "op": "<", "threshold": 3}]},
            actor="ana", reason="watch idleness", expected_version=0,
        )  # fmt: skip
        assert made.version == 1
        with pytest.raises(VersionConflictError, match="expected version 0"):
            runtime.update({"rules": []}, actor="bob", reason="clear", expected_version=0)
        assert [rule.name for rule in keeper.alerts.rules()] == ["x"]
        assert [(v.version, v.actor) for v in runtime.history()] == [(1, "ana"), (0, "(file)")]
        assert runtime.diff(0, 1) == [
            {"path": "rules.first", "old": {"name": "first", "metric": "calls", "op": "<",
                                            "threshold": 1}, "new": None},
            {"path": "rules.x", "old": None, "new": {"name": "x", "metric": "calls", "op": "<",
                                                     "threshold": 3}},
        ]  # fmt: skip
    finally:
        keeper.close()


def test_a_running_engine_takes_an_edited_file_at_its_next_pass_notifiers_included(
    tmp_path: Path, store_uri: str
) -> None:
    """The background thread (1 s passes) takes a new rule and notifier written to the file."""
    import time

    path = tmp_path / "toolkeeper.toml"
    head = '[alerts]\nevaluate_every = "1s"\n'
    write(path, head + RULE.format(name="first", threshold=1), stamp=1_000_000)
    keeper = Keeper.open(path, store=store_uri, follow_changes=False)
    try:
        engine = keeper.alerts
        engine.start()
        notifier = '\n[alerts.notifiers.ops]\nurls = ["env:OPS_HOOK"]\n'
        write(path, head + notifier + RULE.format(name="second", threshold=2), stamp=1_000_100)
        deadline = time.monotonic() + 120
        while [rule.name for rule in engine.settings.alert_rules] != ["second"]:
            assert time.monotonic() < deadline, "the running engine never took the edited file"
            time.sleep(0.05)
        assert [n.name for n in engine.settings.notifiers] == ["ops"]
    finally:
        keeper.close()
