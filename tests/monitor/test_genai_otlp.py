"""GenAI histograms over OTLP/HTTP protobuf, received by a loopback collector that decodes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from toolkeeper import Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.monitor import OperationStatus
from toolkeeper.monitor.genai import DURATION_BOUNDS, TOKEN_BOUNDS

from .conftest import Collector

CONFIG = ConfigFile.parse("[tools.openai]\n")


def histograms(request: ExportMetricsServiceRequest) -> dict[str, Any]:
    """Return each metric of a request by name."""
    return {
        metric.name: metric
        for resource in request.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


def attributes(point: Any) -> dict[str, str]:
    """Return a data point's attributes as plain strings."""
    return {kv.key: kv.value.string_value for kv in point.attributes}


def test_the_receiver_gets_both_genai_histograms_with_values_and_attributes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, collector: Collector
) -> None:
    """With OTEL_EXPORTER_OTLP_ENDPOINT set, close() sends exact duration and token histograms."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
    keeper = Keeper.open(CONFIG, store=f"sqlite:///{tmp_path / 's.db'}", follow_changes=False)
    for _ in range(3):
        keeper.monitoring.record("openai", "chat", OperationStatus.SUCCESS, 0.05,
                                 input_tokens=100, output_tokens=20, model="gpt-x")  # fmt: skip
    keeper.monitoring.record("openai", "chat", OperationStatus.TIMEOUT, 3.0, model="gpt-x")
    keeper.close()
    assert collector.metrics, "the receiver got no export"
    metrics = histograms(collector.metrics[-1])
    duration = metrics["gen_ai.client.operation.duration"]
    assert duration.unit == "s"
    points = {attributes(p).get("error.type", ""): p for p in duration.histogram.data_points}
    ok, timeout = points[""], points["timeout"]
    assert attributes(ok) == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-x", "gen_ai.response.model": "gpt-x",
    }  # fmt: skip
    assert (ok.count, ok.sum) == (3, pytest.approx(0.15))
    assert list(ok.explicit_bounds) == list(DURATION_BOUNDS)
    assert ok.bucket_counts[DURATION_BOUNDS.index(0.08)] == 3  # 0.05 s lies in (0.04, 0.08]
    assert (timeout.count, timeout.sum) == (1, 3.0)
    assert timeout.bucket_counts[DURATION_BOUNDS.index(5.12)] == 1
    usage = metrics["gen_ai.client.token.usage"]
    assert usage.unit == "{token}"
    by_type = {attributes(p)["gen_ai.token.type"]: p for p in usage.histogram.data_points}
    assert (by_type["input"].count, by_type["input"].sum) == (3, 300)
    assert (by_type["output"].count, by_type["output"].sum) == (3, 60)
    assert by_type["input"].bucket_counts[TOKEN_BOUNDS.index(256.0)] == 3  # 100 in (64, 256]
    assert usage.histogram.aggregation_temporality == 2  # cumulative
