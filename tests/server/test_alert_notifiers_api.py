"""Notifiers changed through ``/api/v1/alerts/config``: masked in answers, used by every process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alerts.conftest import Webhook
from tests.server.test_alert_config_api import CONFIG, server
from toolkeeper._secrets import KEY_ENV, generate_key
from toolkeeper.server import Role

TOKEN = "api-hook-s3cr3t-token-0123"

# The other process: at each line it reads, sends a test notification through "ops".
WORKER = textwrap.dedent(
    """
    import json, sys
    from toolkeeper.keeper import Keeper

    keeper = Keeper.open(sys.argv[1], store=sys.argv[2], follow_changes=False)
    for _ in sys.stdin:
        names = keeper.alerts.notifier_names()
        sent = keeper.alerts.test_notification("ops") if "ops" in names else {}
        print(json.dumps({"names": names, "sent": sent}), flush=True)
    keeper.close()
    """
)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """Yield a real JSON webhook on loopback."""
    hook = Webhook()
    yield hook
    hook.close()


def ask(worker: subprocess.Popen[str]) -> dict[str, object]:
    """Make the worker look once; return what it printed."""
    assert worker.stdin is not None
    assert worker.stdout is not None
    worker.stdin.write("go\n")
    worker.stdin.flush()
    line = worker.stdout.readline()
    assert line, "the worker process ended early"
    found: dict[str, object] = json.loads(line)
    return found


def test_a_notifier_put_through_the_api_is_masked_and_used_by_another_running_process(
    tmp_path: Path, store_uri: str, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PUT a notifier: answers, history and diff mask it; an older process delivers to it."""
    monkeypatch.setenv(KEY_ENV, generate_key())
    path = tmp_path / "toolkeeper.toml"
    path.write_text(CONFIG)
    url = webhook.url(f"/{TOKEN}")
    with server(store_uri, path) as live:
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path), store_uri],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert ask(worker) == {"names": [], "sent": {}}
            with live.client(Role.ADMIN) as client:
                put = client.put(
                    "/api/v1/alerts/config", json={"notifiers": {"ops": {"urls": [url]}}},
                    headers={"If-Match": '"0"', "X-Change-Reason": "page ops"},
                )  # fmt: skip
                history = client.get("/api/v1/alerts/config/history")
                diff = client.get("/api/v1/alerts/config/diff", params={"from": 0, "to": 1})
                current = client.get("/api/v1/alerts/config")
                missing = client.put(
                    "/api/v1/alerts/config", json={"notifiers": {"ops": {"urls": [url]}}},
                    headers={"X-Change-Reason": "no precondition"},
                )  # fmt: skip
                schema = client.get("/openapi.json").json()
            assert put.status_code == 200, put.text
            assert missing.status_code == 428
            for answer in (put, history, diff, current):
                assert answer.status_code == 200
                assert TOKEN not in answer.text
            assert put.json()["document"]["notifiers"]["ops"]["urls"][0].startswith("enc:")
            shown = put.json()["document"]["notifiers"]
            assert diff.json()["changes"] == [{"path": "notifiers", "old": None, "new": shown}]
            assert [v["reason"] for v in history.json()["versions"]] == [
                "page ops", "the configuration file"
            ]  # fmt: skip
            assert ask(worker) == {"names": ["ops"], "sent": {"ops": True}}
            assert [path for path, _ in webhook.received] == [f"/{TOKEN}"]
        finally:
            assert worker.stdin is not None
            worker.stdin.close()
            worker.wait(timeout=120)
    body = schema["paths"]["/api/v1/alerts/config"]["put"]["requestBody"]["content"]
    notifier = body["application/json"]["schema"]["properties"]["notifiers"]
    assert notifier["additionalProperties"]["additionalProperties"] is False
    assert set(notifier["additionalProperties"]["properties"]) == {"urls", "webhook", "secret"}


def test_a_bad_notifier_is_refused_naming_the_field_without_showing_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rule naming an unknown notifier and a URL that is no URL: 422 with both paths, masked."""
    monkeypatch.setenv(KEY_ENV, generate_key())
    path = tmp_path / "toolkeeper.toml"
    path.write_text(CONFIG)
    store = f"sqlite:///{tmp_path / 'state.db'}"
    with server(store, path) as live, live.client(Role.ADMIN) as client:
        bad = client.put(
            "/api/v1/alerts/config",
            json={"notifiers": {"ops": {"urls": [f"no-scheme-{TOKEN}"]}},
                  "rules": [{"name": "idle", "metric": "calls", "op": "<", "threshold": 0,
                             "notify": ["pager"]}]},
            headers={"If-Match": '"0"', "X-Change-Reason": "try"},
        )  # fmt: skip
        assert bad.status_code == 422
        paths = sorted(issue["path"] for issue in bad.json()["error"]["details"]["issues"])
        assert paths == ["alerts.notifiers.ops.urls.0", "alerts.rules.0.notify"]
        assert TOKEN not in bad.text
        assert client.get("/api/v1/alerts/config").headers["etag"] == '"0"'
