"""Changes reach the other processes at once through a Redis notice, not at their next pass."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from toolkeeper.alerts.notices import CHANNEL_PREFIX, ChangeNotices
from toolkeeper.keeper import Keeper

# An hour between passes: only a notice makes the other engine look again within the test.
CONFIG = """\
[alerts]
evaluate_every = "1h"

[[alerts.rules]]
name = "idle"
metric = "calls"
op = "<"
threshold = 0
"""
BOUND_SECONDS = 120.0


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Wait until ``condition`` holds (a generous bound, never a timing assertion)."""
    deadline = time.monotonic() + BOUND_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def test_a_rule_change_and_a_silence_wake_the_other_engine_through_redis(
    tmp_path: Path, store_uri: str, redis_url: str
) -> None:
    """Engine B (hourly passes) takes A's new rule and re-evaluates on A's silence, at once."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text(CONFIG)
    first = Keeper.open(path, store=store_uri, shared=redis_url, follow_changes=False)
    second = Keeper.open(path, store=store_uri, shared=redis_url, follow_changes=False)
    try:
        engine = second.alerts
        assert engine.notices is not None
        engine.start()
        wait_for(lambda: engine.passes >= 1, "the first pass of engine B")
        assert engine.notices.wait_subscribed(BOUND_SECONDS)
        assert [rule.name for rule in engine.settings.alert_rules] == ["idle"]
        runtime = first.alerts.config
        assert runtime is not None
        before = engine.passes
        runtime.update(
            {"rules": [{"name": "busy", "metric": "calls", "op": ">", "threshold": 100}]},
            actor="ana", reason="watch load", expected_version=0,
        )  # fmt: skip
        wait_for(
            lambda: (
                engine.passes > before
                and [rule.name for rule in engine.settings.alert_rules] == ["busy"]
            ),
            "engine B taking version 1 in a finished pass",
        )
        passes = engine.passes
        first.alerts.silence(duration_s=600, created_by="ana", comment="deploy")
        wait_for(lambda: engine.passes > passes, "engine B evaluating after the silence")
    finally:
        second.close()
        first.close()


def test_notices_name_the_redis_database_and_a_listener_hears_each_one(redis_url: str) -> None:
    """The channel carries the database number; every publish calls the listener once."""
    heard = threading.Semaphore(0)
    notices = ChangeNotices(redis_url)
    try:
        database = redis_url.rsplit("/", 1)[1]
        assert notices.channel == f"{CHANNEL_PREFIX}{database}"
        notices.listen(heard.release)
        assert notices.wait_subscribed(BOUND_SECONDS)
        notices.publish()
        notices.publish()
        assert heard.acquire(timeout=BOUND_SECONDS)
        assert heard.acquire(timeout=BOUND_SECONDS)
    finally:
        notices.close()


def test_without_redis_a_change_is_taken_at_the_next_pass(tmp_path: Path, store_uri: str) -> None:
    """No shared Redis: no notices; the other engine takes a new version at its next pass."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text(CONFIG)
    first = Keeper.open(path, store=store_uri, follow_changes=False)
    second = Keeper.open(path, store=store_uri, follow_changes=False)
    try:
        assert second.alerts.notices is None
        second.alerts.evaluate()
        runtime = first.alerts.config
        assert runtime is not None
        runtime.update(
            {"rules": [{"name": "busy", "metric": "calls", "op": ">", "threshold": 100}]},
            actor="ana", reason="watch load", expected_version=0,
        )  # fmt: skip
        assert [rule.name for rule in second.alerts.settings.alert_rules] == ["idle"]
        second.alerts.evaluate()
        assert [rule.name for rule in second.alerts.settings.alert_rules] == ["busy"]
    finally:
        second.close()
        first.close()
