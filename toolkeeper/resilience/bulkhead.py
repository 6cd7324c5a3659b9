"""Bulkheads: at most ``max_concurrent_calls`` calls of a tool at once, in a process or a fleet.

An attempt takes a *permit* before it runs and gives it back when it ends; with
every permit taken, it waits up to the tool's ``bulkhead_wait_seconds`` for one
(resilience4j's ``maxWaitDuration``) and is then refused with
:class:`~toolkeeper.BulkheadFull`, which the fallback chain may serve.

:class:`LocalBulkhead` counts the permits of one process under a condition
variable. :class:`RedisBulkhead` counts the permits of every process pointing at
one Redis server: a sorted set of holders, each with a lease, taken and given
back by atomic Lua scripts on Redis's own clock, so a process that dies holding
permits frees them when their leases end. Waiting polls, backing off from 2 ms
to 50 ms. Async callers wait without blocking the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from abc import ABC, abstractmethod
from typing import Any

from toolkeeper._errors import MissingDependencyError, StoreError

__all__ = ["Bulkhead", "LocalBulkhead", "Permit", "RedisBulkhead"]

logger = logging.getLogger(__name__)

_FIRST_POLL_S = 0.002
_LAST_POLL_S = 0.05


class Permit:
    """One attempt's right to run; :meth:`release` gives it back, once (idempotent)."""

    __slots__ = ("_bulkhead", "_lock", "holder")

    def __init__(self, bulkhead: Bulkhead, holder: str) -> None:
        self._bulkhead: Bulkhead | None = bulkhead
        self._lock = threading.Lock()
        self.holder = holder

    def release(self) -> None:
        """Give the permit back (a second call does nothing)."""
        with self._lock:
            bulkhead, self._bulkhead = self._bulkhead, None
        if bulkhead is not None:
            bulkhead.give_back(self.holder)


class Bulkhead(ABC):
    """Bound the concurrent calls of one tool; thread-safe."""

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit

    @abstractmethod
    def try_take(self) -> str | None:
        """Take a permit now if one is free; return its holder id, else None."""

    @abstractmethod
    def give_back(self, holder: str) -> None:
        """Give back the permit of ``holder``."""

    def resize(self, limit: int) -> None:
        """Allow ``limit`` concurrent calls from now on (permits held are kept)."""
        self.limit = limit

    def acquire(self, wait_s: float) -> Permit | None:
        """Return a permit, waiting up to ``wait_s`` seconds for one; None if none came."""
        deadline = time.monotonic() + wait_s
        poll = _FIRST_POLL_S
        while True:
            holder = self.try_take()
            if holder is not None:
                return Permit(self, holder)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._wait(min(poll, left))
            poll = min(poll * 2, _LAST_POLL_S)

    async def aacquire(self, wait_s: float) -> Permit | None:
        """Return a permit, awaiting up to ``wait_s`` seconds for one; None if none came."""
        deadline = time.monotonic() + wait_s
        poll = _FIRST_POLL_S
        while True:
            holder = await self._atry_take()
            if holder is not None:
                return Permit(self, holder)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            await asyncio.sleep(min(poll, left))
            poll = min(poll * 2, _LAST_POLL_S)

    @abstractmethod
    def close(self) -> None:
        """Release what the bulkhead holds open (a connection); idempotent."""

    def _wait(self, seconds: float) -> None:
        time.sleep(seconds)

    async def _atry_take(self) -> str | None:
        return self.try_take()


class LocalBulkhead(Bulkhead):
    """Count one process's permits; a waiting thread wakes as soon as one is given back."""

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(name, limit)
        self._changed = threading.Condition()
        self._held = 0
        self._serial = 0

    def held(self) -> int:
        """Return how many permits are taken now."""
        return self._held

    def try_take(self) -> str | None:
        with self._changed:
            if self._held >= self.limit:
                return None
            self._held += 1
            self._serial += 1
            return str(self._serial)

    def give_back(self, holder: str) -> None:  # noqa: ARG002 - local permits are counted, not named
        with self._changed:
            self._held -= 1
            self._changed.notify()

    def close(self) -> None:
        """Do nothing: a local bulkhead holds no connection."""

    def resize(self, limit: int) -> None:
        with self._changed:
            self.limit = limit
            self._changed.notify_all()

    def _wait(self, seconds: float) -> None:
        with self._changed:
            if self._held >= self.limit:
                self._changed.wait(seconds)


# KEYS[1]: the holders' sorted set. ARGV: limit, lease in ms, holder id.
# Redis's own clock (TIME) dates the leases: every host agrees on it.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""


class RedisBulkhead(Bulkhead):
    """Count the permits of every process sharing a Redis server, each held under a lease.

    ``lease_s`` bounds how long a permit outlives a process that died holding
    it; a call that runs longer than its lease stops being counted, so it
    should exceed the tool's longest call (by default twice its timeout, at
    least a minute).
    """

    def __init__(self, name: str, limit: int, *, client: Any, lease_s: float, prefix: str) -> None:
        import redis  # the client given is redis-py's: its errors are wrapped

        super().__init__(name, limit)
        self.lease_s = lease_s
        self._errors = (redis.RedisError, OSError)
        self._client = client
        self._key = f"{prefix}{name}"
        self._take = client.register_script(_TAKE)
        self._process = uuid.uuid4().hex[:12]
        self._serial = 0
        self._serial_lock = threading.Lock()

    @classmethod
    def from_url(
        cls, url: str, name: str, limit: int, *, lease_s: float,
        prefix: str = "toolkeeper:bulkhead:",
    ) -> RedisBulkhead:  # fmt: skip
        """Connect to the Redis server at ``url`` (needs ``toolkeeper[redis]``)."""
        try:
            # Deferred: redis-py is optional (toolkeeper[redis]) and only a redis:// URI needs it.
            import redis
        except ImportError:
            raise MissingDependencyError("bulkheads shared through Redis", "redis") from None
        return cls(name, limit, client=redis.Redis.from_url(url), lease_s=lease_s, prefix=prefix)

    def held(self) -> int:
        """Return how many unexpired permits the fleet holds now."""
        return int(self._client.zcard(self._key))

    def try_take(self) -> str | None:
        with self._serial_lock:
            self._serial += 1
            holder = f"{self._process}:{self._serial}"
        lease_ms = max(int(self.lease_s * 1000), 1)
        try:
            taken = self._take(keys=[self._key], args=[self.limit, lease_ms, holder])
        except self._errors as error:
            message = f"bulkhead of {self.name!r} could not take a permit in Redis: {error}"
            raise StoreError(message) from error
        return holder if int(taken) else None

    def give_back(self, holder: str) -> None:
        try:
            self._client.zrem(self._key, holder)
        except self._errors as error:  # the call is over; its lease frees the permit anyway
            logger.warning("bulkhead of %r: permit %s not given back: %s", self.name, holder, error)

    def close(self) -> None:
        self._client.close()

    async def _atry_take(self) -> str | None:
        return await asyncio.to_thread(self.try_take)
