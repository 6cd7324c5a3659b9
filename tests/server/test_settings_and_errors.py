"""Server settings from the environment, and the error body of failures nobody expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.server.conftest import live
from toolkeeper.server import Role, ServerSettings


def test_settings_default_to_loopback_and_closed_metrics() -> None:
    """By default the server binds 127.0.0.1:8765 and /metrics needs a token."""
    settings = ServerSettings.from_environ({})
    assert (settings.host, settings.port) == ("127.0.0.1", 8765)
    assert settings.metrics_public is False
    assert settings.session_secret is None
    assert settings.secure_cookies is None


def test_settings_read_the_environment_and_overrides_win() -> None:
    """TOOLKEEPER_SERVER_* variables set fields; keyword overrides win over them."""
    environ = {
        "TOOLKEEPER_SERVER_PORT": "9000",
        "TOOLKEEPER_SERVER_METRICS_PUBLIC": "yes",
        "TOOLKEEPER_SERVER_SESSION_SECRET": "s3cret-value-for-sessions",
        "TOOLKEEPER_SERVER_SECURE_COOKIES": "true",
    }
    settings = ServerSettings.from_environ(environ, port=9100, host=None)
    assert settings.port == 9100
    assert settings.host == "127.0.0.1"
    assert settings.metrics_public is True
    assert settings.secure_cookies is True
    assert settings.session_secret is not None
    assert "s3cret" not in repr(settings)


def test_a_bad_setting_names_the_field() -> None:
    """A value that is not a flag or a port fails validation naming the field."""
    with pytest.raises(ValidationError, match="metrics_public"):
        ServerSettings.from_environ({"TOOLKEEPER_SERVER_METRICS_PUBLIC": "maybe"})
    with pytest.raises(ValidationError, match="port"):
        ServerSettings.from_environ({"TOOLKEEPER_SERVER_PORT": "70000"})


def test_an_unexpected_failure_answers_500_without_its_message(tmp_path: Path) -> None:
    """An exception nobody handled becomes a 500 in the standard shape, its text kept in the log."""
    with live(f"sqlite:///{tmp_path / 'state.db'}", tmp_path) as server:

        @server.app.get("/boom")
        def boom() -> None:
            raise RuntimeError("internal detail that must stay on the server")

        with server.client(Role.ADMIN) as client:
            response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "the server failed to handle the request",
            "details": None,
        }
    }


def test_a_utf8_reason_header_is_kept(tmp_path: Path) -> None:
    """A reason sent as UTF-8 bytes in X-Change-Reason is stored as the text it was."""
    uri = f"sqlite:///{tmp_path / 'state.db'}"
    with live(uri, tmp_path) as server, server.client(Role.ADMIN) as client:
        response = client.patch(
            "/api/v1/config/local",
            content=b'{"max_retry_attempts": 5}',
            headers=[
                (b"Content-Type", b"application/merge-patch+json"),
                (b"If-Match", b'"0"'),
                (b"X-Change-Reason", "lente à l'étranger".encode()),
            ],
        )
    assert response.status_code == 200, response.text
    assert response.json()["entry"]["reason"] == "lente à l'étranger"
