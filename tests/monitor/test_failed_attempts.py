"""Failed attempts behind a served fallback: counted in buckets, stored, summed over writers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from toolkeeper import FakeClock, Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.monitor.buckets import Bucket, failed_attempt
from toolkeeper.monitor.records import OperationStatus, WrapperOperationMetrics

CONFIG = ConfigFile.parse("[tools.llm]\nmax_retry_attempts = 0\ncircuit_minimum_calls = 4\n")
FAILED = {"original_error": "ConnectionError: down", "fallback_reason": "primary_failed"}
REFUSED = {"original_error": "CircuitOpenError: open", "fallback_reason": "circuit_open"}


def raw(status: str, details: Any = None) -> tuple[Any, ...]:
    """Return a raw record tuple with the fields a bucket reads."""
    return (0, 0.0, "t", "op", status, 0.1, 0.0, 0, 0, None, None, details, None)


BATCH = [
    raw("success"), raw("fallback", FAILED), raw("fallback", REFUSED), raw("error"),
    raw("fallback", FAILED), raw("fallback", {"fallback_reason": "budget"}), raw("success"),
    raw("fallback", None), raw("timeout"), raw("success"),
]  # fmt: skip


def test_a_fallback_after_a_failed_call_is_a_failed_attempt_and_a_refused_one_is_not() -> None:
    """Only a fallback whose primary was called and raised counts; a refused call does not."""
    assert failed_attempt(FAILED)
    assert not failed_attempt(REFUSED)
    assert not failed_attempt({"fallback_reason": "bulkhead_full", "original_error": "full"})
    assert not failed_attempt({"fallback_reason": "primary_failed"})  # no error kept
    assert not failed_attempt(None)
    record = WrapperOperationMetrics(
        operation_id="x", wrapper_name="t", start_time=FakeClock().now(),
        status=OperationStatus.FALLBACK, original_error="HTTP 500", fallback_reason="manual",
    )  # fmt: skip
    assert failed_attempt(record)  # a lifecycle record, its reason in the application's words


def test_both_counting_paths_count_failed_attempts_and_the_rates_tell_them_apart() -> None:
    """Both paths agree: 2 failed attempts, 2 failed calls; provider errors 40%, failed 20%."""
    single, batch = Bucket(), Bucket()
    for record in BATCH:
        single.add(record[4], record[5], record[6], record[7], record[8], record[9], record[11])
    batch.add_many(BATCH)
    start = FakeClock().now()
    for bucket in (single, batch):
        stats = bucket.stats(start, start)
        assert stats.failed_attempt_count == 2
        assert stats.error_rate == pytest.approx(0.2)
        assert stats.provider_error_rate == pytest.approx(0.4)
        assert stats.fallback_rate == pytest.approx(0.5)


def test_failed_attempts_survive_the_stored_form_and_merge_exactly() -> None:
    """to_dict/from_dict keep the count; merging adds it; a bucket stored before it counts 0."""
    bucket = Bucket()
    bucket.add_many(BATCH)
    again = Bucket.from_dict(bucket.to_dict())
    assert again.failed_attempts == 2
    again.merge(bucket)
    assert again.failed_attempts == 4
    old = bucket.to_dict()
    del old["failed_attempts"]
    assert Bucket.from_dict(old).failed_attempts == 0


@contextmanager
def keepers(store_uri: str, clock: FakeClock, count: int) -> Iterator[list[Keeper]]:
    """Open ``count`` keepers (each its own writer, as separate processes are) on one store."""
    opened: list[Keeper] = []
    try:
        while len(opened) < count:
            opened.append(Keeper.open(CONFIG, store=store_uri, follow_changes=False, clock=clock))
        yield opened
    finally:
        for keeper in opened:
            keeper.close()


def outage(keeper: Keeper, calls: int) -> None:
    """Call ``llm`` ``calls`` times while its primary is down: the fallback serves every call."""

    @keeper.tool("llm", operation="chat", fallback=lambda: "local")
    def chat() -> str:
        raise ConnectionError("upstream down")

    for _ in range(calls):
        assert chat() == "local"
    keeper.flush()


def test_a_served_outage_shows_provider_errors_while_failed_calls_stay_zero(
    store_uri: str,
) -> None:
    """All calls fall back: failed calls 0%; provider errors are the attempts before the open."""
    clock = FakeClock()
    with keepers(store_uri, clock, 1) as (app,):
        outage(app, 10)
        stats = app.monitoring.get_window_stats("llm", "5m")
        assert stats is not None
        made = stats.failed_attempt_count
        assert made == 4  # the circuit opened after 4 failures: the rest were refused, not made
        health = app.monitoring.get_wrapper_health("llm")
        assert health.error_rate == 0.0
        assert health.fallback_rate == 1.0
        assert health.provider_error_rate == pytest.approx(made / 10)
        system = app.monitoring.get_system_health()
        assert (system["error_count"], system["failed_attempt_count"]) == (0, made)


def test_every_process_reads_the_same_provider_errors_summed_over_writers(
    store_uri: str,
) -> None:
    """Two applications' failed attempts, read from the store by a third keeper, add up exactly."""
    clock = FakeClock()
    with keepers(store_uri, clock, 2) as (app_a, app_b):
        outage(app_a, 3)
        outage(app_b, 2)
        own = [
            app.monitoring.get_window_stats("llm", "5m").failed_attempt_count  # type: ignore[union-attr]
            for app in (app_a, app_b)
        ]
        assert own == [3, 2]  # fewer failures than the circuit's minimum calls: every one made
        with keepers(store_uri, clock, 1) as (server,):
            server.reload_history()
            for window in ("5m", "1h", "24h", "total"):
                stats = server.monitoring.get_window_stats("llm", window)
                assert stats is not None
                assert (stats.failed_attempt_count, stats.error_count) == (5, 0), window
                assert stats.provider_error_rate == pytest.approx(1.0)
            assert server.monitoring.get_system_health()["failed_attempt_count"] == 5
