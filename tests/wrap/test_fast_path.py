"""The sync fast path, C and Python alike: what it records, what it passes, what it keeps."""

from __future__ import annotations

import functools
import gc
import inspect
import pickle
import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkeeper import Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.costs.responses import read_response
from toolkeeper.wrap.calls import DEFER, usage_of

CONFIG = """\
[tools.fast]
max_retry_attempts = 0
timeout_sync_calls = false

[tools.inner]
max_retry_attempts = 0
timeout_sync_calls = false

[tools.flaky]
max_retry_attempts = 0
timeout_sync_calls = false
circuit_failure_rate = 0.9
"""


@pytest.fixture
def keeper() -> Iterator[Keeper]:
    """Open a keeper over an in-memory store."""
    opened = Keeper.open(ConfigFile.parse(CONFIG), store="memory://", follow_changes=False)
    yield opened
    opened.close()


def last(keeper: Keeper, tool: str = "fast") -> dict[str, Any]:
    """Return the newest record of ``tool``."""
    return keeper.monitoring.export_metrics(wrapper_name=tool)[-1]


def test_arguments_metadata_and_methods_pass_through(keeper: Keeper) -> None:
    """Positional, keyword and keyword-only arguments arrive; name, doc and signature stay."""

    @keeper.tool("fast", operation="echo")
    def echo(a: int, /, b: int, *, c: int = 3) -> dict[str, Any]:
        """Return the arguments."""
        return {"a": a, "b": b, "c": c}

    assert echo(1, 2) == {"a": 1, "b": 2, "c": 3}
    assert echo(1, b=5, c=9) == {"a": 1, "b": 5, "c": 9}
    assert echo.__name__ == "echo"
    assert echo.__doc__ == "Return the arguments."
    assert inspect.signature(echo) == inspect.signature(echo.__wrapped__)  # type: ignore[attr-defined]
    assert list(inspect.signature(echo).parameters) == ["a", "b", "c"]
    with pytest.raises(TypeError):
        echo(1, 2, 3)

    class Client:
        def __init__(self) -> None:
            self.calls = 0

        @keeper.tool("fast", operation="method")
        def ask(self, question: str) -> str:
            self.calls += 1
            return question.upper()

    client = Client()
    assert client.ask("hi") == "HI"
    assert Client.ask(client, "yo") == "YO"
    assert client.calls == 2
    assert last(keeper)["operation_type"] == "method"


usages = st.one_of(
    st.none(),
    st.integers(-5, 10**6),
    st.text(max_size=3),
    st.fixed_dictionaries(
        {},
        optional={
            "model": st.one_of(st.sampled_from(["m-1", "m-2"]), st.integers(), st.none()),
            "usage": st.one_of(
                st.none(),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "prompt_tokens": st.one_of(st.integers(0, 10**6), st.none()),
                        "input_tokens": st.integers(0, 10**6),
                        "completion_tokens": st.one_of(
                            st.integers(0, 10**6), st.sampled_from(["7", 2.0])
                        ),
                        "output_tokens": st.integers(0, 10**6),
                        "cost": st.one_of(
                            st.floats(0, 10, allow_nan=False), st.integers(0, 3), st.none()
                        ),
                    },
                ),
            ),
        },
    ),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=usages)
def test_recorded_usage_is_what_usage_of_reads(keeper: Keeper, value: Any) -> None:
    """For any result the record holds what ``usage_of`` reads, or ``read_response`` if deferred."""

    @keeper.tool("fast", operation="usage")
    def call() -> Any:
        return value

    assert call() is value
    record = last(keeper)
    if value is None:
        expected: tuple[Any, ...] = (0, 0, 0.0, None)
    else:
        expected = usage_of(value)
    if expected[3] == DEFER:
        reading = read_response(value)
        usage = None if reading is None else reading.usage
        cost = None if reading is None or reading.cost is None else float(reading.cost)
        if reading is None:
            expected = (0, 0, 0.0, None)
        elif usage is None:
            expected = (0, 0, cost, reading.model)
            assert record["unpriced"] is (cost is None)
        else:
            expected = (usage.input_tokens, usage.output_tokens, cost, usage.model)
    model = record["labels"].get("model")
    assert (record["input_tokens"], record["output_tokens"], model) == (
        expected[0], expected[1], expected[3],
    )  # fmt: skip
    if expected[2] is not None and (expected[2] or expected[3] is None):
        assert record["cost_estimate"] == expected[2]
    for number in (record["input_tokens"], record["output_tokens"]):
        assert type(number) is int
    assert type(record["cost_estimate"]) is float


def test_objects_are_read_like_sdk_responses(keeper: Keeper) -> None:
    """An SDK-style object (attributes, not keys) is read through ``usage_of``."""
    response = SimpleNamespace(
        model="m-obj", usage=SimpleNamespace(prompt_tokens=4, completion_tokens=6, cost=0.5)
    )

    @keeper.tool("fast", operation="sdk")
    def call() -> Any:
        return response

    call()
    record = last(keeper)
    assert (record["input_tokens"], record["output_tokens"], record["cost_estimate"]) == (4, 6, 0.5)
    assert record["labels"] == {"model": "m-obj"}


def test_nested_calls_and_blocks_name_their_parents(keeper: Keeper) -> None:
    """Wrapped inside wrapped, a block inside wrapped, wrapped inside a block: parents are right."""
    seen: dict[str, str] = {}

    @keeper.tool("inner", operation="leaf")
    def leaf() -> str:
        return "leaf"

    @keeper.tool("fast", operation="outer")
    def outer() -> str:
        with keeper.operation("inner", "block") as block:
            seen["block"] = block.id
            leaf()
        return leaf()

    with keeper.operation("fast", "root") as root:
        outer()
    inner = keeper.monitoring.export_metrics(wrapper_name="inner")
    mine = keeper.monitoring.export_metrics(wrapper_name="fast")
    outer_record = next(r for r in mine if r["operation_type"] == "outer")
    root_record = next(r for r in mine if r["operation_type"] == "root")
    assert root_record["operation_id"] == root.id
    assert outer_record["parent_id"] == root.id
    block_record = next(r for r in inner if r["operation_type"] == "block")
    assert block_record["operation_id"] == seen["block"]
    assert block_record["parent_id"] == outer_record["operation_id"]
    leaves = [r for r in inner if r["operation_type"] == "leaf"]
    assert [r["parent_id"] for r in leaves] == [seen["block"], outer_record["operation_id"]]
    ids = [r["operation_id"] for r in inner + mine]
    assert len(set(ids)) == len(ids)


def test_a_failure_is_raised_as_is_and_recorded(keeper: Keeper) -> None:
    """The function's own exception reaches the caller; the record says error, with its code."""

    class BoomError(Exception):
        pass

    @keeper.tool("fast", operation="fail")
    def fail() -> None:
        raise BoomError("nope")

    with pytest.raises(BoomError, match="nope"):
        fail()
    record = last(keeper)
    assert record["status"] == "error"
    assert record["error_code"] == "BoomError"
    assert "nope" in record["error_message"]


def test_interrupts_are_recorded_and_not_retried(keeper: Keeper) -> None:
    """A BaseException (here KeyboardInterrupt) ends the call at once, recorded as cancelled."""
    calls = 0

    @keeper.tool("fast", operation="interrupted")
    def interrupted() -> None:
        nonlocal calls
        calls += 1
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert calls == 1
    assert last(keeper)["status"] == "cancelled"


def test_configuration_changes_reach_a_wrapped_function(keeper: Keeper) -> None:
    """Disabling monitoring, then the tool, takes effect on the next call of an existing wrapper."""

    @keeper.tool("fast", operation="live")
    def live() -> str:
        return "ok"

    live()
    count = len(keeper.monitoring.export_metrics(wrapper_name="fast"))
    keeper.config.update("fast", {"monitoring_enabled": False}, actor="test", reason="quiet")
    live()
    assert len(keeper.monitoring.export_metrics(wrapper_name="fast")) == count
    keeper.config.update(
        "fast", {"monitoring_enabled": True, "enabled": False}, actor="test", reason="off"
    )
    with pytest.raises(Exception, match="disabled"):
        live()
    keeper.config.update("fast", {"enabled": True}, actor="test", reason="on")
    assert live() == "ok"
    assert last(keeper)["status"] == "success"


def test_each_runtime_publishes_what_the_fast_path_reads(keeper: Keeper) -> None:
    """A runtime's FastState holds it, its flags and its breaker's epoch; a new version renews."""

    @keeper.tool("fast", operation="published")
    def answer() -> int:
        return 42

    assert answer() == 42
    state = keeper.runtimes.published["fast"]
    runtime = keeper.runtimes.get("fast")
    assert state.runtime is runtime
    assert (state.fast, state.slow_call_seconds) == (runtime.fast, runtime.slow_call_seconds)
    assert state.closed_epoch is runtime.breaker.epoch_cell
    assert state.closed_epoch[0] == runtime.breaker.closed_epoch
    keeper.config.update("fast", {"monitoring_enabled": False}, actor="test", reason="quiet")
    assert answer() == 42
    renewed = keeper.runtimes.published["fast"]
    assert renewed.runtime is keeper.runtimes.get("fast")
    assert renewed.runtime is not runtime
    assert not renewed.fast
    assert renewed.closed_epoch is state.closed_epoch  # the breaker outlives the version


def test_calls_keep_no_references_to_arguments_results_or_errors(keeper: Keeper) -> None:
    """Many calls leave the reference counts of what passed through unchanged (no leaks).

    A response to read is held by its unread record until the pipeline reads it:
    counted once the records are drained.
    """
    argument, result, error = object(), {"model": "m-1"}, ValueError("kept?")

    @keeper.tool("flaky", operation="refs")
    def ok(value: object, *, other: object) -> dict[str, Any]:
        return result

    @keeper.tool("flaky", operation="refs-fail")
    def bad(value: object) -> None:
        raise error

    def counts() -> tuple[int, int, int]:
        keeper.flush()
        gc.collect()
        return sys.getrefcount(argument), sys.getrefcount(result), sys.getrefcount(error)

    for _ in range(100):  # warm up: caches, the runtime, the first records
        ok(argument, other=argument)
        with pytest.raises(ValueError, match="kept"):
            bad(argument)
    error.__traceback__ = None
    before = counts()
    for _ in range(5_000):
        ok(argument, other=argument)
        with pytest.raises(ValueError, match="kept"):
            bad(argument)
    error.__traceback__ = None
    error.__context__ = None
    assert counts() == before
    assert keeper.runtimes.circuit_state("flaky") == "closed"  # every failure took recover()


def test_wrapper_is_a_plain_callable_for_functools(keeper: Keeper) -> None:
    """``functools.partial`` and ``__wrapped__`` work on the wrapper as on any function."""

    @keeper.tool("fast", operation="partial")
    def add(a: int, b: int) -> int:
        return a + b

    assert functools.partial(add, 1)(2) == 3
    assert add.__wrapped__(2, 3) == 5  # type: ignore[attr-defined]


def module_level_echo(value: int) -> int:
    """Stand for a module-level function that a worker process is handed by name."""
    return value


def test_a_wrapped_module_function_pickles_by_name(
    keeper: Keeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like a plain function, a wrapped module-level function pickles as a reference to its name."""
    wrapped = keeper.tool("fast", operation="pickled")(module_level_echo)
    monkeypatch.setitem(globals(), "module_level_echo", wrapped)
    restored = pickle.loads(pickle.dumps(wrapped))
    assert restored is wrapped
    assert restored(4) == 4
