"""Fixtures for the monitoring tests: a fake clock, monitors always closed, an OTLP collector."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from toolkeeper._clock import FakeClock
from toolkeeper.monitor import PerformanceMonitor, WrapperMonitoring


@pytest.fixture
def clock() -> FakeClock:
    """Return a fake clock at 2026-01-01T00:00:00Z, aligned to every bucket size."""
    return FakeClock()


@pytest.fixture
def monitor(clock: FakeClock) -> Iterator[WrapperMonitoring]:
    """Return a lifecycle monitor on the fake clock, closed after the test."""
    with WrapperMonitoring(clock=clock) as mon:
        yield mon


@pytest.fixture
def engine(clock: FakeClock) -> Iterator[PerformanceMonitor]:
    """Return a bare aggregate engine on the fake clock, closed after the test."""
    with PerformanceMonitor(clock=clock) as mon:
        yield mon


OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)


@dataclass
class Collector:
    """What a loopback OTLP/HTTP collector received, decoded."""

    endpoint: str
    traces: list[ExportTraceServiceRequest] = field(default_factory=list)
    metrics: list[ExportMetricsServiceRequest] = field(default_factory=list)

    def spans(self) -> list[Any]:
        """Return every span received."""
        return [
            span
            for request in self.traces
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[Collector]:
    """Serve /v1/traces and /v1/metrics on loopback; no OTEL_* variable set around it."""
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    received: Collector

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/traces":
                traces = ExportTraceServiceRequest()
                traces.ParseFromString(body)
                received.traces.append(traces)
            elif self.path == "/v1/metrics":
                metrics = ExportMetricsServiceRequest()
                metrics.ParseFromString(body)
                received.metrics.append(metrics)
            self.send_response(200 if self.path in ("/v1/traces", "/v1/metrics") else 404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    received = Collector(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
