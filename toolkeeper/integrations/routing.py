"""toolkeeper's own router: score a prompt by its wording, then pick the strong or the weak model.

RouteLLM's contract, kept here: a router computes the *strong win rate* of a
prompt, a number in [0, 1] estimating how likely the strong model is needed,
and the request goes to the strong model when that score is at or above the
threshold (``Router.route`` in RouteLLM compares with ``>=``).

This is not RouteLLM: ``router_type = "heuristic"`` names it, and it scores with
:func:`heuristic_score`, a deterministic reading of the prompt's length and the
words that mark hard requests; it needs nothing installed and no weights. For
RouteLLM's own routers (``mf``, ``bert``, ``causal_llm``, ``sw_ranking``,
``random``) use :class:`toolkeeper.integrations.routellm_router.RouteLLMRouter`
(extra ``[routellm]``); :meth:`Router.from_config` refuses them rather than
score them some other way. Any scorer may be passed, e.g. a RouteLLM router's
``calculate_strong_win_rate``; :func:`random_score` hashes the prompt (uniform
over prompts, yet repeatable).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from toolkeeper.config.tools import RouteLLMConfig

__all__ = ["RouteDecision", "Router", "heuristic_score", "random_score"]

Scorer = Callable[[str], float]

_WORDS = re.compile(r"[a-z0-9']+")
# Words that mark requests a weak model tends to get wrong: reasoning, code, analysis.
_HARD_WORDS = frozenset({
    "algorithm", "analyse", "analyze", "architecture", "compare", "complexity", "concurrency",
    "debug", "derive", "design", "evaluate", "explain", "optimise", "optimize", "proof", "prove",
    "reason", "refactor", "tradeoffs", "why",
})  # fmt: skip
_HARD_PHRASES = ("step by step", "trade-off", "in detail", "edge cases")
_LONG_PROMPT_WORDS = 150


def heuristic_score(prompt: str) -> float:
    """Return a deterministic strong win rate in [0, 1] from a prompt's length and wording.

    Up to 0.35 for length (saturating at 150 words), 0.15 per hard word or
    phrase up to 0.45, 0.1 for code, 0.05 for several questions, from a base of 0.05.
    """
    text = prompt.lower()
    words = _WORDS.findall(text)
    length = 0.35 * min(len(words) / _LONG_PROMPT_WORDS, 1.0)
    hits = sum(word in _HARD_WORDS for word in words)
    hits += sum(phrase in text for phrase in _HARD_PHRASES)
    wording = min(0.15 * hits, 0.45)
    code = 0.1 if ("```" in prompt or "def " in prompt or "{" in prompt) else 0.0
    questions = 0.05 if prompt.count("?") > 1 else 0.0
    return round(min(0.05 + length + wording + code + questions, 1.0), 4)


def random_score(prompt: str) -> float:
    """Return a score uniform over prompts in [0, 1), the same for the same prompt."""
    digest = hashlib.blake2b(prompt.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteDecision:
    """Where one prompt was sent and why: the router, its score, the threshold and both models.

    ``fallback_reason`` says why no router scored the prompt, when it went to
    the strong model as a fallback.
    """

    router: str
    threshold: float
    score: float | None  # None when no router scored (a fallback)
    model: str
    strong_model: str
    weak_model: str
    fallback_reason: str | None = None

    @property
    def routed_to_strong(self) -> bool:
        """Return whether the prompt goes to the strong model."""
        return self.model == self.strong_model

    def labels(self) -> dict[str, str]:
        """Return the decision as operation labels (router, tier, chosen model)."""
        return {
            "router": self.router,
            "route": "strong" if self.routed_to_strong else "weak",
            "routed_model": self.model,
        }


class Router:
    """Choose the strong or the weak model for each prompt; stateless and thread-safe."""

    def __init__(
        self,
        *,
        threshold: float,
        strong_model: str,
        weak_model: str,
        scorer: Scorer = heuristic_score,
        name: str = "heuristic",
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
        self.threshold = threshold
        self.strong_model = strong_model
        self.weak_model = weak_model
        self.scorer = scorer
        self.name = name

    @classmethod
    def from_config(cls, config: RouteLLMConfig) -> Router:
        """Return the heuristic router of a ``routellm`` tool with ``router_type = "heuristic"``."""
        if config.router_type != "heuristic":
            raise ValueError(
                f"router_type {config.router_type!r} is one of RouteLLM's routers: route with "
                "toolkeeper.integrations.routellm_router.RouteLLMRouter (pip install "
                "'toolkeeper[routellm]'); toolkeeper's own router is router_type 'heuristic'"
            )
        return cls(
            threshold=config.threshold,
            strong_model=config.strong_model,
            weak_model=config.weak_model,
        )

    def score(self, prompt: str) -> float:
        """Return the prompt's strong win rate."""
        return float(self.scorer(prompt))

    def route(self, prompt: str) -> RouteDecision:
        """Score ``prompt`` and return the decision: strong at or above the threshold."""
        score = self.score(prompt)
        model = self.strong_model if score >= self.threshold else self.weak_model
        return RouteDecision(
            router=self.name,
            threshold=self.threshold,
            score=score,
            model=model,
            strong_model=self.strong_model,
            weak_model=self.weak_model,
        )

    def __repr__(self) -> str:
        return (
            f"Router(name={self.name!r}, threshold={self.threshold!r}, "
            f"strong_model={self.strong_model!r}, weak_model={self.weak_model!r})"
        )
