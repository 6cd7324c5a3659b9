"""Schema migrations: shipped in the package, run on open, safe to run concurrently."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text

from tests._processes import run_in_processes
from toolkeeper._errors import StoreError
from toolkeeper.store import circuits as _circuits  # noqa: F401 - defines its table
from toolkeeper.store import open_store
from toolkeeper.store import operations as _operations  # noqa: F401 - defines its tables
from toolkeeper.store._migrate import MIGRATIONS
from toolkeeper.store.tables import VERSION_TABLE, metadata

from ._helpers import open_after_barrier


def _engine(store_uri: str) -> Engine:
    return create_engine(store_uri.replace("postgresql://", "postgresql+psycopg://"))


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_migrations_ship_inside_the_package() -> None:
    """Keep env.py, the revision template and the revisions inside toolkeeper/store."""
    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert (MIGRATIONS / "versions" / "0001_config_versions.py").is_file()
    newest = max(path.name.split("_")[0] for path in (MIGRATIONS / "versions").glob("0*.py"))
    assert _head() == newest


def test_open_migrates_to_head(store_uri: str) -> None:
    """Create the tables and record the head revision in toolkeeper's own version table."""
    open_store(store_uri).close()
    engine = _engine(store_uri)
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        revisions = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    engine.dispose()
    assert {"config_versions", VERSION_TABLE} <= tables
    assert "alembic_version" not in tables
    assert [row[0] for row in revisions] == [_head()]


def test_tables_match_the_migrations(store_uri: str) -> None:
    """Find no difference between tables.py and the schema the migrations build."""
    open_store(store_uri).close()
    engine = _engine(store_uri)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        differences = compare_metadata(context, metadata)
    engine.dispose()
    assert differences == []


def test_concurrent_first_opens_migrate_once(store_uri: str) -> None:
    """Let several processes open a fresh store at once, all succeeding and migrating once."""
    outcomes = run_in_processes(open_after_barrier, 3, store_uri)
    assert outcomes == [("ok", 0)] * 3
    engine = _engine(store_uri)
    with engine.connect() as conn:
        revisions = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    engine.dispose()
    assert [row[0] for row in revisions] == [_head()]


def test_store_from_a_newer_toolkeeper_is_refused(store_uri: str) -> None:
    """Refuse, with a StoreError, a store whose schema revision this version does not know."""
    open_store(store_uri).close()
    engine = _engine(store_uri)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreError, match="newer toolkeeper") as caught:
        open_store(store_uri)
    assert caught.value.__cause__ is not None


def test_operations_stored_before_token_kinds_read_back_with_none(store_uri: str) -> None:
    """Rows stored at revision 0009 keep their counts and read 0 cached, cache-write, reasoning."""
    from toolkeeper.store.operations import operation_rows

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = _engine(store_uri)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0009")
        conn.execute(
            text(
                "INSERT INTO operations (operation_id, tool, operation, status, end_ts,"
                " duration_ms, cost, input_tokens, output_tokens)"
                " VALUES ('op-old', 'openai', 'chat', 'success', 1800000000.0, 5.0, 0.01, 900, 40)"
            )
        )
    engine.dispose()
    store = open_store(store_uri)
    try:
        (row,), _ = operation_rows(store)
    finally:
        store.close()
    kinds = (row["cached_tokens"], row["cache_write_tokens"], row["reasoning_tokens"])
    assert (row["input_tokens"], row["output_tokens"], kinds) == (900, 40, (0, 0, 0))
