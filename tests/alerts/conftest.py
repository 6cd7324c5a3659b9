"""Alert fixtures: a fake clock, a monitor, an in-memory store and a real local webhook."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from toolkeeper import FakeClock
from toolkeeper.alerts import AlertSettings
from toolkeeper.alerts.engine import AlertEngine
from toolkeeper.alerts.redaction import reset
from toolkeeper.monitor import OperationStatus, PerformanceMonitor
from toolkeeper.store import open_store
from toolkeeper.store.sql import Store


class Webhook:
    """A JSON webhook on 127.0.0.1 (an ephemeral port) that keeps every body it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                with webhook._lock:
                    webhook.received.append((self.path, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                """Keep the test output quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        """Return an Apprise URL posting JSON to ``path`` on this server."""
        return f"json://127.0.0.1:{self.port}{path}"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """Return the JSON bodies received, oldest first."""
        with self._lock:
            return [body for _, body in self.received]

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    """Return a loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(autouse=True)
def _forget_protected_urls() -> Iterator[None]:
    """Remove the log filters and forgotten URLs of one test before the next."""
    yield
    reset()


@pytest.fixture
def clock() -> FakeClock:
    """Return a fake clock: alert timing is tested by moving it, never by sleeping."""
    return FakeClock()


@pytest.fixture
def monitor(clock: FakeClock) -> Iterator[PerformanceMonitor]:
    """Return a monitor on the fake clock with no background thread."""
    opened = PerformanceMonitor(clock=clock, flush_interval_s=None)
    yield opened
    opened.close()


@pytest.fixture
def store() -> Iterator[Store]:
    """Return an in-memory store with the current schema."""
    opened = open_store("memory://")
    yield opened
    opened.close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """Run a local JSON webhook for the test."""
    server = Webhook()
    yield server
    server.close()


def make_engine(
    settings: AlertSettings, store: Store, monitor: PerformanceMonitor, clock: FakeClock, **kw: Any
) -> AlertEngine:
    """Return an engine over ``store`` and ``monitor`` on the fake clock."""
    return AlertEngine(settings, store=store, monitor=monitor, clock=clock, **kw)


def record(monitor: PerformanceMonitor, tool: str, status: str, count: int = 1) -> None:
    """Record ``count`` finished operations of ``tool`` with ``status``."""
    for _ in range(count):
        monitor.record(tool, "call", OperationStatus(status), 0.05)
