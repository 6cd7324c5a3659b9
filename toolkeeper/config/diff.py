"""Compare two configurations field by field, secrets only as "changed"."""

from __future__ import annotations

from typing import Any

from toolkeeper.config.schema import BaseWrapperConfig, is_sensitive

__all__ = ["diff_configs"]


def diff_configs(old: BaseWrapperConfig, new: BaseWrapperConfig) -> list[dict[str, Any]]:
    """List the fields whose value differs, in field order.

    Each entry is ``{"field", "from", "to"}``; for a secret it is
    ``{"field", "secret": True, "change": "changed"}`` and carries no value.
    """
    if type(old) is not type(new):
        raise TypeError(f"cannot diff {type(old).__name__} against {type(new).__name__}")
    model = type(new)
    before = old.model_dump(mode="json")
    after = new.model_dump(mode="json")
    changes: list[dict[str, Any]] = []
    for name in model.model_fields:
        if is_sensitive(model, name):
            if getattr(old, name) != getattr(new, name):
                changes.append({"field": name, "secret": True, "change": "changed"})
        elif before[name] != after[name]:
            changes.append({"field": name, "from": before[name], "to": after[name]})
    return changes
