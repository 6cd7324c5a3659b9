"""``[telemetry]``: OpenTelemetry export switched on from the config file.

```toml
[telemetry]
otlp_endpoint = "http://127.0.0.1:4318"   # OTLP/HTTP; /v1/metrics and /v1/traces are added
metrics = true                            # the GenAI histograms (default: on with an endpoint)
traces = true                             # a span per operation, a trace tree per request
trace_sample_ratio = 0.1                  # of the requests (a trace is kept or dropped whole)
export_interval = "10s"                   # default: 60 s for metrics, 5 s for traces
```

The standard ``OTEL_EXPORTER_OTLP_*`` variables work as well (they switch metrics
on; ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` switches traces on) and, where both are
set, the variables win, as OpenTelemetry's own SDKs let the environment override
code. Headers (authentication) come only from ``OTEL_EXPORTER_OTLP_HEADERS``: a
secret does not belong in this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from toolkeeper._errors import ConfigIssue
from toolkeeper._units import parse_duration

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from toolkeeper.config.files import ConfigFile

__all__ = ["TELEMETRY_TABLE", "TelemetrySettings"]

TELEMETRY_TABLE = "telemetry"
_KEYS = ("otlp_endpoint", "metrics", "traces", "trace_sample_ratio", "export_interval")
_GENERIC_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
_SIGNAL_ENV = {
    "metrics": "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "traces": "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
}


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    """What to send over OTLP, where, and how often; everything off by default."""

    otlp_endpoint: str | None = None
    metrics: bool | None = None  # None: on when an endpoint is set
    traces: bool = False
    trace_sample_ratio: float = 1.0
    export_interval_s: float | None = None  # None: 60 s for metrics, 5 s for traces

    @classmethod
    def from_file(cls, file: ConfigFile) -> tuple[TelemetrySettings, list[ConfigIssue]]:
        """Read ``[telemetry]``; return the settings (without the bad values) and the problems."""
        table = file.data.get(TELEMETRY_TABLE, {})
        if not isinstance(table, dict):
            return cls(), [file.issue((TELEMETRY_TABLE,), "must be a table", has_value=False)]
        issues: list[ConfigIssue] = []
        values: dict[str, object] = {}
        for key, value in table.items():
            where = (TELEMETRY_TABLE, key)
            if key not in _KEYS:
                rule = "unknown key in [telemetry]; expected one of " + ", ".join(_KEYS)
                issues.append(file.issue(where, rule, has_value=False))
                continue
            read, rule = _READERS[key]
            parsed = read(value)
            if parsed is None:
                issues.append(file.issue(where, rule, value))
            else:
                values["export_interval_s" if key == "export_interval" else key] = parsed
        return cls(**values), issues  # type: ignore[arg-type]

    def endpoint(self, signal: str, environ: Mapping[str, str]) -> str | None:
        """Return where ``signal`` (``metrics`` or ``traces``) goes, or ``None`` if it is off.

        The signal's own variable names its full URL; the generic variable and the
        file's ``otlp_endpoint`` are bases to which ``/v1/<signal>`` is added.
        """
        own = environ.get(_SIGNAL_ENV[signal])
        if own:
            return own
        base = environ.get(_GENERIC_ENV) or self.otlp_endpoint
        if base is None:
            return None
        wanted = self.traces if signal == "traces" else self.metrics is not False
        if signal == "metrics" and environ.get(_GENERIC_ENV):
            wanted = True  # the variable alone switches metrics on, as it always has
        return f"{base.rstrip('/')}/v1/{signal}" if wanted else None


def _url(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    parts = urlsplit(value)
    ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    return value.rstrip("/") if ok else None


def _boolean(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _ratio(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 < value <= 1 else None


def _seconds(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        seconds = parse_duration(value).total_seconds()
    except ValueError:
        return None
    return seconds if seconds > 0 else None


_READERS: dict[str, tuple[Callable[[object], object | None], str]] = {
    "otlp_endpoint": (_url, "must be an http:// or https:// URL such as 'http://127.0.0.1:4318'"),
    "metrics": (_boolean, "must be true or false"),
    "traces": (_boolean, "must be true or false"),
    "trace_sample_ratio": (_ratio, "must be a number above 0 and at most 1 (1 keeps every trace)"),
    "export_interval": (_seconds, "must be a duration such as '10s'"),
}
