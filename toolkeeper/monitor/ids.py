"""Name operations: one counter and one random prefix per process, an id is prefix + hex number.

Every operation takes its sequence number from :func:`next_seq` when it starts
(a C call, safe from any thread). Its id, ``op-<8 hex>-<hex seq>``, is made
only when someone needs it (an export, the store, a child naming its parent),
so the hot path carries a plain ``int``. A forked child draws a new prefix, so
processes forked from one parent never share ids.

The prefix is drawn from the process's source of randomness
(:mod:`toolkeeper._random`): a test that installs a seeded generator and calls
:func:`renew_prefix` gets the same ids on every run.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable

from toolkeeper import _random

__all__ = ["next_seq", "operation_id", "prefix", "renew_prefix", "sequence"]

sequence = itertools.count(1)
"""The process's operation sequence numbers (the C fast path reads it directly)."""
next_seq: Callable[[], int] = sequence.__next__
"""Return a sequence number no other operation of this process has."""


def _draw() -> str:
    return f"op-{_random.source().getrandbits(32):08x}-"


_prefix = _draw()


def prefix() -> str:
    """Return this process's id prefix."""
    return _prefix


def operation_id(seq: int) -> str:
    """Return the id of the operation that took sequence number ``seq``."""
    return f"{_prefix}{seq:x}"


def renew_prefix() -> None:
    """Draw a new id prefix from the process's source (after a fork, or in a test)."""
    global _prefix  # noqa: PLW0603 - the process-wide prefix, renewed once per fork
    _prefix = _draw()


# Registered after _random's hook (imported above), so a forked child draws from a
# reseeded source and processes forked from one parent never share ids.
os.register_at_fork(after_in_child=renew_prefix)
