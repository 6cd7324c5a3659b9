"""How each fake model behaves: latency, error and rate-limit rates, and scripted phases.

A :class:`ModelProfile` repeats a cycle (two minutes by default). Within it,
:class:`Phase` windows change the model's behaviour: a *degraded* phase is
slower and fails more often, an *outage* fails every call. :meth:`ModelProfile.plan`
is free of I/O: given the seconds since the provider started and a random
generator, it says how long the answer takes and which status it gets, so the
provider and the tests share one decision.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["DEFAULT_CYCLE_S", "MIN_CYCLE_S", "ModelProfile", "Phase", "Plan", "demo_profiles"]

OK = 200
RATE_LIMITED = 429
SERVER_ERROR = 500
UNAVAILABLE = 503


@dataclass(frozen=True, slots=True, kw_only=True)
class Phase:
    """A window ``[start_s, end_s)`` of every cycle in which a model behaves differently.

    ``error_rate`` replaces the profile's own (1.0 fails every call) and those
    errors answer ``error_status``; ``latency_factor`` scales every latency.
    """

    name: str
    start_s: float
    end_s: float
    latency_factor: float = 1.0
    error_rate: float | None = None
    error_status: int = UNAVAILABLE

    def __post_init__(self) -> None:
        if not 0 <= self.start_s < self.end_s:
            raise ValueError(f"phase {self.name!r} must have 0 <= start_s < end_s")
        if self.error_rate is not None and not 0 <= self.error_rate <= 1:
            raise ValueError(f"phase {self.name!r} error_rate must be within [0, 1]")


@dataclass(frozen=True, slots=True)
class Plan:
    """What one request gets: its latency, its HTTP status, the phase and any Retry-After."""

    latency_s: float
    status: int
    phase: str
    retry_after_seconds: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelProfile:
    """How one model answers.

    Latency is log-normal around ``latency_ms`` (its median) with ``latency_spread``
    as sigma. Outside phases, ``error_rate`` of the calls answer 500 and
    ``rate_limit_rate`` answer 429 with ``Retry-After: retry_after_seconds``.
    Phases repeat every ``cycle_s`` seconds and must fit inside the cycle.
    """

    latency_ms: float = 300.0
    latency_spread: float = 0.3
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after_seconds: int = 1
    cycle_s: float = 120.0
    phases: tuple[Phase, ...] = ()

    def __post_init__(self) -> None:
        if self.error_rate + self.rate_limit_rate > 1:
            raise ValueError("error_rate + rate_limit_rate must not exceed 1")
        for phase in self.phases:
            if phase.end_s > self.cycle_s:
                raise ValueError(f"phase {phase.name!r} ends after the {self.cycle_s:g} s cycle")

    def phase_at(self, elapsed_s: float) -> Phase | None:
        """Return the phase in force ``elapsed_s`` seconds after the provider started."""
        offset = elapsed_s % self.cycle_s
        return next((p for p in self.phases if p.start_s <= offset < p.end_s), None)

    def plan(self, elapsed_s: float, rng: random.Random) -> Plan:
        """Decide how a request made ``elapsed_s`` seconds after start is answered."""
        phase = self.phase_at(elapsed_s)
        factor = phase.latency_factor if phase else 1.0
        latency = self.latency_ms / 1000 * math.exp(self.latency_spread * rng.gauss()) * factor
        name = phase.name if phase else "normal"
        draw = rng.random()
        if phase is not None and phase.error_rate is not None:
            if draw < phase.error_rate:
                return Plan(latency, phase.error_status, name)
            draw = (draw - phase.error_rate) / (1 - phase.error_rate)  # reuse the rest
        elif draw < self.error_rate:
            return Plan(latency, SERVER_ERROR, name)
        else:
            draw -= self.error_rate
        if draw < self.rate_limit_rate:
            return Plan(latency * 0.1, RATE_LIMITED, name, self.retry_after_seconds)
        return Plan(latency, OK, name)

    def describe(self) -> str:
        """Return the cycle in words, for people watching the demo."""
        if not self.phases:
            return "steady"
        windows = ", ".join(f"{p.name} {p.start_s:g}-{p.end_s:g} s" for p in self.phases)
        return f"every {self.cycle_s:g} s: {windows}, healthy otherwise"


#: The default cycle of the strong model: an outage every two minutes.
DEFAULT_CYCLE_S = 120.0
#: The shortest cycle that still leaves the circuit time to open and close in each.
MIN_CYCLE_S = 30.0


def demo_profiles(cycle_s: float = DEFAULT_CYCLE_S) -> dict[str, ModelProfile]:
    """Return the demo's models: a strong one that degrades then fails, and a steady weak one.

    Each cycle of ``gpt-4o`` (two minutes by default) is, in twelfths: healthy
    for one, degraded for one (slower, one call in five fails), down for three
    (every call answers 503), healthy again until the cycle restarts. With the
    default cycle: degraded from 10 s to 20 s, down from 20 s to 50 s.
    """
    if cycle_s < MIN_CYCLE_S:
        raise ValueError(f"cycle_s must be at least {MIN_CYCLE_S:g} s, not {cycle_s:g}")
    twelfth = cycle_s / 12
    strong = ModelProfile(
        latency_ms=420.0,
        latency_spread=0.35,
        error_rate=0.01,
        rate_limit_rate=0.02,
        cycle_s=cycle_s,
        phases=(
            Phase(name="degraded", start_s=twelfth, end_s=2 * twelfth, latency_factor=2.5,
                  error_rate=0.2, error_status=SERVER_ERROR),
            Phase(name="outage", start_s=2 * twelfth, end_s=5 * twelfth, latency_factor=0.3,
                  error_rate=1.0),
        ),
    )  # fmt: skip
    weak = ModelProfile(
        latency_ms=160.0, latency_spread=0.3, error_rate=0.005, rate_limit_rate=0.01
    )
    return {"gpt-4o": strong, "gpt-4o-mini": weak}
