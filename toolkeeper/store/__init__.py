"""Durable state, in a backend chosen by URI.

``open_store()`` is the one way in; it imports SQLAlchemy and Alembic only when
called, so ``import toolkeeper`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkeeper.store.records import ConfigVersionRecord

if TYPE_CHECKING:
    from toolkeeper._clock import Clock
    from toolkeeper.store.sql import Store

__all__ = ["DEFAULT_STORE_URI", "ConfigVersionRecord", "Store", "open_store"]

#: The store used when none is named: an SQLite file under the working directory.
DEFAULT_STORE_URI = "sqlite:///./.toolkeeper/state.db"


def open_store(uri: str | None = None, *, clock: Clock | None = None) -> Store:
    """Open the store at ``uri`` (default: ``DEFAULT_STORE_URI``), migrating its schema.

    Accepted URIs: ``sqlite:///path`` (relative) or ``sqlite:////path`` (absolute),
    ``sqlite://`` or ``memory://`` (in memory, shared by all threads), and
    ``postgresql://…`` (needs ``toolkeeper[postgres]``). Safe when several
    processes open the same store at once. ``clock`` stamps new records.
    """
    # Deferred: SQLAlchemy and Alembic load when a store is opened, not on import.
    from toolkeeper.store._engine import create_store_engine
    from toolkeeper.store._migrate import migrate
    from toolkeeper.store.sql import Store

    engine, shown_uri = create_store_engine(DEFAULT_STORE_URI if uri is None else uri)
    try:
        migrate(engine, shown_uri)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, uri=shown_uri, clock=clock)


def __getattr__(name: str) -> Any:
    # Store lives beside SQLAlchemy; load it only when someone asks for it.
    if name == "Store":
        # Deferred: a lazy name: Store loads SQLAlchemy only when asked for.
        from toolkeeper.store.sql import Store

        return Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
