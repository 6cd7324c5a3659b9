"""Records the store keeps: plain values, free of any database type."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["ConfigVersionRecord"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigVersionRecord:
    """One stored version of one tool's runtime configuration in one environment.

    ``values`` are the runtime overrides as stored (secrets already encrypted or
    given as references, never in clear). ``id`` is a cursor that grows across
    every environment and tool; ``version`` counts per (environment, tool) from 1.
    The store fills ``id``, ``version`` and ``created_at`` (timezone-aware UTC).
    """

    environment: str
    tool: str
    values: dict[str, Any]
    actor: str
    reason: str
    source: str
    diff: list[dict[str, Any]]
    version: int = 0
    id: int = 0
    created_at: datetime | None = None
