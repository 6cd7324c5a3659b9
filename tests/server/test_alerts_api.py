"""``/api/v1/alerts`` over real HTTP: alerts fired by real failing calls, silences, tests."""

from __future__ import annotations

import contextlib
import html
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import LiveServer, postgres_database, serving
from tests.server.test_sessions import browser, form_csrf, sign_in
from toolkeeper._errors import ToolkeeperError
from toolkeeper._secrets import generate_key
from toolkeeper.alerts import AlertStatus
from toolkeeper.keeper import Keeper
from toolkeeper.server import Role, ServerSettings, TokenRegistry, create_app

HOOK_CANARY = "sk-alert-hook-canary-0123456789abcdef"
HOOK_VARIABLE = "TK_ALERT_HOOK"

ALERT_CONFIG = """\
[tools.flaky]
api_endpoint = "http://127.0.0.1:9/v1"
max_retry_attempts = 0
timeout_sync_calls = false
circuit_minimum_calls = 4
circuit_window_size = 10
circuit_failure_rate = 0.5
circuit_open_seconds = 600

[tools.steady]
api_endpoint = "http://127.0.0.1:9/v1"

[alerts]
notify = ["hook"]

[alerts.notifiers.hook]
urls = ["env:TK_ALERT_HOOK"]

[[alerts.rules]]
name = "flaky-errors"
tool = "flaky"
metric = "error_rate"
op = ">"
threshold = 0.5
window = "5m"
min_calls = 3
severity = "critical"

[[alerts.rules]]
name = "circuit-open"
tool = "*"
metric = "circuit_open"
op = "=="
threshold = 1
severity = "critical"
"""


class Hook:
    """A loopback HTTP endpoint that keeps every JSON notification posted to it."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                with contextlib.suppress(ValueError):
                    received.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                del args  # quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """Return the Apprise URL posting JSON here, with the canary in its path."""
        return f"json://127.0.0.1:{self.server.server_address[1]}/hook/{HOOK_CANARY}"

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def make_alerts_fire(keeper: Keeper, *, calls: int = 8) -> list[AlertStatus]:
    """Call a wrapped function that always raises until its circuit opens; evaluate the rules."""

    @keeper.tool("flaky", operation="call")
    def call() -> None:
        raise RuntimeError("upstream is down")

    for _ in range(calls):
        with contextlib.suppress(RuntimeError, ToolkeeperError):
            call()
    keeper.flush()
    return keeper.alerts.evaluate()


@contextlib.contextmanager
def alerting(store_uri: str, tmp_path: Path) -> Iterator[LiveServer]:
    """Serve a keeper whose configuration has alert rules and a notifier, with one token a role."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text(ALERT_CONFIG)
    hook = Hook()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(HOOK_VARIABLE, hook.url)
        patch.setenv("TOOLKEEPER_SECRET_KEY", generate_key())
        for variable in ("TOOLKEEPER_ENV", "TOOLKEEPER_CONFIG", "TOOLKEEPER_STORE"):
            patch.delenv(variable, raising=False)
        keeper = Keeper.open(path, store=store_uri, follow_changes=False)
        try:
            app = create_app(keeper, settings=ServerSettings(events_interval_seconds=0.5))
            registry = TokenRegistry(keeper.store)
            tokens = {role: registry.create(role, name=f"{role.value}-test")[1] for role in Role}
            app.state.hook = hook
            with serving(app) as base_url:
                make_alerts_fire(keeper)
                yield LiveServer(base_url=base_url, keeper=keeper, app=app, tokens=tokens)
        finally:
            keeper.close()
            hook.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def alert_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """Serve a keeper with firing alerts, on an SQLite file and then on a PostgreSQL database."""
    tmp_path = tmp_path_factory.mktemp("alerts")
    if request.param == "sqlite":
        with alerting(f"sqlite:///{tmp_path / 'state.db'}", tmp_path) as server:
            yield server
        return
    with postgres_database() as url, alerting(url, tmp_path) as server:
        yield server


def _firing(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(s["rule"], s["tool"]): s for s in body["statuses"] if s["state"] == "firing"}


def test_viewers_see_alerts_fired_by_real_failures_and_rules(alert_server: LiveServer) -> None:
    """GET /alerts lists the firing alerts first, with value and threshold, and every rule."""
    with alert_server.client(Role.VIEWER) as client:
        response = client.get("/api/v1/alerts")
    assert response.status_code == 200, response.text
    body = response.json()
    firing = _firing(body)
    errors = firing[("flaky-errors", "flaky")]
    assert errors["value"] > 0.5
    assert errors["threshold"] == 0.5
    assert errors["severity"] == "critical"
    assert ("circuit-open", "flaky") in firing
    assert body["firing"] == len(firing)
    assert body["statuses"][0]["state"] == "firing"
    assert {rule["name"] for rule in body["rules"]} == {"flaky-errors", "circuit-open"}
    assert ("circuit-open", "steady") not in firing


def test_notifier_urls_are_masked_everywhere(alert_server: LiveServer) -> None:
    """The notifier's URL (a secret) is only ever shown masked, in every alerts answer."""
    with alert_server.client(Role.ADMIN) as client:
        bodies = [
            client.get(path).text
            for path in ("/api/v1/alerts", "/api/v1/alerts/events", "/api/v1/alerts/silences")
        ]
        overview = client.get("/api/v1/alerts").json()
    assert all(HOOK_CANARY not in body for body in bodies)
    (notifier,) = overview["notifiers"]
    assert notifier["name"] == "hook"
    assert notifier["urls"] == ["json://****cdef"]


def test_events_record_that_the_alerts_fired(alert_server: LiveServer) -> None:
    """GET /alerts/events lists the fired events, newest first, limited by ``limit``."""
    with alert_server.client(Role.VIEWER) as client:
        events = client.get("/api/v1/alerts/events").json()["events"]
        one = client.get("/api/v1/alerts/events", params={"limit": 1}).json()["events"]
        bad = client.get("/api/v1/alerts/events", params={"limit": 0})
    fired = {(e["rule"], e["tool"]) for e in events if e["kind"] == "fired"}
    assert {("flaky-errors", "flaky"), ("circuit-open", "flaky")} <= fired
    assert [e["at"] for e in events] == sorted((e["at"] for e in events), reverse=True)
    assert len(one) == 1
    assert bad.status_code == 422


def test_an_operator_silences_an_alert_and_expires_the_silence(alert_server: LiveServer) -> None:
    """A silence made as the operator's token mutes the alert; expiring it ends that."""
    keeper = alert_server.keeper
    with alert_server.client(Role.OPERATOR) as client:
        response = client.post(
            "/api/v1/alerts/silences",
            json={"rule": "flaky-errors", "tool": "flaky", "duration": "2h", "comment": "known"},
        )
        assert response.status_code == 201, response.text
        silence = response.json()
        assert silence["created_by"] == "operator-test"
        assert silence["expired"] is False
        listed = client.get("/api/v1/alerts/silences").json()["silences"]
        assert silence["id"] in [item["id"] for item in listed]
        keeper.alerts.evaluate()
        firing = _firing(client.get("/api/v1/alerts").json())
        assert firing[("flaky-errors", "flaky")]["silenced_by"] == silence["id"]
        assert firing[("circuit-open", "flaky")]["silenced_by"] is None

        ended = client.delete(f"/api/v1/alerts/silences/{silence['id']}")
        assert ended.status_code == 200, ended.text
        assert ended.json()["expired"] is True
        assert ended.json()["expired_by"] == "operator-test"
        active = client.get("/api/v1/alerts/silences").json()["silences"]
        assert silence["id"] not in [item["id"] for item in active]
        every = client.get("/api/v1/alerts/silences", params={"include_expired": "true"})
        assert silence["id"] in [item["id"] for item in every.json()["silences"]]
        keeper.alerts.evaluate()
        firing = _firing(client.get("/api/v1/alerts").json())
        assert firing[("flaky-errors", "flaky")]["silenced_by"] is None


def test_an_operator_silences_by_label_matchers(alert_server: LiveServer) -> None:
    """A silence by matchers mutes the alerts whose labels all match, and lists its matchers."""
    keeper = alert_server.keeper
    matchers = [
        {"name": "rule", "op": "=", "value": "circuit-open"},
        {"name": "severity", "op": "=~", "value": "crit.*"},
    ]
    with alert_server.client(Role.OPERATOR) as client:
        response = client.post(
            "/api/v1/alerts/silences",
            json={"matchers": matchers, "duration": "1h", "comment": "breaker drill"},
        )
        assert response.status_code == 201, response.text
        silence = response.json()
        shown = ['rule="circuit-open"', 'severity=~"crit.*"']
        assert (silence["rule"], silence["tool"], silence["matchers"]) == ("*", "*", shown)
        try:
            keeper.alerts.evaluate()
            firing = _firing(client.get("/api/v1/alerts").json())
            assert firing[("circuit-open", "flaky")]["silenced_by"] == silence["id"]
            assert firing[("flaky-errors", "flaky")]["silenced_by"] is None
            listed = client.get("/api/v1/alerts/silences").json()["silences"]
            assert [item["matchers"] for item in listed if item["id"] == silence["id"]] == [shown]
        finally:
            client.delete(f"/api/v1/alerts/silences/{silence['id']}")
            keeper.alerts.evaluate()


RULE_X = {"name": "rule", "op": "=", "value": "x"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"duration": "2x", "comment": "why"}, "duration"),
        ({"duration": "0s", "comment": "why"}, "duration"),
        ({"duration": "9999w", "comment": "why"}, "duration"),
        ({"comment": "why"}, "duration"),
        ({"duration": "2h"}, "comment"),
        ({"duration": "2h", "comment": ""}, "comment"),
        ({"duration": "2h", "comment": "   "}, "comment"),
        ({"duration": "2h", "comment": "why", "rule": ""}, "rule"),
        ({"duration": "2h", "comment": "why", "colour": "red"}, "colour"),
        ({"duration": "2h", "comment": "why \x00 not"}, "comment"),
        ({"duration": "2h", "comment": "why", "tool": "a\x00b"}, "tool"),
        ({"duration": "2h", "comment": "why", "matchers": [RULE_X] * 21}, "matchers"),
        ({"duration": "2h", "comment": "why", "matchers": 'rule="x"'}, "matchers"),
        (
            {
                "duration": "2h",
                "comment": "why",
                "matchers": [{"name": "rule", "op": "=~", "value": "(x"}],
            },
            "matchers",
        ),
    ],
)
def test_a_bad_silence_is_refused_naming_the_field(
    sqlite_alert_server: LiveServer, body: dict[str, Any], field: str
) -> None:
    """A bad silence answers 422 naming the field and the rule, and creates nothing."""
    with sqlite_alert_server.client(Role.OPERATOR) as client:
        before = client.get("/api/v1/alerts/silences").json()["silences"]
        response = client.post("/api/v1/alerts/silences", json=body)
        after = client.get("/api/v1/alerts/silences").json()["silences"]
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert field in error["message"]
    assert [e["loc"] for e in error["details"]["errors"]] == [["body", field]]
    if "duration" in body and field == "duration":
        assert body["duration"] in error["details"]["errors"][0]["msg"]
    assert after == before


def test_silences_need_an_operator_json_and_a_known_id(sqlite_alert_server: LiveServer) -> None:
    """Viewers get 403; a form body 415; an unknown id 404 naming it."""
    body = {"duration": "1h", "comment": "why"}
    with sqlite_alert_server.client(Role.VIEWER) as viewer:
        assert viewer.post("/api/v1/alerts/silences", json=body).status_code == 403
        assert viewer.delete("/api/v1/alerts/silences/1").status_code == 403
    with sqlite_alert_server.client(Role.OPERATOR) as operator:
        form = operator.post("/api/v1/alerts/silences", data=body)
        assert form.status_code == 415
        missing = operator.delete("/api/v1/alerts/silences/987654")
        assert missing.status_code == 404
        assert "987654" in missing.json()["error"]["message"]
        assert operator.delete("/api/v1/alerts/silences/abc").status_code == 422


@pytest.mark.parametrize(
    "matcher",
    [
        {"name": "1st", "op": "=", "value": "x"},
        {"name": "rule", "op": "~", "value": "x"},
        {"name": "rule", "op": "=", "value": "x", "isRegex": False},
        {"name": "rule", "op": "=", "value": "x" * 501},
    ],
)
def test_a_malformed_matcher_is_refused_where_it_is(
    sqlite_alert_server: LiveServer, matcher: dict[str, Any]
) -> None:
    """A bad name, operator, extra key or a too long value: 422 under body.matchers.0."""
    body = {"duration": "2h", "comment": "why", "matchers": [matcher]}
    with sqlite_alert_server.client(Role.OPERATOR) as client:
        response = client.post("/api/v1/alerts/silences", json=body)
    assert response.status_code == 422, response.text
    locs = [e["loc"] for e in response.json()["error"]["details"]["errors"]]
    assert locs
    assert all(loc[:3] == ["body", "matchers", "0"] for loc in locs), locs


def test_a_cookie_session_silences_only_with_the_csrf_header(
    sqlite_alert_server: LiveServer,
) -> None:
    """A browser session needs X-CSRF-Token to silence; with it, the actor is the token's name."""
    body = {"tool": "steady", "duration": "30m", "comment": "maintenance"}
    with browser(sqlite_alert_server) as client:
        sign_in(client, sqlite_alert_server.tokens[Role.OPERATOR])
        refused = client.post("/api/v1/alerts/silences", json=body)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "csrf_failed"
        csrf = client.get("/api/v1/me").json()["csrf_token"]
        made = client.post("/api/v1/alerts/silences", json=body, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201, made.text
        assert made.json()["created_by"] == "operator-test"
        gone = client.delete(
            f"/api/v1/alerts/silences/{made.json()['id']}", headers={"X-CSRF-Token": csrf}
        )
        assert gone.status_code == 200


def test_the_page_silences_by_label_matchers_one_a_line(sqlite_alert_server: LiveServer) -> None:
    """The page's silence form takes matchers one a line; the silences table shows them."""
    with browser(sqlite_alert_server) as client:
        sign_in(client, sqlite_alert_server.tokens[Role.OPERATOR])
        csrf = form_csrf(client.get("/alerts").text)
        form = {"csrf_token": csrf, "matchers": 'tool="steady"\n\n  severity!="info"  \n',
                "duration": "30m", "comment": "page matchers"}  # fmt: skip
        made = client.post("/alerts/silence", data=form)
        assert made.status_code == 303, made.text
        silence_id = int(made.headers["location"].rsplit("=", 1)[1])
        page = html.unescape(client.get("/alerts").text)
        assert '<code>tool="steady"</code>, <code>severity!="info"</code>' in page
        bad = client.post("/alerts/silence", data={**form, "matchers": "severity"})
        assert bad.status_code == 422
        assert "matchers" in html.unescape(bad.text)
        ended = client.post(f"/alerts/silences/{silence_id}/expire", data={"csrf_token": csrf})
        assert ended.status_code == 303
    with sqlite_alert_server.client(Role.VIEWER) as viewer:
        listed = viewer.get("/api/v1/alerts/silences").json()["silences"]
    assert silence_id not in [item["id"] for item in listed]


def test_only_admins_send_a_test_notification(sqlite_alert_server: LiveServer) -> None:
    """POST /alerts/test is for admins; it reaches the notifier's endpoint and says so."""
    hook = sqlite_alert_server.app.state.hook
    with sqlite_alert_server.client(Role.OPERATOR) as operator:
        assert operator.post("/api/v1/alerts/test").status_code == 403
    with sqlite_alert_server.client(Role.ADMIN) as admin:
        before = len(hook.received)
        response = admin.post("/api/v1/alerts/test", params={"notifier": "hook"})
        unknown = admin.post("/api/v1/alerts/test", params={"notifier": "pager"})
    assert response.status_code == 200, response.text
    assert response.json() == {"results": {"hook": True}, "failed": []}
    assert len(hook.received) > before
    assert unknown.status_code == 404
    assert "pager" in unknown.json()["error"]["message"]
    assert unknown.json()["error"]["details"]["known_notifiers"] == ["hook"]


def test_the_schema_documents_the_alerts_routes(sqlite_alert_server: LiveServer) -> None:
    """/openapi.json describes each alerts route with its response model."""
    schema = httpx.get(f"{sqlite_alert_server.base_url}/openapi.json").json()
    paths = schema["paths"]
    assert set(paths["/api/v1/alerts/silences"]) == {"get", "post"}
    assert "delete" in paths["/api/v1/alerts/silences/{silence_id}"]
    assert "post" in paths["/api/v1/alerts/test"]
    models = schema["components"]["schemas"]
    assert {"AlertsOverview", "AlertStatus", "Silence", "AlertEvent", "AlertEvents"} <= set(models)


@pytest.fixture(scope="module")
def sqlite_alert_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Serve a keeper with firing alerts on an SQLite file (for tests of one backend only)."""
    tmp_path = tmp_path_factory.mktemp("alerts-sqlite")
    with alerting(f"sqlite:///{tmp_path / 'state.db'}", tmp_path) as server:
        yield server


def test_admins_send_a_test_notification_from_the_page(sqlite_alert_server: LiveServer) -> None:
    """The alerts page offers admins (only) a test notification, and says what was delivered."""
    hook = sqlite_alert_server.app.state.hook
    with browser(sqlite_alert_server) as client:
        sign_in(client, sqlite_alert_server.tokens[Role.OPERATOR])
        page = client.get("/alerts").text
        assert 'data-testid="test-notification"' not in page
        csrf = form_csrf(page)
        assert client.post("/alerts/test", data={"csrf_token": csrf}).status_code == 403
    with browser(sqlite_alert_server) as client:
        sign_in(client, sqlite_alert_server.tokens[Role.ADMIN])
        page = client.get("/alerts").text
        assert 'data-testid="test-notification"' in page
        csrf = form_csrf(page)
        assert client.post("/alerts/test", data={"notifier": "hook"}).status_code == 403
        before = len(hook.received)
        sent = client.post("/alerts/test", data={"csrf_token": csrf, "notifier": "hook"})
        assert sent.status_code == 200, sent.text
        assert "<code>hook</code> delivered" in sent.text
        assert len(hook.received) == before + 1
        assert HOOK_CANARY not in sent.text
        unknown = client.post("/alerts/test", data={"csrf_token": csrf, "notifier": "pager"})
        assert unknown.status_code == 404


def test_operators_acknowledge_a_firing_alert_once_and_viewers_may_not(
    alert_server: LiveServer,
) -> None:
    """POST /alerts/acknowledge keeps the token's name and the comment; twice is a 409."""
    body = {"rule": "flaky-errors", "tool": "flaky", "comment": "rolling back"}
    with alert_server.client(Role.VIEWER) as client:
        assert client.post("/api/v1/alerts/acknowledge", json=body).status_code == 403
    with alert_server.client(Role.OPERATOR) as client:
        first = client.post("/api/v1/alerts/acknowledge", json=body)
        again = client.post("/api/v1/alerts/acknowledge", json=body)
        unknown = client.post("/api/v1/alerts/acknowledge", json={**body, "tool": "nope"})
        blank = client.post("/api/v1/alerts/acknowledge", json={**body, "comment": " "})
        events = client.get("/api/v1/alerts/events").json()["events"]
    assert first.status_code == 200, first.text
    assert (first.json()["acknowledged_by"], first.json()["ack_comment"]) == (
        "operator-test", "rolling back",
    )  # fmt: skip
    assert again.status_code == 409
    assert "already acknowledged by operator-test" in again.text
    assert unknown.status_code == 404
    assert blank.status_code == 422
    acked = [e for e in events if e["kind"] == "acknowledged"]
    assert [(e["rule"], e["tool"], e["detail"]) for e in acked] == [
        ("flaky-errors", "flaky", "by operator-test: rolling back"),
    ]


def test_escalating_an_alert_without_an_escalation_is_a_conflict(alert_server: LiveServer) -> None:
    """POST /alerts/escalate answers 409 naming why when the alert's route has no chain."""
    with alert_server.client(Role.OPERATOR) as client:
        response = client.post(
            "/api/v1/alerts/escalate", json={"rule": "circuit-open", "tool": "flaky"}
        )
    assert response.status_code == 409
    assert "names no escalation" in response.text
