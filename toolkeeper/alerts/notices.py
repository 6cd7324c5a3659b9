"""Tell the other processes at once that alerting changed, through Redis pub/sub.

Every process evaluating alerts reads the newest runtime version, the silences
and the acknowledgements from the store at each pass, so without Redis a change
reaches them within one ``evaluate_every``. With a shared Redis (``shared=`` /
``TOOLKEEPER_SHARED``), a process that stores a change (a runtime version, a
silence, an acknowledgement, an escalation) also publishes a notice; every
engine subscribed evaluates as soon as it hears it. A notice carries nothing
but "look again": what changed is read from the store, so a lost notice only
delays a change to the next pass.

Redis pub/sub channels ignore the database number, so the channel names it:
processes on other databases of the same server do not wake each other.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis

__all__ = ["CHANNEL_PREFIX", "ChangeNotices"]

log = logging.getLogger("toolkeeper.alerts")

#: The channel is this prefix and the Redis database number.
CHANNEL_PREFIX = "toolkeeper:alerts:changed:"
_POLL_SECONDS = 1.0
_RETRY_SECONDS = 5.0


class ChangeNotices:
    """Publish and hear "alerting changed" notices on one Redis; thread-safe.

    :meth:`listen` starts a daemon thread calling ``on_notice`` for each notice
    heard (its own included); :meth:`close` stops it. Redis errors are logged,
    never raised: the store stays the source of truth.
    """

    def __init__(self, url: str) -> None:
        # Deferred: redis-py is optional (toolkeeper[redis]) and only a redis:// URI needs it.
        import redis as redis_module

        self.client: redis.Redis = redis_module.Redis.from_url(url)
        database = self.client.connection_pool.connection_kwargs.get("db", 0)
        self.channel = f"{CHANNEL_PREFIX}{database}"
        self._errors = (redis_module.RedisError, OSError)
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def publish(self) -> None:
        """Announce a change to every process listening; a Redis error is logged."""
        try:
            self.client.publish(self.channel, b"changed")
        except self._errors as exc:
            log.warning("cannot announce an alerting change on Redis (%s); others see it at "
                        "their next pass", type(exc).__name__)  # fmt: skip

    def listen(self, on_notice: Callable[[], None]) -> None:
        """Call ``on_notice`` for each notice from now on, in a daemon thread; idempotent."""
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(
                target=self._run, args=(on_notice,), name="toolkeeper-alert-notices", daemon=True
            )
            self._thread.start()

    def wait_subscribed(self, timeout: float) -> bool:
        """Wait until the listener is subscribed; return whether it is."""
        return self._subscribed.wait(timeout)

    def close(self) -> None:
        """Stop listening and close the connections; idempotent."""
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=30)
        self.client.close()

    def _run(self, on_notice: Callable[[], None]) -> None:
        while not self._stop.is_set():
            try:
                self._listen(on_notice)
            except self._errors as exc:
                self._subscribed.clear()
                log.warning("alerting notices from Redis interrupted (%s); retrying in %gs",
                            type(exc).__name__, _RETRY_SECONDS)  # fmt: skip
                self._stop.wait(_RETRY_SECONDS)

    def _listen(self, on_notice: Callable[[], None]) -> None:
        pubsub = self.client.pubsub()  # type: ignore[no-untyped-call, unused-ignore]  # typed from redis 8.2
        try:
            pubsub.subscribe(self.channel)
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=_POLL_SECONDS)
                kind = message.get("type") if message is not None else None
                if kind == "subscribe":  # Redis confirmed: notices from now on reach us
                    self._subscribed.set()
                elif kind == "message":
                    on_notice()
        finally:
            pubsub.close()

    def __repr__(self) -> str:
        return f"ChangeNotices(channel={self.channel!r})"
