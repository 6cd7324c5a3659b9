"""Which operation is running now, so nested operations know their parent (contextvars)."""

from __future__ import annotations

import itertools
import os
from contextvars import ContextVar

__all__ = ["Frame", "current"]

_ids = itertools.count(1)
_PREFIX = f"{os.getpid():x}-"


class Frame:
    """One running operation; its id is made only when a child asks for it."""

    __slots__ = ("_id", "operation", "tool")

    def __init__(self, tool: str, operation: str) -> None:
        self.tool = tool
        self.operation = operation
        self._id: str | None = None

    @property
    def id(self) -> str:
        """Return the operation's id, making it on first use."""
        if self._id is None:
            self._id = f"op-{_PREFIX}{next(_ids):x}"
        return self._id

    @property
    def id_if_made(self) -> str | None:
        """Return the id only if a child already asked for it."""
        return self._id


current: ContextVar[Frame | None] = ContextVar("toolkeeper_operation", default=None)
