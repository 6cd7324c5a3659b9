"""Which alerts a silence covers: its rule and tool globs, and its label matchers.

A :class:`~toolkeeper.store.alert_records.Silence` is a stored record; deciding
what it covers needs the matchers of :mod:`toolkeeper.alerts.matchers`, so it
happens here, in the alerts layer, not in the store.
"""

from __future__ import annotations

from collections.abc import Mapping

from toolkeeper.alerts.matchers import parse_matcher
from toolkeeper.store.alert_records import Silence

__all__ = ["covering", "covers"]


def covers(silence: Silence, labels: Mapping[str, str]) -> bool:
    """Return whether ``silence`` covers the alert with ``labels`` (``rule``, ``tool``, …).

    The alert's rule and tool must match the globs and its labels every matcher
    (none: the globs alone, as silences made before matchers existed).
    """
    if not silence.matches_globs(labels.get("rule", ""), labels.get("tool", "")):
        return False
    return all(parse_matcher(text).matches(labels) for text in silence.matchers)


def covering(silences: list[Silence], labels: Mapping[str, str]) -> Silence | None:
    """Return the silence covering the alert with ``labels`` that ends last, or ``None``."""
    found = [silence for silence in silences if covers(silence, labels)]
    return max(found, key=lambda silence: (silence.ends_at, silence.id)) if found else None
