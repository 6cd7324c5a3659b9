"""The demo's simulated application: users whose requests go through all four tools.

Each request renders a template (``prompts``/``render``), routes it
(``router``/``route``: the router scores the prompt and picks the strong or
weak model, recorded with ``op.route`` as labels and metrics), then, inside that
operation (the router dispatches, so routing savings are priced from the call's
usage and the call inherits the route's labels), calls that model through
``@keeper.tool("openai-strong", fallback="openai-weak")`` or
``@keeper.tool("openai-weak")``, which record latency, tokens, model, cost
(see :mod:`toolkeeper.demo.pricing`), retries, fallbacks and circuit refusals.

``users`` coroutines each start a request every ``users / rate`` seconds
(jittered), so the total stays near ``rate`` requests a second whatever the
latency, as long as a request takes less than that interval. Each request is
three or four recorded operations: the default 6 requests a second is about 20
operations a second, enough to move the dashboard while the machine stays idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from toolkeeper._errors import ToolkeeperError
from toolkeeper.config.schema import BaseWrapperConfig, ExternalToolConfig
from toolkeeper.config.tools import POMLConfig, RouteLLMConfig
from toolkeeper.demo.pricing import add_cost
from toolkeeper.demo.traffic import SampleRequest, draw_request
from toolkeeper.integrations.openai_compat import AsyncChatClient
from toolkeeper.integrations.routing import Router
from toolkeeper.integrations.templates import TemplateFolder

if TYPE_CHECKING:
    from toolkeeper.keeper import Keeper

__all__ = ["ModelCall", "WorkloadStats", "run_demo"]

logger = logging.getLogger(__name__)

C = TypeVar("C", bound=BaseWrapperConfig)
MAX_TOKENS = 400


@dataclass(slots=True)
class WorkloadStats:
    """Counts of what the workload did; updated by its event loop, readable from any thread."""

    requests: int = 0
    answered: int = 0
    routed_strong: int = 0
    routed_weak: int = 0
    fallbacks: int = 0
    failed: int = 0
    cost_usd: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Return the counts as plain data."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ModelCall:
    """The arguments of one model call; a fallback receives the same ones."""

    messages: list[dict[str, str]]
    strong: AsyncChatClient
    weak: AsyncChatClient
    strong_model: str
    weak_model: str


def bound(call: ModelCall, model: str) -> dict[str, Any]:
    """Return the keyword arguments that bound a call's cost, for its budget to reserve on."""
    return {"model": model, "messages": call.messages, "max_tokens": MAX_TOKENS}


async def ask_strong(call: ModelCall, **_bound: Any) -> dict[str, Any]:
    """Ask the strong model (``_bound``: see :func:`bound`)."""
    completion = await call.strong.chat(
        call.messages, model=call.strong_model, max_tokens=MAX_TOKENS
    )
    return add_cost(completion)


async def ask_weak(call: ModelCall, **_bound: Any) -> dict[str, Any]:
    """Ask the weak model (``_bound``: see :func:`bound`)."""
    completion = await call.weak.chat(call.messages, model=call.weak_model, max_tokens=MAX_TOKENS)
    return add_cost(completion)


def _typed(keeper: Keeper, tool: str, kind: type[C]) -> Callable[[], C]:
    def read() -> C:
        config = keeper.config.get(tool)
        if not isinstance(config, kind):
            raise TypeError(f"tool {tool!r} must be configured with type {kind.type_name!r}")
        return config

    read()  # fail at start, not on the first request
    return read


class _Application:
    """The simulated application: one per run, sharing the keeper's tools."""

    def __init__(self, keeper: Keeper, strong: AsyncChatClient, weak: AsyncChatClient) -> None:
        self.keeper = keeper
        self.strong = strong
        self.weak = weak
        self.router_config = _typed(keeper, "router", RouteLLMConfig)
        self.prompts_config = _typed(keeper, "prompts", POMLConfig)
        self.ask_weak = keeper.tool("openai-weak", operation="chat")(ask_weak)
        self.ask_strong = keeper.tool("openai-strong", operation="chat", fallback="openai-weak")(
            ask_strong
        )
        self._folders: dict[str, TemplateFolder] = {}

    def folder(self, directory: str) -> TemplateFolder:
        folder = self._folders.get(directory)
        if folder is None:
            folder = self._folders[directory] = TemplateFolder(directory)
        return folder

    async def serve(self, request: SampleRequest, stats: WorkloadStats) -> None:
        """Render, route and answer one request, counting what happened."""
        keeper = self.keeper
        stats.requests += 1
        async with keeper.operation("prompts", "render", user_id=request.user) as op:
            config = self.prompts_config()
            template = self.folder(config.template_dir).get(request.template)
            prompt = template.render(request.variables, strictness=config.strictness)
            op.labels["template"] = request.template
            op.metric("prompt_chars", len(prompt.text))
        # The router dispatches, as RouteLLM's controller does: the model call runs inside
        # its operation, so what routing saved is priced from that call's usage.
        async with keeper.operation("router", "route", user_id=request.user) as op:
            decision = Router.from_config(self.router_config()).route(prompt.task)
            op.labels.update(decision.labels())
            op.route(
                router=decision.router, chosen_model=decision.model,
                strong_model=decision.strong_model, weak_model=decision.weak_model,
                threshold=decision.threshold, score=decision.score,
            )  # fmt: skip
            call = ModelCall(
                messages=prompt.messages(),
                strong=self.strong,
                weak=self.weak,
                strong_model=decision.strong_model,
                weak_model=decision.weak_model,
            )
            if decision.routed_to_strong:
                stats.routed_strong += 1
                completion = await self.ask_strong(call, **bound(call, call.strong_model))
            else:
                stats.routed_weak += 1
                completion = await self.ask_weak(call, **bound(call, call.weak_model))
        stats.answered += 1
        stats.cost_usd += completion["usage"]["cost"]
        if completion.get("model") != decision.model:
            stats.fallbacks += 1


class _Quota:
    """How many requests remain (None: no limit), shared by the users of one run."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit

    def claim(self) -> bool:
        if self.left is None:
            return True
        if self.left <= 0:
            return False
        self.left -= 1
        return True


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _user(
    app: _Application, index: int, users: int, interval: float, *, stop: asyncio.Event,
    quota: _Quota, rng: random.Random, stats: WorkloadStats,
) -> None:  # fmt: skip
    loop = asyncio.get_running_loop()
    await _pause(stop, interval * index / users)  # stagger the users across one interval
    while not stop.is_set() and quota.claim():
        started = loop.time()
        try:
            await app.serve(draw_request(rng, users=users), stats)
        except ToolkeeperError as error:  # recorded by toolkeeper; the user just sees a failure
            stats.failed += 1
            logger.debug("demo request failed: %s", error)
        await _pause(stop, interval * rng.uniform(0.8, 1.2) - (loop.time() - started))


async def run_demo(
    keeper: Keeper,
    *,
    users: int = 8,
    rate: float = 6.0,
    duration: float | None = None,
    max_requests: int | None = None,
    stop_event: asyncio.Event | None = None,
    seed: int | None = None,
    stats: WorkloadStats | None = None,
) -> WorkloadStats:
    """Run the simulated application against ``keeper``'s tools until told to stop.

    Stops when ``stop_event`` is set, after ``duration`` seconds, or after
    ``max_requests`` requests, whichever comes first (with none of them, it runs
    until cancelled). ``keeper`` must hold the demo's configuration
    (:func:`~toolkeeper.demo.config.demo_config`). Returns ``stats``, or new ones.
    """
    if users < 1 or rate <= 0:
        raise ValueError("users must be at least 1 and rate above 0")
    stats = stats if stats is not None else WorkloadStats()
    stop = stop_event if stop_event is not None else asyncio.Event()
    timer = None if duration is None else asyncio.get_running_loop().call_later(duration, stop.set)
    rng = random.Random(seed)  # noqa: S311 - simulated traffic, not cryptography
    quota = _Quota(max_requests)
    strong_config = _typed(keeper, "openai-strong", ExternalToolConfig)
    weak_config = _typed(keeper, "openai-weak", ExternalToolConfig)
    try:
        async with AsyncChatClient(strong_config) as strong, AsyncChatClient(weak_config) as weak:
            app = _Application(keeper, strong, weak)
            async with asyncio.TaskGroup() as group:
                for index in range(users):
                    group.create_task(
                        _user(app, index, users, users / rate, stop=stop, quota=quota,
                              rng=random.Random(rng.random()), stats=stats)  # noqa: S311
                    )  # fmt: skip
    finally:
        if timer is not None:
            timer.cancel()
    return stats
