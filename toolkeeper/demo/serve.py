"""Serve an ASGI app with uvicorn on loopback, in a background thread, until stopped.

The socket is bound before the thread starts, on a free port unless one is
given, so :attr:`LoopbackServer.url` is known at once and nothing races for the
port. uvicorn runs with ``log_config=None`` so it leaves the application's
logging configuration alone, and without access logs.
"""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING, Any, Self

from toolkeeper._errors import MissingDependencyError

if TYPE_CHECKING:
    import uvicorn

__all__ = ["LoopbackServer"]

_STARTUP_POLL_S = 0.01


class LoopbackServer:
    """One uvicorn server in a daemon thread; :meth:`stop` shuts it down and joins the thread."""

    def __init__(
        self, server: uvicorn.Server, sock: socket.socket, thread: threading.Thread
    ) -> None:
        self._server = server
        self._socket = sock
        self._thread = thread
        self.host, self.port = sock.getsockname()[:2]

    @classmethod
    def start(
        cls, app: Any, *, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0
    ) -> LoopbackServer:
        """Bind ``host:port`` (0 picks a free port), serve ``app`` and return once it listens."""
        try:
            # Deferred: uvicorn (toolkeeper[server]) loads only when serving.
            import uvicorn
        except ImportError:  # pragma: no cover - the extra is installed in tests
            raise MissingDependencyError("serving the demo provider", "server") from None
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=2
        )
        server = uvicorn.Server(config)
        # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY on accepted sockets only
        # when their proto says TCP, and without it every response waits ~40 ms for Nagle.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="toolkeeper-loopback", daemon=True
        )
        running = cls(server, sock, thread)
        thread.start()
        running._wait_started(timeout)
        return running

    @property
    def url(self) -> str:
        """Return the server's base URL, ``http://host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _wait_started(self, timeout: float) -> None:
        waited = 0.0
        while not self._server.started:
            if not self._thread.is_alive():
                self._socket.close()
                raise RuntimeError(f"the server on {self.url} stopped while starting")
            if waited >= timeout:
                self.stop()
                raise TimeoutError(f"the server on {self.url} did not start within {timeout:g}s")
            self._thread.join(_STARTUP_POLL_S)
            waited += _STARTUP_POLL_S

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and join the thread; idempotent."""
        self._server.should_exit = True
        self._thread.join(timeout)
        self._socket.close()
        if self._thread.is_alive():
            raise TimeoutError(f"the server on {self.url} did not stop within {timeout:g}s")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LoopbackServer(url={self.url!r}, running={self._thread.is_alive()})"
