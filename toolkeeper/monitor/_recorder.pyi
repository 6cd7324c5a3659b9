"""The C twin of Recorder.success and Recorder.unread (toolkeeper/monitor/_recorder.c)."""

from collections import deque
from collections.abc import Callable
from typing import Any

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
