"""The canary: a tool's api_key appears in no body, header, event or metric, for any role."""

from __future__ import annotations

import re
import threading
import time

import httpx

from tests.server.conftest import CANARY, LiveServer, version_of
from tests.server.test_auth import app_routes
from toolkeeper.server import Role

MERGE_PATCH = "application/merge-patch+json"


def exposed(response: httpx.Response) -> str:
    """Return everything a client receives: status line, headers and body."""
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.multi_items())
    return f"{response.status_code}\n{headers}\n{response.text}"


def readable_paths(server: LiveServer) -> list[str]:
    """Return every GET path of the app (but the event stream), once per tool where it takes one."""
    paths = {
        re.sub(r"\{[^}]+\}", tool, path)
        for path, methods in app_routes(server)
        if "GET" in methods and not path.endswith("/events") and "oauth2" not in path
        for tool in ("openai", "local", "nope")
    }
    return sorted(paths)


def read_events(server: LiveServer, role: Role, seconds: float, during: threading.Thread) -> str:
    """Return the raw event stream read for ``seconds`` while ``during`` runs."""
    chunks: list[str] = []
    with server.client(role) as client, client.stream("GET", "/api/v1/events") as stream:
        during.start()
        deadline = time.monotonic() + seconds
        for chunk in stream.iter_text():
            chunks.append(chunk)
            if time.monotonic() > deadline:
                break
        chunks.append("\n".join(f"{k}: {v}" for k, v in stream.headers.multi_items()))
    during.join()
    return "".join(chunks)


def test_the_canary_never_reaches_a_client(live_server: LiveServer) -> None:
    """Every GET endpoint, every export, /metrics, errors, changes and the event stream hide it."""
    seen: list[tuple[str, str]] = []
    queries = {
        "/api/v1/config/openai/diff": {"from": "0", "to": "0"},
        "/api/v1/tools/openai/metrics": {"since": "1h"},
    }
    for role in Role:
        with live_server.client(role) as client:
            for path in readable_paths(live_server):
                response = client.get(path, params=queries.get(path, {}))
                seen.append((f"{role} GET {path}", exposed(response)))
            for export_format in ("json", "csv"):
                response = client.get("/api/v1/export", params={"format": export_format})
                seen.append((f"{role} export {export_format}", exposed(response)))
            response = client.get("/metrics", params={"tool": "openai"})
            seen.append((f"{role} /metrics?tool=openai", exposed(response)))
            seen.append((f"{role} operations", exposed(client.get("/api/v1/operations?limit=500"))))
    with live_server.client() as anonymous:
        seen.append(("anonymous /metrics", exposed(anonymous.get("/metrics"))))
        seen.append(("anonymous config", exposed(anonymous.get("/api/v1/config/openai"))))

    def change_the_key() -> None:
        # An admin sets the canary itself as the key (it is encrypted), with and without
        # an invalid field alongside: neither answer may echo it.
        with live_server.client(Role.ADMIN) as admin:
            version = version_of(admin, "openai")
            headers = {"Content-Type": MERGE_PATCH, "If-Match": f'"{version}"'}
            body = f'{{"api_key": "{CANARY}", "timeout_seconds": -5}}'.encode()
            bad = admin.patch(
                "/api/v1/config/openai", content=body, headers={**headers, "X-Change-Reason": "bad"}
            )
            body = f'{{"api_key": "{CANARY}"}}'.encode()
            good = admin.patch(
                "/api/v1/config/openai", content=body, headers={**headers, "X-Change-Reason": "set"}
            )
            seen.append(("admin PATCH invalid", exposed(bad)))
            seen.append(("admin PATCH valid", exposed(good)))
            assert good.status_code == 200, good.text
            seen.append(("admin history", exposed(admin.get("/api/v1/config/openai/history"))))
            seen.append(("admin read", exposed(admin.get("/api/v1/config/openai"))))

    for role in Role:
        writer = threading.Thread(target=change_the_key if role is Role.ADMIN else lambda: None)
        seen.append((f"{role} events", read_events(live_server, role, 1.5, writer)))

    assert len(seen) > 50
    leaks = [name for name, text in seen if CANARY in text]
    assert leaks == []
    events = next(text for name, text in seen if name == "admin events")
    assert "event: tick" in events
    assert "event: config" in events
    api_key = getattr(live_server.keeper.config.get("openai"), "api_key", None)
    assert api_key is not None
    assert api_key.get_secret_value() == CANARY
