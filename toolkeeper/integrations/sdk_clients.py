"""``tk.instrument(client, tool=..., keeper=...)``: track every call of an SDK client.

Returns a proxy of an ``openai`` or ``anthropic`` client: its resources (``chat.completions``,
``responses``, ``messages``, ``with_raw_response``…) are reached as usual, and
their ``create``, ``stream`` and ``parse`` methods run as ``@keeper.tool``
calls of ``tool``: under its resilience and budgets, recorded with the usage
and cost read from what they return (objects, raw responses, streams, the
``stream()`` helpers; see :mod:`toolkeeper.costs.responses` and
:mod:`toolkeeper.wrap.streams`). The operation is the method's path, such as
``chat.completions.create``. Sync and async clients alike; nothing is decorated
or patched, the client itself is left as it was.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from toolkeeper.keeper import Keeper

__all__ = ["InstrumentedClient", "instrument"]

C = TypeVar("C")

#: The methods that call the provider, tracked as operations.
CALLS = frozenset({"create", "stream", "parse"})
_SDKS = ("openai.", "anthropic.")
_PATH_ONLY = frozenset({"with_raw_response"})


class InstrumentedClient:
    """A proxy of an SDK client (or of one of its resources) whose calls are tracked."""

    __slots__ = ("_cache", "_keeper", "_path", "_target", "_tool")

    def __init__(self, target: Any, *, keeper: Keeper, tool: str, path: tuple[str, ...] = ()):
        self._target = target
        self._keeper = keeper
        self._tool = tool
        self._path = path
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._target, name)
        if name.startswith("_"):
            return found
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        path = (*self._path, name)
        if callable(found) and name in CALLS:
            operation = ".".join(part for part in path if part not in _PATH_ONLY)
            made: Any = self._keeper.tool(self._tool, operation=operation)(
                _awaited(found) if self._awaits(name) else found
            )
        elif not callable(found) and type(found).__module__.startswith(_SDKS):
            made = InstrumentedClient(found, keeper=self._keeper, tool=self._tool, path=path)
        else:
            return found
        self._cache[name] = made
        return made

    def _awaits(self, name: str) -> bool:
        """Return whether the method returns a coroutine (an async resource's, but ``stream``).

        The SDKs' async methods are plain functions returning coroutines (their
        argument checks wrap them), so they are told apart by their resource.
        """
        if name == "stream":
            return False
        return inspect.iscoroutinefunction(getattr(self._target, name)) or type(
            self._target
        ).__name__.startswith("Async")

    def __enter__(self) -> InstrumentedClient:
        self._target.__enter__()
        return self

    def __exit__(self, *exc: object) -> Any:
        return self._target.__exit__(*exc)

    async def __aenter__(self) -> InstrumentedClient:
        await self._target.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> Any:
        return await self._target.__aexit__(*exc)

    def __repr__(self) -> str:
        return f"instrumented({self._target!r}, tool={self._tool!r})"


def instrument(client: C, *, tool: str, keeper: Keeper) -> C:
    """Return ``client`` with every call of its ``create``/``stream``/``parse`` methods tracked.

    ``tool`` names the tool the calls belong to (its configuration, budgets,
    resilience); ``keeper`` records them.
    """
    return InstrumentedClient(client, keeper=keeper, tool=tool)  # type: ignore[return-value]


def _awaited(method: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
    """Return ``method`` as a coroutine function, so the async wrapper awaits it."""

    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        return await method(*args, **kwargs)

    return call
