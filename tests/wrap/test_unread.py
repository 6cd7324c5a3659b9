"""Responses to read and price are read by the monitoring pipeline, off the caller's thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest

from toolkeeper import Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.wrap.calls import measure

CONFIG = """\
[tools.fast]
timeout_sync_calls = false
max_retry_attempts = 0
"""
CALLS = 300  # more than the pipeline's unread threshold: the background thread is woken


@pytest.fixture
def keeper() -> Iterator[Keeper]:
    """Open a keeper over an in-memory store (so its pipeline has a background thread)."""
    opened = Keeper.open(ConfigFile.parse(CONFIG), store="memory://", follow_changes=False)
    yield opened
    opened.close()


class Response:
    """An SDK-style response whose usage notes which thread read it."""

    def __init__(self, reads: dict[int, int], usage: Any) -> None:
        self.model = "gpt-4o-mini"
        self._reads = reads
        self._usage = usage

    @property
    def usage(self) -> Any:
        """Return the usage, noting the reading thread."""
        self._reads[id(self)] = threading.get_ident()
        if isinstance(self._usage, Exception):
            raise self._usage
        return self._usage


def warm_up(keeper: Keeper) -> None:
    """Close the tool's circuit window with plain calls: calls before it take the general path."""

    @keeper.tool("fast", operation="warm")
    def plain() -> None:
        return None

    while keeper.runtimes.get("fast").breaker.closed_epoch < 0:
        plain()


def wait_for(condition: Any, what: str, bound_s: float = 120.0) -> None:
    """Wait until ``condition()`` holds, failing after a generous bound."""
    deadline = time.monotonic() + bound_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {bound_s}s for {what}")
        time.sleep(0.01)


def test_the_pipeline_thread_reads_and_prices_sdk_responses(keeper: Keeper) -> None:
    """Calls returning SDK objects have their usage read by the pipeline thread, not the caller."""
    reads: dict[int, int] = {}
    usage = SimpleNamespace(prompt_tokens=1000, completion_tokens=100)
    responses = [Response(reads, usage) for _ in range(CALLS)]
    served = iter(responses)

    @keeper.tool("fast", operation="chat")
    def chat() -> Response:
        return next(served)

    warm_up(keeper)
    for response in responses:
        assert chat() is response
    wait_for(lambda: len(reads) == CALLS, "the pipeline to read every response")
    assert threading.get_ident() not in set(reads.values())
    expected = measure(keeper.runtimes.get("fast"), Response({}, usage))
    records = [
        r for r in keeper.monitoring.export_metrics(wrapper_name="fast")
        if r["operation_type"] == "chat"
    ]
    assert len(records) == CALLS
    assert {(r["input_tokens"], r["output_tokens"], r["cost_estimate"]) for r in records} == {
        (1000, 100, expected[2])
    }
    assert expected[2] > 0
    assert all(r["labels"] == {"model": "gpt-4o-mini"} and not r["unpriced"] for r in records)


def test_a_response_that_cannot_be_read_is_recorded_unmetered(
    keeper: Keeper, caplog: pytest.LogCaptureFixture
) -> None:
    """A response whose usage raises when read is returned, logged and recorded unpriced."""
    response = Response({}, RuntimeError("usage went away"))

    @keeper.tool("fast", operation="odd")
    def odd() -> Response:
        return response

    warm_up(keeper)
    with caplog.at_level(logging.ERROR, logger="toolkeeper.wrap"):
        assert odd() is response
        records = [
            r for r in keeper.monitoring.export_metrics(wrapper_name="fast")
            if r["operation_type"] == "odd"
        ]
    assert [(r["status"], r["unpriced"], r["input_tokens"]) for r in records] == [
        ("success", True, 0)
    ]
    assert "could not read the usage of a response of tool 'fast'" in caplog.text


def test_unpriced_models_are_counted_by_the_time_anyone_asks(keeper: Keeper) -> None:
    """A call of a model without a price shows in ``costs.unpriced()`` right after it returns."""

    @keeper.tool("fast", operation="chat")
    def chat() -> dict[str, Any]:
        return {"model": "no-such-model-7", "usage": {"prompt_tokens": 3, "completion_tokens": 1}}

    chat()
    chat()
    assert keeper.costs.unpriced()[("fast", "no-such-model-7")] == 2


def test_a_long_stream_is_metered_from_its_first_and_last_events(keeper: Keeper) -> None:
    """Usage in a long stream's first event and final delta is read, whatever lies between."""

    def events() -> Iterator[dict[str, Any]]:
        yield {"type": "message_start", "message": {
            "model": "claude-3-5-haiku-20241022",
            "usage": {"input_tokens": 40, "output_tokens": 1, "cache_read_input_tokens": 10},
        }}  # fmt: skip
        for n in range(500):
            yield {"type": "content_block_delta", "delta": {"type": "text_delta", "text": f"{n}"}}
        yield {"type": "message_delta", "usage": {"output_tokens": 77}}
        yield {"type": "message_stop"}

    @keeper.tool("fast", operation="stream")
    def stream() -> Iterator[dict[str, Any]]:
        return events()

    warm_up(keeper)
    assert sum(1 for _ in stream()) == 503
    [record] = [
        r for r in keeper.monitoring.export_metrics(wrapper_name="fast")
        if r["operation_type"] == "stream"
    ]
    assert (record["status"], record["input_tokens"], record["output_tokens"]) == (
        "success", 50, 77,
    )  # fmt: skip
    assert (record["cached_tokens"], record["custom_metrics"]["stream_chunks"]) == (10, 503)
    assert record["cost_estimate"] > 0
    assert not record["unpriced"]


def test_streams_read_to_their_end_are_recorded_by_the_pipeline_thread(keeper: Keeper) -> None:
    """A stream's record is built and priced off the reader's thread, timed as it was read."""
    built: dict[int, int] = {}
    reads: dict[int, int] = {}
    usage = SimpleNamespace(prompt_tokens=20, completion_tokens=5)

    class Chunk:
        """A stream chunk; the last carries the usage and notes the thread that reads it."""

        def __init__(self, last: bool) -> None:
            self.model = "gpt-4o-mini"
            self._last = last

        @property
        def usage(self) -> Any:
            if not self._last:
                return None
            reads[id(self)] = threading.get_ident()
            return usage

    def chunks() -> Iterator[Chunk]:
        for n in range(3):
            yield Chunk(last=n == 2)

    @keeper.tool("fast", operation="stream")
    def stream() -> Iterator[Chunk]:
        return chunks()

    from toolkeeper.wrap import decorate

    recorded = decorate._StreamCall.recorded

    def noting(self: Any, end: Any, end_s: float) -> Any:
        built[id(self)] = threading.get_ident()
        return recorded(self, end, end_s)

    warm_up(keeper)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decorate._StreamCall, "recorded", noting)
        before = time.time()
        for _ in range(CALLS):
            assert sum(1 for _ in stream()) == 3
        after = time.time()
        time.sleep(0.05)  # a record built late is still timed when its stream ended
        wait_for(lambda: len(built) == CALLS, "the pipeline to build every stream's record")
        records = [
            r for r in keeper.monitoring.export_metrics(wrapper_name="fast")
            if r["operation_type"] == "stream"
        ]
    assert threading.get_ident() not in set(built.values()) | set(reads.values())
    assert len(records) == CALLS
    assert {(r["status"], r["input_tokens"], r["output_tokens"]) for r in records} == {
        ("success", 20, 5)
    }
    assert {r["custom_metrics"]["stream_chunks"] for r in records} == {3}
    ends = [datetime.fromisoformat(r["end_time"]).timestamp() for r in records]
    assert before <= min(ends)
    assert max(ends) <= after
    assert all(r["duration_ms"] < (after - before) * 1000 for r in records)
