"""Deliver alert notifications through Apprise to the URLs of a named notifier.

A notifier's URLs are secrets (webhook tokens, passwords): each is resolved from
its written form (``env:``, ``file:``, ``enc:`` or the URL itself) only to send,
registered with :mod:`toolkeeper.alerts.redaction` first, and shown only masked.
A notifier may also post a signed JSON webhook (:mod:`toolkeeper.alerts.webhooks`).
A failed delivery is returned as a redacted reason, never raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from toolkeeper._errors import SecretError
from toolkeeper._secrets import Keyring, mask, resolve_secret
from toolkeeper.alerts.redaction import protect, redact
from toolkeeper.alerts.settings import NotifierSettings, shown_url
from toolkeeper.alerts.webhooks import post_signed

__all__ = ["Delivery", "Notifier", "NotifyLevel"]

NotifyLevel = Literal["info", "success", "warning", "failure"]
_MAX_REASON = 300


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of one notification: how many URLs got it, and why the others did not."""

    notifier: str
    sent: int
    failures: tuple[str, ...]

    @property
    def delivered(self) -> bool:
        """Return whether every URL of the notifier accepted the notification."""
        return not self.failures


class Notifier:
    """One named notifier: a list of Apprise URLs, resolved at each delivery.

    Thread-safe: each delivery builds its own Apprise object.
    """

    def __init__(
        self,
        settings: NotifierSettings,
        *,
        keyring: Keyring | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.name = settings.name
        self._written = settings.urls
        self._webhook = settings.webhook
        self._secret = settings.secret
        self._keyring = keyring
        self._environ = environ

    def masked_urls(self) -> list[str]:
        """Return each URL masked as ``scheme://****`` plus at most its last four characters.

        A reference that cannot be resolved now is shown as written (``env:NAME``).
        """
        shown = []
        for written in (*self._written, *([self._webhook] if self._webhook else [])):
            try:
                url = self._resolve(written)
            except SecretError:
                shown.append(shown_url(written))
                continue
            scheme, separator, rest = url.partition("://")
            shown.append(f"{scheme}://{mask(rest)}" if separator else mask(url))
        return shown

    def send(
        self,
        *,
        title: str,
        body: str,
        level: NotifyLevel,
        payload: Mapping[str, Any] | None = None,
        timestamp: int = 0,
    ) -> Delivery:
        """Send ``title`` and ``body`` (plain text, its lines kept) to every URL, and ``payload``
        (default: title, body, level) to the signed webhook, signed at ``timestamp``;
        return what was delivered and what failed."""
        failures: list[str] = []
        sent = 0
        for index, written in enumerate(self._written):
            reason = self._send_one(written, title=title, body=body, level=level)
            if reason is None:
                sent += 1
            else:
                failures.append(f"URL {index + 1} ({shown_url(written)}): {reason}")
        if self._webhook is not None and self._secret is not None:
            data = dict(payload) if payload is not None else {}
            data.setdefault("title", title)
            data.setdefault("text", body)
            data.setdefault("level", level)
            reason = self._post(self._webhook, self._secret, data, timestamp)
            if reason is None:
                sent += 1
            else:
                failures.append(f"webhook ({shown_url(self._webhook)}): {reason}")
        return Delivery(self.name, sent, tuple(failures))

    def _post(
        self, written: str, secret_written: str, data: dict[str, Any], timestamp: int
    ) -> str | None:
        try:
            url = self._resolve(written)
            secret = self._resolve(secret_written)
        except SecretError as exc:  # its message names the reference, never the secret
            return str(exc)
        protect(url)
        return post_signed(url, secret, data, timestamp=timestamp)

    def _send_one(self, written: str, *, title: str, body: str, level: NotifyLevel) -> str | None:
        """Deliver to one URL; return ``None`` on success, else why it failed (redacted)."""
        try:
            url = self._resolve(written)
        except SecretError as exc:  # its message names the reference, never the secret
            return str(exc)
        protect(url)
        try:
            # Deferred: Apprise (toolkeeper[alerts]) is heavy and only a notification being sent
            # needs it.
            import apprise
        except ImportError:
            return "Apprise is not installed: pip install 'toolkeeper[alerts]'"
        sender = apprise.Apprise()
        if not sender.add(url):
            scheme = url.partition("://")[0] if "://" in url else "(none)"
            return f"Apprise does not accept this URL (scheme {scheme!r})"
        # body_format=TEXT: services that send HTML (e-mail) get the lines as <br>, not one line.
        result = sender.notify(
            body=body, title=title, notify_type=apprise.NotifyType(level),
            body_format=apprise.NotifyFormat.TEXT,
        )  # fmt: skip
        if result:
            return None
        messages = [entry.message for entry in result.logs()] if hasattr(result, "logs") else []
        reason = "; ".join(dict.fromkeys(messages)) or "Apprise reported a failed delivery"
        return redact(reason)[:_MAX_REASON]

    def _resolve(self, written: str) -> str:
        secret = resolve_secret(written, keyring=self._keyring, environ=self._environ)
        return secret.get_secret_value()

    def __repr__(self) -> str:
        return f"Notifier(name={self.name!r}, urls={len(self._written)})"
