"""Two engines on one store (SQLite, PostgreSQL): each transition and notification happens once."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from toolkeeper import FakeClock
from toolkeeper.alerts import AlertRule, AlertSettings, AlertState, NotifierSettings
from toolkeeper.alerts.engine import AlertEngine
from toolkeeper.monitor import PerformanceMonitor
from toolkeeper.store import open_store
from toolkeeper.store.alerts import AlertTable, NewEvent
from toolkeeper.store.sql import Store

from .conftest import Webhook, make_engine, record

RULE = AlertRule(name="errors", metric="error_rate", op=">", threshold=0.2, window="24h")


@pytest.fixture
def stores(store_uri: str) -> Iterator[tuple[Store, Store]]:
    """Open the same store twice, as two processes would."""
    first, second = open_store(store_uri), open_store(store_uri)
    yield first, second
    first.close()
    second.close()


class LockstepMonitor(PerformanceMonitor):
    """A monitor whose tools() waits for every engine: each has read the stored states by then.

    So the engines of one pass decide from the same stored versions, and all but
    one must lose the compare-and-set: the race is forced, not left to chance.
    """

    def __init__(self, engines: int, clock: FakeClock) -> None:
        super().__init__(clock=clock, flush_interval_s=None)
        self.barrier = threading.Barrier(engines)

    def tools(self) -> list[str]:
        self.barrier.wait(timeout=30)
        return super().tools()


def evaluate_together(engines: list[AlertEngine]) -> None:
    """Run one pass of every engine at the same moment, in threads."""
    failures: list[Exception] = []

    def run(engine: AlertEngine) -> None:
        try:
            engine.evaluate()
        except Exception as exc:  # noqa: BLE001 - handed to the test thread, which asserts
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []


def test_two_engines_notify_each_transition_exactly_once(
    stores: tuple[Store, Store], clock: FakeClock, webhook: Webhook
) -> None:
    """Evaluating the same breach together sends one firing, one repeat and one resolution."""
    monitor = LockstepMonitor(len(stores), clock)
    settings = AlertSettings(
        notifiers=(NotifierSettings(name="ops", urls=(webhook.url(),)),),
        rules=(RULE,),
        repeat_every_seconds=600,
    )
    engines = [make_engine(settings, store, monitor, clock) for store in stores]
    record(monitor, "openai", "error", 5)
    for _ in range(3):
        evaluate_together(engines)
    assert [body["title"][:9] for body in webhook.bodies] == ["[FIRING] "]
    clock.advance(600)
    for _ in range(3):
        evaluate_together(engines)
    assert len(webhook.bodies) == 2
    clock.advance(86_400)  # the errors leave the 24-hour window
    record(monitor, "openai", "success", 5)
    for _ in range(3):
        evaluate_together(engines)
    assert [body["title"][:10] for body in webhook.bodies] == [
        "[FIRING] e", "[FIRING] e", "[RESOLVED]",
    ]  # fmt: skip
    kinds = [event.kind for event in engines[1].events()]
    assert sorted(kinds) == ["fired", "notified", "notified", "notified", "resolved"]
    assert [s.state for s in engines[0].statuses()] == [s.state for s in engines[1].statuses()]


def test_a_transition_from_a_stale_version_is_refused(
    stores: tuple[Store, Store], clock: FakeClock
) -> None:
    """The compare-and-set stores a state only over the version it was decided from."""
    first, second = (AlertTable(store) for store in stores)
    now = clock.now()
    firing = AlertState(
        rule="errors", tool="openai", state="firing", since=now, value=1.0, fired_at=now,
        version=1, evaluated_at=now,
    )  # fmt: skip
    event = [NewEvent("errors", "openai", "fired", "error_rate 1 > 0.2")]
    assert first.apply(firing, expected_version=0, events=event, at=now)
    assert not second.apply(firing, expected_version=0, events=event, at=now)
    stored = second.state("errors", "openai")
    assert stored is not None
    assert (stored.state, stored.version) == ("firing", 1)
    assert [e.kind for e in second.events(10)] == ["fired"]
    with pytest.raises(ValueError, match=r"must be expected_version \+ 1"):
        first.apply(firing, expected_version=1, events=(), at=now)
