"""Response models for tools and their statistics, so the OpenAPI schema says what is sent.

The system's health is sent as the monitor's own ``SystemHealthReport`` (one
definition; pydantic builds its schema from the dataclass), through :data:`SYSTEM_HEALTH`.

Latencies are milliseconds, rates are fractions of ``count`` (0 to 1), money is
US dollars as an exact decimal string (docs/money.md), times are ISO 8601 UTC.
Configuration models live with their router.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

from toolkeeper._units import money_json
from toolkeeper.monitor import WindowStats, WrapperHealthStatus
from toolkeeper.monitor.health import HealthStatus
from toolkeeper.monitor.reports import SystemHealthReport

__all__ = [
    "SYSTEM_HEALTH",
    "CircuitSnapshot",
    "Money",
    "Stats",
    "ToolDetail",
    "ToolList",
    "ToolMetrics",
    "ToolSummary",
    "stats_of",
]


#: US dollars as JSON: an exact decimal string such as ``"0.0075"``, never exponent form.
Money = Annotated[
    str,
    BeforeValidator(money_json),
    Field(description="US dollars, an exact decimal string.", examples=["0.0075"]),
]


_PROVIDER_ERRORS = (
    "Failed calls plus the calls a fallback served after the primary was called and failed: "
    "what the provider did, where error_rate is what callers saw."
)


#: Validates and serialises the system's health report for the API, the SSE tick and pages.
SYSTEM_HEALTH: TypeAdapter[SystemHealthReport] = TypeAdapter(SystemHealthReport)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Stats(_Model):
    """What a tool did over one span: counts, rates, latency percentiles, throughput, cost."""

    start: datetime
    end: datetime
    count: int
    counts: dict[str, int]
    success_rate: float
    error_rate: float = Field(description="Failed calls (errors and timeouts).")
    fallback_rate: float
    provider_error_rate: float = Field(description=_PROVIDER_ERRORS)
    failed_attempt_count: int = Field(
        description="Calls a fallback served after the primary was called and failed."
    )
    mean_latency_ms: float | None
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    p99_latency_ms: float | None
    throughput_per_second: float = Field(description="Operations per second over the span.")
    cost_usd: Money
    input_tokens: int
    output_tokens: int
    cached_tokens: int = Field(description="Input tokens read from the provider's cache.")
    cache_write_tokens: int = Field(description="Input tokens written to the provider's cache.")
    reasoning_tokens: int = Field(description="Output tokens spent on reasoning.")


def stats_of(stats: WindowStats | None, *, start: datetime, end: datetime, seconds: float) -> Stats:
    """Summarise ``stats`` (``None``: nothing happened) over a span of ``seconds``."""
    if stats is None:
        return Stats(
            start=start, end=end, count=0, counts={}, success_rate=0.0, error_rate=0.0,
            fallback_rate=0.0, provider_error_rate=0.0, failed_attempt_count=0,
            mean_latency_ms=None, p50_latency_ms=None, p95_latency_ms=None,
            p99_latency_ms=None, throughput_per_second=0.0, cost_usd="0", input_tokens=0,
            output_tokens=0, cached_tokens=0, cache_write_tokens=0, reasoning_tokens=0,
        )  # fmt: skip
    return Stats(
        start=stats.start,
        end=stats.end,
        count=stats.total_operations,
        counts=dict(stats.counts),
        success_rate=stats.success_rate,
        error_rate=stats.error_rate,
        fallback_rate=stats.fallback_rate,
        provider_error_rate=stats.provider_error_rate,
        failed_attempt_count=stats.failed_attempt_count,
        mean_latency_ms=stats.mean_latency_ms,
        p50_latency_ms=stats.p50_latency_ms,
        p95_latency_ms=stats.p95_latency_ms,
        p99_latency_ms=stats.p99_latency_ms,
        throughput_per_second=stats.total_operations / seconds if seconds > 0 else 0.0,
        cost_usd=stats.cost_usd,
        input_tokens=stats.input_tokens,
        output_tokens=stats.output_tokens,
        cached_tokens=stats.cached_tokens,
        cache_write_tokens=stats.cache_write_tokens,
        reasoning_tokens=stats.reasoning_tokens,
    )


class ToolSummary(_Model):
    """A tool's card: health and the figures of the window its health was judged on."""

    name: str
    configured: bool = Field(description="Declared in the configuration (else only seen in calls).")
    status: HealthStatus
    health_score: float | None
    success_rate: float
    error_rate: float = Field(description="Failed calls (errors and timeouts).")
    fallback_rate: float
    provider_error_rate: float = Field(description=_PROVIDER_ERRORS)
    total_operations: int
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    p99_latency_ms: float | None
    operations_per_minute: float = Field(description="Over the last 5 minutes.")
    circuit_state: str | None
    last_error_time: datetime | None
    window: str | None


class ToolList(_Model):
    """Every tool the configuration declares or the monitor has seen."""

    tools: list[ToolSummary]


class CircuitSnapshot(_Model):
    """The circuit breaker's state and the window of recent calls it judges."""

    name: str
    state: str
    failure_rate: float
    slow_call_rate: float
    calls_in_window: int
    failures_in_window: int
    slow_calls_in_window: int
    opened_at: datetime | None
    next_probe_at: datetime | None
    probes_in_flight: int


class ToolDetail(_Model):
    """One tool: health, circuit (``null`` before its first call) and rolling windows."""

    name: str
    configured: bool
    active_operations: int
    health: WrapperHealthStatus  # the monitor's report itself: one definition of its fields
    circuit: CircuitSnapshot | None
    windows: dict[str, Stats] = Field(description="Keyed by window: 1m, 5m, 1h, 24h.")


class ToolMetrics(_Model):
    """A tool's time buckets since ``since``, oldest first, all of ``bucket_seconds``."""

    tool: str
    since: datetime
    until: datetime
    bucket_seconds: int
    buckets: list[Stats]
