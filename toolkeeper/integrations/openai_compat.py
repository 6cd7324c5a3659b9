"""A small client for OpenAI-compatible chat completions, configured by a tool's settings.

``POST {api_endpoint}/chat/completions`` with the tool's credentials, its
connect and read timeouts and its connection pool. A configuration given as a
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import httpx

from toolkeeper._errors import ToolkeeperError
from toolkeeper.config.schema import ExternalToolConfig

__all__ = ["AsyncChatClient", "ChatClient", "ChatError", "ChatTimeoutError"]

logger = logging.getLogger(__name__)

Message = Mapping[str, Any]
ConfigSource = ExternalToolConfig | Callable[[], ExternalToolConfig]
_MAX_DETAIL = 200


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
    headers: dict[str, str]
    body: dict[str, Any]
    timeout: httpx.Timeout

    def __repr__(self) -> str:  # the headers hold the key
        return f"_Request(url={self.url!r}, model={self.body.get('model')!r})"


def _auth_headers(config: ExternalToolConfig) -> dict[str, str]:
    if config.auth_type not in ("none", "bearer", "api_key"):
        raise ValueError(
            f"auth_type {config.auth_type!r} is not supported by the OpenAI-compatible client; "
            "use 'bearer', 'api_key' or 'none'"
        )
    if config.auth_type == "none" or config.api_key is None:
        return {}
    key = config.api_key.get_secret_value()
    if config.auth_type == "bearer":
        return {"Authorization": f"Bearer {key}"}
    return {"api-key": key}  # Azure OpenAI's header


def _build_request(
    config: ExternalToolConfig, messages: Sequence[Message], model: str, params: dict[str, Any]
) -> _Request:
    if not config.api_endpoint:
        raise ValueError("the tool has no api_endpoint to send chat completions to")
    return _Request(
        url=config.api_endpoint.rstrip("/") + "/chat/completions",
        headers={"Accept": "application/json", **_auth_headers(config)},
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
    return str(message)[:_MAX_DETAIL] if message else response.reason_phrase


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


def _transport_error(request: _Request, error: httpx.HTTPError) -> ChatError:
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


class ChatClient:
    """Send chat completions synchronously; thread-safe, one connection pool. Close it after use."""

    def __init__(
        self, config: ConfigSource, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self._config = _reader(config)
        self._http = httpx.Client(limits=_limits(self._config()), transport=transport)

    def chat(self, messages: Sequence[Message], *, model: str, **params: Any) -> dict[str, Any]:
        """Return the completion (the response's JSON) for ``messages`` from ``model``.

        ``params`` (``max_tokens``, ``temperature``, ...) are sent as they are.
        """
        request = _build_request(self._config(), messages, model, params)
        try:
            response = self._http.post(
                request.url, json=request.body, headers=request.headers, timeout=request.timeout
            )
        except httpx.HTTPError as error:
            raise _transport_error(request, error) from None
        return _read(request, response)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncChatClient:
    """Send chat completions from asyncio code; use it from one event loop. Close it after use."""

    def __init__(
        self, config: ConfigSource, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._config = _reader(config)
        self._http = httpx.AsyncClient(limits=_limits(self._config()), transport=transport)

    async def chat(
        self, messages: Sequence[Message], *, model: str, **params: Any
    ) -> dict[str, Any]:
        """Return the completion (the response's JSON) for ``messages`` from ``model``."""
        request = _build_request(self._config(), messages, model, params)
        try:
            response = await self._http.post(
                request.url, json=request.body, headers=request.headers, timeout=request.timeout
            )
        except httpx.HTTPError as error:
            raise _transport_error(request, error) from None
        return _read(request, response)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
