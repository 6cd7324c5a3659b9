"""The configuration API over real HTTP: masked reads, ETags, merge patches, conflicts, rollback."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.server.conftest import CANARY, LiveServer, version_of
from toolkeeper.server import Role

MERGE_PATCH = "application/merge-patch+json"


def patch(
    client: httpx.Client,
    body: str,
    *,
    version: int | None,
    reason: str | None = "test change",
    content_type: str = MERGE_PATCH,
    tool: str = "openai",
) -> httpx.Response:
    """Send a merge patch with If-Match (unless ``version`` is None) and a reason header."""
    headers = {"Content-Type": content_type}
    if version is not None:
        headers["If-Match"] = f'"{version}"'
    if reason is not None:
        headers["X-Change-Reason"] = reason
    return client.patch(f"/api/v1/config/{tool}", content=body.encode(), headers=headers)


def value_of(config: dict[str, Any], field: str) -> Any:
    """Return one field's shown value from a ToolConfig body."""
    return config["values"][field]


def test_get_config_is_masked_with_provenance_and_etag(live_server: LiveServer) -> None:
    """GET names each value's origin, masks the secret, and carries the version as body and ETag."""
    with live_server.client(Role.VIEWER) as client:
        response = client.get("/api/v1/config/openai")
    assert response.status_code == 200
    body = response.json()
    assert response.headers["etag"] == f'"{body["version"]}"'
    assert body["environment"] == "default"
    assert body["type"] == "external"
    fields = {row["field"]: row for row in body["fields"]}
    assert fields["api_key"]["sensitive"] is True
    assert fields["api_key"]["value"] != CANARY
    assert fields["api_endpoint"]["source"] == "tool"
    assert fields["api_endpoint"]["file"].endswith("toolkeeper.toml")
    assert fields["api_endpoint"]["line"] == 2
    assert fields["enabled"]["source"] == "default"


def test_config_overview_lists_tools_and_environments(live_server: LiveServer) -> None:
    """GET /config lists each configured tool with its type and version, and the environments."""
    with live_server.client(Role.VIEWER) as client:
        body = client.get("/api/v1/config").json()
    assert body["environment"] == "default"
    assert body["environments"] == ["default", "production"]
    assert [tool["name"] for tool in body["tools"]] == ["local", "openai"]


def test_a_patch_without_if_match_answers_428(live_server: LiveServer) -> None:
    """If-Match is required: without it the change is refused with 428."""
    with live_server.client(Role.ADMIN) as client:
        response = patch(client, '{"timeout_seconds": 11}', version=None)
    assert response.status_code == 428
    assert response.json()["error"]["code"] == "precondition_required"


def test_a_stale_if_match_answers_409_naming_both_versions(live_server: LiveServer) -> None:
    """A PATCH based on an old version answers 409 with the expected and current versions."""
    with live_server.client(Role.ADMIN) as client:
        version = version_of(client, "openai")
        first = patch(client, '{"timeout_seconds": 21}', version=version)
        assert first.status_code == 200, first.text
        stale = patch(client, '{"timeout_seconds": 22}', version=version)
        assert version_of(client, "openai") == version + 1
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert error["code"] == "version_conflict"
    assert error["details"]["expected_version"] == version
    assert error["details"]["current_version"] == version + 1
    assert f"version {version}" in error["message"]
    assert f"version {version + 1}" in error["message"]
    assert stale.headers["etag"] == f'"{version + 1}"'


def test_text_the_store_cannot_keep_answers_422_and_saves_nothing(live_server: LiveServer) -> None:
    """A NUL or a lone surrogate in a value is a 422 naming the field; nothing is written."""
    with live_server.client(Role.ADMIN) as client:
        version = version_of(client, "openai")
        nul = patch(client, '{"api_endpoint": "https://a.example/\\u0000"}', version=version)
        lone = patch(client, '{"api_endpoint": "https://a.example/\\udcff"}', version=version)
        assert version_of(client, "openai") == version
    for response, rule in ((nul, "NUL"), (lone, "not valid Unicode")):
        assert response.status_code == 422, response.text
        [issue] = response.json()["error"]["details"]["issues"]
        assert issue["path"] == "tools.openai.api_endpoint"
        assert rule in issue["rule"]


def test_an_invalid_value_answers_422_naming_every_field_and_saves_nothing(
    live_server: LiveServer,
) -> None:
    """Every bad field is listed with its path, rule and value, and the version does not move."""
    with live_server.client(Role.ADMIN) as client:
        version = version_of(client, "openai")
        response = patch(
            client, '{"timeout_seconds": -1, "max_retry_attempts": "many"}', version=version
        )
        unknown = patch(client, '{"no_such_field": 1}', version=version)
        assert version_of(client, "openai") == version
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_config"
    issues = {issue["path"]: issue for issue in error["details"]["issues"]}
    assert set(issues) == {"tools.openai.timeout_seconds", "tools.openai.max_retry_attempts"}
    assert issues["tools.openai.timeout_seconds"]["value"] == -1
    assert "greater than 0" in issues["tools.openai.timeout_seconds"]["rule"]
    assert issues["tools.openai.max_retry_attempts"]["value"] == "many"
    assert unknown.status_code == 422
    [issue] = unknown.json()["error"]["details"]["issues"]
    assert issue["path"] == "tools.openai.no_such_field"
    assert "unknown field" in issue["rule"]


def test_a_valid_patch_answers_200_with_the_new_version_and_etag(live_server: LiveServer) -> None:
    """A valid PATCH stores a version, returns it (body and ETag); history has actor and reason."""
    with live_server.client(Role.ADMIN) as client:
        version = version_of(client, "openai")
        response = patch(
            client, '{"timeout_seconds": 17.5}', version=version, reason="upstream slow"
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["changed"] is True
        assert body["previous_version"] == version
        assert body["version"] == version + 1
        assert response.headers["etag"] == f'"{version + 1}"'
        assert value_of(body["config"], "timeout_seconds") == 17.5
        assert body["entry"]["changes"] == [
            {"field": "timeout_seconds", "from": body["entry"]["changes"][0]["from"], "to": 17.5}
        ]
        history = client.get("/api/v1/config/openai/history").json()
    latest = history["versions"][-1]
    assert history["current_version"] == version + 1
    assert latest["actor"] == "admin-test"
    assert latest["reason"] == "upstream slow"
    assert latest["source"] == "api"
    assert live_server.keeper.config.get("openai").timeout_seconds == 17.5


def test_the_reason_may_come_from_the_query(live_server: LiveServer) -> None:
    """``?reason=`` is accepted in place of X-Change-Reason."""
    with live_server.client(Role.ADMIN) as client:
        version = version_of(client, "openai")
        response = client.patch(
            "/api/v1/config/openai",
            params={"reason": "from the query"},
            content=b'{"max_retry_attempts": 1}',
            headers={"Content-Type": MERGE_PATCH, "If-Match": f'"{version}"'},
        )
        assert response.status_code == 200, response.text
        assert client.get("/api/v1/config/openai/history").json()["versions"][-1]["reason"] == (
            "from the query"
        )


def test_a_patch_without_a_reason_answers_422(live_server: LiveServer) -> None:
    """A change must say why; without a reason nothing is saved."""
    with live_server.client(Role.ADMIN) as client:
        version = version_of(client, "openai")
        response = patch(client, '{"timeout_seconds": 13}', version=version, reason=None)
        assert version_of(client, "openai") == version
    assert response.status_code == 422
    assert response.json()["error"]["details"]["issues"][0]["path"] == "reason"


def test_a_patch_must_be_a_merge_patch(live_server: LiveServer) -> None:
    """Another content type answers 415; a body that is not a JSON object answers 400 or 422."""
    with live_server.client(Role.ADMIN) as client:
        version = version_of(client, "openai")
        wrong_type = patch(
            client, '{"timeout_seconds": 13}', version=version, content_type="text/plain"
        )
        not_json = patch(client, "{timeout", version=version)
        not_object = patch(client, "[1, 2]", version=version)
        not_finite = patch(client, '{"timeout_seconds": NaN}', version=version)
    assert wrong_type.status_code == 415
    assert not_json.status_code == 400
    assert not_object.status_code == 422
    assert not_finite.status_code == 400


def test_null_removes_a_runtime_override(live_server: LiveServer) -> None:
    """Setting a field to null returns it to the value the file gives."""
    with live_server.client(Role.ADMIN) as client:
        version = version_of(client, "local")
        changed = patch(client, '{"timeout_seconds": 44}', version=version, tool="local")
        assert changed.status_code == 200, changed.text
        removed = patch(client, '{"timeout_seconds": null}', version=version + 1, tool="local")
        assert removed.status_code == 200, removed.text
    fields = {row["field"]: row for row in removed.json()["config"]["fields"]}
    assert fields["timeout_seconds"]["value"] == 30.0
    assert fields["timeout_seconds"]["source"] == "default"


def test_an_empty_patch_changes_nothing(live_server: LiveServer) -> None:
    """A patch that alters nothing answers 200 with the same version and no new entry."""
    with live_server.client(Role.ADMIN) as client:
        version = version_of(client, "openai")
        response = patch(client, "{}", version=version)
    assert response.status_code == 200
    assert response.json()["changed"] is False
    assert response.json()["version"] == version


def test_rollback_restores_an_earlier_version_as_a_new_one(live_server: LiveServer) -> None:
    """Rolling back to version 0 writes a new version whose values are the file's."""
    with live_server.client(Role.ADMIN) as client:
        version = version_of(client, "openai")
        assert patch(client, '{"timeout_seconds": 33}', version=version).status_code == 200
        response = client.post(
            "/api/v1/config/openai/rollback",
            json={"to_version": 0, "reason": "revert to the file"},
            headers={"If-Match": f'"{version + 1}"'},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["version"] == version + 2
        assert response.headers["etag"] == f'"{version + 2}"'
        assert value_of(body["config"], "timeout_seconds") == 30.0
        stale = client.post(
            "/api/v1/config/openai/rollback",
            json={"to_version": 0, "reason": "again"},
            headers={"If-Match": f'"{version}"'},
        )
        assert stale.status_code == 409
        missing = client.post(
            "/api/v1/config/openai/rollback",
            json={"to_version": 9999, "reason": "nowhere"},
            headers={"If-Match": f'"{version + 2}"'},
        )
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "unknown_version"
        history = client.get("/api/v1/config/openai/history").json()["versions"]
    assert history[-1]["reason"] == "revert to the file"
    assert history[-1]["actor"] == "admin-test"


def test_diff_compares_two_versions(live_server: LiveServer) -> None:
    """The diff lists the fields that differ between two versions."""
    with live_server.client(Role.ADMIN) as client:
        version = version_of(client, "local")
        assert (
            patch(client, '{"max_retry_attempts": 7}', version=version, tool="local").status_code
            == 200
        )
        response = client.get(
            "/api/v1/config/local/diff", params={"from": version, "to": version + 1}
        )
    assert response.status_code == 200
    changes = response.json()["changes"]
    assert {"field": "max_retry_attempts", "from": changes[0]["from"], "to": 7} in changes


def test_an_unknown_tool_answers_404_naming_the_known_ones(live_server: LiveServer) -> None:
    """Config and tool endpoints answer 404 for an unknown tool and list the known tools."""
    with live_server.client(Role.ADMIN) as client:
        for path in ("/api/v1/config/nope", "/api/v1/config/nope/history", "/api/v1/tools/nope"):
            response = client.get(path)
            assert response.status_code == 404, path
            error = response.json()["error"]
            assert error["code"] == "unknown_tool"
            assert "openai" in error["details"]["known_tools"]
            assert "openai" in error["message"]
        assert patch(client, "{}", version=0, tool="nope").status_code == 404


def test_a_secret_set_through_the_api_comes_back_masked(live_server: LiveServer) -> None:
    """An admin may set a new key; the answer, the history and later reads show it masked."""
    new_key = "sk-rotated-9876543210fedcba"
    with live_server.client(Role.ADMIN) as client:
        version = version_of(client, "local")
        response = patch(client, f'{{"api_key": "{new_key}"}}', version=version, tool="local")
        assert response.status_code == 200, response.text
        history = client.get("/api/v1/config/local/history")
        read = client.get("/api/v1/config/local")
    for answer in (response, history, read):
        assert new_key not in answer.text
    assert {"field": "api_key", "secret": True, "change": "changed"} in response.json()["entry"][
        "changes"
    ]


@pytest.mark.parametrize("reference", ["file:/etc/shadow", "file:/no/such/file", "env:HOME"])
def test_an_admin_cannot_point_a_secret_at_the_servers_files(
    live_server: LiveServer, reference: str
) -> None:
    """PATCH api_key to file:/env: answers one 422 whether the target exists or not."""
    with live_server.client(Role.ADMIN) as client:
        version = version_of(client, "openai")
        response = patch(client, json.dumps({"api_key": reference}), version=version)
        assert version_of(client, "openai") == version
    assert response.status_code == 422, response.text
    [issue] = response.json()["error"]["details"]["issues"]
    assert issue["path"] == "tools.openai.api_key"
    assert "may not name an env: or file: reference" in issue["rule"]
    assert "cannot read" not in response.text


def test_an_admin_cannot_send_a_tools_key_to_another_host(live_server: LiveServer) -> None:
    """Moving a secret-holding tool to a host of one's own is refused unless a new key comes too."""
    with live_server.client(Role.ADMIN) as client:
        version = version_of(client, "openai")
        moved = patch(client, '{"api_endpoint": "https://evil.test/v1"}', version=version)
        assert moved.status_code == 422, moved.text
        assert "would send its api_key there" in moved.text
        assert version_of(client, "openai") == version
        with_key = patch(
            client,
            '{"api_endpoint": "https://evil.test/v1", "api_key": "sk-brand-new-0123456789"}',
            version=version,
        )
        assert with_key.status_code == 200, with_key.text
        back = patch(
            client,
            '{"api_endpoint": null, "api_key": null}',
            version=version + 1,
        )
        assert back.status_code == 200, back.text


@pytest.mark.parametrize(
    "value", ['["sk-in-a-list-0123456789"]', '{"key": "sk-in-an-object-012345"}', "12345678901234"]
)
def test_a_secret_must_be_a_string_over_the_api(live_server: LiveServer, value: str) -> None:
    """An array, object or number for api_key answers 422 without echoing it; nothing is stored."""
    with live_server.client(Role.ADMIN) as client:
        version = version_of(client, "local")
        response = patch(client, f'{{"api_key": {value}}}', version=version, tool="local")
        assert version_of(client, "local") == version
    assert response.status_code == 422, response.text
    [issue] = response.json()["error"]["details"]["issues"]
    assert issue["path"] == "tools.local.api_key"
    assert issue["rule"].startswith("must be a string")
    assert "in-a-list" not in response.text
    assert "in-an-object" not in response.text
    assert "12345678901234" not in response.text


@pytest.mark.parametrize("depth", [40, 900, 5_000])
def test_a_deeply_nested_body_is_a_client_error(live_server: LiveServer, depth: int) -> None:
    """A PATCH body nested thousands deep answers 4xx naming the limit, never 500."""
    body = '{"budget_alert_thresholds": ' + "[" * depth + "]" * depth + "}"
    with live_server.client(Role.ADMIN) as client:
        version = version_of(client, "openai")
        response = patch(client, body, version=version)
    assert response.status_code in (400, 422), response.text
    assert "more than 32 deep" in response.json()["error"]["message"]


@pytest.mark.parametrize("since", ["99999999999999h", "1e400d", "10001d", ""])
def test_an_absurd_duration_is_a_validation_error(live_server: LiveServer, since: str) -> None:
    """?since= empty, beyond 10,000 days or beyond any number answers 422 naming the parameter."""
    with live_server.client(Role.VIEWER) as client:
        for path in ("/api/v1/operations", "/api/v1/tools/openai/metrics"):
            response = client.get(path, params={"since": since})
            assert response.status_code == 422, (path, response.text)
            assert "since" in response.json()["error"]["message"]
