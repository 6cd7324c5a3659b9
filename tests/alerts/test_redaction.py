"""Redaction: a protected URL and its secret parts vanish from library logs and shown text."""

from __future__ import annotations

import logging

import pytest

from toolkeeper.alerts.redaction import protect, redact


def test_a_protected_url_and_its_parts_are_redacted() -> None:
    """The whole URL, its credentials, path and query values are each replaced."""
    url = "json://bot:hunter2pass@hooks.example.com/T0001/secretpathpart?token=abcdef123456"
    protect(url)
    assert redact(f"posting to {url}") == "posting to ****"
    assert "hunter2pass" not in redact("auth hunter2pass failed")
    assert redact("POST /T0001/secretpathpart HTTP/1.1") == "POST **** HTTP/1.1"
    assert redact("token abcdef123456") == "token ****"
    assert redact("hooks.example.com refused") == "hooks.example.com refused"


def test_library_log_records_are_rewritten(caplog: pytest.LogCaptureFixture) -> None:
    """Records of Apprise and urllib3 that quote a protected part reach handlers redacted."""
    protect("json://127.0.0.1:9/hook/verysecretsegment")
    caplog.set_level(logging.DEBUG)
    logging.getLogger("apprise").debug(
        "JSON POST URL: %s", "http://127.0.0.1:9/hook/verysecretsegment"
    )
    logging.getLogger("urllib3.connectionpool").debug(
        '"POST %s HTTP/1.1" 200', "/hook/verysecretsegment"
    )
    error = OSError("cannot reach /hook/verysecretsegment")
    logging.getLogger("apprise").error("send failed", exc_info=(OSError, error, None))
    assert "verysecretsegment" not in caplog.text
    assert "JSON POST URL: http://127.0.0.1:9****" in caplog.text
