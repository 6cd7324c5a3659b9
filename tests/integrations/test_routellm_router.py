"""The RouteLLM adapter: decisions by RouteLLM's own routers, recorded; unavailable routers named.

The tests marked ``integrations`` need the ``routellm`` package (torch and
transformers: about 2 GB); they run with ``scripts/test.sh --integrations``.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from toolkeeper import Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.integrations.routellm_router import RouteLLMRouter, RouterUnavailableError

PROMPT = "Prove that there are infinitely many primes, step by step."


def _keeper(router_type: str, *, threshold: float = 0.5, **extra: object) -> Keeper:
    lines = "".join(f"{name} = {value!r}\n".replace("'", '"') for name, value in extra.items())
    lines = lines.replace("True", "true").replace("False", "false")
    config = f"""\
[tools.router]
type = "routellm"
router_type = "{router_type}"
threshold = {threshold}
strong_model = "big-model"
weak_model = "small-model"
{lines}"""
    return Keeper.open(ConfigFile.parse(config), store="memory://", follow_changes=False)


@pytest.fixture
def keepers() -> Iterator[list[Keeper]]:
    """Collect the keepers a test opens and close them afterwards."""
    opened: list[Keeper] = []
    yield opened
    for keeper in opened:
        keeper.close()


def records(keeper: Keeper) -> list[dict[str, Any]]:
    """Return the recorded operations of the ``router`` tool, oldest first."""
    return keeper.monitoring.export_metrics(wrapper_name="router")


@pytest.fixture
def without_routellm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import routellm`` fail, as on a machine without the extra."""
    monkeypatch.setitem(sys.modules, "routellm", None)
    monkeypatch.setitem(sys.modules, "routellm.controller", None)


def test_without_the_package_the_error_names_the_router_and_the_extra(
    keepers: list[Keeper], without_routellm: None
) -> None:
    """With fallback off, routing raises RouterUnavailableError naming the router and the extra."""
    keeper = _keeper("mf", fallback_enabled=False)
    keepers.append(keeper)
    with pytest.raises(RouterUnavailableError) as raised:
        RouteLLMRouter(keeper).route(PROMPT)
    assert raised.value.router == "mf"
    assert "RouteLLM router 'mf' is unavailable" in str(raised.value)
    assert "pip install 'toolkeeper[routellm]'" in str(raised.value)
    (record,) = records(keeper)
    assert record["status"] == "error"
    assert record["error_code"] == "RouterUnavailableError"


def test_an_unavailable_router_falls_back_to_the_strong_model_on_record(
    keepers: list[Keeper], without_routellm: None, caplog: pytest.LogCaptureFixture
) -> None:
    """With fallback on, the strong model answers, recorded as a fallback and logged: not silent."""
    keeper = _keeper("bert")
    keepers.append(keeper)
    decision = RouteLLMRouter(keeper).route(PROMPT)
    assert decision.model == "big-model"
    assert decision.score is None
    assert decision.fallback_reason is not None
    assert "'bert'" in decision.fallback_reason
    (record,) = records(keeper)
    assert record["status"] == "fallback"
    assert record["fallback_reason"] == "router_unavailable"
    assert record["labels"]["routed_model"] == "big-model"
    assert "RouteLLM router 'bert' is unavailable" in caplog.text


def test_a_heuristic_tool_is_refused_by_the_routellm_adapter(
    keepers: list[Keeper], without_routellm: None
) -> None:
    """router_type heuristic is toolkeeper's own router: the adapter names RouteLLM's routers."""
    keeper = _keeper("heuristic", fallback_enabled=False)
    keepers.append(keeper)
    with pytest.raises(RouterUnavailableError, match="RouteLLM has no router 'heuristic'"):
        RouteLLMRouter(keeper).route(PROMPT)


@pytest.fixture
def routellm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give RouteLLM's import the OpenAI key it asks for and keep the hub offline."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unused-by-the-random-router")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.integrations
def test_routellm_random_router_decides_and_its_score_is_recorded(
    keepers: list[Keeper], routellm_env: None
) -> None:
    """RouteLLM's own ``random`` router scores each prompt; the decision follows the threshold."""
    keeper = _keeper("random", threshold=0.5)
    keepers.append(keeper)
    router = RouteLLMRouter(keeper)
    router.score(PROMPT)  # loads RouteLLM first: its import draws random numbers
    random.seed(7)
    decisions = [router.route(PROMPT) for _ in range(20)]
    random.seed(7)
    expected = [random.uniform(0, 1) for _ in range(20)]
    assert [d.score for d in decisions] == expected
    assert [d.model for d in decisions] == [
        "big-model" if score >= 0.5 else "small-model" for score in expected
    ]
    assert {d.router for d in decisions} == {"random"}
    done = records(keeper)
    assert [r["custom_metrics"]["route_score"] for r in done] == expected
    assert {r["custom_metrics"]["route_threshold"] for r in done} == {0.5}
    assert [r["labels"]["routed_model"] for r in done] == [d.model for d in decisions]


@pytest.mark.integrations
def test_routellm_threshold_changed_at_runtime_applies_to_the_next_decision(
    keepers: list[Keeper], routellm_env: None
) -> None:
    """Threshold 0 sends everything to the strong model; after a change to 1, to the weak one."""
    keeper = _keeper("random", threshold=0.0)
    keepers.append(keeper)
    router = RouteLLMRouter(keeper)
    assert {router.route(PROMPT).model for _ in range(5)} == {"big-model"}
    keeper.config.update("router", {"threshold": 1.0}, actor="ana", reason="save money")
    assert {router.route(PROMPT).model for _ in range(5)} == {"small-model"}


@pytest.mark.integrations
def test_routellm_checkpoint_that_cannot_load_is_named(
    keepers: list[Keeper], routellm_env: None, tmp_path: Path
) -> None:
    """An ``mf`` router whose checkpoint folder holds no weights raises, naming router and path."""
    empty = tmp_path / "no-weights"
    empty.mkdir()
    keeper = _keeper("mf", fallback_enabled=False, checkpoint_path=str(empty))
    keepers.append(keeper)
    with pytest.raises(RouterUnavailableError) as raised:
        RouteLLMRouter(keeper).route(PROMPT)
    assert raised.value.router == "mf"
    assert f"its checkpoint {str(empty)!r} could not be loaded" in str(raised.value)
