"""The docs' table of call sequences, run through @keeper.tool (C and Python fast paths)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tests.resilience.sequences import BASE, CONFIG_NAMES, SLOW_S, Sequence, sequences
from toolkeeper import CircuitOpenError, FakeClock, Keeper
from toolkeeper.config.files import ConfigFile

ROWS = sequences()
LETTERS = {"closed": "C", "open": "O", "half_open": "H"}


def config_of(row: Sequence) -> str:
    """Return a toolkeeper.toml with one tool under the row's settings."""
    settings = {**BASE, **row.settings}
    lines = ["[tools.upstream]", "max_retry_attempts = 0", "timeout_sync_calls = false"]
    for name, value in settings.items():
        if name in CONFIG_NAMES:
            shown = f'"{value}"' if isinstance(value, str) else repr(value)
            lines.append(f"{CONFIG_NAMES[name]} = {shown}")
    return "\n".join(lines) + "\n"


def scripted(clock: FakeClock) -> Callable[[str], str]:
    """Return the function the keeper wraps: it behaves as its argument's letter says."""

    def behave(step: str) -> str:
        if step == "F":
            raise ConnectionError("upstream down")
        if step == "W":  # slow on the fake clock (the executor) and in real time (the fast path)
            clock.advance(SLOW_S + 0.05)
            time.sleep(SLOW_S + 0.05)
        elif step == "E":  # exactly the threshold on the fake clock: not slow
            clock.advance(SLOW_S)
        return step

    return behave


@pytest.mark.parametrize("row", ROWS, ids=[f"row{row.number}-{row.calls}" for row in ROWS])
def test_a_wrapped_tool_follows_the_documented_sequence(row: Sequence) -> None:
    """Each row's states after each call of @keeper.tool are the documented ones."""
    clock = FakeClock()
    keeper = Keeper.open(
        ConfigFile.parse(config_of(row)), store="memory://", follow_changes=False, clock=clock
    )
    try:
        call = keeper.tool("upstream", operation="call")(scripted(clock))
        seen = ""
        for step in row.calls:
            if step == ".":
                clock.advance(float(row.settings.get("open_wait_seconds", 30.0)))
            else:
                try:
                    assert call(step) == step
                except CircuitOpenError:
                    seen += "R"
                    continue
                except ConnectionError:
                    assert step == "F"
            state = keeper.runtimes.circuit_state("upstream")
            assert state is not None
            seen += LETTERS[state]
        assert seen == row.expected
    finally:
        keeper.close()


@pytest.mark.parametrize("row", ROWS, ids=[f"row{row.number}-{row.calls}" for row in ROWS])
def test_an_async_wrapped_tool_follows_the_documented_sequence(row: Sequence) -> None:
    """Each row's states after each call of an async @keeper.tool are the documented ones."""
    clock = FakeClock()
    keeper = Keeper.open(
        ConfigFile.parse(config_of(row)), store="memory://", follow_changes=False, clock=clock
    )

    async def behave(step: str) -> str:
        if step == "F":
            raise ConnectionError("upstream down")
        if step in "WE":  # async calls are timed on the keeper's clock alone
            clock.advance(SLOW_S + (0.05 if step == "W" else 0.0))
        return step

    async def run() -> str:
        call = keeper.tool("upstream", operation="call")(behave)
        seen = ""
        for step in row.calls:
            if step == ".":
                clock.advance(float(row.settings.get("open_wait_seconds", 30.0)))
            else:
                try:
                    assert await call(step) == step
                except CircuitOpenError:
                    seen += "R"
                    continue
                except ConnectionError:
                    assert step == "F"
            state = keeper.runtimes.circuit_state("upstream")
            assert state is not None
            seen += LETTERS[state]
        return seen

    try:
        assert asyncio.run(run()) == row.expected
    finally:
        keeper.close()
