"""Spans over OTLP/HTTP: a trace tree per request, decoded by a loopback collector."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from toolkeeper import ConfigValidationError, Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.monitor import OperationStatus, WrapperOperationMetrics
from toolkeeper.monitor.spans import SpanTrees, span_id_of, trace_id_of

from .conftest import Collector


def open_keeper(tmp_path: Path, telemetry: str) -> Keeper:
    """Open a keeper whose config file has ``telemetry`` as its [telemetry] table."""
    config = ConfigFile.parse(f"[tools.openai]\n[tools.app]\n\n[telemetry]\n{telemetry}\n")
    return Keeper.open(config, store=f"sqlite:///{tmp_path / 's.db'}", follow_changes=False)


def attributes(span: Any) -> dict[str, Any]:
    """Return a span's attributes as plain values."""
    found: dict[str, Any] = {}
    for kv in span.attributes:
        kind = kv.value.WhichOneof("value")
        found[kv.key] = getattr(kv.value, kind)
    return found


def test_one_request_is_one_trace_tree_with_genai_attributes(
    tmp_path: Path, collector: Collector
) -> None:
    """A request and the two model calls inside it are a root and its children, in one trace."""
    keeper = open_keeper(tmp_path, f'otlp_endpoint = "{collector.endpoint}"\ntraces = true')

    @keeper.tool("openai", operation="chat")
    def chat(fail: bool) -> dict[str, Any]:
        if fail:
            raise ConnectionError("the provider hung up")
        usage = {
            "prompt_tokens": 120, "completion_tokens": 30,
            "prompt_tokens_details": {"cached_tokens": 100},
            "completion_tokens_details": {"reasoning_tokens": 10},
        }  # fmt: skip
        return {"model": "gpt-4o-mini", "usage": usage}

    with keeper.operation("app", "request") as request:
        request.labels["team"] = "search"
        chat(False)
        with pytest.raises(ConnectionError):
            chat(True)
    keeper.close()

    spans = collector.spans()
    assert len(spans) == 3, spans
    by_name = {span.name: span for span in spans}
    root = by_name["request"]
    ok = by_name["chat gpt-4o-mini"]
    failed = next(span for span in spans if span.name == "chat")
    assert {span.trace_id for span in spans} == {root.trace_id}
    assert root.parent_span_id == b""
    assert ok.parent_span_id == failed.parent_span_id == root.span_id
    assert ok.kind == failed.kind == 3  # SPAN_KIND_CLIENT
    ok_attributes = attributes(ok)
    assert ok_attributes.pop("toolkeeper.cost_usd") > 0  # priced from the catalog
    assert ok_attributes.pop("toolkeeper.operation.id").startswith("op-")
    assert ok_attributes == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30,
        "gen_ai.usage.cache_read.input_tokens": 100,
        "gen_ai.usage.reasoning.output_tokens": 10,
        "toolkeeper.status": "success",
    }  # fmt: skip
    assert attributes(root)["toolkeeper.label.team"] == "search"
    assert failed.status.code == 2  # STATUS_CODE_ERROR
    assert "the provider hung up" in failed.status.message
    assert attributes(failed)["error.type"]
    assert root.start_time_unix_nano <= ok.start_time_unix_nano <= ok.end_time_unix_nano
    assert ok.end_time_unix_nano <= root.end_time_unix_nano
    stored = {op["operation_id"] for op in keeper.monitoring.export_metrics()}
    assert {attributes(span)["toolkeeper.operation.id"] for span in spans} <= stored


def test_metrics_are_switched_on_from_the_config_file_alone(
    tmp_path: Path, collector: Collector
) -> None:
    """``otlp_endpoint`` in [telemetry], no variable: the GenAI histograms go out, no span."""
    keeper = open_keeper(tmp_path, f'otlp_endpoint = "{collector.endpoint}/"')
    keeper.monitoring.record("openai", "chat", OperationStatus.SUCCESS, 0.05, model="gpt-x")
    keeper.close()
    assert collector.traces == []
    names = {
        metric.name
        for request in collector.metrics
        for resource in request.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert "gen_ai.client.operation.duration" in names


def test_sampling_keeps_or_drops_each_trace_whole(tmp_path: Path, collector: Collector) -> None:
    """At a ratio of 0.5, each request's tree is sent whole or not at all, about half of them."""
    keeper = open_keeper(
        tmp_path,
        f'otlp_endpoint = "{collector.endpoint}"\ntraces = true\ntrace_sample_ratio = 0.5',
    )
    for _ in range(200):
        with keeper.operation("app", "request"), keeper.operation("openai", "chat"):
            pass
    keeper.close()
    spans = collector.spans()
    per_trace: dict[bytes, int] = {}
    for span in spans:
        per_trace[span.trace_id] = per_trace.get(span.trace_id, 0) + 1
    assert set(per_trace.values()) == {2}  # a root and its child, never one without the other
    assert 50 <= len(per_trace) <= 150  # 200 draws at 0.5: outside this is ~1e-12 likely


def test_bad_telemetry_values_are_named_with_their_rule() -> None:
    """Each bad [telemetry] value is refused as the file is read: key, value and rule."""
    with pytest.raises(ConfigValidationError) as caught:
        ConfigFile.parse(
            "[telemetry]\n"
            'otlp_endpoint = "ftp://collector"\n'
            'traces = "yes"\n'
            "trace_sample_ratio = 0\n"
            'export_interval = "soon"\n'
            "colour = 1\n"
        )
    text = str(caught.value)
    for expected in (
        "telemetry.otlp_endpoint = 'ftp://collector'", "http:// or https://",
        "telemetry.traces = 'yes': must be true or false",
        "telemetry.trace_sample_ratio = 0", "above 0 and at most 1",
        "telemetry.export_interval = 'soon'", "duration",
        "telemetry.colour: unknown key",
    ):  # fmt: skip
        assert expected in text, text


def record(operation_id: str, parent_id: str | None) -> WrapperOperationMetrics:
    """Return a finished record with ``operation_id`` under ``parent_id``."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return WrapperOperationMetrics(
        operation_id=operation_id, wrapper_name="openai", operation_type="chat",
        start_time=now, end_time=now + timedelta(seconds=1), status=OperationStatus.SUCCESS,
        parent_id=parent_id,
    )  # fmt: skip


def test_children_wait_for_their_root_and_late_children_join_its_trace() -> None:
    """A child is held until the root ends; one that ends after its parent joins the trace."""
    trees = SpanTrees()
    assert trees.add(record("op-0000000a-2", "op-0000000a-1")) == []
    assert trees.waiting == 1
    released = trees.add(record("op-0000000a-1", None))
    trace = trace_id_of("op-0000000a-1")
    assert [(r.operation_id, t) for r, t in released] == [
        ("op-0000000a-1", trace), ("op-0000000a-2", trace),
    ]  # fmt: skip
    late = trees.add(record("op-0000000a-3", "op-0000000a-2"))
    assert [(r.operation_id, t) for r, t in late] == [("op-0000000a-3", trace)]
    assert trees.waiting == 0


def test_a_child_whose_parent_never_ends_goes_out_after_the_wait() -> None:
    """Past ``pending_s`` an orphan goes out on its own (memory stays bounded)."""
    now = [0.0]
    trees = SpanTrees(pending_s=60.0, monotonic=lambda: now[0])
    trees.add(record("op-0000000b-2", "op-0000000b-1"))
    assert trees.expire() == []
    now[0] = 61.0
    released = trees.expire()
    assert [(r.operation_id, t) for r, t in released] == [
        ("op-0000000b-2", trace_id_of("op-0000000b-1"))
    ]
    assert trees.waiting == 0


def test_span_ids_are_the_operation_ids_numbers() -> None:
    """``op-<prefix>-<seq>`` is the span id prefix then sequence: readable in any trace viewer."""
    assert span_id_of("op-0000000a-2") == (0xA << 32) | 2
    assert f"{span_id_of('op-deadbeef-1f'):016x}" == "deadbeef0000001f"
    assert span_id_of("not ours") != 0
