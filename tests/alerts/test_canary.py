"""The canary: a notifier URL's secret never shows in events, statuses, logs, reprs or the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from toolkeeper import FakeClock, Keeper
from toolkeeper.config.files import ConfigFile

from .conftest import Webhook, closed_port, record

CANARY = "tk-alert-canary-0123456789abcdef"
CONFIG = """\
[alerts]
repeat_every = "10m"

[alerts.notifiers.ops]
urls = ["env:TK_ALERT_HOOK"]

[alerts.notifiers.dead]
urls = ["env:TK_ALERT_DEAD"]

[[alerts.rules]]
name = "errors"
metric = "error_rate"
op = ">"
threshold = 0.2
window = "1h"
"""


def store_contents(store_uri: str) -> bytes:
    """Return every byte of an SQLite store, or every row of a PostgreSQL one."""
    if store_uri.startswith("sqlite:///"):
        db = Path(store_uri.removeprefix("sqlite:///"))
        return b"".join(path.read_bytes() for path in db.parent.glob(db.name + "*"))
    engine = create_engine(store_uri.replace("postgresql://", "postgresql+psycopg://"))
    rows = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            rows.extend(repr(tuple(row)) for row in conn.execute(text(f'SELECT * FROM "{table}"')))
    engine.dispose()
    return "\n".join(rows).encode()


def test_a_notifier_secret_never_leaks(
    store_uri: str,
    clock: FakeClock,
    webhook: Webhook,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Fire, repeat, fail, test and resolve with the canary in two URLs; it shows nowhere."""
    monkeypatch.setenv("TK_ALERT_HOOK", webhook.url(f"/hook/{CANARY}"))
    monkeypatch.setenv(
        "TK_ALERT_DEAD", f"json://ops:{CANARY}@127.0.0.1:{closed_port()}/dead/{CANARY}"
    )
    caplog.set_level(1)  # everything, Apprise's TRACE and urllib3's DEBUG included
    keeper = Keeper.open(
        ConfigFile.parse(CONFIG), store=store_uri, follow_changes=False, clock=clock
    )
    engine = keeper.alerts
    record(keeper.monitoring, "openai", "error", 5)
    shown: list[str] = [str(status.to_dict()) for status in engine.evaluate()]
    clock.advance(600)
    shown.extend(repr(status) for status in engine.evaluate())
    shown.append(repr(engine.test_notification()))
    clock.advance(3600)  # the errors leave the 1-hour window
    record(keeper.monitoring, "openai", "success", 5)
    shown.extend(str(status.to_dict()) for status in engine.evaluate())
    silence = engine.silence(duration_s=60, created_by="ana", comment="quiet")
    shown.extend(str(s.to_dict()) for s in engine.statuses())
    shown.extend([repr(silence), repr(engine), repr(keeper.config.file.alerts)])
    shown.extend(str(event.to_dict()) for event in engine.events())
    shown.extend(engine.notifier_urls_masked("ops") + engine.notifier_urls_masked("dead"))
    shown.extend(str(rule.to_dict()) for rule in engine.rules())
    shown.append(caplog.text)
    shown.extend(record.getMessage() for record in caplog.records)
    events = engine.events()
    keeper.close()

    assert [path for path, _ in webhook.received] == [f"/hook/{CANARY}"] * 4  # the URL was used
    assert {"fired", "resolved", "notified", "notify_failed"} <= {e.kind for e in events}
    assert any(r.name == "apprise" for r in caplog.records)  # its logs were captured
    assert any(r.name == "urllib3.connectionpool" for r in caplog.records)
    for text_shown in shown:
        assert CANARY not in text_shown
    assert CANARY.encode() not in store_contents(store_uri)
