"""Send something over OTLP every interval from a daemon thread, and once more at close.

The GenAI metrics (:mod:`toolkeeper.monitor.genai`) and the spans
(:mod:`toolkeeper.monitor.spans`) both go out this way; each says what one
export sends. OpenTelemetry is imported only when an exporter is made.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from typing import Any

from toolkeeper._errors import MissingDependencyError

__all__ = ["PeriodicExport", "otlp_exporter"]

_log = logging.getLogger("toolkeeper.monitor")


def otlp_exporter(signal: str, endpoint: str | None) -> Any:
    """Return OpenTelemetry's OTLP/HTTP protobuf exporter of ``signal`` (metrics or traces).

    It reads the standard ``OTEL_EXPORTER_OTLP_*`` variables (headers, timeout, and
    the endpoint when ``endpoint`` is ``None``).
    """
    try:
        if signal == "metrics":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter,
            )

            return OTLPMetricExporter(endpoint=endpoint)
        # Deferred: the OpenTelemetry SDK is optional (toolkeeper[otel]); only an OTLP export or
        # span needs it.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint)
    except ImportError as error:  # pragma: no cover - exercised without the extra
        raise MissingDependencyError("OTLP export", "otel") from error


class PeriodicExport(ABC):
    """Call :meth:`export` every ``interval_s`` on a thread; at close, once more, then shut down.

    A subclass's :meth:`send` builds what to send and hands it to :meth:`deliver`.
    A failed export is logged and the thread goes on.
    """

    what = "telemetry"
    """What an export sends, for the log line of a failure."""

    def __init__(self, exporter: Any, *, interval_s: float, thread_name: str) -> None:
        self._exporter = exporter
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(interval_s,), name=thread_name, daemon=True
        )
        self._thread.start()

    def export(self) -> bool:
        """Send what is ready now; return whether the receiver accepted it."""
        return self.send(final=False)

    @abstractmethod
    def send(self, *, final: bool) -> bool:
        """Build and deliver one export (``final``: the last one, at close)."""

    def deliver(self, payload: Any) -> bool:
        """Hand ``payload`` to the exporter; log and return ``False`` if it was refused."""
        result = self._exporter.export(payload)
        accepted = getattr(result, "name", "") == "SUCCESS"
        if not accepted:
            _log.warning("OTLP export of %s failed: %s", self.what, result)
        return accepted

    def close(self) -> None:
        """Stop the thread, send the last export and shut the exporter down; idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=10)
        self.send(final=True)
        self._exporter.shutdown()

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.export()
            except Exception:  # noqa: BLE001 - a receiver or a record that failed: keep going
                _log.exception("could not export %s", self.what)
