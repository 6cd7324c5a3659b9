"""Parse the human strings people write for durations (``90s``, ``5m``, ``1h``, ``7d``)."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Return the duration written as a number and a unit: ms, s, m, h, d or w."""
    match = _DURATION.match(text.lower())
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit such as 90s, 5m, 1h, 7d"
        )
    return timedelta(seconds=float(match.group(1)) * _SECONDS[match.group(2)])
