"""Alerts: rules over the monitor's metrics, states shared through the store, notifications.

::

    engine = keeper.alerts                 # built from [alerts] of toolkeeper.toml
    engine.evaluate()                      # one pass: transitions stored, notifications sent
    engine.statuses()                      # firing first, from the store
    engine.silence(rule="openai-*", duration_s=7200, created_by="ana", comment="upgrade")
    engine.start()                         # evaluate every evaluate_every, in a thread

Rules are :class:`AlertRule`; ``[alerts]`` parses into :class:`AlertSettings`
(:func:`alert_settings`). Notifications go through Apprise
(``toolkeeper[alerts]``), imported only when one is sent. :class:`AlertEngine`
is loaded on first use, so reading a configuration does not import SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkeeper.alerts.rules import METRICS, AlertRule, builtin_rules
from toolkeeper.alerts.settings import AlertSettings, NotifierSettings, alert_settings
from toolkeeper.store.alert_records import AlertEvent, AlertState, AlertStatus, Silence

if TYPE_CHECKING:
    from toolkeeper.alerts.engine import AlertEngine

__all__ = [
    "METRICS",
    "AlertEngine",
    "AlertEvent",
    "AlertRule",
    "AlertSettings",
    "AlertState",
    "AlertStatus",
    "NotifierSettings",
    "Silence",
    "alert_settings",
    "builtin_rules",
]


def __getattr__(name: str) -> Any:
    # The engine lives beside SQLAlchemy (through the store): load it only when asked.
    if name == "AlertEngine":
        # Deferred: a lazy name: the alert engine loads the store (SQLAlchemy) only when asked for.
        from toolkeeper.alerts.engine import AlertEngine

        return AlertEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
