"""Prometheus exposition through the custom collector: parseable, exact counts, capped labels."""

from __future__ import annotations

import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from toolkeeper.monitor import MonitoringCollector, OperationStatus, WrapperMonitoring

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(monitor: WrapperMonitoring, max_operation_labels: int = 20) -> Samples:
    """Return every sample of one scrape, keyed by name and sorted labels."""
    registry = CollectorRegistry()
    registry.register(MonitoringCollector(monitor, max_operation_labels=max_operation_labels))
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """Return one sample's value."""
    return samples[(name, tuple(sorted(labels.items())))]


def test_scrape_parses_and_carries_counts_latency_and_cost(monitor: WrapperMonitoring) -> None:
    """The text parses with prometheus-client's parser and holds the aggregates."""
    for _ in range(9):
        monitor.record(
            "openai",
            "chat",
            OperationStatus.SUCCESS,
            0.2,
            cost=0.5,
            input_tokens=10,
            output_tokens=2,
        )
    monitor.record("openai", "chat", OperationStatus.ERROR, 3.0, error_message="down")
    samples = scrape(monitor)
    chat = {"tool": "openai", "operation": "chat"}
    assert value(samples, "toolkeeper_operations_total", **chat, status="success") == 9
    assert value(samples, "toolkeeper_operations_total", **chat, status="error") == 1
    assert value(samples, "toolkeeper_cost_usd_total", **chat) == pytest.approx(4.5)
    assert value(samples, "toolkeeper_tokens_total", **chat, token_type="input") == 90
    assert value(samples, "toolkeeper_operation_latency_seconds_count", **chat) == 10
    assert value(samples, "toolkeeper_operation_latency_seconds_sum", **chat) == pytest.approx(4.8)
    assert value(samples, "toolkeeper_operation_latency_seconds_bucket", **chat, le="0.25") == 9
    assert value(samples, "toolkeeper_operation_latency_seconds_bucket", **chat, le="+Inf") == 10
    assert not [key for key in samples if key[0].endswith("_quantile_seconds")]
    assert value(samples, "toolkeeper_health_score", tool="openai") == 75.0
    assert value(samples, "toolkeeper_health_status", tool="openai", status="degraded") == 1
    assert value(samples, "toolkeeper_health_status", tool="openai", status="healthy") == 0
    assert value(samples, "toolkeeper_dropped_events_total") == 0


def test_operation_labels_are_capped_per_tool(monitor: WrapperMonitoring) -> None:
    """Past the cap, extra operations are exported under ``operation="other"``."""
    for n in range(6):
        monitor.record("t", f"op{n}", OperationStatus.SUCCESS, 0.1)
    samples = scrape(monitor, max_operation_labels=3)
    operations = {
        dict(labels)["operation"]
        for name, labels in samples
        if name == "toolkeeper_operations_total"
    }
    assert len(operations) == 3
    assert "other" in operations
    assert (
        value(samples, "toolkeeper_operations_total", tool="t", operation="other", status="success")
        == 4
    )


def test_collector_rejects_bad_options(monitor: WrapperMonitoring) -> None:
    """A zero label cap or unsorted buckets are errors naming the option."""
    with pytest.raises(ValueError, match="max_operation_labels"):
        MonitoringCollector(monitor, max_operation_labels=0)
    with pytest.raises(ValueError, match="latency_buckets"):
        MonitoringCollector(monitor, latency_buckets=(1.0, 0.5))


def test_importing_the_monitor_loads_no_exporter_library() -> None:
    """``import toolkeeper.monitor`` imports neither prometheus_client nor OpenTelemetry."""
    code = (
        "import sys, toolkeeper.monitor; "
        "print(sorted(m for m in sys.modules "
        "if m.startswith(('prometheus_client', 'opentelemetry'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
