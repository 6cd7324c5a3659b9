"""Keeper: the one object an application opens to get configuration, monitoring and the store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkeeper.config.files import ConfigFile
from toolkeeper.config.live import Configuration
from toolkeeper.config.secrets import Keyring

if TYPE_CHECKING:
    from toolkeeper.store.sql import Store

__all__ = ["Keeper", "locate_config"]

CONFIG_ENV = "TOOLKEEPER_CONFIG"
ENVIRONMENT_ENV = "TOOLKEEPER_ENV"
STORE_ENV = "TOOLKEEPER_STORE"
DEFAULT_CONFIG = Path("toolkeeper.toml")


def locate_config(config: str | Path | None = None) -> ConfigFile:
    """Load the named file, else ``$TOOLKEEPER_CONFIG``, else ``./toolkeeper.toml`` if present."""
    path = config or os.environ.get(CONFIG_ENV)
    if path:
        return ConfigFile.load(path)
    if DEFAULT_CONFIG.exists():
        return ConfigFile.load(DEFAULT_CONFIG)
    return ConfigFile()


class Keeper:
    """Everything toolkeeper keeps for one application: configuration, store, monitoring."""

    def __init__(self, *, config: Configuration, store: Store) -> None:
        self.config = config
        self.store = store
        self._closed = False

    @classmethod
    def open(
        cls,
        config: str | Path | ConfigFile | None = None,
        *,
        environment: str | None = None,
        store: str | None = None,
        follow_changes: bool = True,
        poll_interval_seconds: float = 2.0,
    ) -> Keeper:
        """Open the configuration, the store and (from the environment) the secret keys.

        ``config`` defaults to ``$TOOLKEEPER_CONFIG`` or ``./toolkeeper.toml``;
        ``environment`` to ``$TOOLKEEPER_ENV`` or the file's ``default_environment``;
        ``store`` to ``$TOOLKEEPER_STORE``, the file's ``store`` or an SQLite file
        under ``./.toolkeeper/``. Changes made by other processes are picked up
        every ``poll_interval_seconds`` when ``follow_changes`` is on.
        """
        from toolkeeper.store import open_store

        file = config if isinstance(config, ConfigFile) else locate_config(config)
        opened = open_store(store or os.environ.get(STORE_ENV) or file.store)
        try:
            configuration = Configuration(
                file,
                store=opened,
                environment=environment or os.environ.get(ENVIRONMENT_ENV) or None,
                keyring=Keyring.from_environment(),
            )
        except BaseException:
            opened.close()
            raise
        if follow_changes:
            configuration.follow(poll_interval_seconds)
        return cls(config=configuration, store=opened)

    def close(self) -> None:
        """Stop background work and close the store; idempotent."""
        if self._closed:
            return
        self._closed = True
        self.config.close()
        self.store.close()

    def __enter__(self) -> Keeper:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Keeper(config={self.config.file.name!r}, "
            f"environment={self.config.environment!r}, store={self.store.uri!r})"
        )

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("a Keeper holds open connections and cannot be pickled")
