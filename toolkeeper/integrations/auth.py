"""How requests to a tool authenticate: each ``auth_type`` the configuration accepts, for httpx.

- ``none``: nothing is sent;
- ``bearer``: ``Authorization: Bearer <api_key>``;
- ``api_key``: ``api-key: <api_key>`` (Azure OpenAI's header);
- ``basic``: HTTP basic authentication with ``username`` and ``password``;
- ``oauth``: OAuth 2.0 client credentials (RFC 6749, section 4.4). A token is
  fetched from ``oauth_token_url`` (the client authenticating with HTTP basic,
  ``oauth_scope`` sent when set), cached, and fetched again before it expires:
  once less than a tenth of its lifetime, or a minute, is left. A request that
  gets 401 with a cached token fetches a new one and is sent once more.

Secrets go into the request headers that need them and nowhere else: the
errors raised here name the token endpoint and its status, never a credential.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass

import httpx

from toolkeeper._clock import Clock, SystemClock
from toolkeeper._errors import ToolkeeperError
from toolkeeper.config.schema import ExternalToolConfig

__all__ = ["ClientCredentials", "OAuthTokenError", "auth_for"]

_REFRESH_MARGIN_SECONDS = 60.0
_REFRESH_MARGIN_FRACTION = 0.1
_UNAUTHORIZED = 401
_MAX_DETAIL = 200


class OAuthTokenError(ToolkeeperError):
    """The token endpoint refused the client's credentials or answered without a token."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: float  # on the clock's monotonic scale

    def __repr__(self) -> str:  # the value is a credential
        return f"_Token(refresh_at={self.refresh_at!r})"


class ClientCredentials(httpx.Auth):
    """OAuth 2.0 client-credentials auth for httpx: fetch, cache and refresh a bearer token.

    Thread-safe; works with ``httpx.Client`` and ``httpx.AsyncClient`` alike (the
    token request goes through the client it authenticates). Two requests that
    find no valid token at once may both fetch one; the later one is kept.
    """

    requires_response_body = True

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._token: _Token | None = None
        self.fetched = 0  # tokens fetched so far

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send ``request`` with a valid token, fetching one first when none is cached."""
        token = self._valid_token()
        fresh = token is None
        if token is None:
            token = self._read_token((yield self._token_request()))
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == _UNAUTHORIZED and not fresh:
            # Revoked or expired early: one new token, one more attempt.
            token = self._read_token((yield self._token_request()))
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def _valid_token(self) -> str | None:
        with self._lock:
            token = self._token
        if token is None or self._clock.monotonic() >= token.refresh_at:
            return None
        return token.value

    def _token_request(self) -> httpx.Request:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        basic = httpx.BasicAuth(self.client_id, self._client_secret)
        request = httpx.Request(
            "POST", self.token_url, data=form, headers={"Accept": "application/json"}
        )
        return next(basic.auth_flow(request))

    def _read_token(self, response: httpx.Response) -> str:
        obtained = self._clock.monotonic()
        if not response.is_success:
            raise OAuthTokenError(
                f"OAuth token request to {self.token_url} failed with HTTP "
                f"{response.status_code}: {_detail(response)}",
                status_code=response.status_code,
            )
        try:
            data = response.json()
        except ValueError:
            data = None
        value = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value:
            raise OAuthTokenError(
                f"OAuth token response from {self.token_url} has no access_token",
                status_code=response.status_code,
            )
        lifetime = _lifetime(data)
        margin = min(_REFRESH_MARGIN_SECONDS, lifetime * _REFRESH_MARGIN_FRACTION)
        with self._lock:
            self._token = _Token(value, obtained + lifetime - margin)
            self.fetched += 1
        return value

    def __repr__(self) -> str:
        return f"ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r})"


def _lifetime(data: dict[str, object]) -> float:
    """Return the token's lifetime in seconds (``expires_in``; an hour when it is absent)."""
    expires_in = data.get("expires_in")
    if isinstance(expires_in, int | float | str):
        try:
            return max(float(expires_in), 0.0)
        except ValueError:
            pass
    return 3600.0


def _detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.reason_phrase
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str):
        description = data.get("error_description")
        text = error + (f" ({description})" if isinstance(description, str) else "")
        return text[:_MAX_DETAIL]
    return response.reason_phrase


def auth_for(
    config: ExternalToolConfig, *, clock: Clock | None = None
) -> httpx.Auth | dict[str, str]:
    """Return how ``config`` authenticates: headers to send, or an httpx auth (basic, OAuth)."""
    auth_type = config.auth_type
    if auth_type == "basic":
        assert config.username is not None
        assert config.password is not None
        return httpx.BasicAuth(config.username, config.password.get_secret_value())
    if auth_type == "oauth":
        assert config.oauth_client_secret is not None
        assert config.oauth_token_url is not None
        return ClientCredentials(
            token_url=config.oauth_token_url,
            client_id=config.oauth_client_id or "",
            client_secret=config.oauth_client_secret.get_secret_value(),
            scope=config.oauth_scope,
            clock=clock,
        )
    if auth_type == "none" or config.api_key is None:
        return {}
    key = config.api_key.get_secret_value()
    if auth_type == "bearer":
        return {"Authorization": f"Bearer {key}"}
    return {"api-key": key}
