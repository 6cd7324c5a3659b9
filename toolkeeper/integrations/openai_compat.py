"""A small client for OpenAI-compatible chat completions, configured by a tool's settings.

``POST {api_endpoint}/chat/completions`` with the tool's credentials (every
``auth_type``: bearer, ``api-key`` header, basic, OAuth 2.0 client credentials;
see :mod:`toolkeeper.integrations.auth`), its ``api_version`` as the Azure-style
``api-version`` query parameter, its connect and read timeouts and its
connection pool. A configuration given as a
callable is read again on every request, so a timeout or key changed at runtime
applies to the next call (the pool size is fixed when the client is built).

Failures raise :class:`ChatError`: an HTTP error status (``status_code``,
``retry_after_seconds`` from ``Retry-After`` and the httpx ``response``, the
attributes toolkeeper's retry and error codes read), or a transport failure
(:class:`ChatTimeoutError` for a timeout, also a ``TimeoutError``). The key goes
into one request header and nowhere else: not into logs, errors or reprs.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar

import httpx

from toolkeeper._clock import Clock
from toolkeeper._errors import ToolkeeperError
from toolkeeper.config.schema import ExternalToolConfig
from toolkeeper.integrations.auth import ClientCredentials, OAuthTokenError, auth_for

__all__ = [
    "AsyncChatClient",
    "ChatClient",
    "ChatError",
    "ChatTimeoutError",
    "ClientCredentials",
]

logger = logging.getLogger(__name__)

Message = Mapping[str, Any]
ConfigSource = ExternalToolConfig | Callable[[], ExternalToolConfig]
_Transport = TypeVar("_Transport", httpx.BaseTransport, httpx.AsyncBaseTransport)
_Client = TypeVar("_Client", httpx.Client, httpx.AsyncClient)


class ChatError(ToolkeeperError):
    """A chat completion failed: an HTTP error status, or the request never got an answer.

    ``status_code`` and ``response`` are None when no response arrived;
    ``retry_after_seconds`` is the server's ``Retry-After`` in seconds, if it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after_seconds: float | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        self.status_code = status_code
        self.retry_after_seconds = retry_after_seconds
        self.response = response
        super().__init__(message)


class ChatTimeoutError(ChatError, TimeoutError):
    """A chat completion ran past the client's connect or read timeout."""


@dataclass(frozen=True, slots=True)
class _Request:
    url: str
    params: dict[str, str]
    headers: dict[str, str]
    auth: httpx.Auth | None
    body: dict[str, Any]
    timeout: httpx.Timeout

    def __repr__(self) -> str:  # the headers hold the key
        return f"_Request(url={self.url!r}, model={self.body.get('model')!r})"


class _Credentials:
    """The auth of the configuration in force, kept while it lasts (an OAuth token's cache)."""

    def __init__(self, clock: Clock | None) -> None:
        self._clock = clock
        self._key: tuple[object, ...] = ()
        self._auth: httpx.Auth | dict[str, str] = {}

    def of(self, config: ExternalToolConfig) -> httpx.Auth | dict[str, str]:
        key = (
            config.auth_type, config.api_key, config.username, config.password,
            config.oauth_token_url, config.oauth_client_id, config.oauth_client_secret,
            config.oauth_scope,
        )  # fmt: skip
        if key != self._key:  # a race here builds the same auth twice: harmless
            self._auth, self._key = auth_for(config, clock=self._clock), key
        return self._auth


def _build_request(
    config: ExternalToolConfig,
    credentials: _Credentials,
    messages: Sequence[Message],
    model: str,
    params: dict[str, Any],
) -> _Request:
    if not config.api_endpoint:
        raise ValueError("the tool has no api_endpoint to send chat completions to")
    auth = credentials.of(config)
    headers = {"Accept": "application/json"}
    if isinstance(auth, dict):
        headers.update(auth)
    return _Request(
        url=config.api_endpoint.rstrip("/") + "/chat/completions",
        params={"api-version": config.api_version} if config.api_version else {},
        headers=headers,
        auth=None if isinstance(auth, dict) else auth,
        body={"model": model, "messages": [dict(m) for m in messages], **params},
        timeout=httpx.Timeout(
            config.read_timeout_seconds,
            connect=config.connect_timeout_seconds,
            pool=config.connect_timeout_seconds,
        ),
    )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # an HTTP-date: the retry layer reads it from ``response``


def _detail(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return response.reason_phrase
    message = error.get("message") if isinstance(error, dict) else None
    # Not cut here: the recorder removes secrets from the whole text first, then cuts it
    # (a key cut in two would slip past redaction).
    return str(message) if message else response.reason_phrase


def _read(request: _Request, response: httpx.Response) -> dict[str, Any]:
    logger.debug(
        "POST %s model=%s -> %s", request.url, request.body.get("model"), response.status_code
    )
    if response.is_success:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ChatError(
                f"chat completion from {request.url} is not a JSON object",
                status_code=response.status_code,
                response=response,
            )
        return data
    raise ChatError(
        f"chat completion failed with HTTP {response.status_code} from {request.url}: "
        f"{_detail(response)}",
        status_code=response.status_code,
        retry_after_seconds=_retry_after(response),
        response=response,
    )


@contextmanager
def _sent(request: _Request) -> Iterator[None]:
    """Raise a transport failure (or an OAuth token's) as a :class:`ChatError`."""
    try:
        yield
    except (httpx.HTTPError, OAuthTokenError) as error:
        raise _transport_error(request, error) from None


def _transport_error(request: _Request, error: httpx.HTTPError | OAuthTokenError) -> ChatError:
    if isinstance(error, OAuthTokenError):
        return ChatError(
            f"chat completion to {request.url} failed: {error}", status_code=error.status_code
        )
    kind = ChatTimeoutError if isinstance(error, httpx.TimeoutException) else ChatError
    return kind(f"chat completion to {request.url} failed: {type(error).__name__}: {error}")


def _limits(config: ExternalToolConfig) -> httpx.Limits:
    return httpx.Limits(
        max_connections=config.pool_max_connections,
        max_keepalive_connections=config.pool_max_keepalive,
    )


def _reader(config: ConfigSource) -> Callable[[], ExternalToolConfig]:
    if isinstance(config, ExternalToolConfig):
        return lambda: config
    return config


class _Chat(ABC, Generic[_Transport, _Client]):
    """What both clients share: the configuration in force, its credentials, the request."""

    def __init__(
        self,
        config: ConfigSource,
        *,
        transport: _Transport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._config = _reader(config)
        self._credentials = _Credentials(clock)
        self._http: _Client = self._connect(_limits(self._config()), transport)

    @abstractmethod
    def _connect(self, limits: httpx.Limits, transport: _Transport | None) -> _Client:
        """Return the HTTP client of this chat: its pool ``limits``, over ``transport`` if given."""

    def _request(
        self, messages: Sequence[Message], model: str, params: dict[str, Any]
    ) -> tuple[_Request, httpx.Request]:
        """Return the request for the configuration in force, and as httpx will send it."""
        request = _build_request(self._config(), self._credentials, messages, model, params)
        built = self._http.build_request(
            "POST",
            request.url,
            json=request.body,
            params=request.params,
            headers=request.headers,
            timeout=request.timeout,
        )
        return request, built


class ChatClient(_Chat[httpx.BaseTransport, httpx.Client]):
    """Send chat completions synchronously; thread-safe, one connection pool. Close it after use.

    ``config`` is the tool's settings, or a callable returning those in force;
    ``transport`` sends the requests; ``clock`` times OAuth tokens.
    """

    def _connect(self, limits: httpx.Limits, transport: httpx.BaseTransport | None) -> httpx.Client:
        return httpx.Client(limits=limits, transport=transport)

    def chat(self, messages: Sequence[Message], *, model: str, **params: Any) -> dict[str, Any]:
        """Return the completion (the response's JSON) for ``messages`` from ``model``.

        ``params`` (``max_tokens``, ``temperature``, ...) are sent as they are.
        """
        request, built = self._request(messages, model, params)
        with _sent(request):
            response = self._http.send(built, auth=request.auth or httpx.USE_CLIENT_DEFAULT)
        return _read(request, response)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncChatClient(_Chat[httpx.AsyncBaseTransport, httpx.AsyncClient]):
    """Send chat completions from asyncio code; use it from one event loop. Close it after use.

    Takes the arguments of :class:`ChatClient`, ``transport`` an async one.
    """

    def _connect(
        self, limits: httpx.Limits, transport: httpx.AsyncBaseTransport | None
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(limits=limits, transport=transport)

    async def chat(
        self, messages: Sequence[Message], *, model: str, **params: Any
    ) -> dict[str, Any]:
        """Return the completion (the response's JSON) for ``messages`` from ``model``."""
        request, built = self._request(messages, model, params)
        with _sent(request):
            response = await self._http.send(built, auth=request.auth or httpx.USE_CLIENT_DEFAULT)
        return _read(request, response)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
