"""Which operation is running now, so nested operations know their parent (contextvars).

The variable holds the running operation's sequence number (see
:mod:`toolkeeper.monitor.ids`), from which its id derives: a child names its
parent without the parent doing anything, and a plain ``int`` is the cheapest
thing to set on every call.
"""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["current"]

current: ContextVar[int | None] = ContextVar("toolkeeper_operation", default=None)
