"""Name operations: one counter and one random prefix per process, an id is prefix + hex number.

Every operation takes its sequence number from :func:`next_seq` when it starts
(a C call, safe from any thread). Its id, ``op-<8 hex>-<hex seq>``, is made
only when someone needs it (an export, the store, a child naming its parent),
so the hot path carries a plain ``int``. A forked child draws a new prefix, so
processes forked from one parent never share ids.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Callable

__all__ = ["next_seq", "operation_id", "prefix", "sequence"]

sequence = itertools.count(1)
"""The process's operation sequence numbers (the C fast path reads it directly)."""
next_seq: Callable[[], int] = sequence.__next__
"""Return a sequence number no other operation of this process has."""

_prefix = f"op-{secrets.token_hex(4)}-"


def prefix() -> str:
    """Return this process's id prefix."""
    return _prefix


def operation_id(seq: int) -> str:
    """Return the id of the operation that took sequence number ``seq``."""
    return f"{_prefix}{seq:x}"


def _renew_prefix() -> None:
    global _prefix  # noqa: PLW0603 - the process-wide prefix, renewed once per fork
    _prefix = f"op-{secrets.token_hex(4)}-"


os.register_at_fork(after_in_child=_renew_prefix)
