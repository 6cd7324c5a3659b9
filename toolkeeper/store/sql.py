"""The store on SQL databases (SQLite, PostgreSQL) through SQLAlchemy Core.

Open one with :func:`toolkeeper.store.open_store`, which also migrates its schema.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Connection, Engine, RowMapping, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from toolkeeper._clock import Clock, SystemClock
from toolkeeper._errors import StoreError, VersionConflictError
from toolkeeper.store._engine import WRITE_OPTION
from toolkeeper.store.records import ConfigVersionRecord
from toolkeeper.store.tables import config_versions

__all__ = ["Store"]

_t = config_versions
# ``values`` is also a method of the column collection: index it by name.
_values = _t.c["values"]

# Key of the PostgreSQL advisory lock taken by every write to config_versions:
# one config writer at a time, so ids are committed in the order they are drawn
# and a poller never skips an id that commits late.
_CONFIG_WRITE_LOCK_KEY = 0x746B_6366_6777  # "tkcfgw"


class Store:
    """Keep toolkeeper's durable state in one SQL database.

    Thread-safe: file and PostgreSQL stores give each thread its own pooled
    connection; an in-memory store shares one connection under a lock. Every
    database error reaches callers as :class:`~toolkeeper.StoreError`.
    """

    def __init__(self, engine: Engine, *, uri: str, clock: Clock | None = None) -> None:
        """Wrap an engine whose schema is already current; ``uri`` is shown masked."""
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._uri = uri
        self._clock = clock if clock is not None else SystemClock()
        self._lock: AbstractContextManager[Any] = (
            threading.RLock() if isinstance(engine.pool, StaticPool) else nullcontext()
        )
        self._closed = False
        #: Bumped by every revocation of a credential made through this store object
        #: (:meth:`note_revocation`): a cache of credentials in this process compares it on
        #: every use, to forget at once what any registry of this store revoked.
        self.revocations = 0
        self._revocation_numbers = itertools.count(1)

    def note_revocation(self) -> None:
        """Say a credential was revoked through this store (``next`` of a count: atomic)."""
        self.revocations = next(self._revocation_numbers)

    @property
    def uri(self) -> str:
        """Return the store's URI with any password masked."""
        return self._uri

    def __repr__(self) -> str:
        return f"Store(uri={self._uri!r})"

    def close(self) -> None:
        """Release every connection; the store cannot be used afterwards."""
        self._closed = True
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def append_config_version(
        self, record: ConfigVersionRecord, *, expected_version: int
    ) -> ConfigVersionRecord:
        """Store ``record`` as version ``expected_version + 1`` and return it as stored.

        Raises :class:`~toolkeeper.VersionConflictError` when the latest stored
        version of (environment, tool) is not ``expected_version`` (0 when there is
        none), including when another process stored it a moment earlier.
        ``created_at`` is kept when given (timezone-aware), else taken from the clock.
        """
        values, diff = _dumps(record.values), _dumps(record.diff)
        created_at = record.created_at if record.created_at is not None else self._clock.now()
        if created_at.tzinfo is None:
            raise ValueError(f"created_at must be timezone-aware, got {created_at!r}")
        with self.translated():
            try:
                with self.transaction(write=True, serialize=_CONFIG_WRITE_LOCK_KEY) as conn:
                    latest = _latest_version(conn, record.environment, record.tool)
                    if latest != expected_version:
                        raise VersionConflictError(record.tool, expected_version, latest)
                    row = {
                        "environment": record.environment,
                        "tool": record.tool,
                        "version": expected_version + 1,
                        "values": values,
                        "actor": record.actor,
                        "reason": record.reason,
                        "source": record.source,
                        "created_at": created_at,
                        "diff": diff,
                    }
                    new_id = conn.execute(insert(_t).values(row).returning(_t.c.id)).scalar_one()
            except IntegrityError as exc:
                # Another writer stored this version between our read and our insert.
                with self.transaction(write=False) as conn:
                    latest = _latest_version(conn, record.environment, record.tool)
                if latest == expected_version:
                    raise
                raise VersionConflictError(record.tool, expected_version, latest) from exc
            stored = self._select_one(_t.c.id == new_id)
        assert stored is not None
        return stored

    def config_versions(self, environment: str, tool: str) -> list[ConfigVersionRecord]:
        """Return every version of ``tool`` in ``environment``, oldest first."""
        return self._select(
            (_t.c.environment == environment) & (_t.c.tool == tool), order_by=_t.c.version
        )

    def config_version(
        self, environment: str, tool: str, version: int
    ) -> ConfigVersionRecord | None:
        """Return one version of ``tool`` in ``environment``, or ``None`` if it does not exist."""
        return self._select_one(
            (_t.c.environment == environment) & (_t.c.tool == tool) & (_t.c.version == version)
        )

    def latest_config_version(self, environment: str, tool: str) -> ConfigVersionRecord | None:
        """Return the newest version of ``tool`` in ``environment``, or ``None``."""
        found = self._select(
            (_t.c.environment == environment) & (_t.c.tool == tool),
            order_by=_t.c.version.desc(),
            limit=1,
        )
        return found[0] if found else None

    def config_changes_since(self, cursor: int) -> list[ConfigVersionRecord]:
        """Return every version stored after ``cursor`` (an ``id``), in the order stored.

        Ids become visible in increasing order, so a poller that remembers the
        last id it saw misses nothing.
        """
        return self._select(_t.c.id > cursor, order_by=_t.c.id)

    def config_cursor(self) -> int:
        """Return the id of the newest stored version, or 0 when there is none."""
        with self.translated(), self.transaction(write=False) as conn:
            return int(conn.execute(select(func.coalesce(func.max(_t.c.id), 0))).scalar_one())

    def rewrite_config_values(self, transform: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
        """Replace every stored version's values with ``transform(values)``; count the changes.

        All or nothing: one transaction covers every row, so if ``transform``
        raises, its exception propagates and nothing is changed. Used to
        re-encrypt secrets with a new key.
        """
        with (
            self.translated(),
            self.transaction(write=True, serialize=_CONFIG_WRITE_LOCK_KEY) as conn,
        ):
            changed = 0
            for row_id, text in conn.execute(select(_t.c.id, _values).order_by(_t.c.id)).all():
                new_values = transform(json.loads(text))
                if not isinstance(new_values, dict):
                    raise TypeError(
                        f"rewrite_config_values: transform returned "
                        f"{type(new_values).__name__}, expected dict"
                    )
                new_text = _dumps(new_values)
                if new_text != text:
                    conn.execute(update(_t).where(_t.c.id == row_id).values({"values": new_text}))
                    changed += 1
            return changed

    def _select(
        self, where: Any, *, order_by: Any = None, limit: int | None = None
    ) -> list[ConfigVersionRecord]:
        query = select(_t).where(where).order_by(order_by).limit(limit)
        with self.translated(), self.transaction(write=False) as conn:
            return [_to_record(row) for row in conn.execute(query).mappings()]

    def _select_one(self, where: Any) -> ConfigVersionRecord | None:
        found = self._select(where, limit=1)
        return found[0] if found else None

    @contextmanager
    def transaction(self, *, write: bool, serialize: int | None = None) -> Iterator[Connection]:
        """Yield a connection inside a transaction that commits when the block succeeds.

        For the store's own modules. ``write`` takes SQLite's write lock up front
        (``BEGIN IMMEDIATE``); ``serialize`` names a PostgreSQL advisory lock
        held until commit, so writers of one kind run one at a time.
        """
        if self._closed:
            raise StoreError(f"the store {self._uri} is closed")
        engine = self._writer if write else self._engine
        with self._lock, engine.begin() as conn:
            if serialize is not None and conn.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(serialize)))
            yield conn

    @contextmanager
    def translated(self) -> Iterator[None]:
        """Re-raise database errors as StoreError, keeping the original as the cause."""
        try:
            yield
        except SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None)
            reason = str(orig).strip() if orig is not None else str(exc)
            raise StoreError(
                f"store {self._uri} failed ({type(orig or exc).__name__}): {reason}"
            ) from exc


def _latest_version(conn: Connection, environment: str, tool: str) -> int:
    query = select(func.coalesce(func.max(_t.c.version), 0)).where(
        (_t.c.environment == environment) & (_t.c.tool == tool)
    )
    return int(conn.execute(query).scalar_one())


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _to_record(row: RowMapping) -> ConfigVersionRecord:
    return ConfigVersionRecord(
        environment=row["environment"],
        tool=row["tool"],
        values=json.loads(row["values"]),
        actor=row["actor"],
        reason=row["reason"],
        source=row["source"],
        diff=json.loads(row["diff"]),
        version=row["version"],
        id=row["id"],
        created_at=row["created_at"],
    )
