"""Forwarding to a real Prometheus Alertmanager (Debian's, started by scripts/services.sh)."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import service_url
from toolkeeper import FakeClock
from toolkeeper.alerts import AlertRule, AlertSettings
from toolkeeper.monitor import PerformanceMonitor
from toolkeeper.store.sql import Store

from .conftest import make_engine, record

RULE = AlertRule(name="errors", metric="error_rate", op=">", threshold=0.2, window="5m",
                 severity="critical", labels={"team": "payments"})  # fmt: skip


@pytest.fixture
def clock() -> FakeClock:
    """Return a fake clock starting now: Alertmanager compares alert times with its own clock."""
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def alertmanager() -> str:
    """Return the URL of the Alertmanager the test services run."""
    return service_url("TOOLKEEPER_TEST_ALERTMANAGER")


def alerts_of(alertmanager: str, tool: str) -> list[dict[str, Any]]:
    """Return the alerts Alertmanager's API lists for ``tool`` (active ones)."""
    query = urllib.parse.urlencode({"filter": f'tool="{tool}"'})
    with urllib.request.urlopen(f"{alertmanager}/api/v2/alerts?{query}", timeout=10) as answer:
        found: list[dict[str, Any]] = json.load(answer)
    return found


def test_forwarded_alerts_appear_in_alertmanagers_api_and_resolve_there(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, alertmanager: str
) -> None:
    """A firing alert is listed by Alertmanager with its labels; its resolution ends it there."""
    tool = f"tool-{uuid.uuid4().hex[:8]}"
    settings = AlertSettings(rules=(RULE,), alertmanager_url=alertmanager,
                             external_url="https://tk.example.com")  # fmt: skip
    engine = make_engine(settings, store, monitor, clock)
    record(monitor, tool, "error", 5)
    engine.evaluate()
    (alert,) = alerts_of(alertmanager, tool)
    assert alert["labels"] == {
        "alertname": "errors", "rule": "errors", "tool": tool, "severity": "critical",
        "metric": "error_rate", "team": "payments",
    }  # fmt: skip
    assert alert["annotations"]["summary"] == "error_rate 1 > 0.2 over 5m"
    assert alert["annotations"]["state"] == "firing"
    assert alert["generatorURL"] == f"https://tk.example.com/tools/{tool}"
    assert alert["status"]["state"] == "active"
    record(monitor, tool, "success", 100)
    engine.evaluate()
    assert alerts_of(alertmanager, tool) == []


def test_an_unreachable_alertmanager_is_logged_not_raised(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Forwarding to a closed port logs one warning; the pass still stores its transitions."""
    from .conftest import closed_port

    settings = AlertSettings(rules=(RULE,), alertmanager_url=f"http://127.0.0.1:{closed_port()}")
    engine = make_engine(settings, store, monitor, clock)
    record(monitor, "openai", "error", 5)
    with caplog.at_level("WARNING", logger="toolkeeper.alerts"):
        (status,) = engine.evaluate()
        engine.evaluate()
    assert status.state == "firing"
    warnings = [r.getMessage() for r in caplog.records if "Alertmanager" in r.getMessage()]
    assert warnings == ["forwarding 1 alert(s) to Alertmanager failed: cannot reach Alertmanager "
                        "(ConnectionRefusedError)"]  # fmt: skip
