"""Tests for runtime configuration: versions, conflicts, history, diff, rollback, following."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkeeper._errors import (
    ConfigError,
    ConfigValidationError,
    SecretKeyMissingError,
    UnknownEnvironmentError,
    UnknownVersionError,
    VersionConflictError,
)
from toolkeeper._secrets import generate_key
from toolkeeper.config import Configuration, ConfigVersion, Keyring
from toolkeeper.config.files import ConfigFile
from toolkeeper.store import open_store

FILE = """\
[tools.openai]
api_endpoint = "https://api.example.com/v1"
api_key = "env:TK_TEST_KEY"
timeout_seconds = 30

[environments.staging.tools.openai]
timeout_seconds = 20
"""
ENVIRON = {"TK_TEST_KEY": "sk-test-0123456789abcdef"}


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """Write the test configuration file."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text(FILE)
    return path


@pytest.fixture
def live(config_path: Path, store_uri: str) -> Iterator[Configuration]:
    """Open a live configuration over each real store backend."""
    store = open_store(store_uri)
    configuration = Configuration(ConfigFile.load(config_path), store=store, environ=ENVIRON)
    yield configuration
    configuration.close()
    store.close()


def test_update_creates_a_version_with_actor_reason_source_and_diff(live: Configuration) -> None:
    """An update is a new version that records who, why, from where and what changed."""
    assert live.version("openai") == 0
    version = live.update(
        "openai",
        {"timeout_seconds": 12},
        actor="ana",
        reason="slow",
        source="api",
        expected_version=0,
    )
    assert version.version == 1
    assert (version.actor, version.reason, version.source) == ("ana", "slow", "api")
    assert version.created_at is not None
    assert version.created_at.utcoffset() is not None
    assert version.changes == ({"field": "timeout_seconds", "from": 30.0, "to": 12.0},)
    assert live.get("openai").timeout_seconds == 12
    assert live.version("openai") == 1


def test_a_stale_expected_version_is_refused_and_changes_nothing(live: Configuration) -> None:
    """Updating from a stale version raises a conflict naming both versions; nothing is stored."""
    live.update("openai", {"timeout_seconds": 12}, actor="ana", reason="one")
    with pytest.raises(VersionConflictError, match=r"expected version 0.*latest is version 1"):
        live.update(
            "openai", {"timeout_seconds": 13}, actor="bob", reason="two", expected_version=0
        )
    assert live.get("openai").timeout_seconds == 12
    assert [v.version for v in live.history("openai")] == [1]


def test_an_invalid_update_is_refused_with_every_problem_and_stores_nothing(
    live: Configuration,
) -> None:
    """All problems of an update are reported at once, and no version is written."""
    with pytest.raises(ConfigValidationError) as caught:
        live.update(
            "openai",
            {"timeout_seconds": -1, "api_endpoint": "ftp://x", "nope": 1},
            actor="ana",
            reason="bad",
        )
    assert [issue.path for issue in caught.value.issues] == ["tools.openai.nope"]
    with pytest.raises(ConfigValidationError) as caught:
        live.update(
            "openai", {"timeout_seconds": -1, "api_endpoint": "ftp://x"}, actor="ana", reason="bad"
        )
    paths = {issue.path for issue in caught.value.issues}
    assert paths == {"tools.openai.timeout_seconds", "tools.openai.api_endpoint"}
    assert live.history("openai") == []


def test_rollback_restores_an_earlier_value_as_a_new_version(live: Configuration) -> None:
    """Set then roll back: the old value returns as version 3, recorded with actor and reason."""
    live.update("openai", {"timeout_seconds": 12}, actor="ana", reason="slow")
    live.update("openai", {"timeout_seconds": 8}, actor="ana", reason="slower")
    back = live.rollback("openai", 1, actor="bob", reason="too tight")
    assert back.version == 3
    assert live.get("openai").timeout_seconds == 12
    history = live.history("openai")
    assert [(v.version, v.actor, v.reason) for v in history] == [
        (1, "ana", "slow"),
        (2, "ana", "slower"),
        (3, "bob", "too tight"),
    ]
    live.rollback("openai", 0, actor="bob", reason="back to the file")
    assert live.get("openai").timeout_seconds == 30


def test_diff_compares_effective_configurations(live: Configuration) -> None:
    """diff(0, 2) shows the net change between two versions."""
    live.update("openai", {"timeout_seconds": 12}, actor="ana", reason="a")
    live.update("openai", {"max_retry_attempts": 5}, actor="ana", reason="b")
    assert live.diff("openai", 0, 2) == [
        {"field": "timeout_seconds", "from": 30.0, "to": 12.0},
        {"field": "max_retry_attempts", "from": 2, "to": 5},
    ]
    with pytest.raises(UnknownVersionError, match="no configuration version 9"):
        live.diff("openai", 0, 9)


def test_none_removes_a_runtime_override(live: Configuration) -> None:
    """Setting a field to None falls back to the file's value."""
    live.update("openai", {"timeout_seconds": 12}, actor="ana", reason="a")
    live.update("openai", {"timeout_seconds": None}, actor="ana", reason="b")
    assert live.get("openai").timeout_seconds == 30


def test_a_change_that_changes_nothing_writes_no_version(live: Configuration) -> None:
    """Setting a field to its current value returns the current version."""
    first = live.update("openai", {"timeout_seconds": 12}, actor="ana", reason="a")
    again = live.update("openai", {"timeout_seconds": 12}, actor="ana", reason="a")
    assert again.version == first.version == 1


def test_a_change_needs_an_actor_a_reason_and_a_known_source(live: Configuration) -> None:
    """Anonymous or unexplained changes are refused."""
    with pytest.raises(ConfigError, match="actor and a reason"):
        live.update("openai", {"timeout_seconds": 12}, actor="ana", reason=" ")
    with pytest.raises(ConfigError, match="source must be one of"):
        live.update("openai", {"timeout_seconds": 12}, actor="ana", reason="x", source="web")


def test_a_secret_set_at_runtime_is_stored_encrypted(live: Configuration) -> None:
    """A plain secret is refused without a key and stored as enc: with one."""
    with pytest.raises(SecretKeyMissingError):
        live.update("openai", {"api_key": "sk-runtime-9876543210fedcba"}, actor="a", reason="r")
    assert live.history("openai") == []
    live.keyring = Keyring([generate_key()])
    version = live.update(
        "openai", {"api_key": "sk-runtime-9876543210fedcba"}, actor="a", reason="rotate the key"
    )
    assert version.changes == ({"field": "api_key", "secret": True, "change": "changed"},)
    stored = live.store.latest_config_version("default", "openai")
    assert stored is not None
    assert stored.values["api_key"].startswith("enc:")
    api_key = live.get("openai").api_key  # type: ignore[attr-defined]
    assert api_key.get_secret_value() == "sk-runtime-9876543210fedcba"


def test_versions_are_kept_per_environment(config_path: Path, store_uri: str) -> None:
    """A change in staging leaves the default environment's versions alone."""
    store = open_store(store_uri)
    try:
        file = ConfigFile.load(config_path)
        staging = Configuration(file, store=store, environment="staging", environ=ENVIRON)
        default = Configuration(file, store=store, environ=ENVIRON)
        staging.update("openai", {"max_retry_attempts": 7}, actor="ana", reason="x")
        assert staging.get("openai").timeout_seconds == 20
        assert staging.get("openai").max_retry_attempts == 7
        assert default.get("openai").max_retry_attempts == 2
        assert default.version("openai") == 0
    finally:
        store.close()


def test_an_unknown_environment_is_an_error(config_path: Path) -> None:
    """Naming an undeclared environment fails instead of falling back to another."""
    with pytest.raises(UnknownEnvironmentError, match=r"'prod'.*default, staging"):
        Configuration(
            ConfigFile.load(config_path), store=open_store("memory://"), environment="prod"
        )


def test_subscribers_hear_of_changes_from_another_configuration(
    config_path: Path, store_uri: str
) -> None:
    """A change written through one Configuration reaches another's subscribers on refresh."""
    store_a, store_b = open_store(store_uri), open_store(store_uri)
    try:
        file = ConfigFile.load(config_path)
        writer = Configuration(file, store=store_a, environ=ENVIRON)
        reader = Configuration(file, store=store_b, environ=ENVIRON)
        assert reader.get("openai").timeout_seconds == 30
        heard: list[ConfigVersion] = []
        reader.subscribe(heard.append)
        local: list[ConfigVersion] = []
        writer.subscribe(local.append)
        writer.update("openai", {"timeout_seconds": 9}, actor="ana", reason="x")
        assert [v.version for v in local] == [1]
        assert reader.refresh()[0].version == 1
        assert [v.version for v in heard] == [1]
        assert reader.get("openai").timeout_seconds == 9
    finally:
        store_a.close()
        store_b.close()


def _update_from_version_zero(
    store_uri: str,
    config_path: str,
    timeout: int,
    barrier: multiprocessing.synchronize.Barrier,
    results: multiprocessing.Queue[str],
) -> None:
    store = open_store(store_uri)
    configuration = Configuration(ConfigFile.load(config_path), store=store, environ=ENVIRON)
    configuration.get("openai")
    barrier.wait()
    try:
        configuration.update(
            "openai",
            {"timeout_seconds": timeout},
            actor=f"p{timeout}",
            reason="race",
            expected_version=0,
        )
        results.put("ok")
    except VersionConflictError:
        results.put("conflict")
    finally:
        store.close()


def test_two_processes_updating_from_the_same_version_one_wins(
    config_path: Path, store_uri: str
) -> None:
    """Two processes update from version 0 at once: exactly one succeeds, one gets a conflict."""
    open_store(store_uri).close()  # migrate first, as a deployment would
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results: multiprocessing.Queue[str] = context.Queue()
    processes = [
        context.Process(
            target=_update_from_version_zero,
            args=(store_uri, str(config_path), timeout, barrier, results),
        )
        for timeout in (11, 12)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    outcomes = sorted(results.get(timeout=5) for _ in processes)
    assert outcomes == ["conflict", "ok"]
    store = open_store(store_uri)
    try:
        assert [v.version for v in store.config_versions("default", "openai")] == [1]
    finally:
        store.close()


def test_validate_reports_everything_and_changes_nothing(tmp_path: Path, store_uri: str) -> None:
    """Validation of a bad file lists each problem across environments and writes nothing."""
    path = tmp_path / "bad.toml"
    path.write_text(
        '[tools.openai]\ntimeout_seconds = -1\napi_endpoint = "ftp://x"\nbogus = 1\n'
        "[environments.prod.tools.openai]\nmax_retry_attempts = 99\n"
    )
    store = open_store(store_uri)
    try:
        cursor = store.config_cursor()
        issues = Configuration(ConfigFile.load(path), store=store, environ={}).validate()
        paths = {issue.path for issue in issues}
        assert paths == {
            "tools.openai.timeout_seconds",
            "tools.openai.api_endpoint",
            "tools.openai.bogus",
            "environments.prod.tools.openai.max_retry_attempts",
        }
        assert store.config_cursor() == cursor
    finally:
        store.close()


def test_rotation_re_encrypts_every_stored_secret(live: Configuration) -> None:
    """After rotation, a keyring holding only the new key opens every stored secret."""
    old_key = generate_key()
    live.keyring = Keyring([old_key])
    live.update("openai", {"api_key": "sk-first-0123456789abcdef"}, actor="a", reason="r")
    live.update("openai", {"api_key": "sk-second-0123456789abcdef"}, actor="a", reason="r")
    new_key = generate_key()
    changed = live.rotate_secrets(Keyring([new_key, old_key]))
    assert changed == 2
    live.keyring = Keyring([new_key])
    live.rollback("openai", 1, actor="a", reason="check the old version opens")
    assert live.get("openai").api_key.get_secret_value() == "sk-first-0123456789abcdef"  # type: ignore[attr-defined]


def test_preview_shows_the_diff_and_writes_nothing(live: Configuration) -> None:
    """preview() returns what update() would record, or its errors, and stores no version."""
    assert live.preview("openai", {"timeout_seconds": 12}) == [
        {"field": "timeout_seconds", "from": 30.0, "to": 12.0}
    ]
    with pytest.raises(ConfigValidationError, match="timeout_seconds"):
        live.preview("openai", {"timeout_seconds": -1})
    assert live.history("openai") == []
