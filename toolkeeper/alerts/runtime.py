"""Alerting's configuration edited at runtime: versions in the store over the file's ``[alerts]``.

The rules, the policy, inhibition, time intervals, escalations, schedules and
notifiers (:data:`~toolkeeper.alerts.settings.RUNTIME_KEYS`) may be changed
while the application runs. Each change is a new version in the store with who,
when, why and from where, checked in full before it is stored (every problem at
once, nothing stored otherwise) and compare-and-set on the version, like tool
configuration. The newest version's keys replace the file's; a rollback stores
an old version's document again as a new version.

Notifier URLs are secrets (:mod:`toolkeeper.alerts.notifier_secrets`): a
version stores them as references or ``enc:`` ciphertext, never in clear, and
every document, history entry and diff shows them masked. A version that never
changed the notifiers keeps using the file's, so the file's URLs are not copied
into the store.

Every engine sharing the store reads the newest version number at each pass
and takes a new version at once; an edited file is read again when its
modification time changes (an edit with problems is logged and ignored). With
a ``notice`` (:mod:`toolkeeper.alerts.notices`), a stored version is also
announced to the other processes, which evaluate at once rather than at their
next pass.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from toolkeeper._clock import Clock, SystemClock
from toolkeeper._errors import (
    ConfigIssue,
    ConfigValidationError,
    UnknownVersionError,
    VersionConflictError,
)
from toolkeeper._secrets import Keyring
from toolkeeper._toml import TomlDocument
from toolkeeper.alerts.notifier_secrets import (
    masked_change,
    masked_document,
    restored_notifiers,
    rotated_document,
    storable_notifiers,
)
from toolkeeper.alerts.rules import AlertRule
from toolkeeper.alerts.settings import RUNTIME_KEYS, AlertSettings, alert_settings
from toolkeeper.store.alerts import AlertConfigTable, StoredDocument
from toolkeeper.store.sql import Store

__all__ = [
    "SCOPE",
    "AlertConfigVersion",
    "RuntimeAlerts",
    "diff_documents",
    "rotate_alert_secrets",
]

log = logging.getLogger("toolkeeper.alerts")

#: How runtime versions of alerting are named in errors (as a tool's configuration is).
SCOPE = "(alerts)"
_SOURCES = ("code", "api", "cli", "ui")
_MAX_TEXT = 200
_MAX_REASON = 2000
_MAX_HISTORY = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertConfigVersion:
    """A version of alerting's runtime configuration: the document and who changed it, why.

    ``document`` is what is in force with this version (the file's keys under
    the version's), notifier URLs as stored; :meth:`to_dict` shows them masked.
    """

    version: int
    document: dict[str, Any] = field(repr=False)
    actor: str
    reason: str
    source: str
    created_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """Return the version as JSON-ready data."""
        return {
            "version": self.version,
            "document": masked_document(self.document),
            "actor": self.actor,
            "reason": self.reason,
            "source": self.source,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


def _plain(value: Any) -> Any:
    """Return TOML's values as JSON's: dates and times as ISO 8601 text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


class RuntimeAlerts:
    """The file's ``[alerts]`` with the store's newest runtime version over it; thread-safe."""

    def __init__(
        self,
        store: Store,
        file: TomlDocument,
        *,
        clock: Clock | None = None,
        builtin: Callable[[], tuple[AlertRule, ...]] | None = None,
        keyring: Callable[[], Keyring | None] | None = None,
        notice: Callable[[], None] | None = None,
    ) -> None:
        self.table = AlertConfigTable(store)
        self._keyring = keyring if keyring is not None else lambda: None
        self.notice = notice
        self._builtin = builtin
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._file = file
        self._mtime = _mtime(file.path)
        self._seen = -1
        self._lock = threading.Lock()

    # Reading -------------------------------------------------------------

    def version(self) -> int:
        """Return the newest version number (0: the file alone)."""
        return self.table.latest_version()

    def current(self) -> AlertConfigVersion:
        """Return the newest version; version 0 is the file's own values."""
        stored = self.table.get()
        if stored is None:
            return self._file_version()
        return self._version(stored)

    def get(self, version: int) -> AlertConfigVersion:
        """Return version ``version``; an unknown one raises ``UnknownVersionError``."""
        if version == 0:
            return self._file_version()
        stored = self.table.get(version) if isinstance(version, int) and version > 0 else None
        if stored is None:
            raise UnknownVersionError(SCOPE, version, self.version())
        return self._version(stored)

    def history(self, limit: int = 50) -> list[AlertConfigVersion]:
        """Return the ``limit`` newest versions, newest first (version 0, the file, last)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _MAX_HISTORY:
            raise ValueError(f"limit={limit!r} must be a whole number from 1 to {_MAX_HISTORY}")
        found = [self._version(stored) for stored in self.table.history(limit)]
        if len(found) < limit:
            found.append(self._file_version())
        return found

    def diff(self, from_version: int, to_version: int) -> list[dict[str, Any]]:
        """Return what changed from one version to another: ``{path, old, new}`` per change,
        notifier URLs masked."""
        changes = diff_documents(self.get(from_version).document, self.get(to_version).document)
        return [masked_change(change) for change in changes]

    def settings(self) -> AlertSettings:
        """Return the settings in force: the file's, with the newest version's keys over them,
        and the built-in rules (budget thresholds) whose names no written rule takes."""
        settings = self._parse(self.current().document)[0]
        extra = self._builtin() if self._builtin is not None else ()
        taken = {rule.name for rule in settings.alert_rules}
        added = tuple(rule for rule in extra if rule.name not in taken)
        return replace(settings, rules=settings.alert_rules + added) if added else settings

    # Writing -------------------------------------------------------------

    def update(
        self,
        document: dict[str, Any],
        *,
        actor: str,
        reason: str,
        expected_version: int,
        source: str = "code",
    ) -> AlertConfigVersion:
        """Store ``document`` (some of the runtime keys) as the next version.

        Keys it leaves out keep their current values. Every problem is reported
        at once (``ConfigValidationError``) and nothing is stored; a stale
        ``expected_version`` raises ``VersionConflictError``.
        """
        _check_text("actor", actor)
        if not isinstance(reason, str) or not reason.strip() or len(reason) > _MAX_REASON:
            raise ValueError(f"reason={reason!r} is required: say why (at most {_MAX_REASON})")
        if source not in _SOURCES:
            raise ValueError(f"source={source!r} must be one of " + ", ".join(_SOURCES))
        if not isinstance(document, dict):
            raise ConfigValidationError(
                [
                    ConfigIssue(
                        path="alerts",
                        rule="must be an object of runtime keys",
                        value=None,
                        has_value=False,
                    )
                ]
            )
        unknown = [key for key in document if key not in RUNTIME_KEYS]
        if unknown:
            rule = "cannot be changed at runtime; expected some of " + ", ".join(RUNTIME_KEYS)
            raise ConfigValidationError(
                [ConfigIssue(path=f"alerts.{key}", rule=rule, has_value=False) for key in unknown]
            )
        current = self.table.get()
        at = current.version if current is not None else 0
        if at != expected_version:
            raise VersionConflictError(SCOPE, expected_version, at)
        raw = json.loads(current.document) if current is not None else self._file_document()
        return self._store({**raw, **_plain(document)}, raw, expected_version=expected_version,
                           actor=actor, reason=reason.strip(), source=source)  # fmt: skip

    def _store(
        self,
        merged: dict[str, Any],
        raw: dict[str, Any],
        *,
        expected_version: int,
        actor: str,
        reason: str,
        source: str,
    ) -> AlertConfigVersion:
        """Check ``merged`` whole, make its notifiers storable and store it as the next version."""
        before = raw.get("notifiers", self._file_notifiers())
        if "notifiers" in merged:
            merged["notifiers"] = restored_notifiers(merged["notifiers"], before)
        _, issues = self._parse(merged)
        if "notifiers" in merged:
            merged["notifiers"], secret_issues = storable_notifiers(
                merged["notifiers"], before, keyring=self._keyring()
            )
            issues = [*issues, *secret_issues]
        if issues:
            raise ConfigValidationError(issues)
        stored = self.table.add(
            json.dumps(merged, sort_keys=True), expected_version=expected_version,
            actor=actor, reason=reason, source=source, at=self.clock.now(),
        )  # fmt: skip
        if stored is None:
            raise VersionConflictError(SCOPE, expected_version, self.version())
        log.info("alerting configuration version %d by %s: %s", stored, actor, reason)
        if self.notice is not None:
            self.notice()
        return self.get(stored)

    def rollback(
        self, *, to_version: int, actor: str, reason: str, source: str = "code"
    ) -> AlertConfigVersion:
        """Store version ``to_version``'s document again as a new version (version 0: the
        file's keys, its notifiers read from the file again)."""
        _check_text("actor", actor)
        if not isinstance(reason, str) or not reason.strip() or len(reason) > _MAX_REASON:
            raise ValueError(f"reason={reason!r} is required: say why (at most {_MAX_REASON})")
        if source not in _SOURCES:
            raise ValueError(f"source={source!r} must be one of " + ", ".join(_SOURCES))
        self.get(to_version)  # an unknown version raises UnknownVersionError
        stored = self.table.get(to_version) if to_version > 0 else None
        document = json.loads(stored.document) if stored is not None else self._file_document()
        latest = self.table.get()
        raw = json.loads(latest.document) if latest is not None else self._file_document()
        expected = latest.version if latest is not None else 0
        return self._store(document, raw, expected_version=expected, actor=actor,
                           reason=reason.strip(), source=source)  # fmt: skip

    def rotate_secrets(self, keyring: Keyring) -> int:
        """Re-encrypt every stored notifier URL under the keyring's first key; count the
        versions changed (all or nothing)."""
        return rotate_alert_secrets(self.table.store, keyring)

    # The engine's source ---------------------------------------------------

    def changes(self) -> AlertSettings | None:
        """Return new settings when a version was stored or the file changed since last asked."""
        with self._lock:
            reloaded = self._reload_file()
            latest = self.version()
            if latest == self._seen and not reloaded:
                return None
            self._seen = latest
        return self.settings()

    # Internals -------------------------------------------------------------

    def _parse(self, document: dict[str, Any]) -> tuple[AlertSettings, list[ConfigIssue]]:
        table = {**self._file.data.get("alerts", {}), **document}
        return alert_settings(TomlDocument(data={"alerts": table}))

    def _file_written(self) -> dict[str, Any]:
        """Return the file's runtime keys, as JSON's values."""
        table = self._file.data.get("alerts", {})
        return {key: _plain(table[key]) for key in RUNTIME_KEYS if key in table}

    def _file_document(self) -> dict[str, Any]:
        """Return what a version based on the file stores: its keys but the notifiers."""
        return {key: value for key, value in self._file_written().items() if key != "notifiers"}

    def _file_notifiers(self) -> Any:
        return self._file_written().get("notifiers", {})

    def _file_version(self) -> AlertConfigVersion:
        return AlertConfigVersion(version=0, document=self._file_written(), actor="(file)",
                                  reason="the configuration file", source="file",
                                  created_at=None)  # fmt: skip

    def _version(self, stored: StoredDocument) -> AlertConfigVersion:
        """Return a stored version with what it leaves to the file (its notifiers) filled in."""
        document = {**self._file_written(), **json.loads(stored.document)}
        return AlertConfigVersion(
            version=stored.version, document=document, actor=stored.actor,
            reason=stored.reason, source=stored.source, created_at=stored.created_at,
        )  # fmt: skip

    def _reload_file(self) -> bool:
        path = self._file.path
        mtime = _mtime(path)
        if path is None or mtime == self._mtime:
            return False
        self._mtime = mtime
        try:
            fresh = TomlDocument.load(path)
        except ConfigValidationError as exc:
            log.warning("%s changed but cannot be read; alerting keeps the previous: %s", path, exc)
            return False
        issues = alert_settings(fresh)[1]
        if issues:
            shown = "; ".join(str(issue) for issue in issues[:5])
            log.warning("%s changed but its [alerts] has problems; alerting keeps the previous: %s",
                        path, shown)  # fmt: skip
            return False
        self._file = fresh
        log.info("%s changed: alerting reloaded its [alerts]", path)
        return True


def rotate_alert_secrets(store: Store, keyring: Keyring) -> int:
    """Re-encrypt the ``enc:`` notifier values of every alerting version in ``store`` under
    the keyring's first key; return how many versions changed (all or nothing)."""

    def rotate(document: str) -> str:
        data = json.loads(document)
        rotated = rotated_document(data, keyring)
        return document if rotated == data else json.dumps(rotated, sort_keys=True)

    return AlertConfigTable(store).rewrite(rotate)


def diff_documents(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the changes from ``old`` to ``new``: ``{path, old, new}``, rules keyed by name."""
    changes: list[dict[str, Any]] = []
    _diff(_keyed(old), _keyed(new), "", changes)
    return changes


def _keyed(value: Any) -> Any:
    """Turn lists of named tables (rules) into tables by name, so a diff names the rule."""
    if isinstance(value, dict):
        return {k: _keyed(v) for k, v in value.items()}
    if (
        isinstance(value, list)
        and value
        and all(isinstance(item, dict) and isinstance(item.get("name"), str) for item in value)
    ):
        return {item["name"]: _keyed(item) for item in value}
    return value


def _diff(old: Any, new: Any, path: str, changes: list[dict[str, Any]]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            where = f"{path}.{key}" if path else str(key)
            _diff(old.get(key), new.get(key), where, changes)
    elif old != new:
        changes.append({"path": path, "old": old, "new": new})


def _mtime(path: Path | None) -> float | None:
    try:
        return path.stat().st_mtime if path is not None else None
    except OSError:
        return None


def _check_text(argument: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT:
        raise ValueError(f"{argument}={value!r} must be a non-empty text of at most {_MAX_TEXT}")
