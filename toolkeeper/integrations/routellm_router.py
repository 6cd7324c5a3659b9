"""Route prompts with RouteLLM itself: its ``Controller`` and routers, each decision recorded.

:class:`RouteLLMRouter` builds a ``routellm.controller.Controller`` holding the
one router the ``routellm`` tool's ``router_type`` names (``mf``, ``bert``,
``causal_llm``, ``sw_ranking`` or ``random``), with the tool's ``strong_model``
and ``weak_model`` and, when ``checkpoint_path`` is set, that checkpoint instead
of RouteLLM's GPT-4-augmented default. Each :meth:`~RouteLLMRouter.route` asks
that router for the prompt's strong win rate, sends the prompt to the strong
model when the score is at or above the tool's ``threshold`` (RouteLLM's own
rule), and records the decision as operation ``route`` of the tool
(:meth:`~toolkeeper.wrap.scope.OperationScope.route`: router, models, score and
threshold), so ``toolkeeper costs`` can price what routing saved.

RouteLLM is heavy (``torch``, ``transformers``; extra ``[routellm]``), imports
in seconds and loads a router's checkpoint from the Hugging Face hub on first
use: the controller is built on the first decision and kept until the tool's
configuration changes. Importing RouteLLM needs ``OPENAI_API_KEY`` to be set
(its ``mf`` and ``sw_ranking`` routers embed prompts through OpenAI).

When the router cannot be built (RouteLLM missing, its import failing, a
checkpoint that cannot be loaded), :class:`RouterUnavailableError` names the
router and what is missing. With the tool's ``fallback_enabled``, the decision
goes to the strong model instead, recorded as a fallback (reason
``router_unavailable``) and logged: never a silent substitute. The failure is
kept, not retried, until the tool's configuration changes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from toolkeeper._errors import MissingDependencyError, ToolkeeperError
from toolkeeper.config.tools import RouteLLMConfig
from toolkeeper.integrations.routing import RouteDecision

if TYPE_CHECKING:
    from toolkeeper.keeper import Keeper
    from toolkeeper.wrap.scope import OperationScope

__all__ = ["ROUTELLM_ROUTERS", "RouteLLMRouter", "RouterUnavailableError", "load_controller"]

logger = logging.getLogger(__name__)

#: The routers RouteLLM ships, by the name ``router_type`` gives them.
ROUTELLM_ROUTERS = frozenset({"mf", "bert", "causal_llm", "sw_ranking", "random"})
_CHECKPOINTED = frozenset({"mf", "bert", "causal_llm"})


class RouterUnavailableError(ToolkeeperError):
    """A RouteLLM router could not be built; ``router`` names it and ``missing`` says what lacks."""

    def __init__(self, router: str, missing: str) -> None:
        self.router = router
        self.missing = missing
        super().__init__(f"RouteLLM router {router!r} is unavailable: {missing}")


def load_controller(config: RouteLLMConfig) -> Any:
    """Return a RouteLLM ``Controller`` holding the router ``config.router_type`` names.

    Raises :class:`RouterUnavailableError` naming what could not be loaded
    (the package, its import, or the router's checkpoint).
    """
    router = config.router_type
    if router not in ROUTELLM_ROUTERS:
        known = ", ".join(sorted(ROUTELLM_ROUTERS))
        raise RouterUnavailableError(router, f"RouteLLM has no router {router!r}; it has {known}")
    try:
        # Deferred: routellm is optional (toolkeeper[routellm]) and loads models; only a router
        # being built needs it.
        from routellm.controller import GPT_4_AUGMENTED_CONFIG, Controller
    except ImportError as error:
        if error.name is not None and error.name.split(".")[0] == "routellm":
            missing = MissingDependencyError("routing with RouteLLM", "routellm")
            raise RouterUnavailableError(router, f"routellm is not installed: {missing}") from None
        raise RouterUnavailableError(
            router, f"importing routellm failed: {type(error).__name__}: {error}"
        ) from None
    except Exception as error:  # noqa: BLE001 - an import-time failure of the package, named
        raise RouterUnavailableError(
            router,
            f"importing routellm failed ({type(error).__name__}: {error}); it needs "
            "OPENAI_API_KEY set before it is imported",
        ) from None
    settings = {name: dict(values) for name, values in GPT_4_AUGMENTED_CONFIG.items()}
    if config.checkpoint_path is not None:
        settings.setdefault(router, {})["checkpoint_path"] = config.checkpoint_path
    checkpoint = settings.get(router, {}).get("checkpoint_path")
    try:
        return Controller(
            routers=[router],
            strong_model=config.strong_model,
            weak_model=config.weak_model,
            config=settings,
        )
    except Exception as error:  # noqa: BLE001 - whatever the hub or torch raised, named
        what = f"its checkpoint {checkpoint!r} could not be loaded" if checkpoint else "it failed"
        if router in _CHECKPOINTED or checkpoint:
            detail = f"{what}: {type(error).__name__}: {error}"
        else:
            detail = f"building it failed: {type(error).__name__}: {error}"
        raise RouterUnavailableError(router, detail[:600]) from None


class RouteLLMRouter:
    """Route prompts with the RouteLLM router of a ``routellm`` tool, recording each decision.

    Thread-safe. ``keeper`` and ``tool`` give the configuration (read on each
    decision) and where decisions are recorded; ``load`` builds the controller
    (:func:`load_controller`; a test seam).
    """

    def __init__(
        self,
        keeper: Keeper,
        *,
        tool: str = "router",
        load: Callable[[RouteLLMConfig], Any] = load_controller,
    ) -> None:
        self.keeper = keeper
        self.tool = tool
        self._load = load
        self._lock = threading.Lock()
        self._built_for: RouteLLMConfig | None = None
        self._built: Any = None  # a Controller, or the RouterUnavailableError it raised

    def config(self) -> RouteLLMConfig:
        """Return the tool's configuration as it is now."""
        config = self.keeper.config.get(self.tool)
        if not isinstance(config, RouteLLMConfig):
            raise ToolkeeperError(
                f"tool {self.tool!r} is of type {type(config).type_name!r}; "
                "RouteLLMRouter routes for a tool of type 'routellm'"
            )
        return config

    def score(self, prompt: str) -> float:
        """Return the router's strong win rate for ``prompt`` (not recorded)."""
        config = self.config()
        return self._score(self._controller(config), config, prompt)

    def route(self, prompt: str) -> RouteDecision:
        """Decide which model answers ``prompt``; recorded as operation ``route`` of the tool."""
        with self.keeper.operation(self.tool, "route") as op:
            return self._decide(op, prompt)

    async def aroute(self, prompt: str) -> RouteDecision:
        """Decide from asyncio code, the router scoring in a worker thread."""
        async with self.keeper.operation(self.tool, "route") as op:
            return await asyncio.to_thread(self._decide, op, prompt)

    def _decide(self, op: OperationScope, prompt: str) -> RouteDecision:
        config = self.config()
        try:
            controller = self._controller(config)
        except RouterUnavailableError as unavailable:
            if not config.fallback_enabled:
                raise
            logger.warning("%s; routing to the strong model %r", unavailable, config.strong_model)
            op.fallback("router_unavailable", name=config.strong_model)
            op.route(
                router=config.router_type, chosen_model=config.strong_model,
                strong_model=config.strong_model, weak_model=config.weak_model,
                threshold=config.threshold,
            )  # fmt: skip
            return RouteDecision(
                router=config.router_type, threshold=config.threshold, score=None,
                model=config.strong_model, strong_model=config.strong_model,
                weak_model=config.weak_model, fallback_reason=str(unavailable),
            )  # fmt: skip
        score = self._score(controller, config, prompt)
        model = config.strong_model if score >= config.threshold else config.weak_model
        op.route(
            router=config.router_type, chosen_model=model, strong_model=config.strong_model,
            weak_model=config.weak_model, threshold=config.threshold, score=score,
        )  # fmt: skip
        return RouteDecision(
            router=config.router_type, threshold=config.threshold, score=score, model=model,
            strong_model=config.strong_model, weak_model=config.weak_model,
        )  # fmt: skip

    @staticmethod
    def _score(controller: Any, config: RouteLLMConfig, prompt: str) -> float:
        router = controller.routers[config.router_type]
        return float(router.calculate_strong_win_rate(prompt))

    def _controller(self, config: RouteLLMConfig) -> Any:
        """Return the controller for ``config``, built once per configuration."""
        with self._lock:
            if self._built_for != config:
                try:
                    self._built = self._load(config)
                except RouterUnavailableError as unavailable:
                    self._built = unavailable
                self._built_for = config
            built = self._built
        if isinstance(built, RouterUnavailableError):
            raise built
        return built

    def __repr__(self) -> str:
        return f"RouteLLMRouter(tool={self.tool!r})"
