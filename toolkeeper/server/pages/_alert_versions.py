"""What the /alerts page shows of alerting's runtime versions: who, when, why, what changed.

Notifier URLs appear only masked (the versions' own masking); the changes of a
version are shown to admins, who may change and roll back alerting.
"""

from __future__ import annotations

import json
from typing import Any

from toolkeeper.alerts.runtime import RuntimeAlerts

__all__ = ["VERSIONS_SHOWN", "versions_view"]

#: How many versions the page lists, newest first.
VERSIONS_SHOWN = 10


def versions_view(runtime: RuntimeAlerts | None, *, is_admin: bool) -> dict[str, Any]:
    """Return the version in force and the newest versions, each with its changes (admins)."""
    if runtime is None:
        return {"version": None, "versions": []}
    versions = runtime.history(VERSIONS_SHOWN)
    shown = []
    for version in versions:
        changes = (
            runtime.diff(version.version - 1, version.version)
            if is_admin and version.version > 0
            else []
        )
        shown.append({
            "version": version.version, "actor": version.actor, "reason": version.reason,
            "source": version.source,
            "when": version.created_at.isoformat(timespec="seconds") if version.created_at else "",
            "changes": [
                {"path": change["path"], "old": _text(change["old"]), "new": _text(change["new"])}
                for change in changes
            ],
        })  # fmt: skip
    return {"version": versions[0].version if versions else 0, "versions": shown}


def _text(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
