"""Configuration versions: append, read, conflicts, polling and rewrites, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tests._processes import run_in_processes
from toolkeeper._clock import FakeClock
from toolkeeper._errors import StoreError, VersionConflictError
from toolkeeper.store import open_store
from toolkeeper.store import sql as store_sql
from toolkeeper.store.sql import Store

from ._helpers import append_after_barrier, config_record


def test_append_fills_id_version_and_time(store: Store) -> None:
    """Store the first version as 1 and return it with id and creation time filled."""
    stored = store.append_config_version(config_record(), expected_version=0)
    assert (stored.id, stored.version) == (1, 1)
    assert stored.values == {"timeout_seconds": 20}
    assert stored.diff == [{"path": "timeout_seconds", "before": 30, "after": 20}]
    assert (stored.actor, stored.reason, stored.source) == ("ana", "upstream slow", "code")
    assert stored.created_at is not None


def test_list_get_and_latest(store: Store) -> None:
    """List versions oldest first, fetch one by number, and fetch the latest."""
    for expected, timeout in enumerate([20, 25, 30]):
        store.append_config_version(
            config_record(values={"timeout_seconds": timeout}), expected_version=expected
        )
    history = store.config_versions("development", "openai")
    assert [(r.version, r.values["timeout_seconds"]) for r in history] == [
        (1, 20),
        (2, 25),
        (3, 30),
    ]
    second = store.config_version("development", "openai", 2)
    assert second == history[1]
    assert store.latest_config_version("development", "openai") == history[2]
    assert store.config_version("development", "openai", 4) is None


def test_unknown_tool_or_environment_has_no_versions(store: Store) -> None:
    """Return empty answers for a tool or environment never written."""
    store.append_config_version(config_record(), expected_version=0)
    assert store.config_versions("production", "openai") == []
    assert store.latest_config_version("development", "routellm") is None
    assert store.config_version("production", "openai", 1) is None


def test_versions_count_per_environment_and_tool(store: Store) -> None:
    """Number versions separately for each (environment, tool) pair."""
    store.append_config_version(config_record(), expected_version=0)
    other_tool = store.append_config_version(config_record(tool="routellm"), expected_version=0)
    other_env = store.append_config_version(
        config_record(environment="production"), expected_version=0
    )
    assert (other_tool.version, other_env.version) == (1, 1)
    assert [other_tool.id, other_env.id] == [2, 3]


@pytest.mark.parametrize("expected", [0, 1, 5])
def test_wrong_expected_version_is_a_conflict_and_changes_nothing(
    store: Store, expected: int
) -> None:
    """Refuse a stale or future expected version, naming both versions, storing nothing."""
    store.append_config_version(config_record(), expected_version=0)
    store.append_config_version(config_record(), expected_version=1)
    with pytest.raises(VersionConflictError) as caught:
        store.append_config_version(config_record(actor="late"), expected_version=expected)
    assert (caught.value.tool, caught.value.expected, caught.value.actual) == (
        "openai",
        expected,
        2,
    )
    assert f"expected version {expected}" in str(caught.value)
    assert [r.actor for r in store.config_versions("development", "openai")] == ["ana", "ana"]


def test_insert_race_is_reported_as_a_conflict(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Turn a unique-constraint violation from a writer that read too early into a conflict."""
    store.append_config_version(config_record(), expected_version=0)
    real_latest = store_sql._latest_version
    calls: list[int] = []

    def stale_then_real(*args: Any) -> int:
        calls.append(1)
        return 0 if len(calls) == 1 else real_latest(*args)

    monkeypatch.setattr(store_sql, "_latest_version", stale_then_real)
    with pytest.raises(VersionConflictError) as caught:
        store.append_config_version(config_record(actor="late"), expected_version=0)
    assert (caught.value.expected, caught.value.actual) == (0, 1)
    assert isinstance(caught.value.__cause__, Exception)
    assert len(store.config_versions("development", "openai")) == 1


def test_two_processes_from_one_version_exactly_one_wins(store_uri: str) -> None:
    """Let exactly one of two processes appending from the same version succeed."""
    with open_store(store_uri) as store:
        store.append_config_version(config_record(), expected_version=0)
    outcomes = run_in_processes(append_after_barrier, 2, store_uri, 1)
    assert sorted(outcomes) == [("conflict", 2), ("ok", 2)]
    with open_store(store_uri) as store:
        history = store.config_versions("development", "openai")
    assert [(r.version, r.actor) for r in history] == [(1, "ana"), (2, "process")]


def test_created_at_is_timezone_aware_utc(store: Store) -> None:
    """Read creation times back as timezone-aware UTC datetimes."""
    before = datetime.now(UTC)
    store.append_config_version(config_record(), expected_version=0)
    (stored,) = store.config_versions("development", "openai")
    assert stored.created_at is not None
    assert stored.created_at.utcoffset() == timedelta(0)
    assert stored.created_at.tzinfo == UTC
    assert before - timedelta(seconds=5) <= stored.created_at <= datetime.now(UTC)


def test_given_created_at_is_kept_and_converted_to_utc(store: Store) -> None:
    """Keep a creation time given in another zone, read back as the same instant in UTC."""
    given = datetime(2026, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    stored = store.append_config_version(config_record(created_at=given), expected_version=0)
    assert stored.created_at == given
    assert stored.created_at is not None
    assert stored.created_at.tzinfo == UTC
    assert stored.created_at.hour == 10


def test_naive_created_at_is_refused(store: Store) -> None:
    """Refuse a naive creation time rather than guess its zone."""
    with pytest.raises(ValueError, match="timezone-aware"):
        store.append_config_version(
            config_record(created_at=datetime(2026, 1, 1)),  # noqa: DTZ001 - the point of the test
            expected_version=0,
        )


def test_clock_stamps_new_versions(store_uri: str) -> None:
    """Stamp versions with the store's clock when the record has no time."""
    clock = FakeClock(datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC))
    with open_store(store_uri, clock=clock) as store:
        stored = store.append_config_version(config_record(), expected_version=0)
    assert stored.created_at == datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)


def test_changes_since_a_cursor(store: Store) -> None:
    """Return versions after a cursor across tools and environments, in the order stored."""
    assert store.config_cursor() == 0
    assert store.config_changes_since(0) == []
    first = store.append_config_version(config_record(), expected_version=0)
    cursor = store.config_cursor()
    assert cursor == first.id
    second = store.append_config_version(config_record(tool="poml"), expected_version=0)
    third = store.append_config_version(config_record(environment="staging"), expected_version=0)
    assert store.config_changes_since(cursor) == [second, third]
    assert store.config_changes_since(0) == [first, second, third]
    assert store.config_changes_since(store.config_cursor()) == []


def test_rewrite_changes_every_version_and_counts_changes(store: Store) -> None:
    """Apply a transform to every stored version and count only the rows it changed."""
    store.append_config_version(config_record(values={"api_key": "enc:old-1"}), expected_version=0)
    store.append_config_version(config_record(values={"timeout_seconds": 9}), expected_version=1)
    store.append_config_version(
        config_record(tool="poml", values={"api_key": "enc:old-2"}), expected_version=0
    )

    def rotate(values: dict[str, Any]) -> dict[str, Any]:
        if "api_key" in values:
            return {**values, "api_key": values["api_key"].replace("old", "new")}
        return values

    assert store.rewrite_config_values(rotate) == 2
    assert [r.values for r in store.config_changes_since(0)] == [
        {"api_key": "enc:new-1"},
        {"timeout_seconds": 9},
        {"api_key": "enc:new-2"},
    ]
    assert store.rewrite_config_values(rotate) == 0


def test_rewrite_is_all_or_nothing(store: Store) -> None:
    """Leave every version unchanged when the transform fails halfway."""
    for expected in range(4):
        store.append_config_version(
            config_record(values={"api_key": f"enc:old-{expected}"}), expected_version=expected
        )
    before = store.config_changes_since(0)
    seen: list[dict[str, Any]] = []

    def fail_on_third(values: dict[str, Any]) -> dict[str, Any]:
        seen.append(values)
        if len(seen) == 3:
            raise RuntimeError("key does not open this value")
        return {"api_key": "enc:new"}

    with pytest.raises(RuntimeError, match="does not open"):
        store.rewrite_config_values(fail_on_third)
    assert len(seen) == 3
    assert store.config_changes_since(0) == before


def test_rewrite_refuses_a_transform_that_returns_no_dict(store: Store) -> None:
    """Refuse, changing nothing, a transform that returns something other than a dict."""
    store.append_config_version(config_record(), expected_version=0)
    with pytest.raises(TypeError, match="expected dict"):
        store.rewrite_config_values(lambda _values: None)  # type: ignore[arg-type,return-value]
    (unchanged,) = store.config_versions("development", "openai")
    assert unchanged.values == {"timeout_seconds": 20}


def test_database_errors_are_wrapped(store: Store, store_uri: str) -> None:
    """Wrap a database failure in StoreError naming the store and keeping the cause."""
    from sqlalchemy import create_engine, text

    engine = create_engine(store_uri.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE config_versions"))
    engine.dispose()
    with pytest.raises(StoreError) as caught:
        store.config_cursor()
    assert store.uri in str(caught.value)
    assert "config_versions" in str(caught.value)
    assert caught.value.__cause__ is not None
