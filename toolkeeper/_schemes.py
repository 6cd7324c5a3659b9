"""The URI schemes of every backend, in one table: what ``memory://``, ``redis://``… reach.

Each backend family declares its schemes here once and reads them from here
(the store's engine, the ledgers, the rate-limit storage, the Keeper's
``shared`` URI, the ``[costs]`` settings' validation), as ``limits`` gathers every
storage's ``STORAGE_SCHEME`` in one place. A ``+driver`` suffix
(``postgresql+psycopg``) belongs to its base scheme. No toolkeeper imports:
every layer may read it.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "LEDGER_SCHEMES",
    "LIMIT_SCHEMES",
    "MEMORY_SCHEMES",
    "REDIS_SCHEMES",
    "SQL_SCHEMES",
    "STORE_SCHEMES",
    "listed",
    "scheme_of",
]

#: In this process's memory only.
MEMORY_SCHEMES: Final = ("memory",)
#: A Redis server (TLS with ``rediss``, a socket with ``unix``), through ``redis-py``.
REDIS_SCHEMES: Final = ("redis", "rediss", "unix")
#: A SQL database through SQLAlchemy: SQLite by default, PostgreSQL through psycopg.
SQL_SCHEMES: Final = ("sqlite", "postgresql", "postgres")

#: Where the store may live (``memory://`` is an in-memory SQLite database).
STORE_SCHEMES: Final = SQL_SCHEMES + MEMORY_SCHEMES
#: Where budgets' spend and reservations may be kept.
LEDGER_SCHEMES: Final = MEMORY_SCHEMES + REDIS_SCHEMES + SQL_SCHEMES
#: Where rate-limit windows may be kept (``limits`` storages).
LIMIT_SCHEMES: Final = MEMORY_SCHEMES + REDIS_SCHEMES


def scheme_of(uri: str) -> str:
    """Return the base scheme of ``uri``, lower-cased and without a ``+driver``; "" if none."""
    if "://" not in uri:
        return ""
    return uri.partition("://")[0].lower().partition("+")[0]


def listed(schemes: tuple[str, ...]) -> str:
    """Return ``schemes`` as a reader sees them in an error: ``memory://, redis://``."""
    return ", ".join(f"{scheme}://" for scheme in schemes)
