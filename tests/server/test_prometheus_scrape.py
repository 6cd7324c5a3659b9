"""A real Prometheus (Debian's package) scrapes serve: its queries see true counters and latency."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import serving
from toolkeeper import Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.monitor import OperationStatus
from toolkeeper.server import ServerSettings, create_app

CONFIG = ConfigFile.parse("[tools.llm]\n")
SUCCESS = 'toolkeeper_operations_total{tool="llm",operation="chat",status="success"}'


def free_port() -> int:
    """Return a loopback port nobody listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def prometheus(target: str, tmp_path: Path) -> Iterator[httpx.Client]:
    """Run Prometheus scraping ``target`` every second; yield a client for its HTTP API."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is missing: run scripts/services.sh (Debian package prometheus)")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: toolkeeper\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            until(lambda: _ready(client), "Prometheus to be ready")
            yield client
    finally:
        process.terminate()
        process.wait(timeout=30)


def _ready(client: httpx.Client) -> bool:
    try:
        return client.get("/-/ready").status_code == 200
    except httpx.TransportError:
        return False


def until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait for ``condition`` (a deadline against a hung service, not a measurement)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def query(client: httpx.Client, promql: str, at: float | None = None) -> list[dict[str, Any]]:
    """Return the result of an instant query (at ``at``, epoch seconds, if given)."""
    params = {"query": promql, **({"time": str(at)} if at is not None else {})}
    body = client.get("/api/v1/query", params=params).json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def scalar(client: httpx.Client, promql: str, at: float | None = None) -> float | None:
    """Return the one value of an instant query, or ``None`` when it has no result."""
    result = query(client, promql, at)
    return float(result[0]["value"][1]) if result else None


def expected_rate(samples: list[tuple[float, float]], start: float, end: float) -> float:
    """Compute rate() as Prometheus 2.x does (extrapolatedRate) from a window's raw samples."""
    (first_t, first), (last_t, last) = samples[0], samples[-1]
    value = last - first
    sampled = last_t - first_t
    average = sampled / (len(samples) - 1)
    to_start, to_end = first_t - start, end - last_t
    if value > 0 and first >= 0:
        to_start = min(to_start, sampled * (first / value))
    threshold = average * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average / 2
    interval += to_end if to_end < threshold else average / 2
    return value * (interval / sampled) / (end - start)


def test_prometheus_scrapes_serve_and_rate_and_quantiles_are_true(
    store_uri: str, tmp_path: Path
) -> None:
    """Counters scraped from serve never reset; rate() and histogram_quantile() match them."""
    app = Keeper.open(CONFIG, store=store_uri, follow_changes=False)
    server = Keeper.open(CONFIG, store=store_uri, follow_changes=False)
    try:
        for _ in range(100):
            app.monitoring.record("llm", "chat", OperationStatus.SUCCESS, 0.02)
        app.flush()
        server.follow_store(interval_seconds=0.5)
        web = create_app(server, settings=ServerSettings(metrics_public=True))
        with serving(web) as base_url, prometheus(base_url.removeprefix("http://"), tmp_path) as p:
            until(lambda: scalar(p, SUCCESS) == 100, "the first 100 calls to be scraped")
            for _ in range(50):
                app.monitoring.record("llm", "chat", OperationStatus.SUCCESS, 0.2)
            app.flush()
            until(lambda: scalar(p, SUCCESS) == 150, "the next 50 calls to be scraped")
            time.sleep(2.5)  # let a few more scrapes of the steady counter land
            at = round(time.time(), 3)
            # Interpolated within the buckets: rank 75 of 150 falls in (0.01, 0.025], which
            # holds the 100 calls of 20 ms: 0.01 + 0.015 * 75 / 100.
            buckets = "sum by (le) (toolkeeper_operation_latency_seconds_bucket)"
            assert scalar(p, f"histogram_quantile(0.5, {buckets})", at) == pytest.approx(0.02125)
            p90 = 0.1 + 0.15 * (135 - 100) / 50  # rank 135: 35 into the 50 calls in (0.1, 0.25]
            assert scalar(p, f"histogram_quantile(0.9, {buckets})", at) == pytest.approx(p90)
            assert scalar(p, f"resets({SUCCESS}[5m])", at) == 0
            window = query(p, f"{SUCCESS}[1m]", at)[0]["values"]
            samples = [(float(t), float(v)) for t, v in window]
            rate = scalar(p, f"rate({SUCCESS}[1m])", at)
            assert rate == pytest.approx(expected_rate(samples, at - 60, at), rel=1e-6)
            assert rate is not None
            assert rate > 0
    finally:
        server.close()
        app.close()
