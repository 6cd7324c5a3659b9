"""The read side of the API over real HTTP: health, tools, windows, buckets, operations, exports."""

from __future__ import annotations

import csv
import io
from dataclasses import fields

from prometheus_client.parser import text_string_to_metric_families

from tests.server.conftest import LiveServer
from toolkeeper import Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.monitor import OperationStatus
from toolkeeper.monitor.reports import SystemHealthReport
from toolkeeper.server import Role


def test_system_health_counts_the_workload(live_server: LiveServer) -> None:
    """GET /health reports totals and a status per tool."""
    with live_server.client(Role.VIEWER) as client:
        body = client.get("/api/v1/health").json()
    assert body["completed_operations"] >= 11
    assert body["wrappers"]["openai"] in {"healthy", "degraded", "unhealthy", "critical"}
    assert body["system_status"] in {"healthy", "degraded", "unhealthy", "critical", "unknown"}


def test_system_health_is_the_monitors_report_in_schema_and_body(live_server: LiveServer) -> None:
    """GET /health documents and sends exactly the fields of SystemHealthReport, described."""
    with live_server.client(Role.VIEWER) as client:
        body = client.get("/api/v1/health").json()
        spec = client.get("/openapi.json").json()
    reference = spec["paths"]["/api/v1/health"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    schema = spec["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    names = {field.name for field in fields(SystemHealthReport)}
    assert set(schema["properties"]) == names
    assert set(schema["required"]) == names
    assert set(body) == names
    described = schema["properties"]["failed_attempt_count"]["description"]
    assert described.startswith("Calls a fallback")


def test_tools_lists_configured_and_seen_tools_with_health(live_server: LiveServer) -> None:
    """GET /tools has a card per tool; a configured tool never called is unknown."""
    with live_server.client(Role.VIEWER) as client:
        tools = {tool["name"]: tool for tool in client.get("/api/v1/tools").json()["tools"]}
    assert tools["local"]["status"] == "unknown"
    assert tools["local"]["total_operations"] == 0
    openai = tools["openai"]
    assert openai["configured"] is True
    assert openai["total_operations"] >= 11
    assert 0 < openai["error_rate"] < 1
    assert openai["fallback_rate"] > 0
    assert openai["p95_latency_ms"] is not None
    assert openai["operations_per_minute"] > 0


def test_a_tool_shows_health_circuit_and_every_window(live_server: LiveServer) -> None:
    """GET /tools/{tool} has health, the circuit snapshot and the 1m, 5m, 1h and 24h windows."""
    with live_server.client(Role.VIEWER) as client:
        body = client.get("/api/v1/tools/openai").json()
        idle = client.get("/api/v1/tools/local").json()
    assert body["health"]["wrapper_name"] == "openai"
    assert body["circuit"]["state"] == "closed"
    assert set(body["windows"]) == {"1m", "5m", "1h", "24h"}
    last_hour = body["windows"]["1h"]
    assert last_hour["count"] >= 11
    assert last_hour["counts"]["fallback"] >= 1
    assert (
        abs(last_hour["success_rate"] + last_hour["error_rate"] + last_hour["fallback_rate"] - 1)
        < 1e-9
    )
    assert last_hour["p50_latency_ms"] <= last_hour["p99_latency_ms"]
    assert last_hour["throughput_per_second"] > 0
    assert idle["circuit"] is None
    assert idle["windows"]["5m"]["count"] == 0


def test_tool_metrics_are_dense_buckets_since_the_given_time(live_server: LiveServer) -> None:
    """GET /tools/{tool}/metrics returns consecutive buckets of one size, the workload in them."""
    with live_server.client(Role.VIEWER) as client:
        body = client.get("/api/v1/tools/openai/metrics", params={"since": "5m"}).json()
        iso = client.get("/api/v1/tools/openai/metrics", params={"since": "2020-01-01T00:00:00Z"})
        bad = client.get("/api/v1/tools/openai/metrics", params={"since": "yesterday"})
    assert body["bucket_seconds"] == 10
    buckets = body["buckets"]
    assert sum(bucket["count"] for bucket in buckets) >= 11
    starts = [bucket["start"] for bucket in buckets]
    assert starts == sorted(starts)
    assert iso.status_code == 200
    assert iso.json()["bucket_seconds"] == 900
    assert bad.status_code == 422
    assert "since" in bad.json()["error"]["message"]


def test_operations_are_newest_first_filtered_and_paginated(live_server: LiveServer) -> None:
    """GET /operations pages newest first and filters by tool, status and time."""
    with live_server.client(Role.VIEWER) as client:
        first = client.get("/api/v1/operations", params={"limit": 3}).json()
        second = client.get("/api/v1/operations", params={"limit": 3, "offset": 3}).json()
        errors = client.get("/api/v1/operations", params={"status": "error"}).json()
        fallbacks = client.get(
            "/api/v1/operations", params={"tool": "openai", "status": "fallback"}
        )
        future = client.get("/api/v1/operations", params={"since": "2999-01-01T00:00:00Z"}).json()
        unknown = client.get("/api/v1/operations", params={"tool": "nope"})
        too_many = client.get("/api/v1/operations", params={"limit": 10_000})
    assert first["total"] == second["total"] >= 11
    ends = [op["end_time"] for op in first["items"] + second["items"]]
    assert ends == sorted(ends, reverse=True)
    assert {op["operation_id"] for op in first["items"]}.isdisjoint(
        op["operation_id"] for op in second["items"]
    )
    assert errors["total"] >= 1
    assert {op["status"] for op in errors["items"]} == {"error"}
    assert fallbacks.json()["items"][0]["fallback_used"] is True
    assert future["total"] == 0
    assert unknown.status_code == 404
    assert too_many.status_code == 422


def test_export_writes_json_and_csv_and_metrics_one_tool(live_server: LiveServer) -> None:
    """GET /export answers in each format with its content type; /metrics?tool= one tool."""
    with live_server.client(Role.VIEWER) as client:
        as_json = client.get("/api/v1/export", params={"format": "json", "tool": "openai"})
        as_csv = client.get("/api/v1/export", params={"format": "csv", "since": "1h"})
        as_text = client.get("/metrics", params={"tool": "openai"})
        unknown = client.get("/metrics", params={"tool": "nosuch"})
        refused = client.get("/api/v1/export", params={"format": "xml"})
        prometheus = client.get("/api/v1/export", params={"format": "prometheus"})
    assert as_json.headers["content-type"].startswith("application/json")
    records = as_json.json()
    assert len(records) >= 11
    assert {record["wrapper_name"] for record in records} == {"openai"}
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == len(records)
    assert as_text.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(as_text.text)}
    assert {s.labels["tool"] for s in families["toolkeeper_operations"].samples} == {"openai"}
    assert unknown.status_code == 404
    assert "openai" in unknown.text  # the known tools are named
    assert refused.status_code == 422
    assert prometheus.status_code == 422  # Prometheus text is /metrics: counters have no since


def test_export_reads_the_operations_another_process_stored(live_server: LiveServer) -> None:
    """Serve's export streams what an application process stored, not only its own records."""
    store = live_server.keeper.store.uri
    other = Keeper.open(ConfigFile.parse("[tools.batch]\n"), store=store, follow_changes=False)
    try:
        for _ in range(1500):
            other.monitoring.record("batch", "job", OperationStatus.SUCCESS, 0.01)
    finally:
        other.close()
    with live_server.client(Role.VIEWER) as client:
        as_json = client.get("/api/v1/export", params={"format": "json", "since": "1h"})
        as_csv = client.get("/api/v1/export", params={"format": "csv", "since": "1h"})
    jobs = [r for r in as_json.json() if r["wrapper_name"] == "batch"]
    assert len(jobs) == 1500
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert sum(row["wrapper_name"] == "batch" for row in rows) == 1500


def test_metrics_parse_and_carry_counts_latency_and_cost_per_tool(live_server: LiveServer) -> None:
    """/metrics parses with prometheus-client's parser and has each tool's counts, latency, cost."""
    with live_server.client(Role.VIEWER) as client:
        response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    operations = families["toolkeeper_operations"]
    counted = sum(s.value for s in operations.samples if s.labels["tool"] == "openai")
    assert counted >= 11
    assert {s.labels["status"] for s in operations.samples} >= {"success", "error", "fallback"}
    latency = families["toolkeeper_operation_latency_seconds"]
    assert any(s.name.endswith("_bucket") and s.labels["le"] == "+Inf" for s in latency.samples)
    assert "toolkeeper_cost_usd" in families
    assert "toolkeeper_health_score" in families


def test_openapi_and_docs_are_served(live_server: LiveServer) -> None:
    """The schema documents the bearer scheme and the merge-patch body; /docs is a page."""
    with live_server.client() as client:
        schema = client.get("/openapi.json").json()
        docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    patch = schema["paths"]["/api/v1/config/{tool}"]["patch"]
    assert "application/merge-patch+json" in patch["requestBody"]["content"]
    assert {"401", "403", "409", "422", "428"} <= set(patch["responses"])
