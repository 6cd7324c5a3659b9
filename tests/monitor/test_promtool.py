"""The Prometheus exposition passes ``promtool check metrics`` (Debian's prometheus package)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from toolkeeper import FakeClock, Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.monitor import OperationStatus
from toolkeeper.server.metrics import prometheus_text

CONFIG = ConfigFile.parse("[tools.llm]\n[tools.search]\n")


def promtool(text: bytes) -> subprocess.CompletedProcess[str]:
    """Run ``promtool check metrics`` over an exposition; fail when promtool is missing."""
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is missing: run scripts/services.sh (Debian package prometheus)")
    return subprocess.run(
        [binary, "check", "metrics"], input=text.decode(), capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


def record_some(keeper: Keeper) -> None:
    """Record successes, failures, fallbacks, tokens, cost and an operation per tool."""
    monitor = keeper.monitoring
    for index in range(40):
        monitor.record("llm", "chat", OperationStatus.SUCCESS, 0.01 * (index + 1), cost=0.002,
                       input_tokens=100, output_tokens=20, model="gpt-x")  # fmt: skip
    monitor.record("llm", "chat", OperationStatus.ERROR, 0.5, error_message="upstream 500")
    monitor.record("llm", "embed", OperationStatus.FALLBACK, 0.2)
    monitor.record("search", "query", OperationStatus.TIMEOUT, 30.0, error_message="slow")
    keeper.flush()


def test_an_applications_and_serves_metrics_pass_promtool(store_uri: str) -> None:
    """This process's /metrics and serve's fleet /metrics both pass promtool check metrics."""
    clock = FakeClock()
    app = Keeper.open(CONFIG, store=store_uri, follow_changes=False, clock=clock)
    server = Keeper.open(CONFIG, store=store_uri, follow_changes=False, clock=clock)
    try:
        record_some(app)
        server.reload_history()
        own, fleet = prometheus_text(app.monitoring), prometheus_text(server.monitoring, fleet=True)
        for text in (own, fleet):
            assert b"toolkeeper_operations_total{" in text
            checked = promtool(text)
            assert checked.returncode == 0, checked.stdout + checked.stderr
            assert checked.stdout.strip() == ""
    finally:
        app.close()
        server.close()
