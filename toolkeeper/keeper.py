"""Keeper: the one object an application opens for configuration, monitoring, costs and store."""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from toolkeeper._clock import Clock, SystemClock
from toolkeeper._errors import ConfigError, SecretError, ToolkeeperError
from toolkeeper._schemes import REDIS_SCHEMES, scheme_of
from toolkeeper._secrets import Keyring, Secret
from toolkeeper._units import check_money
from toolkeeper.alerts.budget_rules import budget_rules
from toolkeeper.config.files import ConfigFile
from toolkeeper.config.live import Configuration, ConfigVersion
from toolkeeper.config.names import check_tool_name
from toolkeeper.config.redaction import SecretRedactor
from toolkeeper.config.schema import ExternalToolConfig
from toolkeeper.costs.money import usd
from toolkeeper.costs.tracker import CostTracker
from toolkeeper.monitor import WrapperMonitoring
from toolkeeper.monitor.genai import OtlpMetricsExport
from toolkeeper.monitor.persist import RollupDecoder, StoreWriter, restore
from toolkeeper.monitor.spans import OtlpSpanExport
from toolkeeper.store import open_store
from toolkeeper.store.circuits import load_circuit_states
from toolkeeper.wrap import FallbackSpec, OperationScope, Runtimes, ToolWrapping

if TYPE_CHECKING:
    # Deferred: alerting (its store tables, Apprise) is loaded when first used.
    from toolkeeper.alerts.engine import AlertEngine
    from toolkeeper.alerts.rules import AlertRule
    from toolkeeper.config.schema import BaseWrapperConfig
    from toolkeeper.costs.calls import CallCosts
    from toolkeeper.store.sql import Store

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("toolkeeper")

__all__ = ["Keeper", "locate_config"]

CONFIG_ENV = "TOOLKEEPER_CONFIG"
ENVIRONMENT_ENV = "TOOLKEEPER_ENV"
STORE_ENV = "TOOLKEEPER_STORE"
SHARED_ENV = "TOOLKEEPER_SHARED"
DEFAULT_CONFIG = Path("toolkeeper.toml")
#: How long a circuit state another process stored counts (it stores one with every batch).
CIRCUIT_FRESH_S = 300.0
_CIRCUIT_SEVERITY = {None: 0, "closed": 1, "half_open": 2, "open": 3}


def locate_config(config: str | Path | None = None) -> ConfigFile:
    """Load the named file, else ``$TOOLKEEPER_CONFIG``, else ``./toolkeeper.toml`` if present."""
    path = config or os.environ.get(CONFIG_ENV)
    if path:
        return ConfigFile.load(path)
    if DEFAULT_CONFIG.exists():
        return ConfigFile.load(DEFAULT_CONFIG)
    return ConfigFile()


class Keeper:
    """Everything toolkeeper keeps for one application: configuration, store, monitoring, costs.

    Thread-safe. Open one per process with :meth:`open` and close it at exit
    (it also closes itself then): closing flushes recorded operations to the store.
    ``costs`` (a :class:`~toolkeeper.costs.tracker.CostTracker`) holds the prices,
    budgets and rate limits; ``shared`` (a ``redis://`` URI) keeps budget spend,
    rate-limit windows and bulkhead permits in Redis, shared by every process
    pointing at it.
    ``alerts`` (an :class:`~toolkeeper.alerts.AlertEngine`, built on first use)
    evaluates the file's ``[alerts]`` rules.

    Constructing one only wires its pieces over an open configuration and store:
    no I/O, no thread, no exit hook. :meth:`start` does the rest (the ledger, the
    store's history, the exports, the exit hook); :meth:`open` and ``with`` call it,
    and so does the first :meth:`tool`, :meth:`operation` or :attr:`alerts`.
    """

    def __init__(
        self,
        *,
        config: Configuration,
        store: Store,
        clock: Clock | None = None,
        shared: str | None = None,
        otlp_metrics: bool = False,
    ) -> None:
        if shared is not None and scheme_of(shared) not in REDIS_SCHEMES:
            raise ValueError(
                f"shared= must be a redis:// URI, got scheme {shared.partition(':')[0]!r}"
            )
        self.config = config
        self.store = store
        self.shared = shared
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._otlp_metrics = otlp_metrics
        self._costs: CostTracker | None = None
        self._costs_lock = threading.Lock()
        self.redactor = SecretRedactor()
        self.runtimes = Runtimes(
            config.get_or_default,
            self.clock,
            self._costs_for_tool,
            shared=shared,
            redactor=self.redactor,
        )
        self.writer = StoreWriter(
            store,
            circuits=self.runtimes.circuit_states,
            now=lambda: self.clock.now().timestamp(),
            retention_days=lambda tool: config.get_or_default(tool).metrics_retention_days,
        )
        self.monitoring = WrapperMonitoring(
            clock=self.clock,
            sink=self.writer,
            circuit_state_provider=self._circuit_state,
            latency_objective_provider=self._latency_objective,
            budget_burn_provider=self._budget_burn,
            redact=self.redactor.redact,
        )
        self._otlp: OtlpMetricsExport | None = None
        self._spans: OtlpSpanExport | None = None
        self._tool_functions: dict[str, Callable[..., Any]] = {}
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._alerts: AlertEngine | None = None
        self._followed_circuits: dict[str, list[str]] = {}
        self._unsubscribe: Callable[[], None] = _nothing
        self._stop_keyring: Callable[[], None] = _nothing
        self._started = False
        self._closed = False
        self._stopping = threading.Event()
        self._rollups = RollupDecoder()  # the follower's reads decode only what changed
        self._follower: threading.Thread | None = None
        self.follows_store = False
        """Whether this process shows the fleet (:meth:`follow_store`), not only its own calls."""

    @property
    def started(self) -> bool:
        """Whether :meth:`start` has run (its I/O done), and the keeper is not closed."""
        return self._started and not self._closed

    def start(self) -> Keeper:
        """Do the I/O construction leaves out, once; return the keeper.

        Reads every tool's secrets into the redactor, follows configuration
        changes, opens the budget ledger, restores the monitor's history from the
        store, starts the OTLP exports the configuration asks for and registers
        :meth:`close` to run at exit. :meth:`open` calls it, as do ``with Keeper(...)``,
        :meth:`tool`, :meth:`operation`, :attr:`alerts` and :meth:`follow_store`;
        later calls, and calls after :meth:`close`, do nothing.
        """
        if self._started or self._closed:  # the common case, each operation(): no lock
            return self
        with self._start_lock:
            if self._started or self._closed:
                return self
            self._update_redactor()
            self._unsubscribe = self.config.subscribe(self._config_changed)
            self._stop_keyring = self.config.on_keyring_change(self._update_redactor)
            atexit.register(self.close)
            self.costs  # noqa: B018 -- opens the ledger now, not in the first call
            restore(
                self.monitoring,
                self.store,
                exclude_writer=self.writer.writer,
                decoder=self._rollups,
            )
            self._start_exports()
            # Last: another thread sees a started keeper only once all of it is done.
            self._started = True
        return self

    def _start_exports(self) -> None:
        """Start the OTLP metrics and trace exports the file or the environment ask for."""
        config = self.config
        telemetry = config.file.telemetry
        metrics_endpoint = telemetry.endpoint("metrics", config.environ)
        if self._otlp_metrics or metrics_endpoint:
            self.monitoring.count_genai()
            every = telemetry.export_interval_s or 60.0
            self._otlp = OtlpMetricsExport(
                self.monitoring.genai_snapshot,
                interval_s=_export_interval_s(config.environ, "OTEL_METRIC_EXPORT_INTERVAL", every),
                endpoint=metrics_endpoint,
            )
        traces_endpoint = telemetry.endpoint("traces", config.environ)
        if traces_endpoint:
            self._spans = OtlpSpanExport(
                endpoint=traces_endpoint,
                interval_s=_export_interval_s(
                    config.environ, "OTEL_BSP_SCHEDULE_DELAY", telemetry.export_interval_s or 5.0
                ),
                sample_ratio=telemetry.trace_sample_ratio,
            )
            self.monitoring.observe_records(self._spans.observe)

    @property
    def costs(self) -> CostTracker:
        """Return the prices, budgets and rate limits, opening the budget ledger on first use."""
        tracker = self._costs
        if tracker is None:
            with self._costs_lock:
                if self._costs is None:
                    config = self.config
                    self._costs = CostTracker.open(
                        config.file.costs, config_of=config.get_or_default, tools=config.tools,
                        store=self.store, shared=self.shared, clock=self.clock, flush=self.flush,
                    )  # fmt: skip
                tracker = self._costs
        return tracker

    def _costs_for_tool(self, tool: str, config: BaseWrapperConfig) -> CallCosts:
        return self.costs.for_tool(tool, config)

    def _budget_burn(self, tool: str) -> float | None:
        return self.costs.budget_burn(tool)

    def tool(
        self,
        name: str,
        *,
        operation: str | None = None,
        fallback: FallbackSpec = None,
        labels: dict[str, str] | None = None,
        estimated_cost: Decimal | float | None = None,
        estimated_tokens: int | None = None,
    ) -> Callable[[F], F]:
        """Wrap a function (sync or async) as a call to tool ``name``.

        Each call runs under the tool's timeout, retries and circuit breaker,
        falls back to ``fallback`` (a callable, another tool's name, or a list of
        them) when it fails, and is recorded. ``operation`` defaults to the
        function's name. Under a budget, each call reserves ``estimated_cost``
        dollars before it runs; none given, it reserves what the call's
        ``max_tokens`` can cost on its ``model`` (keyword arguments), else the
        largest recent cost of such calls, else (cost unknown) all the budget has
        left, so that budgets never overshoot (see :meth:`CallCosts.admit
        <toolkeeper.costs.CallCosts.admit>`). Under a tokens-per-minute limit it
        counts ``estimated_tokens``.
        """
        check_tool_name(name, "name")
        estimate, tokens = _estimate(estimated_cost, estimated_tokens)
        self.start()

        def decorate(fn: F) -> F:
            wrapping = ToolWrapping(
                tool=name,
                operation=operation or str(getattr(fn, "__name__", "call")),
                fallback=fallback,
                runtimes=self.runtimes,
                monitor=self.monitoring,
                clock=self.clock,
                tool_function=self._tool_function,
                labels=labels,
                estimated_cost=estimate,
                estimated_tokens=tokens,
            )
            wrapped = wrapping.wrap(fn)
            with self._lock:
                self._tool_functions.setdefault(name, wrapped)
            return wrapped

        return decorate

    def operation(
        self,
        tool: str,
        operation: str = "default",
        *,
        labels: dict[str, str] | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        request_id: str | None = None,
        estimated_cost: Decimal | float | None = None,
        estimated_tokens: int | None = None,
    ) -> OperationScope:
        """Return a context manager (``with`` or ``async with``) recording its block.

        ``estimated_cost`` and ``estimated_tokens`` are reserved before the block
        runs, as for :meth:`tool`.
        """
        check_tool_name(tool)
        estimate, tokens = _estimate(estimated_cost, estimated_tokens)
        self.start()
        return OperationScope(
            tool,
            operation,
            runtimes=self.runtimes,
            monitor=self.monitoring,
            labels=labels,
            user_id=user_id,
            session_id=session_id,
            request_id=request_id,
            estimated_cost=estimate,
            estimated_tokens=tokens,
        )

    @property
    def alerts(self) -> AlertEngine:
        """Return the alert engine of the file's ``[alerts]``, building it on first use.

        It is not evaluating until :meth:`~toolkeeper.alerts.AlertEngine.start`
        (``toolkeeper serve`` starts it); :meth:`close` stops it.
        """
        self.start()
        with self._lock:
            if self._alerts is None:
                # Deferred: a lazy name: the alert engine loads the store (SQLAlchemy) only when
                # asked for.
                from toolkeeper.alerts.engine import AlertEngine
                from toolkeeper.alerts.notices import ChangeNotices
                from toolkeeper.alerts.runtime import RuntimeAlerts

                runtime = RuntimeAlerts(
                    self.store, self.config.file, clock=self.clock, builtin=self._budget_rules,
                    keyring=lambda: self.config.keyring,
                )  # fmt: skip
                self._alerts = AlertEngine(
                    runtime.settings(),
                    config=runtime,
                    store=self.store,
                    monitor=self.monitoring,
                    clock=self.clock,
                    keyring=self.config.keyring,
                    environ=self.config.environ,
                    tools=self.config.tools,
                    environment=self.config.environment,
                    notices=ChangeNotices(self.shared) if self.shared else None,
                )
            return self._alerts

    def _budget_rules(self) -> tuple[AlertRule, ...]:
        """Return the alert rules of the tools' budget thresholds (read when alerting reloads)."""
        configs: list[tuple[str, ExternalToolConfig]] = []
        for tool in self.config.tools():
            try:
                config = self.config.get(tool)
            except (ConfigError, SecretError) as exc:  # a tool not configurable now spends nothing
                log.debug("no budget alert rules for %s: %s", tool, exc)
                continue
            if isinstance(config, ExternalToolConfig):  # other tool types have no budget
                configs.append((tool, config))
        return budget_rules(configs)

    def flush(self) -> None:
        """Write every operation recorded so far, and every budget settle queued, in this thread."""
        self.monitoring.flush()
        if self._costs is not None:  # no ledger opened: no settle queued
            self._costs.ledger.flush()

    def follow_store(self, interval_seconds: float = 5.0) -> None:
        """Reload the monitor's history from the store every ``interval_seconds``, in a thread.

        For a process that shows what other processes record, such as
        ``toolkeeper serve`` beside the application: their operations reach this
        process's health, stats and charts through the store's rollups.
        """
        self.start()
        if self._follower is not None:
            return
        self.follows_store = True
        self._follower = threading.Thread(
            target=self._follow_store, args=(interval_seconds,), name="toolkeeper-follow-store",
            daemon=True,
        )  # fmt: skip
        self._follower.start()

    def reload_history(self) -> None:
        """Show the other writers' latest history and totals beside this process's own.

        This process's operations stay its own (never read back from the store),
        so each writer is counted once. Also reads the other processes' circuit
        states (:meth:`read_circuit_states`).
        """
        restore(
            self.monitoring, self.store, exclude_writer=self.writer.writer, decoder=self._rollups
        )
        self.read_circuit_states()

    def read_circuit_states(self) -> None:
        """Read the circuit states other processes stored in the last :data:`CIRCUIT_FRESH_S` s.

        Health then shows the worst of each tool's breaker here and there.
        """
        since = self.clock.now().timestamp() - CIRCUIT_FRESH_S
        self._followed_circuits = load_circuit_states(
            self.store, since=since, other_than=self.writer.writer
        )

    def _follow_store(self, interval_seconds: float) -> None:
        while not self._stopping.wait(interval_seconds):
            try:
                self.reload_history()
            except ToolkeeperError:  # a store hiccup: keep showing what we have, try again
                log.exception("could not reload monitoring history from the store")

    def _tool_function(self, name: str) -> Callable[..., Any]:
        function = self._tool_functions.get(name)
        if function is None:
            raise LookupError(
                f"fallback tool {name!r} has no function wrapped with @keeper.tool({name!r})"
            )
        return function

    def _circuit_state(self, name: str) -> str | None:
        """Return the worst state of the tool's circuit here and in the processes followed."""
        states = [*self._followed_circuits.get(name, ()), self.runtimes.circuit_state(name)]
        return max(states, key=lambda state: _CIRCUIT_SEVERITY.get(state, 0), default=None)

    def _latency_objective(self, name: str) -> float | None:
        return self.runtimes.get(name).config.latency_objective_ms / 1000.0

    def _config_changed(self, version: ConfigVersion) -> None:
        # The tool's next call rebuilds its runtime and, through costs.for_tool, its
        # budgets and rate limit (a limiter whose limit did not change is kept).
        self.runtimes.invalidate(version.tool)
        self._update_redactor()

    def _update_redactor(self) -> None:
        """Teach the redactor every secret of every configured tool and the keyring's keys.

        Recorded texts lose them all: an error echoing ``TOOLKEEPER_SECRET_KEY`` too.
        """
        keyring = self.config.keyring
        found: list[str] = list(keyring.key_texts()) if keyring is not None else []
        for name in self.config.tools():
            try:
                config = self.config.get(name)
            except ToolkeeperError:  # an invalid tool is reported when it is used
                continue
            found.extend(
                value.get_secret_value()
                for field in type(config).model_fields
                if isinstance(value := getattr(config, field), Secret)
            )
        self.redactor.update(found)

    @classmethod
    def open(
        cls,
        config: str | Path | ConfigFile | None = None,
        *,
        environment: str | None = None,
        store: str | None = None,
        shared: str | None = None,
        follow_changes: bool = True,
        poll_interval_seconds: float = 2.0,
        clock: Clock | None = None,
        require_secrets: bool = True,
    ) -> Keeper:
        """Open the configuration, the store and (from the environment) the secret keys.

        ``config`` defaults to ``$TOOLKEEPER_CONFIG`` or ``./toolkeeper.toml``;
        ``environment`` to ``$TOOLKEEPER_ENV`` or the file's ``default_environment``;
        ``store`` to ``$TOOLKEEPER_STORE``, the file's ``store`` or an SQLite file
        under ``./.toolkeeper/``; ``shared`` (a ``redis://`` URI, else
        ``$TOOLKEEPER_SHARED``) keeps budgets and rate limits in Redis. Changes made
        by other processes are picked up every ``poll_interval_seconds`` when
        ``follow_changes`` is on. Without ``require_secrets`` (a keeper that only
        reads, such as the CLI's), a secret that cannot be read is left unread
        instead of failing, so the application's secrets need not be at hand.
        """
        file = config if isinstance(config, ConfigFile) else locate_config(config)
        opened = open_store(store or os.environ.get(STORE_ENV) or file.store)
        try:
            configuration = Configuration(
                file,
                store=opened,
                environment=environment or os.environ.get(ENVIRONMENT_ENV) or None,
                keyring=Keyring.from_environment(),
                require_secrets=require_secrets,
            )
        except BaseException:
            opened.close()
            raise
        try:
            keeper = cls(
                config=configuration,
                store=opened,
                clock=clock,
                shared=shared or os.environ.get(SHARED_ENV) or None,
            )
        except BaseException:
            configuration.close()
            opened.close()
            raise
        try:
            keeper.start()
        except BaseException:
            keeper.close()
            raise
        if follow_changes:
            configuration.follow(poll_interval_seconds)
        return keeper

    def close(self) -> None:
        """Stop background work and close the store; idempotent."""
        if self._closed:
            return
        self._closed = True
        with self._start_lock:  # a start under way finishes first; none starts after
            atexit.unregister(self.close)  # registered by start(), if it ran
        self._stopping.set()
        if self._alerts is not None:
            self._alerts.close()
        if self._follower is not None:
            self._follower.join(timeout=10)
        self._unsubscribe()
        self._stop_keyring()
        self.monitoring.close()
        if self._otlp is not None:
            self._otlp.close()
        if self._spans is not None:
            self._spans.close()
        self.runtimes.close()
        if self._costs is not None:
            self._costs.close()
        self.config.close()
        self.store.close()

    def __enter__(self) -> Keeper:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Keeper(config={self.config.file.name!r}, "
            f"environment={self.config.environment!r}, store={self.store.uri!r})"
        )

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("a Keeper holds open connections and cannot be pickled")


def _nothing() -> None:
    """Do nothing: what there is to undo before :meth:`Keeper.start` subscribed to anything."""


def _export_interval_s(environ: Mapping[str, str], name: str, default_s: float) -> float:
    """Return an OpenTelemetry interval variable (milliseconds) in seconds, else ``default_s``."""
    raw = environ.get(name)
    if raw is None:
        return default_s
    try:
        milliseconds = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of milliseconds") from None
    if milliseconds <= 0:
        raise ValueError(f"{name}={raw!r} must be positive")
    return milliseconds / 1000.0


def _estimate(cost: Decimal | float | None, tokens: int | None) -> tuple[Decimal | None, int]:
    """Check and convert a call's estimated cost (dollars; ``None``: derive it) and tokens."""
    amount = None if cost is None else usd(check_money(cost, "estimated_cost"))
    if tokens is not None and (isinstance(tokens, bool) or tokens < 0):
        raise ValueError(f"estimated_tokens must be an integer >= 0, got {tokens!r}")
    return amount, tokens or 0
