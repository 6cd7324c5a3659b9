"""The sync wrapper's fast path in C (toolkeeper/wrap/_fastpath.c); see decorate.py."""

from collections.abc import Callable
from contextvars import ContextVar
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
