"""``keeper.alerts``: evaluate the rules, keep alert states in the store, notify, silence.

Every pass (:meth:`AlertEngine.evaluate`, or the background thread of
:meth:`AlertEngine.start`) reads each rule's metric for each tool it watches,
decides the transition (:mod:`toolkeeper.alerts.state`) and stores it with a
compare-and-set on the state's version: of several engines sharing a store, only
the one whose write lands sends the notification. Notifications go out after
the pass's writes; a failed one is an event, never an exception.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from toolkeeper._clock import Clock, SystemClock
from toolkeeper.alerts.metrics import MetricReader
from toolkeeper.alerts.notifiers import Delivery, Notifier, NotifyLevel
from toolkeeper.alerts.records import (
    MAX_SILENCE_SECONDS,
    AlertEvent,
    AlertState,
    AlertStatus,
    Silence,
)
from toolkeeper.alerts.rules import AlertRule
from toolkeeper.alerts.settings import AlertSettings
from toolkeeper.alerts.state import Decision, decide
from toolkeeper.store.alerts import AlertTable, NewEvent

if TYPE_CHECKING:
    from toolkeeper.config.secrets import Keyring
    from toolkeeper.monitor.performance import PerformanceMonitor
    from toolkeeper.store.sql import Store

__all__ = ["EVENTS_KEPT_DAYS", "TEST_RULE", "AlertEngine"]

log = logging.getLogger("toolkeeper.alerts")

#: Events older than this are deleted (checked at most once an hour).
EVENTS_KEPT_DAYS = 30
#: The rule name recorded with the events of test notifications (no rule can be named so).
TEST_RULE = "(test)"
_MAX_TEXT = 200
_MAX_COMMENT = 2000
_MAX_EVENTS = 10_000
_PRUNE_EVERY = timedelta(hours=1)
_STATE_ORDER = {"firing": 0, "pending": 1, "inactive": 2}
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
_LEVELS: dict[str, NotifyLevel] = {"critical": "failure", "warning": "warning", "info": "info"}


class AlertEngine:
    """Evaluate alert rules over a monitor, with states, events and silences in a store.

    Thread-safe; one pass runs at a time per engine. ``tools`` lists the
    configured tools (watched even before their first call); ``budget_burn``
    gives a tool's budget burn (default: the monitor's provider); ``keyring``
    and ``environ`` resolve notifier URLs written as ``enc:`` or ``env:``.
    """

    def __init__(
        self,
        settings: AlertSettings,
        *,
        store: Store,
        monitor: PerformanceMonitor,
        clock: Clock | None = None,
        keyring: Keyring | None = None,
        environ: Mapping[str, str] | None = None,
        tools: Callable[[], list[str]] | None = None,
        budget_burn: Callable[[str], float | None] | None = None,
    ) -> None:
        self.settings = settings
        self.table = AlertTable(store)
        self.monitor = monitor
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._rules = {rule.name: rule for rule in settings.alert_rules}
        self._notifiers = {
            notifier.name: Notifier(notifier, keyring=keyring, environ=environ)
            for notifier in settings.notifiers
        }
        self._tools = tools
        self._budget_burn = budget_burn
        self._created = self.clock.now()
        self._pruned_at: datetime | None = None
        self._pass = threading.Lock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # Rules and states ----------------------------------------------------

    def rules(self) -> list[AlertRule]:
        """Return the rules, in the order written (the built-in two when none are)."""
        return list(self._rules.values())

    def evaluate(self) -> list[AlertStatus]:
        """Run one pass now: store transitions, send the notifications due; return every status.

        The statuses cover each rule and each tool it watches, firing first.
        Store errors propagate; a failed notification is recorded as a
        ``notify_failed`` event and logged.
        """
        with self._pass:
            now = self.clock.now()
            reader = MetricReader(self.monitor, budget_burn=self._budget_burn)
            stored = {(state.rule, state.tool): state for state in self.table.states()}
            silences = self.table.silences(now=now, include_expired=False)
            known = set(self.monitor.tools()) | set(self._tools() if self._tools else ())
            statuses: list[AlertStatus] = []
            notices: list[tuple[AlertRule, Decision]] = []
            for rule in self._rules.values():
                for tool in self._targets(rule, known, stored):
                    value = reader.value(rule, tool)
                    silence = _matching(silences, rule.name, tool)
                    state, won = self._advance(rule, tool, stored.get((rule.name, tool)), value,
                                               now=now, silence=silence)  # fmt: skip
                    if won is not None and won.notice is not None:
                        notices.append((rule, won))
                    statuses.append(self._status(rule, tool, state, value, silence))
            for rule, decision in notices:
                self._notify(rule, decision)
            self._prune(now)
        return _ordered(statuses)

    def statuses(self) -> list[AlertStatus]:
        """Return the stored alerts of the current rules: firing, then pending, then the others."""
        now = self.clock.now()
        silences = self.table.silences(now=now, include_expired=False)
        found = []
        for state in self.table.states():
            rule = self._rules.get(state.rule)
            if rule is None or not rule.applies_to(state.tool):
                continue
            silence = _matching(silences, rule.name, state.tool)
            found.append(self._status(rule, state.tool, state, state.value, silence))
        return _ordered(found)

    def events(self, limit: int = 100) -> list[AlertEvent]:
        """Return the ``limit`` newest events (at most 10000), newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _MAX_EVENTS:
            raise ValueError(f"limit={limit!r} must be a whole number from 1 to {_MAX_EVENTS}")
        return self.table.events(limit)

    # Silences ------------------------------------------------------------

    def silence(
        self,
        *,
        rule: str = "*",
        tool: str = "*",
        duration_s: float,
        created_by: str,
        comment: str,
    ) -> Silence:
        """Silence the alerts whose rule and tool match the globs, from now for ``duration_s``.

        Matching alerts still show (marked ``silenced_by``), but nothing is sent
        for them. ``comment`` says why; it is required.
        """
        _check_text("rule", rule, "a rule name or a glob such as '*'")
        _check_text("tool", tool, "a tool name or a glob such as '*'")
        _check_text("created_by", created_by, "who silences the alerts")
        if not isinstance(comment, str) or not comment.strip() or len(comment) > _MAX_COMMENT:
            raise ValueError(
                f"comment={comment!r} is required: say why the alerts are silenced "
                f"(at most {_MAX_COMMENT} characters)"
            )
        if (
            isinstance(duration_s, bool)
            or not isinstance(duration_s, int | float)
            or not math.isfinite(duration_s)
            or not 0 < duration_s <= MAX_SILENCE_SECONDS
        ):
            raise ValueError(
                f"duration_s={duration_s!r} must be a number of seconds > 0 and at most "
                f"{MAX_SILENCE_SECONDS:.0f} (366 days)"
            )
        now = self.clock.now()
        created = self.table.add_silence(
            rule=rule, tool=tool, starts_at=now, ends_at=now + timedelta(seconds=duration_s),
            created_by=created_by, comment=comment.strip(),
        )  # fmt: skip
        log.info("silence %d created by %s: rule %r, tool %r", created.id, created_by, rule, tool)
        return created

    def silences(self, *, include_expired: bool = False) -> list[Silence]:
        """Return the silences in force, newest first (with the ended ones if asked)."""
        return self.table.silences(now=self.clock.now(), include_expired=include_expired)

    def expire_silence(self, silence_id: int, *, by: str) -> Silence:
        """End a silence now, recording who did; one already over is returned unchanged.

        An unknown id raises ``KeyError`` naming it.
        """
        _check_text("by", by, "who expires the silence")
        expired = self.table.expire_silence(silence_id, by=by, now=self.clock.now())
        if expired is None:
            raise KeyError(f"no silence with id {silence_id}")
        return expired

    # Notifiers -----------------------------------------------------------

    def notifier_names(self) -> list[str]:
        """Return the names of the notifiers, in the order written."""
        return list(self._notifiers)

    def notifier_urls_masked(self, name: str) -> list[str]:
        """Return the notifier's URLs masked: ``scheme://****`` and at most 4 last characters."""
        return self._notifier(name).masked_urls()

    def test_notification(self, name: str | None = None) -> dict[str, bool]:
        """Send a test notification through one notifier (``None``: every one); say which delivered.

        Each outcome is recorded as a ``notified`` or ``notify_failed`` event
        of the rule ``(test)``.
        """
        names = [self._notifier(name).name] if name is not None else list(self._notifiers)
        outcomes: dict[str, bool] = {}
        events: list[NewEvent] = []
        for notifier_name in names:
            delivery = self._notifiers[notifier_name].send(
                title="[TEST] toolkeeper alerts",
                body=f"A test notification from toolkeeper through notifier {notifier_name!r}.",
                level="info",
            )
            outcomes[notifier_name] = delivery.delivered
            events.extend(_delivery_events(TEST_RULE, "*", "test", delivery))
        self.table.add_events(events, at=self.clock.now())
        return outcomes

    # Background evaluation -----------------------------------------------

    def start(self) -> None:
        """Evaluate now and then every ``evaluate_every``, in a daemon thread; idempotent."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the alert engine is closed; open a new Keeper to start it")
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="toolkeeper-alerts", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the background thread (waiting for a pass under way); idempotent."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(timeout=60)

    def _run(self) -> None:
        interval = self.settings.evaluate_every_seconds
        while not self._stop.is_set():
            try:
                self.evaluate()
            except Exception:  # the evaluator must outlive a store hiccup; it is logged
                log.exception("alert evaluation failed; trying again in %gs", interval)
            if self._stop.wait(interval):
                return

    # Internals -----------------------------------------------------------

    def _targets(
        self, rule: AlertRule, known: set[str], stored: dict[tuple[str, str], AlertState]
    ) -> list[str]:
        """Return the tools ``rule`` watches now, and those it left pending or firing."""
        tools = {tool for tool in known if rule.applies_to(tool)}
        tools.update(
            tool
            for (name, tool), state in stored.items()
            if name == rule.name and state.state != "inactive" and rule.applies_to(tool)
        )
        return sorted(tools)

    def _advance(
        self,
        rule: AlertRule,
        tool: str,
        current: AlertState | None,
        value: float | None,
        *,
        now: datetime,
        silence: Silence | None,
    ) -> tuple[AlertState | None, Decision | None]:
        """Store the transition ``value`` causes, if any; return the state now and what we won."""
        decision = decide(
            rule, tool, current, value, now=now,
            repeat_every_seconds=self.settings.repeat_every_seconds, silence=silence,
        )  # fmt: skip
        if decision is None:
            if current is not None and current.value != value:
                self.table.observe(rule.name, tool, value, now)
            return current, None
        events = [NewEvent(rule.name, tool, kind, detail) for kind, detail in decision.events]
        expected = current.version if current is not None else 0
        if self.table.apply(decision.state, expected_version=expected, events=events, at=now):
            if decision.events:
                log.info("alert %s on %s: %s", rule.name, tool, decision.events[0][0])
            return decision.state, decision
        # Another evaluator stored a transition first: show its state, send nothing.
        return self.table.state(rule.name, tool), None

    def _notify(self, rule: AlertRule, decision: Decision) -> None:
        state = decision.state
        notice = decision.notice
        assert notice is not None
        title = f"[{notice.upper()}] {rule.name} on {state.tool} ({rule.severity})"
        when = state.fired_at if notice == "firing" else state.resolved_at
        body = (
            f"{rule.summary(state.value)}\n"
            f"rule: {rule.name} ({rule.metric} {rule.op} {rule.threshold:g}), tool: {state.tool}\n"
            f"{'firing since' if notice == 'firing' else 'resolved at'}: "
            f"{when.isoformat() if when else state.since.isoformat()}"
        )
        level: NotifyLevel = "success" if notice == "resolved" else _LEVELS[rule.severity]
        events: list[NewEvent] = []
        for name in rule.notify:
            delivery = self._notifiers[name].send(title=title, body=body, level=level)
            events.extend(_delivery_events(rule.name, state.tool, notice, delivery))
        self.table.add_events(events, at=self.clock.now())

    def _status(
        self,
        rule: AlertRule,
        tool: str,
        state: AlertState | None,
        value: float | None,
        silence: Silence | None,
    ) -> AlertStatus:
        name = state.state if state is not None else "inactive"
        return AlertStatus(
            rule=rule.name,
            tool=tool,
            severity=rule.severity,
            state=name,
            value=value,
            threshold=rule.threshold,
            op=rule.op,
            metric=rule.metric,
            window=rule.window,
            since=state.since if state is not None else self._created,
            fired_at=state.fired_at if state is not None else None,
            resolved_at=state.resolved_at if state is not None else None,
            last_notified_at=state.last_notified_at if state is not None else None,
            silenced_by=silence.id if silence is not None and name != "inactive" else None,
            summary=rule.summary(value),
        )

    def _notifier(self, name: str) -> Notifier:
        notifier = self._notifiers.get(name) if isinstance(name, str) else None
        if notifier is None:
            listed = ", ".join(self._notifiers) or "none"
            raise ValueError(
                f"name={name!r} is not a notifier declared in [alerts.notifiers] "
                f"(declared: {listed})"
            )
        return notifier

    def _prune(self, now: datetime) -> None:
        if self._pruned_at is not None and now - self._pruned_at < _PRUNE_EVERY:
            return
        self._pruned_at = now
        self.table.prune_events(now - timedelta(days=EVENTS_KEPT_DAYS))

    def __repr__(self) -> str:
        return (
            f"AlertEngine(rules={len(self._rules)}, notifiers={self.notifier_names()!r}, "
            f"store={self.table.store.uri!r})"
        )

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("an AlertEngine holds a store and a thread and cannot be pickled")


def _matching(silences: list[Silence], rule: str, tool: str) -> Silence | None:
    """Return the silence covering the alert that ends last, or ``None``."""
    found = [silence for silence in silences if silence.matches(rule, tool)]
    return max(found, key=lambda silence: (silence.ends_at, silence.id)) if found else None


def _delivery_events(rule: str, tool: str, notice: str, delivery: Delivery) -> list[NewEvent]:
    events: list[NewEvent] = []
    if delivery.sent:
        detail = f"{delivery.notifier}: {notice} notification sent to {delivery.sent} URL(s)"
        events.append(NewEvent(rule, tool, "notified", detail))
    for failure in delivery.failures:
        detail = f"{delivery.notifier}: {notice} notification failed: {failure}"
        log.warning("alert %s on %s: %s", rule, tool, detail)
        events.append(NewEvent(rule, tool, "notify_failed", detail))
    return events


def _check_text(argument: str, value: Any, meaning: str) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT:
        raise ValueError(
            f"{argument}={value!r} must be {meaning}: a non-empty text of at most "
            f"{_MAX_TEXT} characters"
        )


def _ordered(statuses: list[AlertStatus]) -> list[AlertStatus]:
    return sorted(
        statuses,
        key=lambda s: (_STATE_ORDER[s.state], _SEVERITY_ORDER.get(s.severity, 3), s.rule, s.tool),
    )
