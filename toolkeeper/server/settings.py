"""The server's settings: where it listens, how it signs sessions, and who may scrape metrics."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "ServerSettings"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765

_PREFIX = "TOOLKEEPER_SERVER_"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class ServerSettings(BaseModel):
    """Settings of one server process.

    ``session_secret`` signs session cookies; when it is ``None`` a random key is
    generated once and kept in the store, so every process sharing the store
    accepts the same sessions and a restart signs no one out.
    ``metrics_public`` opens ``/metrics`` to anyone who can reach the port;
    by default a scraper sends a bearer token of any role (Prometheus'
    ``authorization: {credentials_file: ...}``), since it cannot keep a session.
    ``secure_cookies``: ``None`` marks the session cookie ``Secure`` exactly when
    the request came over HTTPS (behind a proxy, run uvicorn with
    ``--proxy-headers``); ``True``/``False`` force it.
    ``auth_failure_limit``: failed sign-ins and bad bearer tokens allowed per
    client address in a moving window (``limits`` syntax); past it, 429.
    ``token_cache_seconds``: how long the server trusts what the store said about
    a live token (by its SHA-256) before asking again; a revocation made by
    another process (``toolkeeper tokens revoke``) takes effect within it. 0 asks
    the store on every request.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = DEFAULT_HOST
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    session_secret: SecretStr | None = None
    session_max_age_seconds: int = Field(default=8 * 3600, ge=60)
    secure_cookies: bool | None = None
    metrics_public: bool = False
    events_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    auth_failure_limit: str = "20/minute"
    token_cache_seconds: float = Field(default=1.0, ge=0, le=5)

    @field_validator("auth_failure_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        # Deferred: `limits` loads only where a rate limit is configured or parsed; most tools have
        # none.
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError("must be a rate such as '20/minute' or '100 per hour'") from None
        return value

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> ServerSettings:
        """Read ``TOOLKEEPER_SERVER_<FIELD>`` variables; ``overrides`` win over them."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name in cls.model_fields:
            raw = env.get(_PREFIX + name.upper())
            if raw is not None and raw != "":
                values[name] = _flag(raw) if name in {"metrics_public", "secure_cookies"} else raw
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls.model_validate(values)


def _flag(raw: str) -> object:
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return raw  # let validation name the variable's bad value
