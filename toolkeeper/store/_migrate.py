"""Bring a store's schema up to date with the Alembic migrations shipped in the package.

Users need no ``alembic.ini``: the configuration is built here, and the open
connection reaches ``migrations/env.py`` through ``Config.attributes``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from toolkeeper._errors import StoreError
from toolkeeper.store._engine import WRITE_OPTION

__all__ = ["MIGRATIONS", "migrate"]

MIGRATIONS = Path(__file__).parent / "migrations"

# Key of the PostgreSQL advisory lock that serialises migrations of one database.
_MIGRATION_LOCK_KEY = 0x746B_6D69_6772  # "tkmigr"


def migrate(engine: Engine, shown_uri: str) -> None:
    """Upgrade the store behind ``engine`` to the newest schema; safe to run concurrently.

    Every migration runs in one transaction that first takes a lock held until
    it commits, so a second process opening the same store at the same moment
    waits, then finds the schema current and does nothing. On PostgreSQL the lock
    is a transaction-scoped advisory lock. On SQLite it is the database's own
    write lock, taken by ``BEGIN IMMEDIATE`` (the write transactions of
    ``_engine``): it needs no lock file beside the database, works wherever SQLite
    does, and makes the DDL itself transactional, so a failed migration leaves
    nothing half done.
    """
    config = Config()
    # ConfigParser interpolates "%": escape it in case the path contains one.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    try:
        with engine.execution_options(**{WRITE_OPTION: True}).begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except CommandError as exc:
        raise StoreError(
            f"the schema of the store {shown_uri} cannot be upgraded: {exc}; "
            "was it written by a newer toolkeeper?"
        ) from exc
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open the store {shown_uri}: {_reason(exc)}") from exc


def _reason(exc: SQLAlchemyError) -> str:
    """Return the driver's own message, without the SQL statement and its parameters."""
    orig = getattr(exc, "orig", None)
    return str(orig).strip() if orig is not None else str(exc)
