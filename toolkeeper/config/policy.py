"""Who may name a secret's source, and where a secret may be sent: the operator's rules.

``env:`` and ``file:`` references read the server's environment and files, so
they belong to whoever runs the process, not to whoever holds an admin token.
The configuration file may let runtime changes (API, UI, CLI, code) use some
references, and may let a tool that holds a secret move to some hosts::

    [secrets]
    runtime_references = ["env:OPENAI_KEY_*", "file:/run/secrets/openai-*"]

    [secrets.allowed_hosts]
    openai = ["api.openai.com", "*.openai.azure.com"]

Patterns are shell globs (:func:`fnmatch.fnmatchcase`). Without them a runtime
version may hold literal secrets only (stored encrypted), and a tool keeps its
secrets on the host the file gives it unless the same change brings new ones.

Leaving ``https`` is a move too, even on the same host: the secret would cross
the network in clear. It is allowed only back to the file's own endpoint (the
file says ``http://``) or with new secrets in the same change; the allowed hosts
are hosts to reach over https.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from toolkeeper._errors import ConfigIssue

if TYPE_CHECKING:
    from toolkeeper.config.files import ConfigFile

__all__ = ["SECRETS_TABLE", "SecretPolicy", "endpoint_host", "endpoint_scheme", "leaves_https"]

SECRETS_TABLE = "secrets"
_KEYS = ("runtime_references", "allowed_hosts")


@dataclass(frozen=True, slots=True)
class SecretPolicy:
    """The file's allow-lists: references runtime changes may use, hosts each tool may move to."""

    runtime_references: tuple[str, ...] = ()
    allowed_hosts: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_file(cls, file: ConfigFile) -> tuple[SecretPolicy, list[ConfigIssue]]:
        """Read ``[secrets]``; return the policy and every problem with its shape."""
        table = file.data.get(SECRETS_TABLE, {})
        if not isinstance(table, dict):
            return cls(), [file.issue((SECRETS_TABLE,), "must be a table", has_value=False)]
        issues = [
            file.issue(
                (SECRETS_TABLE, key),
                "unknown key; expected one of " + ", ".join(_KEYS),
                has_value=False,
            )
            for key in table
            if key not in _KEYS
        ]
        references = _patterns(file, (SECRETS_TABLE, "runtime_references"), table, issues)
        hosts_table = table.get("allowed_hosts", {})
        hosts: dict[str, tuple[str, ...]] = {}
        if not isinstance(hosts_table, dict):
            issues.append(
                file.issue(
                    (SECRETS_TABLE, "allowed_hosts"),
                    "must be a table of tool = [host patterns]",
                    has_value=False,
                )
            )
        else:
            for tool in hosts_table:
                hosts[tool] = _patterns(
                    file, (SECRETS_TABLE, "allowed_hosts", tool), hosts_table, issues, key=tool
                )
        return cls(runtime_references=references, allowed_hosts=hosts), issues

    def reference_allowed(self, reference: str) -> bool:
        """Tell whether a runtime change may use ``reference`` (an ``env:``/``file:`` form)."""
        return any(fnmatchcase(reference, pattern) for pattern in self.runtime_references)

    def host_allowed(self, tool: str, host: str | None) -> bool:
        """Tell whether the file lets ``tool`` take its secrets to ``host``."""
        if host is None:
            return False
        return any(
            fnmatchcase(host, pattern.lower()) for pattern in self.allowed_hosts.get(tool, ())
        )


def _patterns(
    file: ConfigFile,
    where: tuple[str, ...],
    table: dict[str, Any],
    issues: list[ConfigIssue],
    *,
    key: str | None = None,
) -> tuple[str, ...]:
    value = table.get(key or where[-1], [])
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        issues.append(
            file.issue(where, "must be a list of non-empty strings (glob patterns)", value)
        )
        return ()
    return tuple(value)


def endpoint_host(endpoint: str | None) -> str | None:
    """Return the lower-cased host (with a port other than the scheme's) of an endpoint URL."""
    if not endpoint:
        return None
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if not host:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return host if port is None or port == default else f"{host}:{port}"


def endpoint_scheme(endpoint: str | None) -> str | None:
    """Return the lower-cased scheme of an endpoint URL (``https``), or ``None`` without one."""
    if not endpoint:
        return None
    try:
        scheme = urlsplit(endpoint).scheme.lower()
    except ValueError:
        return None
    return scheme or None


def leaves_https(old_endpoint: str | None, new_endpoint: str | None) -> bool:
    """Tell whether a change of endpoint gives up https (for ``http``, or any other scheme)."""
    return endpoint_scheme(old_endpoint) == "https" and endpoint_scheme(new_endpoint) != "https"
