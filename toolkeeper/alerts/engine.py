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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from toolkeeper._clock import Clock, SystemClock
from toolkeeper.alerts.dispatch import Dispatch, Member, delivery_events
from toolkeeper.alerts.escalation import EscalationChain
from toolkeeper.alerts.forwarding import AlertmanagerForwarder
from toolkeeper.alerts.matchers import Matcher, parse_matcher
from toolkeeper.alerts.metrics import MetricReader, Reading
from toolkeeper.alerts.notices import ChangeNotices
from toolkeeper.alerts.notifiers import Notifier
from toolkeeper.alerts.policies import Route, inhibitor_of
from toolkeeper.alerts.rules import AlertRule
from toolkeeper.alerts.runtime import RuntimeAlerts
from toolkeeper.alerts.selection import SelectedCalls
from toolkeeper.alerts.settings import AlertSettings
from toolkeeper.alerts.silences import covering
from toolkeeper.alerts.state import Decision, decide
from toolkeeper.alerts.templates import AlertView, tool_link
from toolkeeper.store.alert_records import (
    FIRING_STATES,
    MAX_SILENCE_SECONDS,
    AlertEvent,
    AlertState,
    AlertStatus,
    Silence,
)
from toolkeeper.store.alerts import AlertTable, NewEvent

if TYPE_CHECKING:
    from toolkeeper._secrets import Keyring
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
_STATE_ORDER = {"firing": 0, "error": 0, "nodata": 0, "pending": 1, "inactive": 2}
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
_CHANGE_ATTEMPTS = 5
_MAX_SILENCE_MATCHERS = 20


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
        environment: str | None = None,
        config: RuntimeAlerts | None = None,
        notices: ChangeNotices | None = None,
    ) -> None:
        self.table = AlertTable(store)
        self.monitor = monitor
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._keyring = keyring
        self._environ = environ
        self._environment = environment
        self.config = config
        self.notices = notices
        if config is not None and notices is not None:
            config.notice = notices.publish
        self.settings = settings
        self._rules: dict[str, AlertRule] = {}
        self._notifiers: dict[str, Notifier] = {}
        self.apply_settings(settings)
        self._tools = tools
        self._budget_burn = budget_burn
        self._created = self.clock.now()
        self._pruned_at: datetime | None = None
        self._pass = threading.Lock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        #: How many evaluation passes this engine ran (the background thread's included).
        self.passes = 0
        self._thread: threading.Thread | None = None
        self._closed = False

    # Rules and states ----------------------------------------------------

    def apply_settings(self, settings: AlertSettings) -> None:
        """Use ``settings`` from the next pass on (rules, policies, notifiers)."""
        self._rules = {rule.name: rule for rule in settings.alert_rules}
        url = settings.alertmanager_url
        current = getattr(self, "_forwarder", None)
        if url is None:
            self._forwarder: AlertmanagerForwarder | None = None
        elif current is None or current.url != AlertmanagerForwarder(url).url:
            self._forwarder = AlertmanagerForwarder(url)
        self._notifiers = {
            notifier.name: Notifier(notifier, keyring=self._keyring, environ=self._environ)
            for notifier in settings.notifiers
        }
        self.settings = settings

    def _reload(self) -> None:
        """Take the settings ``config`` says changed (a runtime version, the edited file)."""
        if self.config is None:
            return
        changed = self.config.changes()
        if changed is not None:
            self.apply_settings(changed)

    def rules(self) -> list[AlertRule]:
        """Return the rules in force, in the order written (the built-in two when none are)."""
        self._reload()
        return list(self._rules.values())

    def evaluate(self) -> list[AlertStatus]:
        """Run one pass now: store transitions, send the notifications due; return every status.

        The statuses cover each rule and each tool it watches, firing first.
        Store errors propagate; a failed notification is recorded as a
        ``notify_failed`` event and logged.
        """
        with self._pass:
            self._reload()
            settings = self.settings
            now = self.clock.now()
            reader = self._reader(now)
            stored = {(state.rule, state.tool): state for state in self.table.states()}
            silences = self.table.silences(now=now, include_expired=False)
            known = set(self.monitor.tools()) | set(self._tools() if self._tools else ())
            root = settings.root_route
            pairs = [
                (rule, tool)
                for rule in self._rules.values()
                for tool in self._targets(rule, known, stored)
            ]
            readings = {(rule.name, tool): reader.read(rule, tool) for rule, tool in pairs}
            labels = {(rule.name, tool): self.labels(rule, tool) for rule, tool in pairs}
            firing = self._firing_after(pairs, stored, readings, labels, now)
            statuses: list[AlertStatus] = []
            shown: list[tuple[AlertRule, str, AlertState | None, float | None, Silence | None]] = []
            escalations: list[tuple[AlertRule, AlertState, EscalationChain]] = []
            current: dict[tuple[str, str], AlertState] = dict(stored)
            for rule, tool in pairs:
                key = (rule.name, tool)
                name = f"{rule.name}/{tool}"
                inhibitor = inhibitor_of(name, labels[key], firing, settings.inhibit_rules)
                chain = self._chain(root, labels[key])
                silence = covering(silences, labels[key])
                state, won = self._advance(
                    rule, tool, stored.get(key), readings[key], now=now, silence=silence,
                    inhibited_by=inhibitor, chain=chain,
                )  # fmt: skip
                if state is not None:
                    current[key] = state
                if won is not None and won.notice == "escalated" and chain is not None:
                    escalations.append((rule, won.state, chain))
                shown.append((rule, tool, state, readings[key].value, silence))
            dispatch = Dispatch(settings, self.table, self._notifiers, now=now)
            members = self._members(current, reader, silences)
            notified = dispatch.flush_groups(root, members)
            for rule, tool, state, value, silence in shown:
                if state is not None and state.name in notified:
                    state = replace(state, last_notified_at=now)  # noqa: PLW2901 - as stored
                statuses.append(self._status(rule, tool, state, value, silence))
            for _rule, state, chain in escalations:
                dispatch.escalate(members[state.name], chain, state.escalation_level)
            if self._forwarder is not None:
                every = settings.evaluate_every_seconds
                self._forwarder.forward(
                    list(members.values()), now=now, evaluate_every_seconds=every
                )
            self._prune(now)
            self.passes += 1
        return _ordered(statuses)

    def statuses(self) -> list[AlertStatus]:
        """Return the stored alerts of the current rules: firing, then pending, then the others."""
        self._reload()
        now = self.clock.now()
        silences = self.table.silences(now=now, include_expired=False)
        found = []
        for state in self.table.states():
            rule = self._rules.get(state.rule)
            if rule is None or not rule.applies_to(state.tool):
                continue
            silence = covering(silences, self.labels(rule, state.tool))
            found.append(self._status(rule, state.tool, state, state.value, silence))
        return _ordered(found)

    def labels(self, rule: AlertRule, tool: str) -> dict[str, str]:
        """Return the labels of ``rule``'s alert on ``tool``: what the policies route on."""
        found = {
            **rule.labels,
            "rule": rule.name,
            "tool": tool,
            "severity": rule.severity,
            "metric": rule.metric or "expr",
        }
        for matcher in rule.selectors:
            if matcher.op == "=" and matcher.name != "tool":
                found[matcher.name] = matcher.value
        if self._environment:
            found["environment"] = self._environment
        return found

    # Acknowledgement and escalation -------------------------------------

    def escalation(self, rule: str, tool: str) -> EscalationChain | None:
        """Return the escalation chain of ``rule``'s alert on ``tool`` (its route's), or None."""
        found = self._rules.get(rule)
        if found is None:
            return None
        return self._chain(self.settings.root_route, self.labels(found, tool))

    def acknowledge(self, rule: str, tool: str, *, by: str, comment: str) -> AlertStatus:
        """Acknowledge the firing alert of ``rule`` on ``tool``: no more repeats, no escalation.

        Who and why are kept (``acknowledged_by``, ``ack_comment``) and logged
        as an ``acknowledged`` event. The acknowledgement ends when the alert
        resolves. An alert that is not firing raises ``ValueError``; an
        unknown one ``KeyError``.
        """
        _check_text("by", by, "who acknowledges the alert")
        if not isinstance(comment, str) or not comment.strip() or len(comment) > _MAX_COMMENT:
            raise ValueError(
                f"comment={comment!r} is required: say why or what is being done "
                f"(at most {_MAX_COMMENT} characters)"
            )

        def change(state: AlertState, now: datetime) -> tuple[AlertState, NewEvent]:
            if state.acknowledged_by is not None:
                raise ValueError(
                    f"alert {state.name} is already acknowledged by {state.acknowledged_by}"
                )
            new = replace(state, acknowledged_by=by, acknowledged_at=now,
                          ack_comment=comment.strip(), version=state.version + 1)  # fmt: skip
            return new, NewEvent(rule, tool, "acknowledged", f"by {by}: {comment.strip()}")

        state = self._change(rule, tool, change)
        log.info("alert %s acknowledged by %s", state.name, by)
        self._announce()
        return self._status(self._rules[rule], tool, state, state.value, None)

    def escalate(self, rule: str, tool: str, *, by: str) -> AlertStatus:
        """Escalate the firing alert of ``rule`` on ``tool`` to its chain's next level now.

        The next level is notified at once, as if its delay had passed. An
        alert whose route has no escalation, or that reached its last level,
        raises ``ValueError``.
        """
        _check_text("by", by, "who escalates the alert")
        now = self.clock.now()
        rule_obj = self._rule(rule)
        chain = self._chain(self.settings.root_route, self.labels(rule_obj, tool))
        if chain is None:
            raise ValueError(f"alert {rule}/{tool}: its route names no escalation to follow")

        def change(state: AlertState, _at: datetime) -> tuple[AlertState, NewEvent]:
            level = state.escalation_level + 1
            if level - 2 >= len(chain.levels):
                raise ValueError(
                    f"alert {state.name} already reached the last level ({state.escalation_level}) "
                    f"of escalation {chain.name!r}"
                )
            new = replace(state, escalation_level=level, version=state.version + 1)
            detail = f"level {level} of escalation {chain.name!r}, by {by}"
            return new, NewEvent(rule, tool, "escalated", detail)

        state = self._change(rule, tool, change)
        reader = self._reader(now)
        members = self._members({(rule, tool): state}, reader)
        Dispatch(self.settings, self.table, self._notifiers, now=now).escalate(
            members[state.name], chain, state.escalation_level
        )
        self._announce()
        return self._status(rule_obj, tool, state, state.value, None)

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
        matchers: Sequence[str | Matcher] = (),
        duration_s: float,
        created_by: str,
        comment: str,
    ) -> Silence:
        """Silence the alerts whose rule and tool match the globs, from now for ``duration_s``.

        ``matchers`` (label matchers such as ``severity="critical"`` or
        ``team=~"pay.*"``, as texts or :class:`Matcher` values, over every label
        of an alert) must all hold too.
        Matching alerts still show (marked ``silenced_by``), but nothing is sent
        for them. ``comment`` says why; it is required.
        """
        _check_text("rule", rule, "a rule name or a glob such as '*'")
        _check_text("tool", tool, "a tool name or a glob such as '*'")
        parsed = _silence_matchers(matchers)
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
            created_by=created_by, comment=comment.strip(), matchers=parsed,
        )  # fmt: skip
        log.info("silence %d created by %s: rule %r, tool %r, matchers %s",
                 created.id, created_by, rule, tool, list(parsed))  # fmt: skip
        self._announce()
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
        self._announce()
        return expired

    # Notifiers -----------------------------------------------------------

    def notifier_names(self) -> list[str]:
        """Return the names of the notifiers in force, in the order written."""
        self._reload()
        return list(self._notifiers)

    def notifier_urls_masked(self, name: str) -> list[str]:
        """Return the notifier's URLs masked: ``scheme://****`` and at most 4 last characters."""
        self._reload()
        return self._notifier(name).masked_urls()

    def test_notification(self, name: str | None = None) -> dict[str, bool]:
        """Send a test notification through one notifier (``None``: every one); say which delivered.

        Each outcome is recorded as a ``notified`` or ``notify_failed`` event
        of the rule ``(test)``.
        """
        self._reload()
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
            events.extend(delivery_events(TEST_RULE, "*", "test", delivery))
        self.table.add_events(events, at=self.clock.now())
        return outcomes

    # Background evaluation -----------------------------------------------

    def wake(self) -> None:
        """Have the background thread evaluate now rather than at its next pass."""
        self._wake.set()

    def _announce(self) -> None:
        """Tell the other processes (through ``notices``) that alerting changed."""
        if self.notices is not None:
            self.notices.publish()

    def start(self) -> None:
        """Evaluate now and then every ``evaluate_every`` (and at once on a notice from
        another process), in a daemon thread; idempotent."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the alert engine is closed; open a new Keeper to start it")
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="toolkeeper-alerts", daemon=True)
            self._thread.start()
            if self.notices is not None:
                self.notices.listen(self.wake)

    def close(self) -> None:
        """Stop the background thread (waiting for a pass under way); idempotent."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        self._stop.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout=60)
        if self.notices is not None:
            self.notices.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            interval = self.settings.evaluate_every_seconds
            try:
                self.evaluate()
            except Exception:  # the evaluator must outlive a store hiccup; it is logged
                log.exception("alert evaluation failed; trying again in %gs", interval)
            self._wake.wait(interval)

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
        reading: Reading,
        *,
        now: datetime,
        silence: Silence | None,
        inhibited_by: str | None,
        chain: EscalationChain | None,
    ) -> tuple[AlertState | None, Decision | None]:
        """Store the transition ``reading`` causes, if any; return the state now and what we won."""
        decision = decide(rule, tool, current, reading, now=now, silence=silence,
                          inhibited_by=inhibited_by, escalation=chain)  # fmt: skip
        if decision is None:
            if current is not None and current.value != reading.value:
                self.table.observe(rule.name, tool, reading.value, now)
                current = replace(current, value=reading.value, evaluated_at=now)
            return current, None
        events = [NewEvent(rule.name, tool, kind, detail) for kind, detail in decision.events]
        expected = current.version if current is not None else 0
        if self.table.apply(decision.state, expected_version=expected, events=events, at=now):
            if decision.events:
                log.info("alert %s on %s: %s", rule.name, tool, decision.events[0][0])
            return decision.state, decision
        # Another evaluator stored a transition first: show its state, send nothing.
        return self.table.state(rule.name, tool), None

    def _reader(self, now: datetime) -> MetricReader:
        """Return a reader for one pass: the monitor's windows, the store's for selections."""
        selected = SelectedCalls(self.table.store, now)
        return MetricReader(self.monitor, budget_burn=self._budget_burn, selected=selected)

    def _firing_after(
        self,
        pairs: list[tuple[AlertRule, str]],
        stored: dict[tuple[str, str], AlertState],
        readings: dict[tuple[str, str], Reading],
        labels: dict[tuple[str, str], dict[str, str]],
        now: datetime,
    ) -> list[tuple[str, Mapping[str, str]]]:
        """Return the alerts that will be firing after this pass (the inhibition sources)."""
        if not self.settings.inhibit_rules:
            return []
        firing: list[tuple[str, Mapping[str, str]]] = []
        for rule, tool in pairs:
            key = (rule.name, tool)
            decision = decide(rule, tool, stored.get(key), readings[key], now=now)
            state = decision.state if decision is not None else stored.get(key)
            if state is not None and state.is_firing:
                firing.append((state.name, labels[key]))
        return firing

    def _chain(self, root: Route, labels: Mapping[str, str]) -> EscalationChain | None:
        """Return the escalation of the first route taking an alert with ``labels``."""
        for route in root.match(labels):
            if route.escalation is not None:
                return self.settings.escalations.get(route.escalation)
        return None

    def _members(
        self,
        states: Mapping[tuple[str, str], AlertState],
        reader: MetricReader,
        silences: list[Silence] | None = None,
    ) -> dict[str, Member]:
        """Return the stored alerts of the current rules as the dispatcher needs them."""
        members = {}
        for (rule_name, tool), state in states.items():
            rule = self._rules.get(rule_name)
            if rule is None:
                continue
            labels = self.labels(rule, tool)
            silence = covering(silences or [], labels)
            members[state.name] = Member(
                state, labels,
                lambda shown, rule=rule: self._view(rule, shown, reader),  # type: ignore[misc]
                silence.id if silence is not None else None,
            )  # fmt: skip
        return members

    def _view(self, rule: AlertRule, state: AlertState, reader: MetricReader) -> AlertView:
        """Describe ``state`` for a notification: value, counts, the last error, a link."""
        calls = reader.value(rule, state.tool, "calls")
        errors = reader.value(rule, state.tool, "errors")
        last = self.monitor.last_error(state.tool)
        last_error = state.error if state.state == "error" else (last[1] if last else None)
        resolved = not state.is_firing
        return AlertView(
            rule=rule.name,
            tool=state.tool,
            severity=rule.severity,
            state=state.state,
            summary=rule.summary(state.value),
            condition=rule.condition + (f" for {rule.for_seconds:g}s" if rule.for_seconds else ""),
            since=state.resolved_at if resolved else state.fired_at or state.since,
            calls=int(calls) if calls is not None else None,
            errors=int(errors) if errors is not None else None,
            window=rule.window,
            last_error=last_error,
            acknowledged_by=state.acknowledged_by,
            link=tool_link(self.settings.external_url, state.tool),
        )

    def _change(
        self,
        rule: str,
        tool: str,
        change: Callable[[AlertState, datetime], tuple[AlertState, NewEvent]],
    ) -> AlertState:
        """Apply ``change`` to the firing alert with a compare-and-set, retrying a lost race."""
        self._rule(rule)
        for _ in range(_CHANGE_ATTEMPTS):
            now = self.clock.now()
            state = self.table.state(rule, tool)
            if state is None:
                raise KeyError(f"no alert of rule {rule!r} on tool {tool!r}")
            if not state.is_firing:
                raise ValueError(f"alert {state.name} is {state.state}, not firing")
            new, event = change(state, now)
            if self.table.apply(new, expected_version=state.version, events=[event], at=now):
                return new
        raise RuntimeError(f"alert {rule}/{tool} kept changing; try again")

    def _rule(self, name: str) -> AlertRule:
        rule = self._rules.get(name) if isinstance(name, str) else None
        if rule is None:
            raise KeyError(f"no alert rule named {name!r}")
        return rule

    def _status(
        self,
        rule: AlertRule,
        tool: str,
        state: AlertState | None,
        value: float | None,
        silence: Silence | None,
    ) -> AlertStatus:
        name = state.state if state is not None else "inactive"
        notifying = name in FIRING_STATES
        return AlertStatus(
            rule=rule.name,
            tool=tool,
            severity=rule.severity,
            state=name,
            value=value,
            threshold=rule.threshold,
            op=rule.op,
            metric=rule.metric or "expr",
            window=rule.window,
            since=state.since if state is not None else self._created,
            fired_at=state.fired_at if state is not None else None,
            resolved_at=state.resolved_at if state is not None else None,
            last_notified_at=state.last_notified_at if state is not None else None,
            silenced_by=silence.id if silence is not None and name != "inactive" else None,
            summary=rule.summary(value),
            labels=self.labels(rule, tool),
            inhibited_by=state.inhibited_by if state is not None and notifying else None,
            acknowledged_by=state.acknowledged_by if state is not None else None,
            acknowledged_at=state.acknowledged_at if state is not None else None,
            ack_comment=state.ack_comment if state is not None else None,
            escalation_level=state.escalation_level if state is not None else 1,
            error=state.error if state is not None else None,
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


def _silence_matchers(matchers: Any) -> tuple[str, ...]:
    """Return ``matchers`` parsed and printed back (``name="value"``); ``ValueError`` names them."""
    if (
        isinstance(matchers, str)
        or not isinstance(matchers, Sequence)
        or len(matchers) > _MAX_SILENCE_MATCHERS
    ):
        raise ValueError(
            f"matchers={matchers!r} must be a list of at most {_MAX_SILENCE_MATCHERS} label "
            "matchers such as 'severity=\"critical\"'"
        )
    try:
        return tuple(
            str(item if isinstance(item, Matcher) else parse_matcher(item)) for item in matchers
        )
    except ValueError as exc:
        raise ValueError(f"matchers: {exc}") from None


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
