"""An httpx transport that turns the HTTP APIs an application calls into tracked tools.

Give an ``httpx.Client`` (or ``AsyncClient``) a :class:`TrackedTransport`
(:class:`AsyncTrackedTransport`) and each request to a known host becomes an
operation of that host's tool, with no decorator: the operation is the
request's method (``get``, ``post``...; or what ``operation`` returns), the
labels name the ``method`` and the ``status_code``, the duration is the time to
the response's headers (a streamed body is not waited for), and the server's
``Retry-After`` becomes the ``retry_after_seconds`` metric. A response with a
status of 400 or more is recorded as an error (``error_code`` ``HTTP_<status>``)
and reaches the tool's circuit breaker as its error rules classify it (by
default 408, 429 and 5xx count, other 4xx do not: see
:mod:`toolkeeper.resilience.classify`); the application still gets the
response, as httpx gives it. A transport failure (connection refused, timeout) is
recorded and raised unchanged. While the tool's circuit is open, requests to it
are not sent: :class:`~toolkeeper.CircuitOpenError` is raised instead.

The tool is chosen by the request's host: ``hosts`` maps host names to tools;
without it, each configured tool whose ``api_endpoint`` names a host claims that
host (read again when the configuration changes). Requests to other hosts pass
through untracked.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Generic, TypeVar

import httpx

from toolkeeper.config.schema import ExternalToolConfig
from toolkeeper.resilience.retry import retry_after_seconds

if TYPE_CHECKING:
    from toolkeeper.keeper import Keeper
    from toolkeeper.wrap.scope import OperationScope

__all__ = ["AsyncTrackedTransport", "TrackedTransport", "hosts_of"]

OperationNamer = Callable[[httpx.Request], str]
_Inner = TypeVar("_Inner", httpx.BaseTransport, httpx.AsyncBaseTransport)
_FAILED_STATUS = 400


def hosts_of(keeper: Keeper) -> dict[str, str]:
    """Return the host of each configured tool's ``api_endpoint``, mapped to the tool's name.

    When two tools name the same host, the first in name order keeps it.
    """
    hosts: dict[str, str] = {}
    for name in sorted(keeper.config.tools()):
        config = keeper.config.get(name)
        endpoint = config.api_endpoint if isinstance(config, ExternalToolConfig) else None
        if endpoint:
            host = httpx.URL(endpoint).host
            hosts.setdefault(host, name)
    return hosts


def _method(request: httpx.Request) -> str:
    return request.method.lower()


class _Tracking(ABC, Generic[_Inner]):
    """What both transports share: which tool a request belongs to, and what to record."""

    def __init__(
        self,
        keeper: Keeper,
        *,
        hosts: Mapping[str, str] | None = None,
        operation: OperationNamer = _method,
        transport: _Inner | None = None,
    ) -> None:
        self.keeper = keeper
        self._given = dict(hosts) if hosts is not None else None
        self._operation = operation
        self._hosts: dict[str, str] | None = self._given
        self._inner: _Inner = transport if transport is not None else self._default_transport()
        self._unsubscribe: Callable[[], None] = lambda: None
        if self._given is None:
            self._unsubscribe = keeper.config.subscribe(self._forget)

    @abstractmethod
    def _default_transport(self) -> _Inner:
        """Return the transport requests go through when none was given."""

    def _forget(self, _version: object) -> None:
        self._hosts = None

    def _tool_of(self, request: httpx.Request) -> str | None:
        hosts = self._hosts
        if hosts is None:
            hosts = self._hosts = hosts_of(self.keeper)
        return hosts.get(request.url.host)

    def _exchange(self, tool: str, request: httpx.Request) -> _Exchange:
        labels = {"method": request.method}
        scope = self.keeper.operation(tool, self._operation(request), labels=labels)
        return _Exchange(scope, request, self.keeper)


class _Exchange:
    """One tracked request: its operation, the response, and its status as the outcome.

    ``with exchange`` keeps the status error :meth:`answered` raises (to record a
    failed response) from reaching the caller, who gets the response itself.
    """

    __slots__ = ("_keeper", "request", "response", "scope")

    def __init__(self, scope: OperationScope, request: httpx.Request, keeper: Keeper) -> None:
        self.scope, self.request, self._keeper = scope, request, keeper
        self.response: httpx.Response | None = None

    def answered(self, response: httpx.Response) -> None:
        """Label the response's status; raise a status error to record a failed one."""
        self.response = response
        self.scope.labels["status_code"] = str(response.status_code)
        if response.status_code < _FAILED_STATUS:
            return
        request = self.request
        where = request.url.copy_with(query=None)  # a query string may carry a key
        error = httpx.HTTPStatusError(
            f"HTTP {response.status_code} from {request.method} {where}",
            request=request,
            response=response,
        )
        wait = retry_after_seconds(error, clock=self._keeper.clock)
        if wait is not None:
            self.scope.metric("retry_after_seconds", wait)
        raise error

    def __enter__(self) -> OperationScope:
        return self.scope

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> bool:
        """Swallow the status error of this exchange's own response (already recorded)."""
        return (
            isinstance(error, httpx.HTTPStatusError)
            and self.response is not None
            and error.response is self.response
        )

    def result(self) -> httpx.Response:
        """Return the response (there is one once the ``with`` ended without an error)."""
        assert self.response is not None
        return self.response


class TrackedTransport(_Tracking[httpx.BaseTransport], httpx.BaseTransport):
    """Record each request to a tool's host as an operation of that tool (sync clients).

    ``hosts`` maps hosts to tool names (default: each tool's ``api_endpoint`` host,
    followed as the configuration changes); ``operation`` names a request's
    operation (default: its method); ``transport`` sends the requests.
    """

    def _default_transport(self) -> httpx.BaseTransport:
        return httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the wrapped transport, recording it if its host is a tool's."""
        tool = self._tool_of(request)
        if tool is None:
            return self._inner.handle_request(request)
        exchange = self._exchange(tool, request)
        with exchange as op, op:
            exchange.answered(self._inner.handle_request(request))
        return exchange.result()

    def close(self) -> None:
        """Close the wrapped transport and stop following the configuration."""
        self._unsubscribe()
        self._inner.close()


class AsyncTrackedTransport(_Tracking[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport):
    """Record each request to a tool's host as an operation of that tool (async clients).

    Takes the arguments of :class:`TrackedTransport`, ``transport`` an async one.
    """

    def _default_transport(self) -> httpx.AsyncBaseTransport:
        return httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the wrapped transport, recording it if its host is a tool's."""
        tool = self._tool_of(request)
        if tool is None:
            return await self._inner.handle_async_request(request)
        exchange = self._exchange(tool, request)
        with exchange as op:
            async with op:
                exchange.answered(await self._inner.handle_async_request(request))
        return exchange.result()

    async def aclose(self) -> None:
        """Close the wrapped transport and stop following the configuration."""
        self._unsubscribe()
        await self._inner.aclose()
