"""Per-tool runtime state: the resilience policy and circuit breaker its configuration implies.

A :class:`ToolRuntime` is rebuilt from the tool's configuration whenever a new
version arrives, so a timeout changed in the admin UI applies to the next call.
The breaker survives policy changes (it adopts the new policy) so its history
of recent calls is not lost.
"""

from __future__ import annotations

import math
import threading
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from toolkeeper._clock import Clock
from toolkeeper._secrets import Secret
from toolkeeper.config.redaction import SecretRedactor
from toolkeeper.config.schema import BaseWrapperConfig, ExternalToolConfig
from toolkeeper.resilience import (
    Bulkhead,
    CircuitBreaker,
    LocalBulkhead,
    RedisBulkhead,
    ResiliencePolicy,
)

if TYPE_CHECKING:
    from toolkeeper.costs.calls import CallCosts
    from toolkeeper.costs.guard import Reservation

__all__ = ["FastState", "Runtimes", "ToolRuntime", "policy_for"]


def policy_for(config: BaseWrapperConfig, *, sync: bool) -> ResiliencePolicy:
    """Return the resilience policy a tool's configuration asks for (sync or async calls)."""
    return config.resilience_policy(sync=sync)


@dataclass(frozen=True, slots=True)
class ToolRuntime:
    """What one call of a tool needs, read once per configuration version.

    ``secrets`` are the tool's secret values; ``redactor`` (the keeper's) knows
    every tool's, and removes them, whole or cut, from error messages before
    they are recorded (an upstream error may quote any key it was sent).
    ``inline`` says a sync call's first attempt may run in the caller's thread
    (the tool is enabled and no timeout needs a worker thread). ``costs``
    prices the tool's responses; ``guarded`` says a budget or a rate limit
    applies, so each call is admitted before and settled after: when it is
    false the call pays nothing for them. ``fast`` says a sync call may take the
    decorator's fast path (inline, monitored, usage tracked, not guarded);
    ``slow_call_seconds`` is the breaker's slow-call threshold, infinite when unset;
    ``async_fast`` says the same of an async call, whose timeout (if any) is kept by
    its event loop's deadlines (:mod:`toolkeeper.resilience.deadlines`), not a thread.
    ``guarded_fast`` and ``guarded_async_fast`` say the same of a guarded call: its
    first attempt runs inline between its admission and its settle
    (:mod:`toolkeeper.wrap.guarded`).
    ``debug`` is ``debug_logging``: each call is logged, so it is never ``fast``.
    ``bulkhead`` bounds the tool's concurrent calls (``max_concurrent_calls``);
    a tool with one is never ``fast`` either: each attempt takes a permit.
    """

    name: str
    config: BaseWrapperConfig
    sync_policy: ResiliencePolicy
    async_policy: ResiliencePolicy
    breaker: CircuitBreaker
    secrets: tuple[str, ...] = ()
    # Read on every call: plain fields, not properties of the pydantic config.
    inline: bool = False
    monitoring_enabled: bool = True
    track_usage: bool = True
    costs: CallCosts | None = None
    guarded: bool = False
    fast: bool = False
    async_fast: bool = False
    guarded_fast: bool = False
    guarded_async_fast: bool = False
    slow_call_seconds: float = math.inf
    debug: bool = False  # debug_logging: every call logged (toolkeeper.wrap.debuglog)
    bulkhead: Bulkhead | None = None

    redactor: SecretRedactor | None = None

    def redact(self, text: str) -> str:
        """Return ``text`` without any secret of any tool (the keeper's redactor), or this one's."""
        if self.redactor is not None:
            return self.redactor.redact(text)
        return SecretRedactor(self.secrets).redact(text)


class FastState(NamedTuple):
    """What the sync fast path reads of a tool on every call, published once per runtime.

    The C kernel (:mod:`toolkeeper._speedups`) reads it by position when the
    runtime changes (a new configuration version publishes a new one), so it looks
    up no attribute by name: ``closed_epoch`` is the breaker's ``epoch_cell``, which it
    reads through the buffer protocol on each call; ``count_success`` and
    ``record_success`` are the breaker's bound methods. ``fast`` is the runtime's
    ``fast`` or ``guarded_fast``: a guarded call on the fast path is admitted by
    ``admit`` (:meth:`~toolkeeper.costs.calls.CallCosts.admit_at_once`; ``None``
    hands it to the general path) and settled by ``settle``, both ``None`` when the
    tool is not guarded.
    """

    runtime: ToolRuntime
    fast: bool
    slow_call_seconds: float
    closed_epoch: array[int]
    count_success: Callable[[], object]
    record_success: Callable[[int, float], None]
    admit: Callable[..., Reservation | None] | None
    settle: Callable[[Reservation, float], None] | None


def _secrets_of(config: BaseWrapperConfig) -> tuple[str, ...]:
    values = (getattr(config, name) for name in type(config).model_fields)
    # Sorted longest first, so a secret containing another is replaced whole.
    found = {v.get_secret_value() for v in values if isinstance(v, Secret)}
    return tuple(sorted((s for s in found if len(s) >= 4), key=len, reverse=True))


class Runtimes:
    """The runtime of every tool, built on first use and rebuilt on configuration changes.

    Thread-safe. Reading a runtime is one dict lookup; rebuilding happens only
    when :meth:`invalidate` is called (by the configuration's subscription).
    ``costs_of`` (a Keeper's cost tracker) gives each runtime its budgets,
    rate limit and prices, read again on every rebuild. ``shared`` (a
    ``redis://`` URI) makes bulkheads count the calls of every process sharing
    it; otherwise each process has its own. Breakers and bulkheads outlive
    rebuilds: they adopt the new limits and keep their state.
    """

    def __init__(
        self,
        config_of: Callable[[str], BaseWrapperConfig],
        clock: Clock,
        costs_of: Callable[[str, BaseWrapperConfig], CallCosts] | None = None,
        *,
        shared: str | None = None,
        redactor: SecretRedactor | None = None,
    ) -> None:
        self._config_of = config_of
        self._clock = clock
        self._costs_of = costs_of
        self._shared = shared
        self._redactor = redactor
        self._lock = threading.Lock()
        self._runtimes: dict[str, ToolRuntime] = {}
        self._published: dict[str, FastState] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._bulkheads: dict[str, Bulkhead] = {}

    def close(self) -> None:
        """Close the bulkheads' connections (to Redis); idempotent."""
        with self._lock:
            bulkheads, self._bulkheads = list(self._bulkheads.values()), {}
        for bulkhead in bulkheads:
            bulkhead.close()

    @property
    def published(self) -> dict[str, FastState]:
        """Return the :class:`FastState` of each runtime built, by tool name (read by C)."""
        return self._published

    def get(self, name: str) -> ToolRuntime:
        """Return the tool's current runtime."""
        runtime = self._runtimes.get(name)
        if runtime is None:
            runtime = self._build(name)
        return runtime

    def invalidate(self, name: str) -> None:
        """Forget the tool's runtime so the next call reads its configuration again."""
        with self._lock:
            self._runtimes.pop(name, None)
            self._published.pop(name, None)

    def breaker(self, name: str) -> CircuitBreaker | None:
        """Return the tool's breaker if the tool has been called."""
        return self._breakers.get(name)

    def circuit_states(self) -> dict[str, str]:
        """Return the state of every breaker made so far, by tool name."""
        return {name: str(breaker.state) for name, breaker in list(self._breakers.items())}

    def circuit_state(self, name: str) -> str | None:
        """Return the tool's circuit state, or ``None`` if it has none yet."""
        breaker = self._breakers.get(name)
        return None if breaker is None else str(breaker.state)

    def _build(self, name: str) -> ToolRuntime:
        config = self._config_of(name)
        sync_policy = policy_for(config, sync=True)
        async_policy = policy_for(config, sync=False)
        if async_policy == sync_policy:
            # One object: the breaker adopts a policy whenever it is handed another one.
            async_policy = sync_policy
        costs = self._costs_of(name, config) if self._costs_of is not None else None
        with self._lock:
            breaker = self._breakers.get(name)
            if breaker is None:
                breaker = CircuitBreaker(sync_policy, self._clock, name)
                self._breakers[name] = breaker
            else:
                breaker.update_policy(sync_policy)
            bulkhead = self._bulkhead(name, config)
            inline = config.enabled and sync_policy.timeout_seconds is None
            # A tool type without cost_tracking_enabled tracks usage, as its default says.
            track_usage = not isinstance(config, ExternalToolConfig) or config.cost_tracking_enabled
            guarded = costs is not None and costs.guarded
            slow_after = sync_policy.circuit_slow_call_seconds
            # Recorded inline: monitored, usage tracked, not logged, no bulkhead permit.
            plain = (
                config.enabled and config.monitoring_enabled and track_usage
                and not config.debug_logging and bulkhead is None
            )  # fmt: skip
            runtime = ToolRuntime(
                name, config, sync_policy, async_policy, breaker, _secrets_of(config),
                inline=inline, monitoring_enabled=config.monitoring_enabled,
                track_usage=track_usage, costs=costs, guarded=guarded,
                fast=plain and inline and not guarded, async_fast=plain and not guarded,
                guarded_fast=plain and inline and guarded, guarded_async_fast=plain and guarded,
                slow_call_seconds=math.inf if slow_after is None else slow_after,
                debug=config.debug_logging, bulkhead=bulkhead,
                redactor=self._redactor,
            )  # fmt: skip
            self._runtimes[name] = runtime
            guarded_costs = costs if runtime.guarded_fast else None
            self._published[name] = FastState(
                runtime, runtime.fast or runtime.guarded_fast, runtime.slow_call_seconds,
                breaker.epoch_cell, breaker.count_success, breaker.record_success,
                None if guarded_costs is None else guarded_costs.admit_at_once,
                None if guarded_costs is None else guarded_costs.settle,
            )  # fmt: skip
            return runtime

    def _bulkhead(self, name: str, config: BaseWrapperConfig) -> Bulkhead | None:
        """Return the tool's bulkhead at its configured limit, or None when it has none."""
        limit = config.max_concurrent_calls
        if limit is None:
            return None
        bulkhead = self._bulkheads.get(name)
        if bulkhead is not None:
            bulkhead.resize(limit)
            return bulkhead
        if self._shared is not None:
            # A permit outlives a crashed holder by its lease: longer than any call should run.
            lease = max(60.0, 2 * config.timeout_seconds)
            bulkhead = RedisBulkhead.from_url(self._shared, name, limit, lease_s=lease)
        else:
            bulkhead = LocalBulkhead(name, limit)
        self._bulkheads[name] = bulkhead
        return bulkhead
