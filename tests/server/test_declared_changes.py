"""Changes declare what they accept (required headers, storable text) and accept exactly that."""

from __future__ import annotations

import re
import sys
from typing import Any

import jsonschema_rs
import pytest

from tests.server.conftest import LiveServer
from toolkeeper._text import SAID_PATTERN, STORABLE_PATTERN, must_be_storable, must_say_something
from toolkeeper.server import Role
from toolkeeper.server.api._body import MERGE_PATCH

#: Every change, and the precondition headers it must declare as required.
CHANGES = {
    ("patch", "/api/v1/config/{tool}"): {"If-Match", "X-Change-Reason"},
    ("post", "/api/v1/config/{tool}/rollback"): {"If-Match"},  # its reason is in the body
    ("put", "/api/v1/alerts/config"): {"If-Match", "X-Change-Reason"},
    ("post", "/api/v1/alerts/config/rollback"): {"X-Change-Reason"},
}


def _spec(server: LiveServer) -> dict[str, Any]:
    with server.client() as client:
        spec: dict[str, Any] = client.get("/openapi.json").json()
    return spec


def _body_schema(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    body: dict[str, Any] = spec["paths"][path][method]["requestBody"]
    assert body["required"] is True
    schema: dict[str, Any] = next(iter(body["content"].values()))["schema"]
    return schema


def _accepts(pattern: str, text: str) -> bool:
    """Whether a JSON Schema validator (the Rust one Schemathesis uses) takes ``text``."""
    return bool(jsonschema_rs.validator_for({"type": "string", "pattern": pattern}).is_valid(text))


def test_every_change_declares_its_precondition_headers_as_required(
    sqlite_server: LiveServer,
) -> None:
    """If-Match and X-Change-Reason are required header parameters of each change, once each."""
    spec = _spec(sqlite_server)
    for (method, path), wanted in CHANGES.items():
        headers = [p for p in spec["paths"][path][method]["parameters"] if p["in"] == "header"]
        assert {p["name"] for p in headers} == wanted, (method, path)
        assert all(p["required"] is True for p in headers), (method, path)
        assert len(headers) == len(wanted), (method, path)
        query = [p["name"] for p in spec["paths"][path][method]["parameters"] if p["in"] == "query"]
        assert "reason" not in query  # a form's alternative, which OpenAPI cannot say "or" of


def test_text_fields_of_alert_actions_declare_storable_text(sqlite_server: LiveServer) -> None:
    """Acknowledge, escalate and silence bodies say their text is storable and says something."""
    spec = _spec(sqlite_server)
    for path, fields in {
        "/api/v1/alerts/acknowledge": {"rule": STORABLE_PATTERN, "tool": STORABLE_PATTERN,
                                       "comment": SAID_PATTERN},
        "/api/v1/alerts/escalate": {"rule": STORABLE_PATTERN, "tool": STORABLE_PATTERN},
        "/api/v1/alerts/silences": {"rule": STORABLE_PATTERN, "tool": STORABLE_PATTERN,
                                    "comment": SAID_PATTERN},
    }.items():  # fmt: skip
        schema = _body_schema(spec, "post", path)
        for name, pattern in fields.items():
            assert schema["properties"][name]["pattern"] == pattern, (path, name)
            assert schema["properties"][name]["maxLength"] >= 1, (path, name)
    rollback = _body_schema(spec, "post", "/api/v1/config/{tool}/rollback")
    assert rollback["properties"]["reason"]["pattern"] == SAID_PATTERN
    assert set(rollback["required"]) == {"to_version", "reason"}


def test_the_declared_text_patterns_accept_exactly_what_the_server_does() -> None:
    """For every character but a surrogate, the patterns and the validators agree, both engines."""
    said = re.compile(SAID_PATTERN)
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        for text in (char, f" {char}\t"):
            try:
                must_say_something(text)
                says = True
            except ValueError:
                says = False
            assert (said.match(text) is not None) is says, hex(code)
        try:
            must_be_storable(char)
            stores = True
        except ValueError:
            stores = False
        assert (re.match(STORABLE_PATTERN, char) is not None) is stores, hex(code)
    # The Rust engine (Schemathesis's validator) on the characters where engines differ.
    for char in "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u200a\u2028\u2029\u3000\x00":
        assert not _accepts(SAID_PATTERN, f" {char} ")
    for char in "a\x01\x1b\u200b\ufeff\U0001f600":
        assert _accepts(SAID_PATTERN, f" {char} ")


def test_if_match_is_one_quoted_version_as_declared(live_server: LiveServer) -> None:
    """An If-Match outside the declared pattern (unquoted, weak, two versions) answers 400."""
    with live_server.client(Role.ADMIN) as client:
        version = client.get("/api/v1/config/openai").headers["ETag"].strip('"')
        for sent in (version, f'W/"{version}"', f'"{version}", "{version}"', f'"{version}'):
            response = client.patch(
                "/api/v1/config/openai",
                content=b'{"timeout_seconds": 12}',
                headers={"Content-Type": MERGE_PATCH, "If-Match": sent, "X-Change-Reason": "t"},
            )
            assert response.status_code == 400, (sent, response.text)
            assert response.json()["error"]["code"] == "invalid_if_match"


def test_a_reason_with_a_nul_is_refused_and_nothing_is_stored(live_server: LiveServer) -> None:
    """A reason that no store can keep (a NUL) answers 422 naming the reason, on both stores."""
    with live_server.client(Role.ADMIN) as client:
        before = client.get("/api/v1/config/openai/history").json()["current_version"]
        version = client.get("/api/v1/config/openai").headers["ETag"]
        response = client.patch(
            "/api/v1/config/openai",
            params={"reason": "slow\x00upstream"},
            content=b'{"timeout_seconds": 13}',
            headers={"Content-Type": MERGE_PATCH, "If-Match": version},
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["issues"][0]["path"] == "reason"
        assert "NUL" in response.json()["error"]["message"]
        after = client.get("/api/v1/config/openai/history").json()["current_version"]
    assert after == before


def test_a_rollback_to_a_boolean_version_is_refused(live_server: LiveServer) -> None:
    """``to_version: false`` is not the integer 0 its schema asks for: 422, for both rollbacks."""
    with live_server.client(Role.ADMIN) as client:
        version = client.get("/api/v1/config/openai").headers["ETag"]
        tool = client.post(
            "/api/v1/config/openai/rollback",
            json={"to_version": False, "reason": "revert"},
            headers={"If-Match": version},
        )
        alerts = client.post(
            "/api/v1/alerts/config/rollback",
            json={"to_version": "0"},
            headers={"X-Change-Reason": "revert"},
        )
    for response in (tool, alerts):
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["errors"][0]["loc"] == ["body", "to_version"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/alerts/acknowledge", {"rule": "a\x00b", "tool": "openai", "comment": "on it"},
         "rule"),
        ("/api/v1/alerts/escalate", {"rule": "idle", "tool": "open\x00ai"}, "tool"),
        ("/api/v1/alerts/acknowledge", {"rule": "idle", "tool": "openai", "comment": "\u2003\x1c"},
         "comment"),
    ],
)  # fmt: skip
def test_alert_actions_refuse_text_no_store_can_keep(
    live_server: LiveServer, path: str, body: dict[str, str], field: str
) -> None:
    """A NUL in a rule or tool, or a blank comment, answers 422 naming the field on both stores."""
    with live_server.client(Role.OPERATOR) as client:
        response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["errors"][0]["loc"] == ["body", field]
