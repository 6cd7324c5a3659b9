"""``/api/v1/alerts/config`` over real HTTP: a rule changed by the API reaches another process."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import LiveServer, postgres_database, serving
from toolkeeper.keeper import Keeper
from toolkeeper.server import Role, ServerSettings, TokenRegistry, create_app

CONFIG = """\
[tools.openai]
api_endpoint = "http://127.0.0.1:9/v1"

[[alerts.rules]]
name = "idle"
tool = "openai"
metric = "calls"
op = "<"
threshold = 0
"""

# The other process: opens its own keeper, evaluates at each line it reads, prints the result.
WORKER = textwrap.dedent(
    """
    import json, sys
    from toolkeeper.keeper import Keeper

    keeper = Keeper.open(sys.argv[1], store=sys.argv[2], follow_changes=False)
    for _ in sys.stdin:
        statuses = keeper.alerts.evaluate()
        rules = {rule.name: rule.threshold for rule in keeper.alerts.rules()}
        print(json.dumps({"rules": rules,
                          "states": {s.rule: s.state for s in statuses}}), flush=True)
    keeper.close()
    """
)


@contextlib.contextmanager
def server(store_uri: str, path: Path) -> Iterator[LiveServer]:
    """Serve a keeper over ``store_uri`` with the CONFIG file, a token per role."""
    keeper = Keeper.open(path, store=store_uri, follow_changes=False)
    try:
        app = create_app(keeper, settings=ServerSettings(events_interval_seconds=0.5))
        registry = TokenRegistry(keeper.store)
        tokens = {role: registry.create(role, name=f"{role.value}-test")[1] for role in Role}
        with serving(app) as base_url:
            yield LiveServer(base_url=base_url, keeper=keeper, app=app, tokens=tokens)
    finally:
        keeper.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LiveServer, str, Path]]:
    """Yield a live server, its store URI and its configuration file, on each SQL backend."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text(CONFIG)
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            uri = f"sqlite:///{tmp_path / 'state.db'}"
        else:
            uri = stack.enter_context(postgres_database())
        live = stack.enter_context(server(uri, path))
        yield live, uri, path


def ask(worker: subprocess.Popen[str]) -> dict[str, Any]:
    """Make the worker evaluate once; return what it printed."""
    assert worker.stdin is not None
    assert worker.stdout is not None
    worker.stdin.write("go\n")
    worker.stdin.flush()
    line = worker.stdout.readline()
    assert line, "the worker process ended early"
    result: dict[str, Any] = json.loads(line)
    return result


def test_a_rule_changed_through_the_api_reaches_a_running_process_and_its_history(
    setup: tuple[LiveServer, str, Path],
) -> None:
    """PUT changes the threshold; a process started before sees it at its next pass, no restart."""
    live, uri, path = setup
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(path), uri],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        before = ask(worker)
        assert before == {"rules": {"idle": 0.0}, "states": {"idle": "inactive"}}
        with live.client(Role.ADMIN) as client:
            current = client.get("/api/v1/alerts/config")
            assert current.headers["etag"] == '"0"'
            rules = current.json()["document"]["rules"]
            rules[0]["threshold"] = 1
            changed = client.put(
                "/api/v1/alerts/config", json={"rules": rules},
                headers={"If-Match": '"0"', "X-Change-Reason": "page when openai is idle"},
            )  # fmt: skip
            stale = client.put(
                "/api/v1/alerts/config", json={"rules": rules},
                headers={"If-Match": '"0"', "X-Change-Reason": "again"},
            )  # fmt: skip
            history = client.get("/api/v1/alerts/config/history").json()["versions"]
            diff = client.get("/api/v1/alerts/config/diff", params={"from": 0, "to": 1}).json()
        assert changed.status_code == 200, changed.text
        assert changed.headers["etag"] == '"1"'
        assert stale.status_code == 409
        after = ask(worker)
        assert after == {"rules": {"idle": 1.0}, "states": {"idle": "firing"}}
    finally:
        worker.stdin.close()  # type: ignore[union-attr]
        worker.wait(timeout=60)
    assert [(v["version"], v["actor"], v["reason"], v["source"]) for v in history] == [
        (1, "admin-test", "page when openai is idle", "api"),
        (0, "(file)", "the configuration file", "file"),
    ]
    assert diff["changes"] == [{"path": "rules.idle.threshold", "old": 0, "new": 1}]


def test_a_bad_change_is_refused_with_every_problem_and_stores_nothing(
    setup: tuple[LiveServer, str, Path],
) -> None:
    """A rule with a bad metric and an unknown runtime key: 422 naming both; version stays 0."""
    live, _, _ = setup
    bad = {"rules": [{"name": "x", "metric": "nope", "op": ">", "threshold": 1}],
           "evaluate_every": "1s"}  # fmt: skip
    with live.client(Role.ADMIN) as client:
        response = client.put(
            "/api/v1/alerts/config", json=bad,
            headers={"If-Match": '"0"', "X-Change-Reason": "try"},
        )  # fmt: skip
        paths = [issue["path"] for issue in response.json()["error"]["details"]["issues"]]
        assert response.status_code == 422
        assert paths == ["alerts.evaluate_every"]
        only_rules = client.put(
            "/api/v1/alerts/config", json={"rules": bad["rules"]},
            headers={"If-Match": '"0"', "X-Change-Reason": "try"},
        )  # fmt: skip
        issues = only_rules.json()["error"]["details"]["issues"]
        assert only_rules.status_code == 422
        assert [issue["path"] for issue in issues] == ["alerts.rules.0.metric"]
        assert client.get("/api/v1/alerts/config").headers["etag"] == '"0"'
    with live.client(Role.OPERATOR) as client:
        forbidden = client.put(
            "/api/v1/alerts/config", json={"rules": []},
            headers={"If-Match": '"0"', "X-Change-Reason": "try"},
        )  # fmt: skip
    assert forbidden.status_code == 403


def test_rollback_stores_the_old_document_as_a_new_version(
    setup: tuple[LiveServer, str, Path],
) -> None:
    """Rolling back to version 0 makes version 2 equal to the file's rules again."""
    live, _, _ = setup
    with live.client(Role.ADMIN) as client:
        rules = client.get("/api/v1/alerts/config").json()["document"]["rules"]
        client.put(
            "/api/v1/alerts/config", json={"rules": [{**rules[0], "threshold": 5}]},
            headers={"If-Match": '"0"', "X-Change-Reason": "raise"},
        )  # fmt: skip
        back = client.post(
            "/api/v1/alerts/config/rollback", json={"to_version": 0},
            headers={"X-Change-Reason": "revert"},
        )  # fmt: skip
    assert back.status_code == 200, back.text
    assert back.json()["version"] == 2
    assert back.json()["document"]["rules"][0]["threshold"] == 0
    assert [rule.threshold for rule in live.keeper.alerts.rules()] == [0.0]
