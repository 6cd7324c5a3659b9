"""The fields of a tool's configuration that costs read, as protocols.

costs/ sits below config/ (config reads ``[costs]`` through
:mod:`toolkeeper.costs.settings`), so it names the fields it reads here rather
than importing the configuration models: ``ExternalToolConfig`` has every field
of :class:`CostFields`, RouteLLM's configuration those of :class:`RoutedFields`.
A tool type without them has no budget, no rate limit, and tracks costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol, runtime_checkable

from toolkeeper.costs.budgets import Policy

__all__ = ["CostFields", "RoutedFields", "cost_fields"]


@runtime_checkable
class CostFields(Protocol):
    """A tool's budgets, rate limit and cost tracking (``ExternalToolConfig``'s fields)."""

    @property
    def cost_tracking_enabled(self) -> bool:
        """Whether the tool's costs are tracked (and its budgets apply)."""

    @property
    def daily_budget(self) -> Decimal | None:
        """Dollars a day, at most; ``None``: no daily budget."""

    @property
    def monthly_budget(self) -> Decimal | None:
        """Dollars a month, at most; ``None``: no monthly budget."""

    @property
    def budget_alert_thresholds(self) -> Sequence[float]:
        """Fractions of a budget that raise a warning."""

    @property
    def budget_policy(self) -> Policy:
        """What a call the budget cannot afford does."""

    @property
    def rate_limit_requests_per_minute(self) -> int | None:
        """Requests allowed per minute; ``None``: no limit."""

    @property
    def rate_limit_tokens_per_minute(self) -> int | None:
        """Tokens allowed per minute; ``None``: no limit."""

    @property
    def rate_limit_burst(self) -> int | None:
        """Requests allowed at once above the rate; ``None``: the rate alone."""

    @property
    def rate_limit_max_wait_seconds(self) -> float:
        """How long a call waits for the rate limit before ``RateLimited``."""


@runtime_checkable
class RoutedFields(Protocol):
    """A router's two models (RouteLLM's configuration)."""

    @property
    def strong_model(self) -> str:
        """The model hard requests go to."""

    @property
    def weak_model(self) -> str:
        """The cheaper model easy requests go to."""


def cost_fields(config: object) -> CostFields | None:
    """Return ``config`` as the cost fields it has, or ``None`` for a tool type without them."""
    return config if isinstance(config, CostFields) else None
