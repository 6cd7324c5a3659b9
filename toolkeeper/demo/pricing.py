"""What the demo's models cost, and the one place the workload turns usage into a cost.

A stand-in for the price catalog of :mod:`toolkeeper.costs`. :func:`add_cost`
writes a completion's price into its ``usage.cost``, as cost-reporting
gateways do, so the wrapped model call records it as its own cost, on the
tool whose budget it spends. When the catalog prices wrapped calls from their
tokens and model, the workload's one call to :func:`add_cost` goes. Prices are
US dollars per million input and output tokens, as published by OpenAI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["PRICES_PER_MILLION_TOKENS", "add_cost", "cost_usd"]

PRICES_PER_MILLION_TOKENS: Mapping[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
}


def cost_usd(model: str, input_tokens: int, output_tokens: int) -> float:
    """Return the cost of a call in US dollars; raise ``KeyError`` naming an unpriced model."""
    try:
        per_input, per_output = PRICES_PER_MILLION_TOKENS[model]
    except KeyError:
        raise KeyError(f"the demo has no price for model {model!r}") from None
    return (input_tokens * per_input + output_tokens * per_output) / 1_000_000


def add_cost(completion: dict[str, Any]) -> dict[str, Any]:
    """Set ``usage.cost`` (USD) on an OpenAI-style ``completion`` from its model and tokens."""
    usage = completion.get("usage")
    if isinstance(usage, dict):
        model = str(completion.get("model"))
        tokens = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        usage["cost"] = cost_usd(model, *tokens)
    return completion
