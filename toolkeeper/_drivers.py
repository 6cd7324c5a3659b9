"""What the sync and the async driver of one engine share.

An engine (a state machine such as ``resilience.executor._Attempts``) decides;
its two drivers only call, await and sleep. :func:`takes_arguments_of` declares
the drivers' arguments once, on the engine's constructor; :func:`call_and_await`
is the one way an async driver calls a function that may or may not be async.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

__all__ = ["call_and_await", "takes_arguments_of"]

P = ParamSpec("P")
R = TypeVar("R")


def takes_arguments_of(
    engine: Callable[P, object],
) -> Callable[[Callable[..., R]], Callable[P, R]]:
    """Declare that the decorated driver takes what ``engine`` takes, and passes it on.

    The driver is returned as it is (an ``async def`` stays a coroutine function);
    type checkers and :func:`inspect.signature` see ``engine``'s arguments.
    """
    signature = inspect.signature(engine)

    def declared(driver: Callable[..., R]) -> Callable[P, R]:
        returns = inspect.signature(driver).return_annotation
        driver.__signature__ = signature.replace(return_annotation=returns)  # type: ignore[attr-defined]
        return driver

    return declared


async def call_and_await(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> Any:
    """Return ``fn(*args, **kwargs)``, awaited when it is awaitable (a sync ``fn`` runs inline)."""
    value = fn(*args, **kwargs)
    if inspect.isawaitable(value):
        value = await value
    return value
