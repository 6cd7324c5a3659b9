"""``toolkeeper health`` and ``toolkeeper export`` over what an application left in the store."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.test_cli import run
from toolkeeper import Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.monitor import OperationStatus

CONFIG = (
    '[tools.openai]\napi_endpoint = "https://api.example.com"\n[tools.router]\ntype = "routellm"\n'
)


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    """Record operations of two tools into an SQLite store, as an application would."""
    (tmp_path / "toolkeeper.toml").write_text(CONFIG)
    keeper = Keeper.open(
        ConfigFile.parse(CONFIG), store=f"sqlite:///{tmp_path / 'state.db'}", follow_changes=False
    )
    for i in range(19):
        keeper.monitoring.record(
            "openai",
            "chat",
            OperationStatus.SUCCESS,
            0.2 + i / 100,
            cost=0.002,
            input_tokens=100,
            output_tokens=20,
        )
    keeper.monitoring.record(
        "openai",
        "chat",
        OperationStatus.ERROR,
        1.5,
        error_message='upstream said "no", then, 500',
        error_code="HTTP_500",
    )
    for _ in range(5):
        keeper.monitoring.record("router", "route", OperationStatus.SUCCESS, 0.001)
    keeper.close()
    return tmp_path


def test_health_reads_the_store(recorded: Path) -> None:
    """Health in a new process reports each tool from the store's rollups."""
    result = run(["health", "--json"], recorded)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    tools = {t["wrapper_name"]: t for t in data["tools"]}
    assert tools["openai"]["total_operations"] == 20
    assert tools["openai"]["success_rate"] == pytest.approx(0.95)
    assert tools["openai"]["status"] in ("healthy", "degraded")
    assert tools["router"]["status"] == "healthy"
    assert data["system"]["total_wrappers"] == 2
    one = json.loads(run(["health", "router", "--json"], recorded).stdout)
    assert one["wrapper_name"] == "router"
    table = run(["health"], recorded)
    assert "openai" in table.stdout


def test_health_of_an_unconfigured_unseen_tool_fails_naming_the_known_ones(recorded: Path) -> None:
    """Asking about a tool neither configured nor called exits 1 and lists the known tools."""
    result = run(["health", "ghost", "--json"], recorded)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "unknown tool 'ghost'" in result.stderr
    assert "openai" in result.stderr


def test_export_csv_is_properly_quoted(recorded: Path) -> None:
    """CSV export parses back with the csv module, quotes and commas intact."""
    result = run(["export", "--format", "csv", "--since", "1h", "--tool", "openai"], recorded)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 20
    errors = [row for row in rows if row["status"] == "error"]
    assert errors[0]["error_message"] == 'upstream said "no", then, 500'
    assert {row["wrapper_name"] for row in rows} == {"openai"}


def test_export_json_to_a_file(recorded: Path) -> None:
    """JSON export written with -o holds every operation with its fields."""
    out = recorded / "ops.json"
    result = run(["export", "--format", "json", "-o", str(out)], recorded)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert len(data) == 25
    first = data[0]
    for key in (
        "operation_id",
        "wrapper_name",
        "start_time",
        "status",
        "custom_metrics",
        "cost_estimate",
    ):
        assert key in first


def test_export_prometheus_parses(recorded: Path) -> None:
    """Prometheus text export parses and carries counts, latency and cost per tool."""
    result = run(["export", "--format", "prometheus"], recorded)
    assert result.returncode == 0, result.stderr
    families = {f.name: f for f in text_string_to_metric_families(result.stdout)}
    totals = {
        (s.labels["tool"], s.labels["status"]): s.value
        for s in families["toolkeeper_operations"].samples
        if s.name == "toolkeeper_operations_total"
    }
    assert totals[("openai", "success")] == 19
    assert totals[("openai", "error")] == 1
    assert any(name.startswith("toolkeeper_operation_latency") for name in families)
    assert any("cost" in name for name in families)


def test_export_rejects_a_bad_format_and_duration(recorded: Path) -> None:
    """A wrong --format or --since is a clear error, not a traceback."""
    bad = run(["export", "--format", "xml"], recorded)
    assert bad.returncode == 1
    assert "--format must be one of json, csv, prometheus" in bad.stderr
    since = run(["export", "--since", "yesterday"], recorded)
    assert since.returncode == 1
    assert "not a duration" in since.stderr


def test_health_shows_a_circuit_the_application_opened(tmp_path: Path) -> None:
    """`toolkeeper health` in another process shows the breaker the application opened."""
    config = (
        "[tools.flaky]\nmax_retry_attempts = 0\ntimeout_sync_calls = false\n"
        "circuit_minimum_calls = 2\ncircuit_window_size = 2\ncircuit_open_seconds = 600\n"
    )
    (tmp_path / "toolkeeper.toml").write_text(config)
    keeper = Keeper.open(
        ConfigFile.parse(config), store=f"sqlite:///{tmp_path / 'state.db'}", follow_changes=False
    )

    @keeper.tool("flaky", operation="call")
    def flaky() -> None:
        raise ConnectionError("down")

    for _ in range(2):
        with pytest.raises(ConnectionError):
            flaky()
    keeper.flush()
    try:
        result = run(["health", "flaky", "--json"], tmp_path)
    finally:
        keeper.close()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["circuit_state"] == "open"
    assert report["status"] == "critical"


def test_export_writes_every_operation_past_the_old_cap_and_reports_a_limit(
    tmp_path: Path,
) -> None:
    """120,001 stored operations are all exported (streamed); --limit says what it cut."""
    (tmp_path / "toolkeeper.toml").write_text(CONFIG)
    keeper = Keeper.open(
        ConfigFile.parse(CONFIG), store=f"sqlite:///{tmp_path / 'state.db'}", follow_changes=False
    )
    for index in range(120_001):
        keeper.monitoring.record("openai", "chat", OperationStatus.SUCCESS, 0.01)
        if index % 10_000 == 0:
            keeper.flush()  # the writer's bound (100,000 queued) would shed raw rows
    keeper.close()
    assert keeper.monitoring.dropped_events == 0
    out = tmp_path / "all.csv"
    result = run(["export", "--format", "csv", "-o", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr
    with out.open(newline="") as file:
        assert sum(1 for _ in csv.DictReader(file)) == 120_001
    limited = run(["export", "--format", "json", "--limit", "10"], tmp_path)
    assert limited.returncode == 0, limited.stderr
    assert len(json.loads(limited.stdout)) == 10
    assert "wrote the oldest 10 of 120001 operations" in limited.stderr
