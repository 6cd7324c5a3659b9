"""Notifiers changed at runtime: stored encrypted, shown masked, delivered at once, rolled back."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alerts.conftest import Webhook
from toolkeeper._errors import ConfigValidationError
from toolkeeper._secrets import KEY_ENV, generate_key
from toolkeeper.keeper import Keeper

CONFIG = """\
[alerts.notifiers.file-ops]
urls = ["json://127.0.0.1:9/file-hook-token-0123456789"]

[[alerts.rules]]
name = "idle"
metric = "calls"
op = "<"
threshold = 0
"""
TOKEN = "hook-s3cr3t-token-abcdef"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """Yield a real JSON webhook on loopback."""
    hook = Webhook()
    yield hook
    hook.close()


def open_keeper(tmp_path: Path, store_uri: str) -> Keeper:
    """Open a keeper on the CONFIG file and ``store_uri``."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text(CONFIG)
    return Keeper.open(path, store=store_uri, follow_changes=False)


def test_a_notifier_added_at_runtime_is_encrypted_at_rest_masked_everywhere_and_delivers(
    tmp_path: Path,
    store_uri: str,
    webhook: Webhook,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The URL is stored as enc:, shown masked in versions, history, diff and logs, and used."""
    monkeypatch.setenv(KEY_ENV, generate_key())
    url = webhook.url(f"/{TOKEN}")
    keeper = open_keeper(tmp_path, store_uri)
    try:
        runtime = keeper.alerts.config
        assert runtime is not None
        with caplog.at_level(logging.DEBUG):
            made = runtime.update(
                {"notifiers": {"ops": {"urls": [url]}},
                 "rules": [{"name": "idle", "metric": "calls", "op": "<", "threshold": 0,
                            "notify": ["ops"]}]},
                actor="ana", reason="page ops", expected_version=0,
            )  # fmt: skip
            assert keeper.alerts.test_notification("ops") == {"ops": True}
        stored = runtime.table.get(made.version)
        assert stored is not None
        assert TOKEN not in stored.document
        assert json.loads(stored.document)["notifiers"]["ops"]["urls"][0].startswith("enc:")
        shown = [
            json.dumps(made.to_dict()),
            json.dumps([version.to_dict() for version in runtime.history()]),
            json.dumps(runtime.diff(0, made.version)),
            repr(made),
            caplog.text,
            json.dumps(keeper.alerts.notifier_urls_masked("ops")),
        ]
        for text in shown:
            assert TOKEN not in text
            assert "file-hook-token-0123456789" not in text
        assert made.to_dict()["document"]["notifiers"]["ops"]["urls"][0].startswith("enc:")
        assert {"path": "notifiers.ops", "old": None,
                "new": {"urls": [made.to_dict()["document"]["notifiers"]["ops"]["urls"][0]]}} in (
            runtime.diff(0, made.version)
        )  # fmt: skip
        assert webhook.bodies[-1]["title"] == "[TEST] toolkeeper alerts"
        assert keeper.alerts.notifier_names() == ["ops"]
    finally:
        keeper.close()


def test_a_masked_value_sent_back_keeps_the_stored_url_and_rollback_restores_the_file(
    tmp_path: Path, store_uri: str, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-modify-write keeps the URL; a masked value matching none is refused by path."""
    monkeypatch.setenv(KEY_ENV, generate_key())
    keeper = open_keeper(tmp_path, store_uri)
    try:
        runtime = keeper.alerts.config
        assert runtime is not None
        first = runtime.update({"notifiers": {"ops": {"urls": [webhook.url(f"/{TOKEN}")]}}},
                               actor="ana", reason="add ops", expected_version=0)  # fmt: skip
        read = first.to_dict()["document"]
        read["notifiers"]["ops"]["urls"].append(webhook.url("/second-hook-abcdefgh"))
        second = runtime.update({"notifiers": read["notifiers"]}, actor="bob",
                                reason="second hook", expected_version=1)  # fmt: skip
        assert keeper.alerts.test_notification("ops") == {"ops": True}
        paths = sorted(path for path, _ in webhook.received)
        assert paths == [f"/{TOKEN}", "/second-hook-abcdefgh"]
        assert runtime.diff(1, 2) == [{
            "path": "notifiers.ops.urls",
            "old": first.to_dict()["document"]["notifiers"]["ops"]["urls"],
            "new": second.to_dict()["document"]["notifiers"]["ops"]["urls"],
        }]  # fmt: skip
        with pytest.raises(ConfigValidationError, match=r"alerts\.notifiers\.ops\.urls\.0") as bad:
            runtime.update({"notifiers": {"ops": {"urls": ["json://****abcd"]}}}, actor="bob",
                           reason="paste", expected_version=2)  # fmt: skip
        assert "masked value" in str(bad.value)
        assert runtime.version() == 2
        back = runtime.rollback(to_version=0, actor="ana", reason="back to the file")
        assert back.version == 3
        assert keeper.alerts.notifier_names() == ["file-ops"]
        stored = runtime.table.get(3)
        assert stored is not None
        assert "notifiers" not in json.loads(stored.document)  # the file's stay in the file
    finally:
        keeper.close()


def test_without_a_key_a_url_in_clear_is_refused_and_a_reference_is_stored_as_written(
    tmp_path: Path, store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No key: nothing is stored in clear (422-style issue naming the URL's path), env: is kept."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv("TOOLKEEPER_SECRET_KEY_FILE", raising=False)
    keeper = open_keeper(tmp_path, store_uri)
    try:
        runtime = keeper.alerts.config
        assert runtime is not None
        refused = "refusing to store a secret in clear"
        with pytest.raises(ConfigValidationError, match=refused) as bad:
            runtime.update({"notifiers": {"ops": {"urls": [f"json://127.0.0.1:9/{TOKEN}"]}}},
                           actor="ana", reason="add", expected_version=0)  # fmt: skip
        assert [issue.path for issue in bad.value.issues] == ["alerts.notifiers.ops.urls.0"]
        assert TOKEN not in str(bad.value)
        assert runtime.version() == 0
        made = runtime.update(
            {"notifiers": {"ops": {"webhook": "env:OPS_HOOK", "secret": "env:OPS_KEY"}}},
            actor="ana", reason="by reference", expected_version=0,
        )  # fmt: skip
        stored = runtime.table.get(made.version)
        assert stored is not None
        assert json.loads(stored.document)["notifiers"] == {
            "ops": {"webhook": "env:OPS_HOOK", "secret": "env:OPS_KEY"}
        }
        assert keeper.alerts.notifier_names() == ["ops"]
    finally:
        keeper.close()


def test_rotating_the_key_re_encrypts_stored_notifier_urls_so_the_new_key_alone_opens_them(
    tmp_path: Path, store_uri: str, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After rotate_secrets(NEW,OLD), a keeper holding only NEW still delivers to the notifier."""
    from toolkeeper._secrets import Keyring

    old, new = generate_key(), generate_key()
    monkeypatch.setenv(KEY_ENV, old)
    keeper = open_keeper(tmp_path, store_uri)
    try:
        runtime = keeper.alerts.config
        assert runtime is not None
        runtime.update({"notifiers": {"ops": {"urls": [webhook.url(f"/{TOKEN}")]}}},
                       actor="ana", reason="add ops", expected_version=0)  # fmt: skip
        before = runtime.table.get(1)
        assert runtime.rotate_secrets(Keyring([new, old])) == 1
        after = runtime.table.get(1)
        assert before is not None
        assert after is not None
        assert before.document != after.document
        assert TOKEN not in after.document
        assert runtime.rotate_secrets(Keyring([new])) == 1  # opened with NEW alone
    finally:
        keeper.close()
    monkeypatch.setenv(KEY_ENV, new)
    rotated = Keeper.open(tmp_path / "toolkeeper.toml", store=store_uri, follow_changes=False)
    try:
        assert rotated.alerts.test_notification("ops") == {"ops": True}
        assert [path for path, _ in webhook.received] == [f"/{TOKEN}"]
    finally:
        rotated.close()
