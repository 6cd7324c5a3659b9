"""RouteLLM-style routing: scores, the threshold rule and decisions from configuration."""

from __future__ import annotations

import pytest

from toolkeeper.config.tools import RouteLLMConfig
from toolkeeper.integrations.routing import Router, heuristic_score, random_score

EASY = "How do I reset my password?"
HARD = (
    "Review this change step by step. Explain why the retry loop is a problem, compare the "
    "alternatives and point out edge cases:\n\ndef retry(fn):\n    while True:\n        fn()"
)


def router(threshold: float) -> Router:
    """Return a heuristic router between two made-up models."""
    return Router(threshold=threshold, strong_model="big", weak_model="small")


def test_the_strong_model_answers_above_the_threshold_and_the_weak_one_below() -> None:
    """A hard prompt scores above 0.3 and goes strong; an easy one scores below and goes weak."""
    hard, easy = router(0.3).route(HARD), router(0.3).route(EASY)
    assert hard.score > 0.3 > easy.score
    assert (hard.model, hard.routed_to_strong) == ("big", True)
    assert (easy.model, easy.routed_to_strong) == ("small", False)
    assert hard.labels() == {"router": "heuristic", "route": "strong", "routed_model": "big"}


def test_a_score_equal_to_the_threshold_goes_strong_as_in_routellm() -> None:
    """RouteLLM routes strong when the win rate is at or above the threshold."""
    score = heuristic_score(EASY)
    assert router(score).route(EASY).model == "big"
    assert router(min(score + 0.0001, 1.0)).route(EASY).model == "small"


def test_routing_is_deterministic() -> None:
    """The same prompt gets the same score and model every time, from either scorer."""
    assert {router(0.3).route(HARD) for _ in range(5)} == {router(0.3).route(HARD)}
    assert random_score(EASY) == random_score(EASY)
    assert 0.0 <= random_score(EASY) < 1.0


def test_the_decision_carries_router_threshold_score_and_both_models() -> None:
    """A decision names everything needed to explain it later."""
    decision = router(0.5).route(EASY)
    assert decision.router == "heuristic"
    assert decision.threshold == 0.5
    assert decision.score == heuristic_score(EASY)
    assert (decision.strong_model, decision.weak_model) == ("big", "small")


def test_a_router_is_built_from_a_routellm_tool_configuration() -> None:
    """Threshold and models come from the config of a tool whose router_type is heuristic."""
    config = RouteLLMConfig(
        router_type="heuristic", threshold=0.4, strong_model="a", weak_model="b"
    )
    built = Router.from_config(config)
    decision = built.route(EASY)
    assert (built.name, built.threshold) == ("heuristic", 0.4)
    assert decision.score == heuristic_score(EASY)
    assert decision.model == "b"


@pytest.mark.parametrize("router_type", ["mf", "bert", "causal_llm", "sw_ranking", "random"])
def test_routellm_router_types_are_refused_rather_than_imitated(router_type: str) -> None:
    """A RouteLLM router type is not scored by the heuristic: the error points to RouteLLMRouter."""
    config = RouteLLMConfig(router_type=router_type)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="RouteLLMRouter") as raised:
        Router.from_config(config)
    assert repr(router_type) in str(raised.value)


def test_a_custom_scorer_stands_in_for_a_routellm_router() -> None:
    """Any function from prompt to win rate, such as RouteLLM's own, can score."""
    built = Router(threshold=0.5, strong_model="a", weak_model="b", scorer=lambda _: 0.9, name="mf")
    assert built.route("anything").model == "a"
    assert built.route("anything").router == "mf"


def test_a_threshold_outside_zero_to_one_is_refused() -> None:
    """The threshold is a win rate, so it must lie in [0, 1]."""
    with pytest.raises(ValueError, match="threshold"):
        router(1.5)
