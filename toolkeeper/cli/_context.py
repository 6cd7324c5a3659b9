"""What the global options select, and opening it on demand."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from toolkeeper.config.files import ConfigFile
from toolkeeper.config.live import Configuration
from toolkeeper.config.secrets import Keyring
from toolkeeper.keeper import locate_config

if TYPE_CHECKING:
    import typer

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

    def store(self, file: ConfigFile, *, create: bool = True) -> Store:
        """Open the store; with ``create=False`` a store that does not exist yet is not made."""
        from toolkeeper.store import DEFAULT_STORE_URI, open_store

        uri = self.store_uri or file.store or DEFAULT_STORE_URI
        if not create and uri.startswith("sqlite:///"):
            path = Path(uri.removeprefix("sqlite:///"))
            if not path.exists():
                uri = "memory://"
        opened = open_store(uri)
        self._stores.append(opened)
        return opened

    def configuration(
        self, *, file_override: str | None = None, create_store: bool = True
    ) -> Configuration:
        """Open the live configuration for the chosen environment."""
        file = self.file(file_override)
        return Configuration(
            file,
            store=self.store(file, create=create_store),
            environment=self.environment,
            keyring=Keyring.from_environment(),
        )

    def close(self) -> None:
        """Close every store opened for this command."""
        for opened in self._stores:
            opened.close()
        self._stores.clear()


def open_keeper(ctx: typer.Context) -> Keeper:
    """Open a Keeper on the global options' file, environment and store, closed with the command.

    It reads what the application's processes stored: their history (on open)
    and the states of their circuit breakers.
    """
    from toolkeeper.keeper import Keeper

    state = ctx.find_root().obj
    assert isinstance(state, CliState)
    keeper = Keeper.open(
        state.file(), environment=state.environment, store=state.store_uri, follow_changes=False
    )
    ctx.call_on_close(keeper.close)
    keeper.read_circuit_states()
    return keeper


def default_actor() -> str:
    """Return who is running the command, for the audit trail."""
    return os.environ.get("USER") or os.environ.get("LOGNAME") or "cli"


def check_port(host: str, port: int) -> None:
    """Fail with a clear message now if ``host:port`` cannot be listened on."""
    import socket

    from toolkeeper._errors import ToolkeeperError

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
