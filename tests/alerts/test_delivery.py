"""Deliveries to real receivers: e-mail through a local SMTP server, a signed JSON webhook."""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from toolkeeper import FakeClock
from toolkeeper.alerts import AlertRule, AlertSettings, NotifierSettings
from toolkeeper.monitor import OperationStatus, PerformanceMonitor
from toolkeeper.store.sql import Store

from .conftest import make_engine

RULE = AlertRule(name="errors", metric="error_rate", op=">", threshold=0.2, window="5m",
                 severity="critical")  # fmt: skip
SECRET = "whsec-test-0123456789"


class Mailbox:
    """An SMTP server on 127.0.0.1 (aiosmtpd) keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        """Keep the message."""
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def parts(self, index: int = 0) -> dict[str, str]:
        """Return the message's text parts by content type."""
        found = {}
        for part in self.messages[index].walk():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                found[part.get_content_type()] = payload.decode().replace("\r\n", "\n")
        return found


class SignedReceiver:
    """A webhook receiver that checks the signature as docs/alerts.md tells receivers to."""

    def __init__(self, secret: str) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                timestamp = self.headers["X-Toolkeeper-Timestamp"]
                mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
                expected = "v1=" + mac.hexdigest()
                if hmac.compare_digest(expected, self.headers["X-Toolkeeper-Signature"]):
                    receiver.accepted.append(json.loads(body))
                    self.send_response(204)
                else:
                    receiver.refused += 1
                    self.send_response(401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                """Keep the test output quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """Run a local SMTP server for the test."""
    box = Mailbox()
    yield box
    box.controller.stop()


@pytest.fixture
def receiver() -> Iterator[SignedReceiver]:
    """Run a webhook receiver checking signatures with SECRET."""
    server = SignedReceiver(SECRET)
    yield server
    server.close()


def fail(monitor: PerformanceMonitor, message: str) -> None:
    """Record five failed calls of openai ending with ``message``."""
    for _ in range(5):
        monitor.record("openai", "chat", OperationStatus.ERROR, 0.2, error_message=message)


@pytest.mark.parametrize("fmt", ["text", "html"])
def test_an_email_keeps_its_lines_and_carries_the_last_error(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, mailbox: Mailbox, fmt: str
) -> None:
    """The e-mail lists value, condition, counts and last error on lines of their own."""
    url = (f"mailto://127.0.0.1:{mailbox.port}?from=alerts@example.com&to=ops@example.com"
           f"&format={fmt}")  # fmt: skip
    settings = AlertSettings(notifiers=(NotifierSettings(name="mail", urls=(url,)),),
                             rules=(RULE,), external_url="https://tk.example.com")  # fmt: skip
    engine = make_engine(settings, store, monitor, clock)
    fail(monitor, "upstream timeout after 30s <gateway>")
    engine.evaluate()
    (message,) = mailbox.messages
    assert message["Subject"] == "[FIRING] errors on openai (critical)"
    lines = [line.strip() for line in mailbox.parts()["text/plain"].splitlines()]
    assert "errors on openai (critical, firing)" in lines
    assert "value: error_rate 1 > 0.2 over 5m" in lines
    assert "calls: 5, errors: 5 over 5m" in lines
    assert "last error: upstream timeout after 30s <gateway>" in lines
    assert "link: https://tk.example.com/tools/openai" in lines
    if fmt == "html":
        html = mailbox.parts()["text/html"]
        assert "<br/>" in html
        assert "&lt;gateway&gt;" in html


def test_the_webhook_signature_verifies_and_a_wrong_secret_does_not(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, receiver: SignedReceiver
) -> None:
    """A receiver recomputing HMAC-SHA256 over timestamp and body accepts ours, not a forgery."""
    good = NotifierSettings(name="hook", webhook=receiver.url, secret=SECRET)
    bad = NotifierSettings(name="forged", webhook=receiver.url, secret="not-the-secret")
    settings = AlertSettings(notifiers=(good, bad), rules=(RULE,))
    engine = make_engine(settings, store, monitor, clock)
    fail(monitor, "boom")
    engine.evaluate()
    (payload,) = receiver.accepted
    assert receiver.refused == 1
    assert payload["title"] == "[FIRING] errors on openai (critical)"
    assert payload["firing"][0]["last_error"] == "boom"
    assert payload["firing"][0]["calls"] == 5
    assert "last error: boom" in payload["text"]
    failed = [e.detail for e in engine.events() if e.kind == "notify_failed"]
    assert failed == ["forged: firing notification failed: webhook (http://****hook): "
                      "the receiver answered HTTP 401"]  # fmt: skip
    assert SECRET not in repr(settings)
    assert "not-the-secret" not in " ".join(failed)
