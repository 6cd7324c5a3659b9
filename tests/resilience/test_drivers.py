"""The sync and async drivers of one engine take the same arguments, declared once."""

from __future__ import annotations

import asyncio
import inspect

from toolkeeper._drivers import call_and_await
from toolkeeper.resilience import acall, call
from toolkeeper.resilience.fallback import arun_fallbacks, run_fallbacks

EXECUTOR_KEYWORDS = ["policy", "breaker", "bulkhead", "fallbacks", "clock", "on_event", "rng",
                     "tool", "first_failure"]  # fmt: skip


def test_call_and_acall_show_the_same_arguments() -> None:
    """Both drivers show fn, its arguments and the executor's own keywords; acall stays async."""
    for driver in (call, acall):
        parameters = list(inspect.signature(driver).parameters)
        assert parameters == ["fn", "args", *EXECUTOR_KEYWORDS, "kwargs"]
    assert inspect.iscoroutinefunction(acall)
    assert not inspect.iscoroutinefunction(call)


def test_the_fallback_drivers_show_the_same_arguments() -> None:
    """run_fallbacks and arun_fallbacks take the chain's arguments; only the second is async."""
    expected = ["fallbacks", "args", "kwargs", "failure", "clock", "on_event"]
    for driver in (run_fallbacks, arun_fallbacks):
        assert list(inspect.signature(driver).parameters) == expected
    assert inspect.iscoroutinefunction(arun_fallbacks)


def test_call_and_await_awaits_only_what_is_awaitable() -> None:
    """A sync function's value comes back as it is; a coroutine function's is awaited."""

    def double(x: int) -> int:
        return 2 * x

    async def triple(x: int) -> int:
        return 3 * x

    async def both() -> tuple[object, object]:
        return await call_and_await(double, (2,), {}), await call_and_await(triple, (), {"x": 2})

    assert asyncio.run(both()) == (4, 6)
