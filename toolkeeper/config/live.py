"""The live configuration of an application's tools: read, change, version, roll back, follow.

Every runtime change is a version stored per (environment, tool): who made it,
when, why, from where (code, cli, api, ui) and a diff with secrets only shown
as changed. Version 0 is the configuration as the file and the environment
give it; each stored version holds the complete set of runtime overrides, so a
rollback writes an earlier set again as a new version.

Thread-safe. Other processes sharing the store are followed by polling its
change cursor (see :meth:`Configuration.refresh`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from toolkeeper._errors import (
    ConfigError,
    ConfigIssue,
    ConfigValidationError,
    UnknownEnvironmentError,
    UnknownToolError,
    UnknownVersionError,
    VersionConflictError,
)
from toolkeeper._secrets import Keyring, Secret, storable_form
from toolkeeper._text import unstorable
from toolkeeper.alerts.settings import reference_issues
from toolkeeper.config.diff import diff_configs
from toolkeeper.config.files import ConfigFile
from toolkeeper.config.layers import VARIABLE_PREFIX, Layer, Origin, ResolvedTool, resolve_tool
from toolkeeper.config.policy import endpoint_host, endpoint_scheme, leaves_https
from toolkeeper.config.schema import BaseWrapperConfig, ExternalToolConfig, is_sensitive, tool_types
from toolkeeper.store.records import ConfigVersionRecord

if TYPE_CHECKING:
    from toolkeeper.store.sql import Store

__all__ = ["SOURCES", "ConfigVersion", "Configuration"]

log = logging.getLogger("toolkeeper.config")

SOURCES = ("code", "cli", "api", "ui")
_MAX_VERSION = 2**31 - 1  # versions are 32-bit integers in every store
_CONFLICT_RETRIES = 20  # an update without an expected version re-applies after a conflict
_STRING_RULE = "must be a string (the secret itself, stored encrypted)"
DEFAULT_ENVIRONMENT = "default"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigVersion:
    """One version of a tool's configuration in one environment."""

    tool: str
    environment: str
    version: int
    actor: str
    reason: str
    source: str
    created_at: datetime | None
    changes: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the version as JSON-ready data (secrets appear only as changed)."""
        return {
            "tool": self.tool,
            "environment": self.environment,
            "version": self.version,
            "actor": self.actor,
            "reason": self.reason,
            "source": self.source,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "changes": list(self.changes),
        }

    @classmethod
    def from_record(cls, record: ConfigVersionRecord) -> ConfigVersion:
        """Build the public view of a stored version."""
        return cls(
            tool=record.tool,
            environment=record.environment,
            version=record.version,
            actor=record.actor,
            reason=record.reason,
            source=record.source,
            created_at=record.created_at,
            changes=tuple(record.diff),
        )


class Configuration:
    """Read and change the configuration of every tool, for one environment."""

    def __init__(
        self,
        file: ConfigFile,
        *,
        store: Store,
        environment: str | None = None,
        keyring: Keyring | None = None,
        environ: Mapping[str, str] | None = None,
        require_secrets: bool = True,
    ) -> None:
        self.file = file
        self.store = store
        self._keyring = keyring
        self._keyring_listeners: list[Callable[[], None]] = []
        self._environ = environ
        #: False for readers that only show values: a secret that cannot be read stays unread.
        self.require_secrets = require_secrets
        name = environment or file.default_environment or DEFAULT_ENVIRONMENT
        if name != DEFAULT_ENVIRONMENT and name not in file.environments:
            raise UnknownEnvironmentError(name, [DEFAULT_ENVIRONMENT, *file.environments])
        self.environment = name
        self._lock = threading.RLock()
        self._cache: dict[str, ResolvedTool] = {}
        self._subscribers: list[Callable[[ConfigVersion], None]] = []
        self._cursor = store.config_cursor()
        self._stop = threading.Event()
        self._follower: threading.Thread | None = None

    @property
    def keyring(self) -> Keyring | None:
        """Return the keys that open ``enc:`` values (the first one seals new values)."""
        return self._keyring

    @keyring.setter
    def keyring(self, keyring: Keyring | None) -> None:
        self._keyring = keyring
        self._invalidate()
        with self._lock:
            listeners = list(self._keyring_listeners)
        for listener in listeners:
            listener()

    def on_keyring_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` whenever the keyring is replaced, a rotation included.

        Returns a function that stops the calls.
        """
        with self._lock:
            self._keyring_listeners.append(listener)

        def stop() -> None:
            with self._lock:
                if listener in self._keyring_listeners:
                    self._keyring_listeners.remove(listener)

        return stop

    @property
    def environ(self) -> Mapping[str, str]:
        """Return the environment variables the configuration reads."""
        return os.environ if self._environ is None else self._environ

    def tools(self) -> list[str]:
        """Return the configured tool names, sorted."""
        return sorted(self.file.tools)

    def environments(self) -> list[str]:
        """Return the environments that may be selected."""
        return [DEFAULT_ENVIRONMENT, *sorted(self.file.environments)]

    # Reading -------------------------------------------------------------

    def resolve(self, tool: str) -> ResolvedTool:
        """Return the tool's validated configuration with the origin of every value."""
        with self._lock:
            cached = self._cache.get(tool)
            if cached is not None:
                return cached
            latest = self.store.latest_config_version(self.environment, tool)
            resolved = self._resolve(tool, latest)
            self._cache[tool] = resolved
            return resolved

    def get(self, tool: str) -> BaseWrapperConfig:
        """Return the tool's validated configuration (an ``ExternalToolConfig`` or its type)."""
        return self.resolve(tool).config

    def get_or_default(self, tool: str) -> BaseWrapperConfig:
        """Return the tool's configuration, or the defaults for a tool the file does not declare.

        Used for tools wrapped in code but not configured: they get the built-in
        defaults, ``[defaults]`` and their ``TOOLKEEPER_TOOLS__X__*`` variables.
        """
        if tool in self.file.tools:
            return self.get(tool)
        with self._lock:
            cached = self._cache.get(tool)
            if cached is None:
                cached = resolve_tool(
                    self.file,
                    tool,
                    self.environment,
                    environ=self.environ,
                    keyring=self.keyring,
                    implicit=True,
                    require_secrets=self.require_secrets,
                )
                self._cache[tool] = cached
            return cached.config

    def explain(self, tool: str) -> list[dict[str, Any]]:
        """List every field of the tool with its shown value and its origin."""
        return self.resolve(tool).explain()

    def version(self, tool: str) -> int:
        """Return the tool's current version (0 when nothing was changed at runtime)."""
        self._check_tool(tool)
        latest = self.store.latest_config_version(self.environment, tool)
        return latest.version if latest else 0

    def history(self, tool: str) -> list[ConfigVersion]:
        """Return every runtime version of the tool, oldest first."""
        self._check_tool(tool)
        records = self.store.config_versions(self.environment, tool)
        return [ConfigVersion.from_record(record) for record in records]

    def diff(self, tool: str, from_version: int, to_version: int) -> list[dict[str, Any]]:
        """Compare the tool's effective configuration at two versions."""
        old = self._resolve(tool, self._record(tool, from_version)).config
        new = self._resolve(tool, self._record(tool, to_version)).config
        return diff_configs(old, new)

    # Changing ------------------------------------------------------------

    def update(
        self,
        tool: str,
        changes: Mapping[str, Any],
        *,
        actor: str,
        reason: str,
        source: str = "code",
        expected_version: int | None = None,
    ) -> ConfigVersion:
        """Change some fields at runtime and return the new version.

        A value of ``None`` removes the runtime override, so the field falls back
        to the file. The whole result is validated before anything is written;
        a stale ``expected_version`` raises ``VersionConflictError``. When the
        change alters nothing, no version is written and the current one is returned.
        Text the store cannot keep (a NUL, a lone surrogate) in a value, ``actor``
        or ``reason`` is a ``ConfigValidationError`` naming the field.
        """
        self._check_tool(tool)
        fields = {f"tools.{tool}.{name}": value for name, value in changes.items()}
        _refuse_unstorable({"actor": actor, "reason": reason, **fields})
        for attempt in range(_CONFLICT_RETRIES):
            latest = self.store.latest_config_version(self.environment, tool)
            values = self._merged(tool, changes, latest)
            try:
                return self._write(
                    tool,
                    values,
                    latest,
                    actor=actor,
                    reason=reason,
                    source=source,
                    expected_version=expected_version,
                    changed=changes,
                )
            except VersionConflictError:
                # Without an expected version the change applies to whatever is latest:
                # another writer got there first, so merge onto its version and try again.
                if expected_version is not None or attempt == _CONFLICT_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def preview(self, tool: str, changes: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Return the diff :meth:`update` would record for ``changes``, writing nothing.

        Raises what ``update`` would: ``ConfigValidationError`` with every
        problem, ``SecretKeyMissingError`` for a secret that cannot be stored.
        """
        self._check_tool(tool)
        _refuse_unstorable({f"tools.{tool}.{k}": v for k, v in changes.items()})
        latest = self.store.latest_config_version(self.environment, tool)
        values = self._merged(tool, changes, latest)
        old = self._resolve(tool, latest).config
        current = latest.version if latest else 0
        candidate = _pending_record(self.environment, tool, values, current + 1, "preview")
        new = self._resolve(tool, candidate).config
        self._check_host_move(tool, old, new, changes)
        return diff_configs(old, new)

    def rollback(
        self,
        tool: str,
        to_version: int,
        *,
        actor: str,
        reason: str,
        source: str = "code",
        expected_version: int | None = None,
    ) -> ConfigVersion:
        """Make the configuration of ``to_version`` current again, as a new version."""
        target = self._record(tool, to_version)
        latest = self.store.latest_config_version(self.environment, tool)
        values = dict(target.values) if target else {}
        return self._write(
            tool,
            values,
            latest,
            actor=actor,
            reason=reason,
            source=source,
            expected_version=expected_version,
        )

    def rotate_secrets(self, keyring: Keyring) -> int:
        """Re-encrypt every stored ``enc:`` value under the keyring's first key."""

        def rotate(values: dict[str, Any]) -> dict[str, Any]:
            return {
                key: keyring.rotate(value)
                if isinstance(value, str) and value.startswith("enc:")
                else value
                for key, value in values.items()
            }

        changed = self.store.rewrite_config_values(rotate)
        self.keyring = keyring
        return changed

    # Following changes ---------------------------------------------------

    def subscribe(self, callback: Callable[[ConfigVersion], None]) -> Callable[[], None]:
        """Call ``callback`` with every new version, from this process or another.

        Returns a function that unsubscribes. Versions from other processes
        arrive on :meth:`refresh` (called by :meth:`follow`'s thread).
        """
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def refresh(self) -> list[ConfigVersion]:
        """Pick up versions written since the last look (by any process) and tell subscribers."""
        records = self.store.config_changes_since(self._cursor)
        if not records:
            return []
        with self._lock:
            self._cursor = max(self._cursor, records[-1].id)
            for record in records:
                if record.environment == self.environment:
                    self._cache.pop(record.tool, None)
        versions = [
            ConfigVersion.from_record(r) for r in records if r.environment == self.environment
        ]
        for version in versions:
            self._notify(version)
        return versions

    def follow(self, interval_seconds: float = 2.0) -> None:
        """Start a daemon thread that calls :meth:`refresh` every ``interval_seconds``."""
        with self._lock:
            if self._follower is not None:
                return
            self._stop.clear()
            self._follower = threading.Thread(
                target=self._follow,
                args=(interval_seconds,),
                name="toolkeeper-config-follow",
                daemon=True,
            )
            self._follower.start()

    def close(self) -> None:
        """Stop following changes; idempotent."""
        self._stop.set()
        follower, self._follower = self._follower, None
        if follower is not None:
            follower.join(timeout=5)

    def _follow(self, interval_seconds: float) -> None:
        while not self._stop.wait(interval_seconds):
            try:
                self.refresh()
            except Exception:  # the follower must outlive a store hiccup; it is logged
                log.exception("could not poll the store for configuration changes")

    # Validation ----------------------------------------------------------

    def validate(self) -> list[ConfigIssue]:
        """Check every tool in every environment; return every problem found (empty when valid)."""
        issues: list[ConfigIssue] = []
        known_fields = {name for model in tool_types().values() for name in model.model_fields}
        issues.extend(
            self.file.issue(("defaults", key), "unknown field for every tool type", has_value=False)
            for key in self.file.defaults
            if key not in known_fields
        )
        normalized = {name.upper().replace("-", "_") for name in self.file.tools}
        for variable in self.environ:
            if variable.startswith(VARIABLE_PREFIX):
                tool = variable[len(VARIABLE_PREFIX) :].partition("__")[0]
                if tool not in normalized:
                    issues.append(
                        ConfigIssue(path=variable, rule="names no configured tool", has_value=False)
                    )
        for environment in self.environments():
            for tool in self.tools():
                latest = self.store.latest_config_version(environment, tool)
                # The file's own values first (what version 0 and a rollback to it use),
                # then with the runtime version on top (what the application runs).
                for runtime in (None, _runtime_layer(latest)):
                    try:
                        resolve_tool(
                            self.file,
                            tool,
                            environment,
                            environ=self.environ,
                            runtime=runtime,
                            keyring=self.keyring,
                        )
                    except ConfigValidationError as exc:
                        issues.extend(issue for issue in exc.issues if issue not in issues)
                    if latest is None:
                        break
        issues.extend(reference_issues(self.file, keyring=self.keyring, environ=self.environ))
        return issues

    # Internals -----------------------------------------------------------

    def _check_tool(self, tool: str) -> None:
        if tool not in self.file.tools:
            raise UnknownToolError(tool, self.file.tools)

    def _merged(
        self, tool: str, changes: Mapping[str, Any], latest: ConfigVersionRecord | None
    ) -> dict[str, Any]:
        """Return the runtime values after ``changes``: ``None`` unsets, secrets storable."""
        model = self._model(tool)
        unknown = [key for key in changes if key not in model.model_fields]
        if unknown:
            raise ConfigValidationError(
                ConfigIssue(
                    path=f"tools.{tool}.{key}",
                    rule=f"unknown field for tool type {model.type_name!r}",
                    has_value=False,
                )
                for key in unknown
            )
        values = dict(latest.values) if latest else {}
        wrong: list[str] = []
        for key, value in changes.items():
            if value is None:
                values.pop(key, None)
            elif is_sensitive(model, key):
                if not isinstance(value, Secret | str):
                    wrong.append(key)
                    continue
                values[key] = storable_form(value, keyring=self.keyring)
            else:
                values[key] = value
        if wrong:
            # Never quoted: a list or an object given for a secret may hold the secret.
            raise ConfigValidationError(
                ConfigIssue(path=f"tools.{tool}.{key}", rule=_STRING_RULE, has_value=False)
                for key in wrong
            )
        return values

    def _model(self, tool: str) -> type[BaseWrapperConfig]:
        return type(self.resolve(tool).config)

    def _record(self, tool: str, version: int) -> ConfigVersionRecord | None:
        self._check_tool(tool)
        if version == 0:
            return None
        record = (
            self.store.config_version(self.environment, tool, version)
            if 0 < version <= _MAX_VERSION
            else None
        )
        if record is None:
            latest = self.store.latest_config_version(self.environment, tool)
            raise UnknownVersionError(tool, version, latest.version if latest else 0)
        return record

    def _resolve(self, tool: str, record: ConfigVersionRecord | None) -> ResolvedTool:
        return resolve_tool(
            self.file,
            tool,
            self.environment,
            environ=self.environ,
            runtime=_runtime_layer(record),
            keyring=self.keyring,
            require_secrets=self.require_secrets,
        )

    def _write(
        self,
        tool: str,
        values: dict[str, Any],
        latest: ConfigVersionRecord | None,
        *,
        actor: str,
        reason: str,
        source: str,
        expected_version: int | None,
        changed: Mapping[str, Any] | None = None,
    ) -> ConfigVersion:
        if source not in SOURCES:
            raise ConfigError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
        if not actor.strip() or not reason.strip():
            raise ConfigError("a configuration change needs an actor and a reason")
        current = latest.version if latest else 0
        if expected_version is not None and expected_version != current:
            raise VersionConflictError(tool, expected_version, current)
        old = self._resolve(tool, latest).config
        candidate = _pending_record(self.environment, tool, values, current + 1, actor)
        new = self._resolve(tool, candidate).config
        self._check_host_move(tool, old, new, changed or {})
        changes = diff_configs(old, new)
        if not changes and latest is not None and latest.values == values:
            return ConfigVersion.from_record(latest)
        record = ConfigVersionRecord(
            environment=self.environment,
            tool=tool,
            values=_storable(new, values),
            actor=actor,
            reason=reason,
            source=source,
            diff=changes,
        )
        stored = self.store.append_config_version(record, expected_version=current)
        version = ConfigVersion.from_record(stored)
        with self._lock:
            self._cache.pop(tool, None)
        log.info(
            "configuration of %s changed to version %d by %s (%s): %s",
            tool,
            version.version,
            actor,
            source,
            reason,
        )
        self._notify(version)
        return version

    def _check_host_move(
        self,
        tool: str,
        old: BaseWrapperConfig,
        new: BaseWrapperConfig,
        changed: Mapping[str, Any],
    ) -> None:
        """Refuse to send a tool's unchanged secrets to a host the file does not allow.

        Moving is allowed to the host the file itself gives the tool, to a host
        its ``[secrets.allowed_hosts]`` lists, or when the same change gives every
        secret the tool holds a new value. Leaving https (even on the same host)
        is a move: allowed only to the file's own endpoint or with new secrets.
        """
        endpoint = _endpoint(new)
        previous = _endpoint(old)
        files = _endpoint(self._resolve(tool, None).config)
        host = endpoint_host(endpoint)
        downgrade = leaves_https(previous, endpoint)
        if downgrade:  # only to the file's own endpoint, scheme and host
            files_own = (endpoint_scheme(files), endpoint_host(files))
            allowed = (endpoint_scheme(endpoint), host) == files_own
        else:
            allowed = host in (endpoint_host(previous), endpoint_host(files))
            allowed = allowed or self.file.secret_policy.host_allowed(tool, host)
        if allowed:
            return
        model = type(new)
        kept = [
            name
            for name in model.model_fields
            if is_sensitive(model, name)
            and isinstance(getattr(new, name), Secret)
            and name not in changed
            and getattr(new, name) == getattr(old, name)
        ]
        if not kept:
            return
        secrets = ", ".join(kept)
        if downgrade:
            scheme = endpoint_scheme(endpoint) or "no scheme"
            rule = (
                f"moving {tool!r} from https to {scheme} (host {host}) would send its {secrets} "
                f"unencrypted; a runtime change may not leave https while keeping a secret: "
                f"give a new {secrets} in the same change, or write that endpoint in the "
                "configuration file"
            )
        else:
            rule = (
                f"moving {tool!r} to host {host} would send its {secrets} there; "
                f"list the host under [secrets.allowed_hosts] {tool} in the "
                f"configuration file, or give a new {secrets} in the same change"
            )
        raise ConfigValidationError(
            [ConfigIssue(path=f"tools.{tool}.api_endpoint", rule=rule, value=endpoint)]
        )

    def _notify(self, version: ConfigVersion) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            callback(version)

    def _invalidate(self) -> None:
        with self._lock:
            self._cache.clear()


def _runtime_layer(record: ConfigVersionRecord | None) -> Layer | None:
    if record is None:
        return None
    detail = f"runtime version {record.version} by {record.actor} ({record.source})"
    origin = Origin(layer="runtime", detail=detail)
    return Layer(name="runtime", values=record.values, origins=dict.fromkeys(record.values, origin))


def _pending_record(
    environment: str, tool: str, values: dict[str, Any], version: int, actor: str
) -> ConfigVersionRecord:
    return ConfigVersionRecord(
        environment=environment,
        tool=tool,
        values=values,
        actor=actor,
        reason="",
        source="code",
        diff=[],
        version=version,
    )


def _storable(config: BaseWrapperConfig, values: dict[str, Any]) -> dict[str, Any]:
    """Return the runtime values as JSON-ready data, secrets in their stored form."""
    dumped = config.model_dump(mode="json")
    model = type(config)
    return {
        key: value if is_sensitive(model, key) else dumped[key] for key, value in values.items()
    }


def _refuse_unstorable(values: Mapping[str, Any]) -> None:
    """Raise ``ConfigValidationError`` for every text the store could not keep.

    The value is not shown (it may be a secret): the path and the rule are enough.
    """
    issues = []

    def visit(path: str, value: Any) -> None:
        if isinstance(value, str):
            problem = unstorable(value)
            if problem is not None:
                issues.append(
                    ConfigIssue(
                        path=path,
                        rule=f"{problem}; only storable text is accepted",
                        has_value=False,
                    )
                )
        elif isinstance(value, Mapping):
            for key, item in value.items():
                visit(f"{path}.{key}", item)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                visit(f"{path}[{index}]", item)

    for path, value in values.items():
        visit(path, value)
    if issues:
        raise ConfigValidationError(issues)


def _endpoint(config: BaseWrapperConfig) -> str | None:
    """Return the tool's ``api_endpoint``; a tool type without one reaches no host."""
    return config.api_endpoint if isinstance(config, ExternalToolConfig) else None
