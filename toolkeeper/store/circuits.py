"""Each writer's circuit states in the SQL store, so a process can show another's breakers.

An application process writes the state of every breaker it has with each batch
of operations (in the same transaction); ``toolkeeper serve`` beside it reads the
recent rows of the other writers. A row not refreshed for a while says nothing:
its process stopped, or stopped calling.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Column, Connection, Float, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from toolkeeper.store.sql import Store
from toolkeeper.store.tables import metadata

__all__ = ["circuit_states", "load_circuit_states", "upsert_circuit_states"]

circuit_states = Table(
    "circuit_states",
    metadata,
    Column("writer", String(64), primary_key=True),
    Column("tool", String(200), primary_key=True),
    Column("state", String(20), nullable=False),
    Column("updated_ts", Float, nullable=False),
)


def upsert_circuit_states(
    conn: Connection, writer: str, states: Mapping[str, str], now: float
) -> None:
    """Store ``writer``'s state of each tool's circuit as of ``now`` (epoch seconds)."""
    if not states:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(circuit_states)
    statement = statement.on_conflict_do_update(
        index_elements=["writer", "tool"],
        set_={"state": statement.excluded.state, "updated_ts": statement.excluded.updated_ts},
    )
    conn.execute(
        statement,
        [{"writer": writer, "tool": tool, "state": state, "updated_ts": now}
         for tool, state in states.items()],
    )  # fmt: skip


def load_circuit_states(store: Store, *, since: float, other_than: str) -> dict[str, list[str]]:
    """Return the states other writers stored for each tool at or after ``since``."""
    table = circuit_states
    query = select(table.c.tool, table.c.state).where(
        table.c.updated_ts >= since, table.c.writer != other_than
    )
    found: dict[str, list[str]] = {}
    with store.translated(), store.transaction(write=False) as conn:
        for tool, state in conn.execute(query):
            found.setdefault(tool, []).append(state)
    return found
