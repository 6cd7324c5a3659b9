"""The C twins of the hot path (toolkeeper/_speedups.c): see decorate.py, recorder, buckets."""

from collections import deque
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import datetime
from decimal import Decimal
from itertools import count
from typing import Any

class FastWrapper:
    """A function wrapped by ``@keeper.tool``, with its fast path in C."""

    __wrapped__: Callable[..., Any]

    def __init__(
        self,
        *,
        fn: Callable[..., Any],
        tool: str,
        operation: str,
        labels: dict[str, str] | None,
        estimate: Decimal | None,
        published: dict[str, Any],
        get_runtime: Callable[[str], Any],
        general: Callable[..., Any],
        recover: Callable[..., Any],
        priced: Callable[..., Any],
        current: ContextVar[int | None],
        sequence: count[int],
        perf_counter: Callable[[], float],
        success: Callable[..., None],
        unread: Callable[..., None],
        usage_of: Callable[[Any], tuple[int, int, float, str | None]],
        stream: str,
    ) -> None: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...
    def __get__(self, obj: object, objtype: type | None = None) -> Any: ...

class HotQueues:
    """The queues of one recorder, with its two hot methods in C."""

    def __init__(
        self,
        *,
        pending: deque[tuple[Any, ...]],
        drain_at: int,
        relieve: Callable[[], None],
        unread: deque[tuple[Any, ...]],
        unread_at: int,
        relieve_unread: Callable[[], None],
        now_s: Callable[[], float],
        operation_id: Callable[[int], str],
        status: str,
    ) -> None: ...
    def success(
        self,
        seq: int,
        parent: int | None,
        tool: str,
        operation: str,
        duration_s: float,
        cost: float,
        input_tokens: int,
        output_tokens: int,
        model: str | None,
        labels: Any,
        /,
    ) -> None: ...
    def unread(
        self,
        seq: int,
        parent: int | None,
        tool: str,
        operation: str,
        duration_s: float,
        response: Any,
        meter: Any,
        labels: Any,
        /,
    ) -> None: ...

def tally(
    records: list[tuple[Any, ...]], bins: dict[int, int], minimum: float, maximum: float, /
) -> tuple[dict[str, int], int, float, float, float, int, int, int, bool]:
    """Count raw records for ``Bucket.add_many``: the twin of ``buckets.python_tally``."""

def common(records: list[tuple[Any, ...]], fields: tuple[int, ...], /) -> bool:
    """Return whether records agree on ``fields``: the twin of ``aggregates.python_common``."""

def extent(records: list[tuple[Any, ...]], field: int, /) -> tuple[Any, Any]:
    """Return the least and greatest value of ``field``: ``aggregates.python_extent``'s twin."""

def rows(
    raws: list[tuple[Any, ...]],
    prefix: str,
    labels: dict[str, str],
    labels_of: Callable[[str], str],
    row: Callable[[tuple[Any, ...], str], tuple[Any, ...]],
    /,
) -> list[tuple[Any, ...]]:
    """Return the store rows of raw records: the twin of ``persist.python_rows``."""

def add_counts(into: dict[int, int], other: dict[int, int], /) -> None:
    """Add one sketch's bin counts into another's: sketch.py's python_add_counts."""

def hold_at_once(
    checks: tuple[tuple[list[int], int, int, int], ...],
    books: tuple[tuple[list[int], dict[str, tuple[int, datetime]]], ...],
    amount: int,
    rid: str,
    held: tuple[int, datetime],
    /,
) -> bool:
    """Reserve on every book if every check admits: ledger_memory.python_hold_at_once."""

def settle_at_once(
    lines: tuple[
        tuple[list[int], dict[str, tuple[int, datetime]], dict[int, int], int, int, int], ...
    ],
    amount: int,
    rid: str | None,
    /,
) -> int:
    """Settle on every current line: ledger_memory.python_settle_at_once."""

class Chunks:
    """What one stream's chunks told so far: the twin of ``streams.PythonChunks``."""

    count: int
    first_at: float | None
    stopped_at: float | None
    ended: bool
    on_stop: Callable[[Chunks, str, BaseException | None], object] | None

    def __init__(
        self,
        tail: int,
        clock: Callable[[], float],
        on_stop: Callable[[Chunks, str, BaseException | None], object],
        later: Callable[[Chunks], object] | None = None,
    ) -> None: ...
    def saw(self, chunk: Any, /) -> Any: ...
    def read(self, chunks: Iterator[Any], /) -> Chunks: ...
    def __iter__(self) -> Chunks: ...
    def __next__(self) -> Any: ...
    def take(self) -> tuple[Any, ...]: ...
    def stop(self, how: str, error: BaseException | None = None, /) -> bool: ...
