"""Notifiers in runtime versions: their URLs stored encrypted, shown masked everywhere.

A notifier's ``urls``, ``webhook`` and ``secret`` are secrets. In a runtime
version (:mod:`toolkeeper.alerts.runtime`) each is stored as a reference
(``env:NAME``, ``file:/path``) or as ``enc:`` ciphertext under the key ring — a
URL in clear is encrypted before it is stored, and refused when no key is
configured — and every document, history entry and diff leaving the module
shows them through :func:`~toolkeeper.alerts.settings.shown_url`.

A client that read a version (masked) may send it back: a masked value equal to
what the stored value shows at the same place keeps the stored value, so a
read-modify-write of the rules does not lose the notifiers' URLs.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from toolkeeper._errors import ConfigIssue, SecretError
from toolkeeper._secrets import MASK, Keyring, is_encrypted, is_reference, storable_form
from toolkeeper.alerts.settings import shown_url

__all__ = [
    "masked_change",
    "masked_document",
    "restored_notifiers",
    "rotated_document",
    "storable_notifiers",
]

_KEY = "notifiers"
_SECRET_KEYS = ("webhook", "secret")


def masked_document(document: dict[str, Any]) -> dict[str, Any]:
    """Return ``document`` with every value under ``notifiers`` shown masked."""
    if _KEY not in document:
        return document
    return {**document, _KEY: _masked(document[_KEY])}


def masked_change(change: dict[str, Any]) -> dict[str, Any]:
    """Return a diff entry (``{path, old, new}``) with a notifier's values shown masked."""
    path = str(change.get("path", ""))
    if path != _KEY and not path.startswith(_KEY + "."):
        return change
    return {**change, "old": _masked(change.get("old")), "new": _masked(change.get("new"))}


def rotated_document(document: dict[str, Any], keyring: Keyring) -> dict[str, Any]:
    """Return ``document`` with every ``enc:`` value of its notifiers re-encrypted under the
    keyring's first key (``toolkeeper secrets rotate``)."""
    if _KEY not in document:
        return document
    return {**document, _KEY: _rotated(document[_KEY], keyring)}


def _rotated(value: Any, keyring: Keyring) -> Any:
    if isinstance(value, dict):
        return {key: _rotated(item, keyring) for key, item in value.items()}
    if isinstance(value, list):
        return [_rotated(item, keyring) for item in value]
    if isinstance(value, str) and is_encrypted(value):
        return keyring.rotate(value)
    return value


def restored_notifiers(written: Any, current: Any) -> Any:
    """Return ``written`` with each masked value sent back as shown replaced by the stored one."""
    return storable_notifiers(written, current, keyring=None, encrypt=False)[0]


def storable_notifiers(
    written: Any, current: Any, *, keyring: Keyring | None, encrypt: bool = True
) -> tuple[Any, list[ConfigIssue]]:
    """Return ``written`` (the ``notifiers`` of a change) as it may be stored, and its problems.

    A masked value equal to the current one's shown form at the same place keeps
    the current value; any other masked value is refused; a URL or signing key
    in clear becomes ``enc:`` (refused without a key). Values of the wrong shape
    are returned unchanged: :func:`~toolkeeper.alerts.settings.alert_settings`
    reports them.
    """
    if not isinstance(written, dict):
        return written, []
    known = current if isinstance(current, dict) else {}
    issues: list[ConfigIssue] = []
    stored: dict[str, Any] = {}
    for name, entry in written.items():
        if not isinstance(entry, dict):
            stored[name] = entry
            continue
        before = known.get(name) if isinstance(known.get(name), dict) else {}
        assert isinstance(before, dict)
        fresh = dict(entry)
        store = partial(_storable, keyring=keyring, issues=issues, encrypt=encrypt)
        urls = entry.get("urls")
        if isinstance(urls, list):
            listed = before.get("urls")
            old: list[Any] = listed if isinstance(listed, list) else []
            fresh["urls"] = [
                store(url, old[index] if index < len(old) else None,
                      f"alerts.notifiers.{name}.urls.{index}")
                for index, url in enumerate(urls)
            ]  # fmt: skip
        for key in _SECRET_KEYS:
            if key in entry:
                where = f"alerts.notifiers.{name}.{key}"
                fresh[key] = store(entry[key], before.get(key), where)
        stored[name] = fresh
    return stored, issues


def _storable(
    value: Any,
    previous: Any,
    where: str,
    *,
    keyring: Keyring | None,
    issues: list[ConfigIssue],
    encrypt: bool,
) -> Any:
    if not isinstance(value, str) or not value:
        return value
    if isinstance(previous, str) and value == shown_url(previous) and value != previous:
        return previous  # sent back as it was shown: keep what is stored
    if is_reference(value) or is_encrypted(value) or not encrypt:
        return value
    if MASK in value:
        rule = "is a masked value that matches no stored one; send the secret or a reference"
        issues.append(ConfigIssue(path=where, rule=rule, value=shown_url(value)))
        return value
    try:
        return storable_form(value, keyring=keyring)
    except SecretError as exc:  # no key: never stored in clear
        issues.append(ConfigIssue(path=where, rule=str(exc), value=shown_url(value)))
        return value


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    if isinstance(value, str):
        return shown_url(value)
    return value
