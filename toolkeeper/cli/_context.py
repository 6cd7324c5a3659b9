"""What the global options select, and opening it on demand."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from toolkeeper._errors import StoreError, ToolkeeperError
from toolkeeper._secrets import Keyring
from toolkeeper.config.files import ConfigFile
from toolkeeper.config.live import Configuration
from toolkeeper.keeper import STORE_ENV, Keeper, locate_config
from toolkeeper.store import DEFAULT_STORE_URI, open_store

if TYPE_CHECKING:
    import typer

    # Deferred: the keeper loads pydantic and SQLAlchemy; `toolkeeper --help` stays fast.
    from toolkeeper.keeper import Keeper
    from toolkeeper.store.sql import Store

__all__ = ["CliState", "open_keeper"]


@dataclass
class CliState:
    """The file, environment and store chosen by the global options."""

    config_path: str | None = None
    environment: str | None = None
    store_uri: str | None = None
    _stores: list[Store] = field(default_factory=list)

    def file(self, override: str | None = None) -> ConfigFile:
        """Load the configuration file."""
        return locate_config(override or self.config_path)

    def store_uri_for(self, file: ConfigFile) -> str:
        """Return the store's URI: ``--store``/``$TOOLKEEPER_STORE``, the file's, or the default."""
        return self.store_uri or os.environ.get(STORE_ENV) or file.store or DEFAULT_STORE_URI

    def existing_store_uri(self, file: ConfigFile) -> str:
        """Return the store's URI, or fail naming the path when its SQLite file does not exist.

        Read-only commands use it: they never create an empty store where the
        application's is expected.
        """
        uri = self.store_uri_for(file)
        path = _sqlite_path(uri)
        if path is not None and not path.exists():
            raise StoreError(
                f"no store at {path.resolve()}: read-only commands do not create one. Point "
                "--store (or TOOLKEEPER_STORE) at the store the application writes, e.g. the "
                "sqlite:/// URI `toolkeeper demo` prints, or run this where it was created"
            )
        return uri

    def store(self, file: ConfigFile, *, create: bool = True) -> Store:
        """Open the store; with ``create=False`` a store that does not exist yet is not made."""
        uri = self.store_uri_for(file)
        path = _sqlite_path(uri)
        if not create and path is not None and not path.exists():
            uri = "memory://"
        opened = open_store(uri)
        self._stores.append(opened)
        return opened

    def configuration(
        self,
        *,
        file_override: str | None = None,
        create_store: bool = True,
        read_only: bool = False,
    ) -> Configuration:
        """Open the live configuration for the chosen environment.

        ``read_only`` (commands that only show it): a store that does not exist
        is not created (the file's values are version 0) and secrets are not
        read, so the application's secrets need not be set.
        """
        file = self.file(file_override)
        return Configuration(
            file,
            store=self.store(file, create=create_store and not read_only),
            environment=self.environment,
            keyring=Keyring.from_environment(),
            require_secrets=not read_only,
        )

    def close(self) -> None:
        """Close every store opened for this command."""
        for opened in self._stores:
            opened.close()
        self._stores.clear()


def _sqlite_path(uri: str) -> Path | None:
    """Return the file of an ``sqlite:///`` URI (``None`` for other stores and in-memory ones)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").partition("?")[0])


def open_keeper(ctx: typer.Context) -> Keeper:
    """Open a Keeper to read the store, closed with the command.

    It reads what the application's processes stored: their history (on open)
    and the states of their circuit breakers. It never creates a store (a
    missing SQLite file is an error naming it) and never reads secrets.
    """
    state = ctx.find_root().obj
    assert isinstance(state, CliState)
    file = state.file()
    keeper = Keeper.open(
        file,
        environment=state.environment,
        store=state.existing_store_uri(file),
        follow_changes=False,
        require_secrets=False,
    )
    ctx.call_on_close(keeper.close)
    keeper.read_circuit_states()
    return keeper


def default_actor() -> str:
    """Return who is running the command, for the audit trail."""
    return os.environ.get("USER") or os.environ.get("LOGNAME") or "cli"


def check_port(host: str, port: int) -> None:
    """Fail with a clear message now if ``host:port`` cannot be listened on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ToolkeeperError(
                f"cannot listen on {host}:{port}: {exc.strerror}; choose another port with "
                "--port (0 picks a free one) or stop what is using it"
            ) from None
