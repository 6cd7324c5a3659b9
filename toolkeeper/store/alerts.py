"""Alert states, events and silences in the SQL store: the queries behind :mod:`toolkeeper.alerts`.

A state changes only through :meth:`AlertTable.apply`, a compare-and-set on the
row's ``version`` inside one write transaction (SQLite's ``BEGIN IMMEDIATE``;
on PostgreSQL the advisory lock :data:`ALERTS_LOCK_KEY`), together with the
events the change records. Of several evaluators making the same transition
from the same version, exactly one succeeds; the others learn they lost.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, Connection, RowMapping, delete, func, insert, select, update

from toolkeeper.store.alert_records import AlertEvent, AlertState, GroupState, Silence
from toolkeeper.store.sql import Store
from toolkeeper.store.tables import (
    alert_config_versions,
    alert_events,
    alert_groups,
    alert_silences,
    alert_states,
)

__all__ = ["ALERTS_LOCK_KEY", "AlertConfigTable", "AlertTable", "NewEvent", "StoredDocument"]

#: PostgreSQL advisory lock held by every write of alert states, events and silences.
ALERTS_LOCK_KEY = 0x746B_616C_7274  # "tkalrt"

_s = alert_states
_e = alert_events
_x = alert_silences
_g = alert_groups
_v = alert_config_versions

# The stored columns of a state and an event are their records' fields, by the same names.
_STATE_FIELDS = tuple(f.name for f in fields(AlertState))
_EVENT_FIELDS = tuple(f.name for f in fields(AlertEvent))


class NewEvent(NamedTuple):
    """An event to record: which alert, what happened, in words."""

    rule: str
    tool: str
    kind: str
    detail: str


class AlertTable:
    """Read and write the alert tables of one store; thread-safe as the store is."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # States --------------------------------------------------------------

    def states(self) -> list[AlertState]:
        """Return every stored alert state."""
        with self.store.translated(), self.store.transaction(write=False) as conn:
            rows = conn.execute(select(_s).order_by(_s.c.rule, _s.c.tool)).mappings().all()
        return [_state(row) for row in rows]

    def state(self, rule: str, tool: str) -> AlertState | None:
        """Return the stored state of ``rule`` for ``tool``, or ``None``."""
        with self.store.translated(), self.store.transaction(write=False) as conn:
            row = conn.execute(select(_s).where(_key(rule, tool))).mappings().first()
        return None if row is None else _state(row)

    def apply(
        self, state: AlertState, *, expected_version: int, events: Sequence[NewEvent], at: datetime
    ) -> bool:
        """Store ``state`` if its row is still at ``expected_version`` (0: no row), with ``events``.

        Returns ``False``, changing nothing, when another writer changed the row
        first. ``state.version`` must be ``expected_version + 1``.
        """
        if state.version != expected_version + 1:
            raise ValueError(
                f"state version={state.version} must be expected_version + 1 "
                f"({expected_version + 1})"
            )
        values = _row(state)
        with (
            self.store.translated(),
            self.store.transaction(write=True, serialize=ALERTS_LOCK_KEY) as conn,
        ):
            where = _key(state.rule, state.tool)
            current = conn.execute(select(_s.c.version).where(where)).scalar()
            if (current or 0) != expected_version:
                return False
            if current is None:
                conn.execute(insert(_s).values(values))
            else:
                # last_notified_at belongs to the groups' notifications (apply_group).
                del values["last_notified_at"]
                changed = conn.execute(
                    update(_s).where(where & (_s.c.version == expected_version)).values(values)
                )
                if changed.rowcount != 1:
                    return False
            _insert_events(conn, events, at)
        return True

    def observe(self, rule: str, tool: str, value: float | None, at: datetime) -> None:
        """Record the latest value of a stored alert; no transition, so no new version."""
        with self.store.translated(), self.store.transaction(write=True) as conn:
            conn.execute(update(_s).where(_key(rule, tool)).values(value=value, evaluated_at=at))

    # Groups --------------------------------------------------------------

    def groups(self) -> list[GroupState]:
        """Return every stored notification group."""
        with self.store.translated(), self.store.transaction(write=False) as conn:
            rows = conn.execute(select(_g).order_by(_g.c.id)).mappings().all()
        return [_group(row) for row in rows]

    def apply_group(
        self,
        group: GroupState,
        *,
        expected_version: int,
        notified: Sequence[tuple[str, str]],
        events: Sequence[NewEvent],
        at: datetime,
    ) -> bool:
        """Store ``group`` if its row is still at ``expected_version`` (0: no row).

        In the same transaction, mark the alerts ``notified`` (rule, tool) as
        notified at ``at`` and record ``events``. Returns ``False``, changing
        nothing, when another process stored the group first.
        """
        values = {
            "id": group.id, "route": group.route, "group_key": group.key,
            "opened_at": group.opened_at, "flushed_at": group.flushed_at,
            "notified": json.dumps(list(group.notified)), "version": group.version,
        }  # fmt: skip
        with (
            self.store.translated(),
            self.store.transaction(write=True, serialize=ALERTS_LOCK_KEY) as conn,
        ):
            current = conn.execute(select(_g.c.version).where(_g.c.id == group.id)).scalar()
            if (current or 0) != expected_version:
                return False
            if current is None:
                conn.execute(insert(_g).values(values))
            else:
                conn.execute(update(_g).where(_g.c.id == group.id).values(values))
            for rule, tool in notified:
                conn.execute(update(_s).where(_key(rule, tool)).values(last_notified_at=at))
            _insert_events(conn, events, at)
        return True

    # Events --------------------------------------------------------------

    def add_events(self, events: Sequence[NewEvent], at: datetime) -> None:
        """Record ``events`` that happened at ``at``."""
        if not events:
            return
        with (
            self.store.translated(),
            self.store.transaction(write=True, serialize=ALERTS_LOCK_KEY) as conn,
        ):
            _insert_events(conn, events, at)

    def events(self, limit: int) -> list[AlertEvent]:
        """Return the ``limit`` newest events, newest first."""
        query = select(_e).order_by(_e.c.id.desc()).limit(limit)
        with self.store.translated(), self.store.transaction(write=False) as conn:
            rows = conn.execute(query).mappings().all()
        return [_event(row) for row in rows]

    def prune_events(self, before: datetime) -> int:
        """Delete the events older than ``before``; return how many were deleted."""
        with (
            self.store.translated(),
            self.store.transaction(write=True, serialize=ALERTS_LOCK_KEY) as conn,
        ):
            return int(conn.execute(delete(_e).where(_e.c.at < before)).rowcount)

    # Silences ------------------------------------------------------------

    def add_silence(
        self,
        *,
        rule: str,
        tool: str,
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
        matchers: tuple[str, ...] = (),
    ) -> Silence:
        """Store a new silence and return it."""
        row = {
            "rule": rule, "tool": tool, "starts_at": starts_at, "ends_at": ends_at,
            "created_by": created_by, "comment": comment,
            "matchers": json.dumps(list(matchers)) if matchers else None,
        }  # fmt: skip
        with (
            self.store.translated(),
            self.store.transaction(write=True, serialize=ALERTS_LOCK_KEY) as conn,
        ):
            new_id = conn.execute(insert(_x).values(row).returning(_x.c.id)).scalar_one()
        found = self.silence(new_id, now=starts_at)
        assert found is not None
        return found

    def silence(self, silence_id: int, *, now: datetime) -> Silence | None:
        """Return the silence with this id, or ``None``."""
        with self.store.translated(), self.store.transaction(write=False) as conn:
            row = conn.execute(select(_x).where(_x.c.id == silence_id)).mappings().first()
        return None if row is None else _silence(row, now)

    def silences(self, *, now: datetime, include_expired: bool) -> list[Silence]:
        """Return the silences in force at ``now`` (and the ended ones too), newest first."""
        query = select(_x).order_by(_x.c.id.desc())
        if not include_expired:
            query = query.where(
                _x.c.expired_by.is_(None) & (_x.c.starts_at <= now) & (_x.c.ends_at > now)
            )
        with self.store.translated(), self.store.transaction(write=False) as conn:
            rows = conn.execute(query).mappings().all()
        return [_silence(row, now) for row in rows]

    def expire_silence(self, silence_id: int, *, by: str, now: datetime) -> Silence | None:
        """End the silence now, naming who did; one already over is left as it is.

        Returns the silence, or ``None`` when no silence has this id.
        """
        with (
            self.store.translated(),
            self.store.transaction(write=True, serialize=ALERTS_LOCK_KEY) as conn,
        ):
            conn.execute(
                update(_x)
                .where((_x.c.id == silence_id) & _x.c.expired_by.is_(None) & (_x.c.ends_at > now))
                .values(expired_by=by, expired_at=now, ends_at=now)
            )
        return self.silence(silence_id, now=now)


def _key(rule: str, tool: str) -> ColumnElement[bool]:
    return (_s.c.rule == rule) & (_s.c.tool == tool)


def _row(state: AlertState) -> dict[str, object]:
    return {name: getattr(state, name) for name in _STATE_FIELDS}


def _insert_events(conn: Connection, events: Sequence[NewEvent], at: datetime) -> None:
    if events:
        conn.execute(insert(_e), [{"at": at, **event._asdict()} for event in events])


def _state(row: RowMapping) -> AlertState:
    return AlertState(**{name: row[name] for name in _STATE_FIELDS})


def _group(row: RowMapping) -> GroupState:
    return GroupState(
        id=row["id"],
        route=row["route"],
        key=row["group_key"],
        opened_at=row["opened_at"],
        flushed_at=row["flushed_at"],
        notified=tuple(json.loads(row["notified"])),
        version=row["version"],
    )


def _event(row: RowMapping) -> AlertEvent:
    return AlertEvent(**{name: row[name] for name in _EVENT_FIELDS})


def _silence(row: RowMapping, now: datetime) -> Silence:
    return Silence(
        id=row["id"],
        rule=row["rule"],
        tool=row["tool"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        created_by=row["created_by"],
        comment=row["comment"],
        expired=row["expired_by"] is not None or row["ends_at"] <= now,
        expired_by=row["expired_by"],
        matchers=tuple(json.loads(row["matchers"])) if row["matchers"] else (),
    )


class AlertConfigTable:
    """Versions of alerting's runtime configuration (JSON documents) in one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def latest_version(self) -> int:
        """Return the newest version number (0: none yet); one cheap query."""
        with self.store.translated(), self.store.transaction(write=False) as conn:
            found = conn.execute(select(func.max(_v.c.version))).scalar()
        return int(found or 0)

    def get(self, version: int | None = None) -> StoredDocument | None:
        """Return version ``version`` (default: the newest), or ``None``."""
        query = select(_v)
        query = (
            query.order_by(_v.c.version.desc()).limit(1)
            if version is None
            else query.where(_v.c.version == version)
        )
        with self.store.translated(), self.store.transaction(write=False) as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _document(row)

    def history(self, limit: int) -> list[StoredDocument]:
        """Return the ``limit`` newest versions, newest first."""
        query = select(_v).order_by(_v.c.version.desc()).limit(limit)
        with self.store.translated(), self.store.transaction(write=False) as conn:
            rows = conn.execute(query).mappings().all()
        return [_document(row) for row in rows]

    def add(
        self,
        document: str,
        *,
        expected_version: int,
        actor: str,
        reason: str,
        source: str,
        at: datetime,
    ) -> int | None:
        """Store ``document`` as version ``expected_version + 1``; ``None`` if one came first."""
        with (
            self.store.translated(),
            self.store.transaction(write=True, serialize=ALERTS_LOCK_KEY) as conn,
        ):
            current = int(conn.execute(select(func.max(_v.c.version))).scalar() or 0)
            if current != expected_version:
                return None
            conn.execute(
                insert(_v).values(
                    version=current + 1,
                    document=document,
                    actor=actor,
                    reason=reason,
                    source=source,
                    created_at=at,
                )
            )
        return current + 1

    def rewrite(self, transform: Callable[[str], str]) -> int:
        """Replace every version's document with ``transform(document)``; count the changes.

        All or nothing: one transaction covers every row, so if ``transform``
        raises, nothing is changed. Used to re-encrypt notifier URLs under a new key.
        """
        with (
            self.store.translated(),
            self.store.transaction(write=True, serialize=ALERTS_LOCK_KEY) as conn,
        ):
            changed = 0
            rows = conn.execute(select(_v.c.version, _v.c.document).order_by(_v.c.version)).all()
            for version, document in rows:
                new = transform(document)
                if new != document:
                    conn.execute(update(_v).where(_v.c.version == version).values(document=new))
                    changed += 1
        return changed


class StoredDocument(NamedTuple):
    """One stored version of alerting's runtime configuration."""

    version: int
    document: str
    actor: str
    reason: str
    source: str
    created_at: datetime


def _document(row: RowMapping) -> StoredDocument:
    return StoredDocument(
        row["version"], row["document"], row["actor"], row["reason"], row["source"],
        row["created_at"],
    )  # fmt: skip
