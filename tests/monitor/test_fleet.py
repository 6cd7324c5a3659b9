"""This process and the fleet: own counters count own calls; serve counts each writer once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.server.conftest import serving
from toolkeeper import FakeClock, Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.monitor import OperationStatus
from toolkeeper.server import ServerSettings, create_app
from toolkeeper.server.metrics import prometheus_text

CONFIG = ConfigFile.parse("[tools.llm]\n")


def operations_total(text: str | bytes) -> float:
    """Return the sum of every toolkeeper_operations_total sample in an exposition."""
    body = text.decode() if isinstance(text, bytes) else text
    return sum(
        sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == "toolkeeper_operations_total"
    )


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


def test_own_counters_count_own_calls_and_serve_counts_each_writer_once(store_uri: str) -> None:
    """A makes 100 calls, B 1: B's own total is 1, serve's fleet 101, both steady 26 h later."""
    clock = FakeClock()
    with keepers(store_uri, clock, 1) as (app_a,):
        for _ in range(100):
            app_a.monitoring.record("llm", "chat", OperationStatus.SUCCESS, 0.01)
        app_a.flush()
        with keepers(store_uri, clock, 2) as (app_b, server_keeper):
            app_b.monitoring.record("llm", "chat", OperationStatus.SUCCESS, 0.01)
            app_b.flush()
            server_keeper.follow_store(interval_seconds=3600)
            server_keeper.reload_history()
            app = create_app(server_keeper, settings=ServerSettings(metrics_public=True))
            with serving(app) as base_url, httpx.Client(base_url=base_url) as client:
                own_b = operations_total(prometheus_text(app_b.monitoring))
                fleet = operations_total(client.get("/metrics").text)
                assert (own_b, fleet) == (1, 101)
                clock.advance(26 * 3600)
                app_b.monitoring.record("llm", "chat", OperationStatus.SUCCESS, 0.01)
                app_b.flush()
                server_keeper.reload_history()
                assert operations_total(prometheus_text(app_b.monitoring)) == 2
                assert operations_total(client.get("/metrics").text) == 102


def test_an_application_restored_from_the_store_keeps_its_own_counters_at_zero(
    store_uri: str,
) -> None:
    """A new process shows the store's history in its windows but its own counter starts at 0."""
    clock = FakeClock()
    with keepers(store_uri, clock, 1) as (first,):
        for _ in range(5):
            first.monitoring.record("llm", "chat", OperationStatus.SUCCESS, 0.01)
        first.flush()
    with keepers(store_uri, clock, 1) as (second,):
        shown = second.monitoring.get_window_stats("llm", "1h")
        assert shown is not None
        assert shown.total_operations == 5
        own = second.monitoring.get_window_stats("llm", "total", others=False)
        assert own is not None
        assert own.total_operations == 0
        assert operations_total(prometheus_text(second.monitoring)) == 0


def test_a_follower_reading_again_and_again_counts_each_operation_once(store_uri: str) -> None:
    """Reloads that decode only changed rollups still show the exact figures, however many.

    Two models in one minute are two rows of one series: the first row's bucket
    takes the second's counts in the monitor, so a bucket kept for the next read
    must never be the one handed to it.
    """
    clock = FakeClock()
    with keepers(store_uri, clock, 2) as (app, server):
        for model, latency in (("gpt-4o", 0.01), ("gpt-4o-mini", 2.0)):
            for _ in range(5):
                app.monitoring.record(
                    "llm", "chat", OperationStatus.SUCCESS, latency, model=model, cost=0.25
                )
        app.flush()

        def shown() -> tuple[int, float, float | None]:
            stats = server.monitoring.get_window_stats("llm", "1h")
            assert stats is not None
            return stats.total_operations, stats.cost_usd, stats.p99_latency_ms

        for _ in range(3):
            server.reload_history()
            operations, cost, p99 = shown()
            assert (operations, cost) == (10, 2.5)
            assert p99 is not None
            assert 1980 <= p99 <= 2020
        app.monitoring.record("llm", "chat", OperationStatus.ERROR, 0.5, model="gpt-4o")
        app.flush()
        server.reload_history()
        assert shown()[:2] == (11, 2.5)
        server.reload_history()
        assert shown()[:2] == (11, 2.5)
