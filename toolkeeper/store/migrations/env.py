"""Run toolkeeper's migrations on the connection that ``_migrate.migrate`` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from toolkeeper.store import operations as _operations  # noqa: F401 - defines its tables
from toolkeeper.store.tables import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise TypeError(
        "toolkeeper migrations run only through toolkeeper.store.open_store(), "
        "which passes the connection in Config.attributes"
    )
# The caller's transaction (and the lock it holds) spans every migration.
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
