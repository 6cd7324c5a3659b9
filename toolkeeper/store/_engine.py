"""Turn a store URI into a configured SQLAlchemy engine.

This is the one place that knows which URIs name which backend:

- ``sqlite:///relative/path`` or ``sqlite:////absolute/path``: a file (created
  0600, in folders created 0700), in WAL mode so readers never block the writer.
- ``sqlite://`` or ``memory://``: one in-memory database shared by every thread.
- ``postgresql://…`` (or ``postgres://``): PostgreSQL through psycopg 3.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from toolkeeper._errors import MissingDependencyError, StoreError
from toolkeeper._schemes import SQL_SCHEMES, STORE_SCHEMES

__all__ = ["SUPPORTED_SCHEMES", "WRITE_OPTION", "create_store_engine"]

SUPPORTED_SCHEMES = STORE_SCHEMES

#: Execution option marking a connection whose transactions will write.
WRITE_OPTION = "toolkeeper_write"

_SQLITE_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite"})
_POSTGRES_DRIVERS = frozenset({"postgresql", "postgres", "postgresql+psycopg"})
_BUSY_TIMEOUT_MS = 30_000


def create_store_engine(uri: str) -> tuple[Engine, str]:
    """Return an engine for ``uri`` and the URI as it may be shown (password masked)."""
    scheme = uri.partition("://")[0].lower() if "://" in uri else ""
    if scheme == "memory":
        return _sqlite_engine(make_url("sqlite://"), memory=True), "memory://"
    url = _parse(uri, scheme)
    shown = url.render_as_string(hide_password=True)
    if url.drivername in _SQLITE_DRIVERS:
        memory = url.database in (None, "", ":memory:")
        if not memory:
            _create_folder(Path(str(url.database)).expanduser(), shown)
        return _sqlite_engine(url, memory=memory), shown
    if url.drivername in _POSTGRES_DRIVERS:
        if importlib.util.find_spec("psycopg") is None:
            raise MissingDependencyError("the PostgreSQL store", "postgres")
        engine = create_engine(url.set(drivername="postgresql+psycopg"), pool_pre_ping=True)
        return engine, shown
    raise _unsupported(url.drivername)


def _parse(uri: str, scheme: str) -> URL:
    base = scheme.partition("+")[0]
    if base not in SQL_SCHEMES:
        raise _unsupported(scheme or "(none)")
    try:
        return make_url(uri)
    except (ArgumentError, ValueError):
        # The parser's message may quote the URI, password included: drop it.
        raise StoreError(
            f"the store URI with scheme {scheme!r} could not be parsed; expected a form such as "
            "sqlite:///path/to/state.db or postgresql://user@host:5432/database"
        ) from None


def _unsupported(scheme: str) -> StoreError:
    supported = ", ".join(f"{name}://" for name in SUPPORTED_SCHEMES)
    return StoreError(
        f"unsupported store URI scheme {scheme!r}; supported schemes: {supported} "
        "(PostgreSQL through the psycopg driver)"
    )


def _create_folder(path: Path, shown: str) -> None:
    """Create the store's folders (0700) and file (0600) if missing; leave existing ones be.

    The store holds API token hashes, encrypted secrets and the operations'
    history: only its owner may read it. SQLite gives its -wal and -shm files
    the database file's permissions.
    """
    missing = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]
    try:
        for folder in reversed(missing):
            folder.mkdir(mode=0o700, exist_ok=True)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
    except FileExistsError:
        pass  # another process created it first, with the same modes
    except OSError as exc:
        raise StoreError(f"cannot create the store {shown}: {exc}") from exc


def _sqlite_engine(url: URL, *, memory: bool) -> Engine:
    if memory:
        # One connection for the whole process, so every thread sees the same
        # database; the Store serialises its use with a lock.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        engine = create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def configure_connection(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (it would not BEGIN
        # before a SELECT) and emit BEGIN ourselves in the "begin" hook below: the
        # pysqlite recipe in SQLAlchemy's SQLite documentation.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not memory:
                (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
                if str(mode).lower() != "wal":
                    cursor.execute("PRAGMA journal_mode = WAL")
                # In WAL mode NORMAL keeps every commit across a crash of the process
                # (kill -9 included) and skips an fsync per commit; only a power cut
                # can lose the last commits, never corrupt the file.
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def begin_transaction(connection: Connection) -> None:
        # A write transaction takes SQLite's write lock up front (waiting up to the
        # busy timeout), so a read-then-insert cannot interleave with another
        # process's; a deferred one could fail to upgrade its lock halfway instead.
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
