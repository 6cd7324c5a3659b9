"""One timer per event loop keeps async calls' deadlines and cancels as asyncio.timeout does."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from toolkeeper._errors import CallTimeoutError
from toolkeeper.resilience.deadlines import deadlines_of
from toolkeeper.resilience.timeout import await_with_timeout


async def _sleep_then(seconds: float, value: str) -> str:
    await asyncio.sleep(seconds)
    return value


def test_a_call_past_its_deadline_is_cancelled_and_becomes_a_timeout() -> None:
    """Cancel the overdue call and raise CallTimeoutError naming the tool and the timeout."""
    seen: list[str] = []

    async def stuck() -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return "late"

    async def run() -> None:
        with pytest.raises(CallTimeoutError) as caught:
            await await_with_timeout(stuck, (), {}, 0.05, "slow-tool")
        assert caught.value.timeout_seconds == 0.05
        assert "slow-tool" in str(caught.value)
        assert len(deadlines_of(asyncio.get_running_loop())) == 0

    asyncio.run(run())
    assert seen == ["cancelled"]


def test_a_shorter_timeout_started_later_still_fires_first() -> None:
    """Fire a 0.05 s deadline started after a 30 s one, leaving the long call to finish."""

    async def run() -> tuple[str, BaseException | str]:
        long_call = asyncio.ensure_future(
            await_with_timeout(_sleep_then, (0.3, "long"), {}, 30.0, "t")
        )
        await asyncio.sleep(0)
        try:
            short: BaseException | str = await await_with_timeout(
                _sleep_then, (30, "short"), {}, 0.05, "t"
            )
        except CallTimeoutError as error:
            short = error
        return await long_call, short

    long_value, short = asyncio.run(run())
    assert long_value == "long"
    assert isinstance(short, CallTimeoutError)


def test_calls_that_return_leave_nothing_behind() -> None:
    """Forget each deadline when its call returns, whatever the number of calls."""

    async def run() -> int:
        results = await asyncio.gather(
            *(await_with_timeout(_sleep_then, (0, str(n)), {}, 30.0, "t") for n in range(200))
        )
        assert results == [str(n) for n in range(200)]
        return len(deadlines_of(asyncio.get_running_loop()))

    assert asyncio.run(run()) == 0


def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    """Propagate a cancellation the deadline did not make as CancelledError, not a timeout."""

    async def run() -> None:
        task = asyncio.ensure_future(await_with_timeout(_sleep_then, (30, "x"), {}, 30.0, "t"))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())


def test_a_call_that_swallows_its_cancellation_returns_and_its_task_goes_on() -> None:
    """Return the value of a call that caught the deadline's cancel; later awaits still work."""

    async def stubborn() -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            return "kept"
        return "late"

    async def run() -> tuple[str, str]:
        value = await await_with_timeout(stubborn, (), {}, 0.05, "t")
        after = await _sleep_then(0.01, "after")
        return value, after

    assert asyncio.run(run()) == ("kept", "after")


def test_a_closed_loop_is_collected_with_its_deadlines() -> None:
    """Let a loop that kept deadlines be garbage-collected once closed and dropped."""
    loop = asyncio.new_event_loop()
    value = loop.run_until_complete(await_with_timeout(_sleep_then, (0, "v"), {}, 30.0, "t"))
    assert value == "v"
    watched = weakref.ref(loop)
    loop.close()
    del loop
    gc.collect()
    assert watched() is None
