"""Silences with label matchers in the SQL stores; glob silences stored before matchers existed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from toolkeeper.alerts.silences import covers
from toolkeeper.store import open_store
from toolkeeper.store._migrate import MIGRATIONS
from toolkeeper.store.alerts import AlertTable

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
LABELS = {"rule": "openai-errors", "tool": "openai", "severity": "critical", "team": "payments"}


def test_matchers_are_stored_and_read_back(store_uri: str) -> None:
    """A silence's matchers survive the store, in order, and decide what it covers."""
    store = open_store(store_uri)
    try:
        table = AlertTable(store)
        made = table.add_silence(
            rule="*", tool="open*", starts_at=NOW, ends_at=NOW + timedelta(hours=1),
            created_by="ana", comment="x", matchers=('severity="critical"', 'team!~"ops|sre"'),
        )  # fmt: skip
        (read,) = table.silences(now=NOW, include_expired=False)
        assert read == made
        assert read.matchers == ('severity="critical"', 'team!~"ops|sre"')
        assert covers(read, LABELS)
        assert not covers(read, {**LABELS, "team": "sre"})
        assert not covers(read, {**LABELS, "tool": "anthropic"})
    finally:
        store.close()


def test_a_glob_silence_stored_before_matchers_keeps_working(store_uri: str) -> None:
    """A silence written by the schema before matchers (revision 0010) still silences by globs."""
    engine = create_engine(store_uri.replace("postgresql://", "postgresql+psycopg://"))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0010")
        connection.execute(
            text(
                "INSERT INTO alert_silences (rule, tool, starts_at, ends_at, created_by, comment)"
                " VALUES ('openai-*', 'openai', :starts, :ends, 'ana', 'old')"
            ),
            {"starts": NOW, "ends": NOW + timedelta(hours=1)},
        )
    engine.dispose()
    store = open_store(store_uri)  # migrates to the newest schema
    try:
        (old,) = AlertTable(store).silences(now=NOW, include_expired=False)
        assert (old.rule, old.tool, old.matchers) == ("openai-*", "openai", ())
        assert covers(old, LABELS)
        assert not covers(old, {**LABELS, "rule": "latency"})
    finally:
        store.close()
