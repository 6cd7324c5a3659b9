"""Keep notifier URLs out of log lines and messages: they carry webhook tokens and passwords.

Apprise and urllib3 log the URLs they send to at debug level (and quote them in
connection errors). :func:`protect` registers a URL's secret parts and installs,
once per process, a filter on those libraries' loggers that rewrites any record
containing one; :func:`redact` applies the same rewriting to text toolkeeper
shows (event details). This module holds the only global state of alerting.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import parse_qsl, quote, unquote, urlsplit

__all__ = ["REDACTED", "protect", "redact", "reset"]

REDACTED = "****"
#: Loggers that may print a URL being delivered to (Apprise's, and urllib3's request lines).
LOGGERS = ("apprise", "urllib3.connectionpool", "urllib3.util.retry", "requests")
_MIN_PART = 4  # shorter path segments ("x", "api") are not worth hiding and would garble logs


def _parts(url: str) -> set[str]:
    """Return the URL and every part of it that may be secret: credentials, path, query."""
    parts = {url}
    _, separator, rest = url.partition("://")
    if not separator:
        return parts
    split = urlsplit(f"http://{rest}")  # any scheme: Apprise's are not all known to urllib
    netloc, _, after = rest.partition("/")
    userinfo, at, _host = netloc.rpartition("@")
    if at:
        parts.update(piece for piece in userinfo.split(":") if piece)
    if after:
        parts.add("/" + after)
    segments = [segment for segment in split.path.split("/") if segment]
    parts.update(segments)
    if segments:
        parts.add("/" + "/".join(segments))
    if split.query:
        parts.add(split.query)
        parts.update(value for _, value in parse_qsl(split.query) if value)
    found = {piece for piece in parts if len(piece) >= _MIN_PART}
    # Libraries may print a part decoded or encoded: hide both spellings.
    return found | {unquote(piece) for piece in found} | {quote(piece, safe="/") for piece in found}


class _Redactor(logging.Filter):
    """A log filter (and text rewriter) replacing every registered secret by ``****``."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        self._installed = False

    def add(self, url: str) -> None:
        with self._lock:
            known = set(self._secrets) | _parts(url)
            # Longest first, so a URL is replaced whole before its parts are.
            self._secrets = tuple(sorted(known, key=len, reverse=True))
            if not self._installed:
                for name in LOGGERS:
                    logging.getLogger(name).addFilter(self)
                self._installed = True

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: logging reports it itself
            return True
        trace = ""
        if record.exc_info is not None:
            trace = "\n" + logging.Formatter().formatException(record.exc_info)
        if any(secret in message or secret in trace for secret in secrets):
            record.msg = self.redact(message + trace)
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True

    def reset(self) -> None:
        with self._lock:
            self._secrets = ()
            if self._installed:
                for name in LOGGERS:
                    logging.getLogger(name).removeFilter(self)
                self._installed = False


_REDACTOR = _Redactor()


def protect(url: str) -> None:
    """Hide ``url`` and its secret parts from the delivering libraries' logs from now on."""
    _REDACTOR.add(url)


def redact(text: str) -> str:
    """Return ``text`` with every protected URL, and every secret part of one, replaced."""
    return _REDACTOR.redact(text)


def reset() -> None:
    """Forget every protected URL and remove the log filters (for tests)."""
    _REDACTOR.reset()
