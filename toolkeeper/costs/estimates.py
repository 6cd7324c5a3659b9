"""What to reserve for a call given no ``estimated_cost``, so that budgets never overshoot.

In order: the request's own bound (``max_tokens`` priced on its ``model``, the
prompt counted generously), else the largest cost per call recently seen for
the same tool, operation and model (:class:`LearnedCosts`). When neither
exists the call's cost is unknown: the budget guard then holds everything the
budget has left for it, so such calls run one at a time until one has settled
and taught an estimate (:meth:`toolkeeper.costs.guard.BudgetGuard.reserve_remaining`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from toolkeeper.costs.money import from_nanos, to_nanos
from toolkeeper.costs.usage import Usage

__all__ = ["EstimateKey", "LearnedCosts", "request_estimate", "request_model"]

#: (tool, operation, model or None): what a learned cost per call is kept for.
EstimateKey = tuple[str, str, str | None]

_MAX_TOKENS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
_PROMPTS = ("messages", "input", "prompt", "system", "instructions")
#: Characters per token assumed when counting a prompt: fewer than real text has
#: (about four), so the input is over-counted rather than under.
_CHARS_PER_TOKEN = 2
_KEEP = 50
_KEEP_KEYS = 10_000


def request_model(request: Mapping[str, Any] | None) -> str | None:
    """Return the ``model`` a call's keyword arguments name, if any."""
    model = None if request is None else request.get("model")
    return model if isinstance(model, str) and model else None


def request_estimate(
    request: Mapping[str, Any] | None, price: Callable[[str, Usage], Decimal | None]
) -> Decimal | None:
    """Return the most a request can cost: ``max_tokens`` out and its prompt in, priced.

    ``None`` when the request names no model or no ``max_tokens`` (or an
    equivalent), or ``price`` has no price for the model.
    """
    model = request_model(request)
    if model is None or request is None:
        return None
    bound = next((request[k] for k in _MAX_TOKENS if isinstance(request.get(k), int)), None)
    if bound is None or isinstance(bound, bool) or bound <= 0:
        return None
    characters = sum(len(str(request[key])) for key in _PROMPTS if key in request)
    prompt = -(-characters // _CHARS_PER_TOKEN)
    return price(model, Usage(model=model, input_tokens=prompt, output_tokens=bound))


class LearnedCosts:
    """The largest of the last costs per call of each key; thread-safe, bounded.

    Costs are kept as whole nano-dollars: learning one is a dictionary lookup and a
    deque append on every settled call, and only :meth:`largest` makes a ``Decimal``.
    Both are single operations of the dict and the deque, atomic in CPython, so
    learning takes no lock; :meth:`largest` reads a copy (a deque cannot be iterated
    while another thread appends to it).
    """

    def __init__(self, keep: int = _KEEP) -> None:
        self._keep = keep
        self._seen: dict[EstimateKey, deque[int]] = {}

    def learn(self, key: EstimateKey, cost: Decimal) -> None:
        """Remember that one call of ``key`` cost ``cost`` dollars."""
        self.learn_nanos(key, to_nanos(cost))

    def learn_nanos(self, key: EstimateKey, nanos: int) -> None:
        """Remember that one call of ``key`` cost ``nanos`` nano-dollars (the hot path)."""
        costs = self._seen.get(key)
        if costs is None:
            costs = self._costs_of(key)
            if costs is None:
                return
        costs.append(nanos)
        if key[2] is not None:  # also what any model of the operation costs
            self.learn_nanos((key[0], key[1], None), nanos)

    def largest(self, key: EstimateKey) -> Decimal | None:
        """Return the largest recent cost of ``key`` (any model when it names none), or None."""
        costs = self._seen.get(key)
        return from_nanos(max(costs.copy())) if costs else None

    def _costs_of(self, key: EstimateKey) -> deque[int] | None:
        """Return the deque of a key first seen (one per key, whichever thread makes it)."""
        if len(self._seen) >= _KEEP_KEYS:
            return None
        return self._seen.setdefault(key, deque(maxlen=self._keep))
