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

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import httpx

from toolkeeper.config.schema import ExternalToolConfig
from toolkeeper.resilience.retry import retry_after_seconds

if TYPE_CHECKING:
    from toolkeeper.keeper import Keeper
    from toolkeeper.wrap.scope import OperationScope

__all__ = ["AsyncTrackedTransport", "TrackedTransport", "hosts_of"]

OperationNamer = Callable[[httpx.Request], str]
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


class _Tracking:
    """What both transports share: which tool a request belongs to, and what to record."""

    def __init__(
        self, keeper: Keeper, hosts: Mapping[str, str] | None, operation: OperationNamer
    ) -> None:
        self.keeper = keeper
        self._given = dict(hosts) if hosts is not None else None
        self._operation = operation
        self._hosts: dict[str, str] | None = self._given
        self.unsubscribe: Callable[[], None] = lambda: None
        if self._given is None:
            self.unsubscribe = keeper.config.subscribe(self._forget)

    def _forget(self, _version: object) -> None:
        self._hosts = None

    def tool_of(self, request: httpx.Request) -> str | None:
        hosts = self._hosts
        if hosts is None:
            hosts = self._hosts = hosts_of(self.keeper)
        return hosts.get(request.url.host)

    def scope(self, tool: str, request: httpx.Request) -> OperationScope:
        labels = {"method": request.method}
        return self.keeper.operation(tool, self._operation(request), labels=labels)

    def observe(self, op: OperationScope, request: httpx.Request, response: httpx.Response) -> None:
        """Label the response's status; raise a status error to record a failed one."""
        op.labels["status_code"] = str(response.status_code)
        if response.status_code < _FAILED_STATUS:
            return
        where = request.url.copy_with(query=None)  # a query string may carry a key
        error = httpx.HTTPStatusError(
            f"HTTP {response.status_code} from {request.method} {where}",
            request=request,
            response=response,
        )
        wait = retry_after_seconds(error, clock=self.keeper.clock)
        if wait is not None:
            op.metric("retry_after_seconds", wait)
        raise error


class TrackedTransport(httpx.BaseTransport):
    """Record each request to a tool's host as an operation of that tool (sync clients)."""

    def __init__(
        self,
        keeper: Keeper,
        *,
        hosts: Mapping[str, str] | None = None,
        operation: OperationNamer = _method,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._tracking = _Tracking(keeper, hosts, operation)
        self._inner = transport or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the wrapped transport, recording it if its host is a tool's."""
        tool = self._tracking.tool_of(request)
        if tool is None:
            return self._inner.handle_request(request)
        response: httpx.Response | None = None
        try:
            with self._tracking.scope(tool, request) as op:
                response = self._inner.handle_request(request)
                self._tracking.observe(op, request, response)
        except httpx.HTTPStatusError as failed:
            if failed.response is not response:
                raise
        assert response is not None
        return response

    def close(self) -> None:
        """Close the wrapped transport and stop following the configuration."""
        self._tracking.unsubscribe()
        self._inner.close()


class AsyncTrackedTransport(httpx.AsyncBaseTransport):
    """Record each request to a tool's host as an operation of that tool (async clients)."""

    def __init__(
        self,
        keeper: Keeper,
        *,
        hosts: Mapping[str, str] | None = None,
        operation: OperationNamer = _method,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._tracking = _Tracking(keeper, hosts, operation)
        self._inner = transport or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the wrapped transport, recording it if its host is a tool's."""
        tool = self._tracking.tool_of(request)
        if tool is None:
            return await self._inner.handle_async_request(request)
        response: httpx.Response | None = None
        try:
            async with self._tracking.scope(tool, request) as op:
                response = await self._inner.handle_async_request(request)
                self._tracking.observe(op, request, response)
        except httpx.HTTPStatusError as failed:
            if failed.response is not response:
                raise
        assert response is not None
        return response

    async def aclose(self) -> None:
        """Close the wrapped transport and stop following the configuration."""
        self._tracking.unsubscribe()
        await self._inner.aclose()
