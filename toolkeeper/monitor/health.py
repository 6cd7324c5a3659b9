"""Score a tool's health from 0 to 100 and name its status; the formula is in docs/health.md.

The thresholds below are the only ones: the API, the CLI and the pages import them.
:func:`assess_health` is pure (no clock, no state), so it is tested with literals.

Score = 100, minus

* ``FAILURE_WEIGHT`` points per percentage point of failed operations (errors
  and timeouts): 5% failures cost 10 points;
* ``FALLBACK_WEIGHT`` points per percentage point of operations a fallback
  served: a served fallback costs a quarter of a failure;
* up to ``RECENT_ERROR_PENALTY`` points for the last failure, fading linearly to
  0 over ``RECENT_ERROR_SECONDS``;
* up to ``LATENCY_PENALTY_MAX`` points when p95 latency exceeds the tool's
  objective, linearly from 0 at the objective to the maximum at twice it;
* up to ``BUDGET_PENALTY_MAX`` points as budget burn goes from
  ``BUDGET_WARN_FRACTION`` to 1;

clamped to [0, 100], then capped: an open circuit at ``CIRCUIT_OPEN_MAX_SCORE``,
a half-open one at ``CIRCUIT_HALF_OPEN_MAX_SCORE``, an exhausted budget at
``BUDGET_EXHAUSTED_MAX_SCORE``. Cancelled operations count in the denominator
only. With no operations the status is ``unknown`` (score ``None``), unless the
circuit is open, which is ``critical`` on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "BUDGET_EXHAUSTED_MAX_SCORE",
    "BUDGET_PENALTY_MAX",
    "BUDGET_WARN_FRACTION",
    "CIRCUIT_HALF_OPEN_MAX_SCORE",
    "CIRCUIT_OPEN_MAX_SCORE",
    "DEGRADED_MIN_SCORE",
    "FAILURE_WEIGHT",
    "FALLBACK_WEIGHT",
    "HEALTHY_MIN_SCORE",
    "HEALTH_FALLBACK_WINDOW",
    "HEALTH_PRIMARY_MIN_OPERATIONS",
    "HEALTH_PRIMARY_WINDOW",
    "LATENCY_PENALTY_MAX",
    "RECENT_ERROR_PENALTY",
    "RECENT_ERROR_SECONDS",
    "UNHEALTHY_MIN_SCORE",
    "HealthAssessment",
    "HealthStatus",
    "assess_health",
    "status_for_score",
    "system_status",
]

HEALTHY_MIN_SCORE = 80.0
DEGRADED_MIN_SCORE = 60.0
UNHEALTHY_MIN_SCORE = 30.0

FAILURE_WEIGHT = 2.0
FALLBACK_WEIGHT = 0.5
RECENT_ERROR_PENALTY = 5.0
RECENT_ERROR_SECONDS = 300.0
LATENCY_PENALTY_MAX = 30.0
BUDGET_WARN_FRACTION = 0.8
BUDGET_PENALTY_MAX = 10.0

CIRCUIT_OPEN_MAX_SCORE = 20.0
CIRCUIT_HALF_OPEN_MAX_SCORE = 79.0
BUDGET_EXHAUSTED_MAX_SCORE = 59.0

HEALTH_PRIMARY_WINDOW = "5m"
"""Health is judged on this window when it holds enough operations..."""
HEALTH_PRIMARY_MIN_OPERATIONS = 5
"""...this many; otherwise on the fallback window, and ``unknown`` if that is empty."""
HEALTH_FALLBACK_WINDOW = "1h"

_CIRCUIT_STATES = ("closed", "open", "half_open")


class HealthStatus(StrEnum):
    """Name how a tool (or the whole system) is doing, best first, then ``unknown``."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    CRITICAL = "critical"
    UNKNOWN = "unknown"


_SEVERITY = {status: rank for rank, status in enumerate(HealthStatus)}


@dataclass(frozen=True, slots=True)
class HealthAssessment:
    """Hold a score (``None`` when unknown), its status, and one reason per deduction or cap."""

    score: float | None
    status: HealthStatus
    reasons: tuple[str, ...]


def status_for_score(score: float) -> HealthStatus:
    """Return the status a score falls in."""
    if score >= HEALTHY_MIN_SCORE:
        return HealthStatus.HEALTHY
    if score >= DEGRADED_MIN_SCORE:
        return HealthStatus.DEGRADED
    if score >= UNHEALTHY_MIN_SCORE:
        return HealthStatus.UNHEALTHY
    return HealthStatus.CRITICAL


def normalize_circuit_state(state: str | None) -> str | None:
    """Return ``closed``, ``open``, ``half_open`` or ``None``; reject anything else."""
    if state is None:
        return None
    normalized = state.strip().lower().replace("-", "_").replace(" ", "_")
    if normalized not in _CIRCUIT_STATES:
        raise ValueError(f"circuit state {state!r} is not one of {', '.join(_CIRCUIT_STATES)}")
    return normalized


Term = tuple[float, str]
"""Points deducted (or the score cap), and why."""


def _rate_terms(operations: int, failures: int, fallbacks: int) -> list[Term]:
    terms: list[Term] = []
    if failures:
        rate = failures / operations
        why = f"{failures} of {operations} operations failed ({rate:.1%})"
        terms.append((FAILURE_WEIGHT * 100.0 * rate, why))
    if fallbacks:
        rate = fallbacks / operations
        why = f"{fallbacks} of {operations} operations were served by a fallback"
        terms.append((FALLBACK_WEIGHT * 100.0 * rate, why))
    return terms


def _recency_terms(seconds_since_last_error: float | None) -> list[Term]:
    if seconds_since_last_error is None or seconds_since_last_error >= RECENT_ERROR_SECONDS:
        return []
    age = max(seconds_since_last_error, 0.0)
    points = RECENT_ERROR_PENALTY * (1.0 - age / RECENT_ERROR_SECONDS)
    return [(points, f"last failure {age:.0f}s ago")]


def _latency_terms(p95_s: float | None, objective_s: float | None) -> list[Term]:
    if p95_s is None or not objective_s or p95_s <= objective_s:
        return []
    points = LATENCY_PENALTY_MAX * min(p95_s / objective_s - 1.0, 1.0)
    return [(points, f"p95 latency {p95_s:.3g}s is above the {objective_s:.3g}s objective")]


def _budget_terms(budget_burn: float | None) -> list[Term]:
    if budget_burn is None or not BUDGET_WARN_FRACTION <= budget_burn < 1.0:
        return []
    share = (budget_burn - BUDGET_WARN_FRACTION) / (1.0 - BUDGET_WARN_FRACTION)
    return [(BUDGET_PENALTY_MAX * share, f"{budget_burn:.0%} of the budget is spent")]


def _caps(circuit: str | None, budget_burn: float | None) -> list[Term]:
    found: list[Term] = []
    if budget_burn is not None and budget_burn >= 1.0:
        found.append((BUDGET_EXHAUSTED_MAX_SCORE, f"budget exhausted ({budget_burn:.0%} spent)"))
    if circuit == "open":
        found.append((CIRCUIT_OPEN_MAX_SCORE, "circuit is open: calls are refused"))
    elif circuit == "half_open":
        found.append((CIRCUIT_HALF_OPEN_MAX_SCORE, "circuit is half-open: probing recovery"))
    return found


def assess_health(
    *,
    operations: int,
    failures: int,
    fallbacks: int,
    seconds_since_last_error: float | None = None,
    p95_latency_s: float | None = None,
    latency_objective_s: float | None = None,
    circuit_state: str | None = None,
    budget_burn: float | None = None,
) -> HealthAssessment:
    """Score a tool from counts over one window and the state around it.

    ``failures`` are errors and timeouts; ``fallbacks`` are operations a fallback
    served. ``budget_burn`` is the fraction of the period's budget spent (1.0 =
    exhausted). Inputs that are ``None`` do not affect the score. Each reason
    says what happened, then the points it cost or the cap it applied.
    """
    if operations < 0 or failures < 0 or fallbacks < 0 or failures + fallbacks > operations:
        raise ValueError(
            f"counts must satisfy 0 <= failures + fallbacks <= operations; got "
            f"operations={operations}, failures={failures}, fallbacks={fallbacks}"
        )
    circuit = normalize_circuit_state(circuit_state)
    if operations == 0 and circuit != "open":
        return HealthAssessment(None, HealthStatus.UNKNOWN, ("no operations in the window",))
    deductions = [
        *_rate_terms(operations, failures, fallbacks),
        *_recency_terms(seconds_since_last_error),
        *_latency_terms(p95_latency_s, latency_objective_s),
        *_budget_terms(budget_burn),
    ]
    score = min(max(100.0 - sum(points for points, _ in deductions), 0.0), 100.0)
    # Said as a person would: what happened, then what it cost (never more than the 100 points).
    reasons = [f"{why} (score -{min(points, 100.0):.1f})" for points, why in deductions]
    for cap, why in _caps(circuit, budget_burn):
        if score > cap:
            score = cap
            reasons.append(f"{why} (score at most {cap:.0f})")
        else:
            reasons.append(why)
    score = round(score, 1)
    if not reasons:
        reasons.append("no failures, fallbacks or slow calls")
    return HealthAssessment(score, status_for_score(score), tuple(reasons))


def system_status(statuses: list[HealthStatus], overall_score: float | None) -> HealthStatus:
    """Return the system's status from its tools' statuses and their mean score.

    It is the mean score's status, but at least ``degraded`` when any tool is
    unhealthy or critical, and ``unknown`` when no tool has recent data.
    """
    if overall_score is None:
        return HealthStatus.UNKNOWN
    status = status_for_score(overall_score)
    troubled = any(s in (HealthStatus.UNHEALTHY, HealthStatus.CRITICAL) for s in statuses)
    if troubled and _SEVERITY[status] < _SEVERITY[HealthStatus.DEGRADED]:
        return HealthStatus.DEGRADED
    return status
