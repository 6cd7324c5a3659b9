"""The resilience defaults, one set for the config schema and for hand-built policies.

Both :class:`~toolkeeper.config.schema.BaseWrapperConfig` and
:class:`~toolkeeper.resilience.ResiliencePolicy` read these, so a breaker
behaves the same whether it came from ``toolkeeper.toml`` or from code.
No toolkeeper imports: every layer may read it.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "CIRCUIT_FAILURE_RATE",
    "CIRCUIT_HALF_OPEN_MODE",
    "CIRCUIT_HALF_OPEN_PROBES",
    "CIRCUIT_MINIMUM_CALLS",
    "CIRCUIT_OPEN_SECONDS",
    "CIRCUIT_SLOW_CALL_RATE",
    "CIRCUIT_WINDOW_SIZE",
    "HALF_OPEN_MODES",
    "RETRY_BACKOFF_MAX_SECONDS",
    "RETRY_BACKOFF_MULTIPLIER",
    "RETRY_BACKOFF_SECONDS",
    "HalfOpenMode",
]

#: How a half-open circuit judges its probes: ``rate`` (resilience4j: the failure and
#: slow-call rates over all permitted probes) or ``all`` (every probe must succeed).
HalfOpenMode = Literal["rate", "all"]
HALF_OPEN_MODES: Final = ("rate", "all")

CIRCUIT_FAILURE_RATE: Final = 0.5
CIRCUIT_MINIMUM_CALLS: Final = 10
CIRCUIT_WINDOW_SIZE: Final = 50
CIRCUIT_OPEN_SECONDS: Final = 30.0
CIRCUIT_HALF_OPEN_PROBES: Final = 3
CIRCUIT_HALF_OPEN_MODE: Final[HalfOpenMode] = "rate"
CIRCUIT_SLOW_CALL_RATE: Final = 1.0
RETRY_BACKOFF_SECONDS: Final = 0.5
RETRY_BACKOFF_MAX_SECONDS: Final = 30.0
RETRY_BACKOFF_MULTIPLIER: Final = 2.0
