"""The one source of randomness of the process: backoff jitter and operation-id prefixes.

A part that is handed no generator draws from :func:`source`. A test makes the
draws deterministic by installing a seeded generator with :func:`use`, and puts
the process's own back with :func:`reset_defaults` (as structlog's
``reset_defaults()``). The default generator is reseeded in a forked child, so
processes forked from one parent never draw the same numbers (ids stay unique).
"""

from __future__ import annotations

import os
import random

__all__ = ["reset_defaults", "source", "use"]

_DEFAULT = random.Random()  # noqa: S311 - jitter and id prefixes, not cryptography
_source = _DEFAULT


def source() -> random.Random:
    """Return the generator that parts handed no generator of their own draw from."""
    return _source


def use(rng: random.Random) -> None:
    """Make ``rng`` the process's source (a test's seeded ``random.Random``)."""
    global _source  # noqa: PLW0603 - the process-wide source, replaced by tests only
    _source = rng


def reset_defaults() -> None:
    """Put back the process's own generator, freshly seeded from the system."""
    global _source  # noqa: PLW0603 - the process-wide source, restored by tests only
    _DEFAULT.seed()
    _source = _DEFAULT


# random.Random methods are safe to share between threads; a forked child gets a
# copy of the parent's state, so it draws afresh (registered before ids' hook).
os.register_at_fork(after_in_child=_DEFAULT.seed)
