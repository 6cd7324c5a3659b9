"""OTLP export: observable instruments read the aggregates through the OpenTelemetry SDK."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from toolkeeper._errors import MissingDependencyError
from toolkeeper.monitor import OperationStatus, WrapperMonitoring, register_otel_instruments


def points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, Any], float]]]:
    """Return each metric's data points as (attributes, value) from one collection."""
    data = reader.get_metrics_data()
    assert data is not None
    found: dict[str, list[tuple[dict[str, Any], float]]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found[metric.name] = [
                    (dict(point.attributes or {}), point.value)  # type: ignore[union-attr]
                    for point in metric.data.data_points
                ]
    return found


def test_the_in_memory_reader_receives_the_counts(monitor: WrapperMonitoring) -> None:
    """Counts, cost, tokens, latency and health reach an SDK reader."""
    for _ in range(4):
        monitor.record("openai", "chat", OperationStatus.SUCCESS, 0.1, cost=0.25, input_tokens=7)
    monitor.record("openai", "chat", OperationStatus.TIMEOUT, 2.0)
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    try:
        register_otel_instruments(monitor, provider)
        found = points(reader)
    finally:
        provider.shutdown()
    ops = {attrs["status"]: value for attrs, value in found["toolkeeper.operations"]}
    assert ops == {"success": 4, "timeout": 1}
    assert found["toolkeeper.cost"] == [({"tool": "openai", "operation": "chat"}, 1.0)]
    tokens = {attrs["gen_ai.token.type"]: value for attrs, value in found["toolkeeper.tokens"]}
    assert tokens == {
        "input": 28, "output": 0, "cache_read": 0, "cache_creation": 0, "reasoning": 0,
    }  # fmt: skip
    latency = {attrs["quantile"]: value for attrs, value in found["toolkeeper.operation.latency"]}
    assert latency["0.5"] == pytest.approx(0.1, rel=0.01)
    assert found["toolkeeper.health.score"][0][0] == {"tool": "openai"}
    assert found["toolkeeper.dropped_events"] == [({}, 0)]


def test_missing_opentelemetry_names_the_extra(
    monitor: WrapperMonitoring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without OpenTelemetry, registration fails with the install command."""
    monkeypatch.setitem(sys.modules, "opentelemetry.metrics", None)
    with pytest.raises(MissingDependencyError, match=r"toolkeeper\[otel\]"):
        register_otel_instruments(monitor, object())  # type: ignore[arg-type]
