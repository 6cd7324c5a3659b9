"""Throttling of failed sign-ins and bearer tokens per client address, over real HTTP."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.server.conftest import LiveServer, live
from tests.server.test_sessions import browser, form_csrf
from toolkeeper import FakeClock
from toolkeeper.server import Role
from toolkeeper.server.throttle import AuthThrottle, Refusal

LIMIT = 5
WRONG = "tk_" + "x" * 43  # the shape of a token, but no store issued it


@pytest.fixture
def strict_server(tmp_path: Path) -> Iterator[LiveServer]:
    """Serve a keeper allowing five failures a minute per address."""
    with live(
        f"sqlite:///{tmp_path / 'state.db'}", tmp_path, auth_failure_limit=f"{LIMIT}/minute"
    ) as server:
        yield server


def test_wrong_bearer_tokens_are_throttled_with_retry_after(
    strict_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Past the limit a wrong token gets 429 and Retry-After; each failure logs, not the token."""
    caplog.set_level(logging.WARNING, logger="toolkeeper.server.auth")
    with strict_server.client() as client:
        statuses = [
            client.get("/api/v1/health", headers={"Authorization": f"Bearer {WRONG}"}).status_code
            for _ in range(LIMIT)
        ]
        assert statuses == [401] * LIMIT
        refused = client.get("/api/v1/health", headers={"Authorization": f"Bearer {WRONG}"})
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.json()["error"]["code"] == "too_many_failures"
        # The address is refused whatever it sends until its window frees up.
        good = {"Authorization": f"Bearer {strict_server.tokens[Role.VIEWER]}"}
        assert client.get("/api/v1/health", headers=good).status_code == 429
    failures = [r.getMessage() for r in caplog.records if "authentication failed" in r.getMessage()]
    assert len(failures) == LIMIT
    assert all("127.0.0.1" in line and WRONG not in line for line in failures)


def test_malformed_authorization_headers_count_as_failures(strict_server: LiveServer) -> None:
    """A header that is not 'Bearer <token>' counts toward the limit too."""
    with strict_server.client() as client:
        for _ in range(LIMIT):
            assert (
                client.get("/api/v1/health", headers={"Authorization": "Basic abc"}).status_code
                == 401
            )
        assert (
            client.get("/api/v1/health", headers={"Authorization": "Basic abc"}).status_code == 429
        )


def test_failed_sign_ins_are_throttled(
    strict_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Past the limit the sign-in form answers 429 with Retry-After, even for a good token."""
    caplog.set_level(logging.WARNING, logger="toolkeeper.server.auth")
    with browser(strict_server) as client:
        csrf = form_csrf(client.get("/login").text)
        for _ in range(LIMIT):
            response = client.post("/login", data={"token": WRONG, "csrf_token": csrf})
            assert response.status_code == 401
        good = strict_server.tokens[Role.ADMIN]
        refused = client.post("/login", data={"token": good, "csrf_token": csrf})
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "Too many failed sign-ins" in refused.text
    lines = [r.getMessage() for r in caplog.records if "(sign-in)" in r.getMessage()]
    assert len(lines) == LIMIT
    assert all(WRONG not in line for line in lines)


def test_good_tokens_are_not_counted(strict_server: LiveServer) -> None:
    """Successful requests never use up the failure allowance."""
    with strict_server.client(Role.VIEWER) as client:
        for _ in range(LIMIT * 3):
            assert client.get("/api/v1/health").status_code == 200


def test_processes_sharing_redis_count_failures_together(redis_url: str) -> None:
    """Two throttles on one Redis (two server processes) share each address's count."""
    first = AuthThrottle("3/minute", storage=redis_url)
    second = AuthThrottle("3/minute", storage=redis_url)
    first.failed("203.0.113.7", "unknown token", via="bearer")
    second.failed("203.0.113.7", "unknown token", via="bearer")
    assert first.refusal("203.0.113.7") is None
    first.failed("203.0.113.7", "unknown token", via="bearer")
    refusal = second.refusal("203.0.113.7")
    assert refusal is not None
    assert refusal.retry_after_seconds >= 1
    assert second.refusal("198.51.100.1") is None


def test_a_bad_limit_setting_names_the_rule() -> None:
    """auth_failure_limit must be a rate the limits library reads."""
    from pydantic import ValidationError

    from toolkeeper.server import ServerSettings

    with pytest.raises(ValidationError, match="must be a rate"):
        ServerSettings(auth_failure_limit="lots")


def test_the_retry_time_is_counted_on_the_throttles_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry-After is the seconds from the throttle's clock until the oldest failure expires."""
    import limits.storage.memory
    import limits.strategies

    clock = FakeClock(datetime(2026, 5, 4, 9, 0, tzinfo=UTC))
    wall = SimpleNamespace(time=lambda: clock.now().timestamp())
    for module in (limits.storage.memory, limits.strategies):
        monkeypatch.setattr(module, "time", wall)
    throttle = AuthThrottle("3/minute", clock=clock)
    for step in (10, 10, 5):  # failures at 0, 10 and 20 s; then 25 s after the first
        assert throttle.refusal("10.0.0.7") is None
        throttle.failed("10.0.0.7", "wrong token", via="bearer")
        clock.advance(step)
    assert throttle.refusal("10.0.0.7") == Refusal(retry_after_seconds=35)
    assert throttle.refusal("10.0.0.8") is None
    clock.advance(35)
    assert throttle.refusal("10.0.0.7") is None
