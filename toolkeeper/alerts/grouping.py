"""Notification groups, free of I/O: when a group of alerts is notified, as Alertmanager does.

A route's alerts fall into groups by the values of its ``group_by`` labels. A
group *opens* when its first alert fires and is first notified ``group_wait``
later (so alerts firing together arrive in one notification); after that, a
change (an alert joins, one resolves) is notified at most every
``group_interval``, and a group whose alerts all still fire is notified again
every ``repeat_interval`` unless every one of them is acknowledged. When its
last alert resolves, the group sends the resolution and closes.

A notification lists the group's firing alerts (acknowledged ones marked) and
those that resolved since the last one. Silenced and inhibited alerts are left
out; an alert leaving the group that way is not reported as resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from toolkeeper.alerts.policies import Route
from toolkeeper.store.alert_records import GroupState

__all__ = ["Flush", "decide_flush"]

Reason = Literal["new", "changed", "repeat"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Flush:
    """A group state to store and, when ``send``, the notification it claims.

    ``firing`` and ``resolved`` name the alerts the notification lists.
    """

    state: GroupState
    send: bool
    reason: Reason | None = None
    firing: tuple[str, ...] = ()
    resolved: tuple[str, ...] = ()


def decide_flush(  # noqa: PLR0911 - one return per case of the group's life
    route: Route,
    current: GroupState,
    *,
    active: dict[str, bool],
    resolved: frozenset[str],
    now: datetime,
) -> Flush | None:
    """Return what the group does at ``now``, or ``None`` when nothing is due.

    ``active`` maps each firing alert of the group (not silenced, not
    inhibited) to whether it is acknowledged; ``resolved`` names the alerts
    that are resolved now (only those the last notification listed count).
    """
    firing = tuple(sorted(active))
    gone = tuple(sorted(name for name in current.notified if name in resolved))
    version = current.version + 1
    if current.opened_at is None:
        if not firing:
            return None
        opened = replace(current, opened_at=now, version=version)
        if route.group_wait_seconds > 0:
            return Flush(state=opened, send=False)
        return _flush(opened, firing, gone, now, "new")
    if current.flushed_at is None or current.flushed_at < current.opened_at:
        if not firing:  # everything ended before the group was first notified
            return Flush(state=replace(current, opened_at=None, version=version), send=False)
        if _elapsed(current.opened_at, now) >= route.group_wait_seconds:
            return _flush(replace(current, version=version), firing, gone, now, "new")
        return None
    changed = set(firing) != set(current.notified)
    since = _elapsed(current.flushed_at, now)
    if changed and since >= route.group_interval_seconds:
        return _flush(replace(current, version=version), firing, gone, now, "changed")
    unacknowledged = any(not acknowledged for acknowledged in active.values())
    if firing and unacknowledged and since >= route.repeat_interval_seconds:
        return _flush(replace(current, version=version), firing, gone, now, "repeat")
    return None


def _flush(
    state: GroupState, firing: tuple[str, ...], gone: tuple[str, ...], now: datetime, why: Reason
) -> Flush:
    new = replace(
        state, flushed_at=now, notified=firing, opened_at=state.opened_at if firing else None
    )
    return Flush(state=new, send=bool(firing or gone), reason=why, firing=firing, resolved=gone)


def _elapsed(start: datetime, now: datetime) -> float:
    return (now - start).total_seconds()
