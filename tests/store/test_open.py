"""Opening stores by URI: defaults, schemes, threads, masking, lazy imports."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from toolkeeper._errors import MissingDependencyError, StoreError, VersionConflictError
from toolkeeper.store import open_store

from ._helpers import config_record

PASSWORD = "s3cret-Passw0rd-xyz"


def test_default_store_is_an_sqlite_file_under_dot_toolkeeper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Open the default store as ./.toolkeeper/state.db, creating the folder."""
    monkeypatch.chdir(tmp_path)
    with open_store() as store:
        store.append_config_version(config_record(), expected_version=0)
        assert store.uri == "sqlite:///./.toolkeeper/state.db"
    assert (tmp_path / ".toolkeeper" / "state.db").is_file()


def test_relative_sqlite_path_creates_missing_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resolve a relative sqlite path against the working directory and create its folders."""
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///data/nested/state.db") as store:
        assert store.config_cursor() == 0
    assert (tmp_path / "data" / "nested" / "state.db").is_file()


def test_opening_twice_keeps_data(store_uri: str) -> None:
    """Reopen a store and find what the first opening wrote, with the schema untouched."""
    with open_store(store_uri) as first:
        first.append_config_version(config_record(), expected_version=0)
    with open_store(store_uri) as second, open_store(store_uri) as third:
        assert [r.version for r in second.config_versions("development", "openai")] == [1]
        assert third.config_cursor() == second.config_cursor() == 1


def test_sqlite_file_store_uses_wal(tmp_path: Path) -> None:
    """Put a file store in WAL mode, so readers do not block the writer."""
    import sqlite3

    path = tmp_path / "state.db"
    open_store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("uri", ["memory://", "sqlite://"])
def test_in_memory_store_is_shared_by_threads(uri: str) -> None:
    """Let every thread of a process see one in-memory database."""
    stored = []
    with open_store(uri) as store:
        thread = threading.Thread(
            target=lambda: stored.append(
                store.append_config_version(config_record(), expected_version=0)
            )
        )
        thread.start()
        thread.join()
        assert [r.version for r in stored] == [1]
        assert store.config_versions("development", "openai") == stored
        assert store.uri == uri


def test_in_memory_store_serialises_concurrent_writers() -> None:
    """Give concurrent threads of an in-memory store one gapless sequence of versions."""
    failures: list[BaseException] = []

    def append_until_stored() -> None:
        for _ in range(200):
            latest = store.latest_config_version("development", "openai")
            try:
                store.append_config_version(
                    config_record(), expected_version=latest.version if latest else 0
                )
            except VersionConflictError:
                continue
            except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
                failures.append(exc)
            return

    with open_store("memory://") as store:
        threads = [threading.Thread(target=append_until_stored) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        versions = [r.version for r in store.config_versions("development", "openai")]
        assert versions == list(range(1, 9))


@pytest.mark.parametrize(
    "uri", [f"mysql://root:{PASSWORD}@db/app", f"redis://:{PASSWORD}@localhost", "state.db"]
)
def test_unsupported_scheme_is_named_with_the_supported_ones(uri: str) -> None:
    """Refuse an unsupported scheme, naming it and the supported schemes, never the password."""
    with pytest.raises(StoreError) as caught:
        open_store(uri)
    message = str(caught.value)
    assert "unsupported store URI scheme" in message
    assert "sqlite://" in message
    assert "memory://" in message
    assert "postgresql://" in message
    assert PASSWORD not in message


def test_unsupported_driver_is_refused() -> None:
    """Refuse a PostgreSQL driver other than psycopg 3, naming it."""
    with pytest.raises(StoreError, match=r"postgresql\+asyncpg"):
        open_store("postgresql+asyncpg://u@localhost/db")


def test_unparseable_uri_does_not_echo_the_password() -> None:
    """Report an unparseable URI without quoting it, so its password stays hidden."""
    with pytest.raises(StoreError) as caught:
        open_store(f"postgresql://user:{PASSWORD}@host:notaport/db")
    assert "could not be parsed" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None


def test_password_is_masked_in_uri_and_repr(postgres_url: str) -> None:
    """Mask a URI's password in ``uri`` and ``repr`` of an open PostgreSQL store."""
    with_password = postgres_url.replace("postgres@", f"postgres:{PASSWORD}@", 1)
    assert PASSWORD in with_password
    with open_store(with_password) as store:
        assert PASSWORD not in store.uri
        assert PASSWORD not in repr(store)
        assert "postgres:***@" in store.uri


def test_connection_error_is_wrapped_and_masks_the_password(tmp_path: Path) -> None:
    """Wrap a failed connection in StoreError that keeps its cause and hides the password."""
    uri = f"postgresql://tk:{PASSWORD}@127.0.0.1:9/nowhere?connect_timeout=2"
    with pytest.raises(StoreError) as caught:
        open_store(uri)
    assert "tk:***@127.0.0.1:9/nowhere" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is not None


def test_missing_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Say which extra to install when psycopg is not importable."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        return None if name == "psycopg" else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(MissingDependencyError) as caught:
        open_store("postgresql://postgres@127.0.0.1/postgres")
    assert caught.value.extra == "postgres"
    assert "pip install 'toolkeeper[postgres]'" in str(caught.value)


def test_closed_store_refuses_to_work(tmp_path: Path) -> None:
    """Raise StoreError when a closed store is used."""
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.config_cursor()


def test_importing_the_store_package_loads_no_database_library() -> None:
    """Keep SQLAlchemy and Alembic out of ``import toolkeeper.store``."""
    code = (
        "import sys, toolkeeper.store; "
        "print(sorted(m for m in ('sqlalchemy', 'alembic') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.stdout.strip() == "[]"


def test_a_new_sqlite_store_is_private_to_its_owner(tmp_path: Path) -> None:
    """A new store file is created 0600, its new folders 0700, and its WAL files follow."""
    import stat

    db = tmp_path / "shared" / "deeper" / "state.db"
    store = open_store(f"sqlite:///{db}")
    try:
        store.append_config_version(config_record(), expected_version=0)
        files = [db, *db.parent.glob("state.db-*")]
        assert len(files) >= 2
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        for folder in (db.parent, db.parent.parent):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    finally:
        store.close()


def test_the_default_store_folder_is_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default .toolkeeper/state.db is made 0600 in a 0700 folder, whatever the umask."""
    import os
    import stat

    monkeypatch.chdir(tmp_path)
    old = os.umask(0o022)
    try:
        open_store().close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / ".toolkeeper").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / ".toolkeeper" / "state.db").stat().st_mode) == 0o600
