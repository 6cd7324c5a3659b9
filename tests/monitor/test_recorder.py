"""The recorder: the one builder of raw records, its hot methods in C and in Python alike."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from toolkeeper.monitor import OperationStatus, recorder
from toolkeeper.monitor.aggregates import Aggregates
from toolkeeper.monitor.ids import operation_id
from toolkeeper.monitor.pipeline import RecordPipeline
from toolkeeper.monitor.recorder import Measured, Recorder
from toolkeeper.monitor.records import materialize

C_RECORDER = recorder.HotQueues
END = 1_767_225_600.5


@pytest.fixture(params=["c", "python"])
def twin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make recorders with the C hot methods, then with the Python ones."""
    if request.param == "c":
        if C_RECORDER is None:
            pytest.skip("the C recorder was not built (no C compiler at install time)")
        monkeypatch.setattr(recorder, "HotQueues", C_RECORDER)
    else:
        monkeypatch.setattr(recorder, "HotQueues", None)
    return str(request.param)


def open_recorder(drain_threshold: int = 8_192) -> tuple[Recorder, RecordPipeline]:
    """Return a recorder over a pipeline with no thread, its clock fixed at END."""
    pipeline = RecordPipeline(Aggregates(), flush_interval_s=None, drain_threshold=drain_threshold)
    return Recorder(pipeline, lambda: END), pipeline


@pytest.mark.parametrize("parent", [None, 7])
@pytest.mark.parametrize("labels", [None, {"team": "a"}])
def test_a_success_is_queued_as_one_raw_record(
    twin: str, parent: int | None, labels: dict[str, str] | None
) -> None:
    """success() queues the tuple records.py lays out: its parent's id and its labels as details."""
    queue, pipeline = open_recorder()
    queue.success(3, parent, "openai", "chat", 0.25, 0.002, 12, 5, "gpt-4o", labels)
    details: dict[str, Any] | None = None
    if parent is not None:
        details = {"parent_id": operation_id(parent), "labels": labels}
    elif labels is not None:
        details = {"labels": labels}
    assert list(pipeline.pending) == [
        (3, END, "openai", "chat", "success", 0.25, 0.002, 12, 5, None, None, details, "gpt-4o")
    ]
    record = materialize(pipeline.pending[0])
    assert (record.operation_id, record.cost_estimate, record.labels["model"]) == (
        operation_id(3),
        0.002,
        "gpt-4o",
    )


def test_an_unread_success_is_read_by_the_measure_given(twin: str) -> None:
    """unread() queues the response and its meter; a drain measures them into a record."""
    queue, pipeline = open_recorder()
    seen: list[tuple[Any, Any]] = []

    def measure(meter: Any, response: Any) -> Measured:
        seen.append((meter, response))
        return 10, 4, 0.5, "claude", False, (2, 0, 1)

    queue.measure_with(measure)
    meter, response = object(), {"body": 1}
    queue.unread(9, None, "anthropic", "ask", 0.5, response, meter, {"team": "b"})
    assert len(pipeline.unread) == 1
    assert not pipeline.pending
    with pipeline.drained() as aggregates:
        assert aggregates.has_tool("anthropic")
    assert seen == [(meter, response)]
    [raw] = pipeline.recent()
    record = materialize(raw)
    assert (record.input_tokens, record.output_tokens, record.cost_estimate) == (10, 4, 0.5)
    assert (record.cached_tokens, record.reasoning_tokens) == (2, 1)
    assert record.labels == {"team": "b", "model": "claude"}
    assert record.end_time is not None
    assert record.end_time.timestamp() == END


def test_a_response_that_cannot_be_read_is_recorded_unmetered(
    twin: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A measure that raises is logged, and the call is still counted, its cost unknown."""
    queue, pipeline = open_recorder()

    def measure(_meter: Any, _response: Any) -> Measured:
        raise ValueError("no usage here")

    queue.measure_with(measure)
    queue.unread(1, None, "odd", "call", 0.1, object(), None, None)
    with caplog.at_level(logging.ERROR, logger="toolkeeper.wrap"):
        [raw] = pipeline.recent()
    assert materialize(raw).unpriced
    assert "could not read the usage of a response of tool 'odd'" in caplog.text


def test_an_operation_queued_later_is_built_where_the_pipeline_reads(
    twin: str, caplog: pytest.LogCaptureFixture
) -> None:
    """later() queues a build and when it was called; the drain builds, then reads, the record."""
    queue, pipeline = open_recorder()
    queue.measure_with(lambda meter, response: (3, 2, 0.01, "gpt", False, None))
    built: list[tuple[Any, float]] = []

    def build(subject: Any, end_s: float) -> Any:
        built.append((subject, end_s))
        return Recorder.unread_record(
            "openai", "stream", "success", 0.75, subject, None, 4, end_s, {"stream_chunks": 9},
            None, None, {"team": "c"}, None,
        )  # fmt: skip

    def broken(subject: Any, end_s: float) -> Any:
        raise ValueError("cannot build")

    subject = object()
    queue.later(broken, subject)
    queue.later(build, subject)
    assert built == []  # not on the caller's thread
    with caplog.at_level(logging.ERROR, logger="toolkeeper.wrap"):
        [raw] = pipeline.recent()
    assert built == [(subject, END)]
    record = materialize(raw)
    assert (record.wrapper_name, record.status, record.duration_ms) == (
        "openai",
        OperationStatus.SUCCESS,
        750.0,
    )
    assert (record.input_tokens, record.cost_estimate) == (3, 0.01)
    assert record.end_time is not None
    assert record.end_time.timestamp() == END
    assert record.custom_metrics == {"stream_chunks": 9}
    assert record.labels == {"team": "c", "model": "gpt"}
    assert "could not build the record of an operation that ended" in caplog.text


def test_unread_records_with_no_reader_are_an_error(twin: str) -> None:
    """Unread records queued before any measure is given raise rather than vanish."""
    queue, pipeline = open_recorder()
    queue.unread(1, None, "odd", "call", 0.1, object(), None, None)
    with pytest.raises(RuntimeError, match="1 unread records were queued with no reader set"):
        pipeline.recent()


def test_the_caller_that_fills_the_queue_folds_it(twin: str) -> None:
    """At the drain threshold the recording caller folds the queue into the aggregates itself."""
    queue, pipeline = open_recorder(drain_threshold=4)
    for seq in range(3):
        queue.success(seq, None, "t", "op", 0.1, 0.0, 0, 0, None, None)
    assert len(pipeline.pending) == 3
    queue.success(3, None, "t", "op", 0.1, 0.0, 0, 0, None, None)
    assert not pipeline.pending
    with pipeline.drained() as aggregates:
        assert aggregates.has_tool("t")


def test_record_redacts_every_text_and_refuses_a_status_that_is_not_final(twin: str) -> None:
    """record() removes secrets from its texts; a status that is not final is refused."""
    pipeline = RecordPipeline(Aggregates(), flush_interval_s=None)
    queue = Recorder(pipeline, lambda: END, lambda text: text.replace("sk-secret", "***"))
    queue.record(
        "t", "op", OperationStatus.ERROR, 0.1, error_message="key sk-secret refused",
        model="sk-secret-model", user_id="sk-secret",
    )  # fmt: skip
    record = materialize(pipeline.pending[0])
    assert (record.error_message, record.user_id) == ("key *** refused", "***")
    assert record.labels["model"] == "***-model"
    with pytest.raises(ValueError, match="status 'started' is not a final status; use one of"):
        queue.record("t", "op", OperationStatus.STARTED, 0.1)
