"""Costs: prices, usage, budgets that hold under concurrency, rate limits, savings and analytics.

Importing this package loads neither ``limits``, ``redis``, ``genai_prices``
nor SQLAlchemy: backends are imported when a ledger, a rate limiter or a
package price is first asked for. Ledgers are opened by URI through
:func:`open_ledger`. A Keeper's :class:`CostTracker` (``keeper.costs``) puts
them together for its wrapped calls.
"""

from toolkeeper._units import format_money, money_json
from toolkeeper.costs.analytics import (
    BurnRate,
    CostGroup,
    CostRecord,
    CostSummary,
    Waste,
    burn_rate,
    cost_by,
    cost_per_success,
    in_range,
    summarize,
    waste,
)
from toolkeeper.costs.budgets import Budget, BudgetEvent, BudgetStatus, Policy, scopes_for
from toolkeeper.costs.calls import CallCosts
from toolkeeper.costs.guard import BudgetGuard, Reservation, Settlement, budgets_from_config
from toolkeeper.costs.ledger import Ledger, Overshoot, open_ledger
from toolkeeper.costs.ledger_memory import MemoryLedger
from toolkeeper.costs.money import parse_budget, parse_money, usd
from toolkeeper.costs.periods import Period
from toolkeeper.costs.prices import Price, PriceCatalog, Priced
from toolkeeper.costs.ratelimit import RateLimit, RateLimiter
from toolkeeper.costs.recommendations import Recommendation, recommend
from toolkeeper.costs.report import cost_report
from toolkeeper.costs.report_model import CostReport
from toolkeeper.costs.routing import (
    RoutingDecision,
    RoutingTally,
    SavingsReport,
    UnpricedDecision,
    savings_report,
)
from toolkeeper.costs.settings import CostSettings, cost_settings
from toolkeeper.costs.tracker import CostTracker
from toolkeeper.costs.usage import Usage, usage_from_response

__all__ = [
    "Budget",
    "BudgetEvent",
    "BudgetGuard",
    "BudgetStatus",
    "BurnRate",
    "CallCosts",
    "CostGroup",
    "CostRecord",
    "CostReport",
    "CostSettings",
    "CostSummary",
    "CostTracker",
    "Ledger",
    "MemoryLedger",
    "Overshoot",
    "Period",
    "Policy",
    "Price",
    "PriceCatalog",
    "Priced",
    "RateLimit",
    "RateLimiter",
    "Recommendation",
    "Reservation",
    "RoutingDecision",
    "RoutingTally",
    "SavingsReport",
    "Settlement",
    "UnpricedDecision",
    "Usage",
    "Waste",
    "budgets_from_config",
    "burn_rate",
    "cost_by",
    "cost_per_success",
    "cost_report",
    "cost_settings",
    "format_money",
    "in_range",
    "money_json",
    "open_ledger",
    "parse_budget",
    "parse_money",
    "recommend",
    "savings_report",
    "scopes_for",
    "summarize",
    "usage_from_response",
    "usd",
    "waste",
]
