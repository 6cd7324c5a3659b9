"""Forward alerts to a Prometheus Alertmanager (``POST /api/v2/alerts``), for teams routing there.

With ``[alerts] alertmanager = "http://alertmanager:9093"`` every evaluation
pass posts the notifying alerts (firing, NoData, Error) with ``endsAt`` a few
evaluation intervals ahead, as Prometheus does, so an alert no longer posted
ends by itself; an alert that resolved in the last ten minutes is posted with
``endsAt`` at its resolution. Alertmanager merges identical alerts by their
labels, so several processes posting the same alert are one alert there.

Labels: ``alertname`` (the rule) and every label of the alert (``rule``,
``tool``, ``severity``, ``metric``, ``environment``, the rule's own).
Annotations: ``summary`` (the value against the condition), ``description``
(the notification's lines), ``state`` and ``acknowledged_by`` when set.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from toolkeeper.alerts.dispatch import Member
from toolkeeper.alerts.templates import render

__all__ = ["AlertmanagerForwarder", "alertmanager_payload"]

log = logging.getLogger("toolkeeper.alerts")

_RESOLVED_KEPT = timedelta(minutes=10)
_MIN_AHEAD = timedelta(minutes=5)
_TIMEOUT_SECONDS = 10


def _when(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def alertmanager_payload(
    members: Sequence[Member], *, now: datetime, evaluate_every_seconds: float
) -> list[dict[str, Any]]:
    """Return the alerts to post: notifying ones ending ahead, recently resolved ones ended."""
    ahead = max(_MIN_AHEAD, timedelta(seconds=4 * evaluate_every_seconds))
    alerts = []
    for member in members:
        state = member.state
        if state.is_firing:
            ends = now + ahead
        elif state.resolved_at is not None and now - state.resolved_at <= _RESOLVED_KEPT:
            ends = state.resolved_at
        else:
            continue
        view = member.view(state)
        annotations = {
            "summary": view.summary,
            "description": render([view], []).text if state.is_firing else view.summary,
            "state": state.state,
        }
        if state.acknowledged_by:
            annotations["acknowledged_by"] = state.acknowledged_by
        alert: dict[str, Any] = {
            "labels": {"alertname": state.rule, **member.labels},
            "annotations": annotations,
            "startsAt": _when(state.fired_at or state.since),
            "endsAt": _when(ends),
        }
        if view.link:
            alert["generatorURL"] = view.link
        alerts.append(alert)
    return alerts


class AlertmanagerForwarder:
    """Post alerts to one Alertmanager; a failure is logged once until it works again."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self._failing = False

    def forward(
        self, members: Sequence[Member], *, now: datetime, evaluate_every_seconds: float
    ) -> str | None:
        """Post the alerts of ``members``; return ``None`` on success, else why not."""
        alerts = alertmanager_payload(
            members, now=now, evaluate_every_seconds=evaluate_every_seconds
        )
        if not alerts:
            return None
        request = urllib.request.Request(  # noqa: S310  # http(s) checked when the settings are read
            self.url,
            data=json.dumps(alerts).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "toolkeeper-alerts"},
        )
        reason = None
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:  # noqa: S310
                if not 200 <= response.status < 300:
                    reason = f"Alertmanager answered HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            reason = f"Alertmanager answered HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            reason = f"cannot reach Alertmanager ({type(getattr(exc, 'reason', exc)).__name__})"
        if reason is not None and not self._failing:
            log.warning("forwarding %d alert(s) to Alertmanager failed: %s", len(alerts), reason)
        elif reason is None and self._failing:
            log.info("forwarding alerts to Alertmanager works again")
        self._failing = reason is not None
        return reason
