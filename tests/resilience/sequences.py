"""The circuit's sequences table in docs/resilience.md, read as test cases.

The docs are the single statement of what the breaker does; the tests run
every row of that table, so the two cannot drift.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkeeper.resilience import CircuitState, ResiliencePolicy

__all__ = ["BASE", "CONFIG_NAMES", "SLOW_S", "Sequence", "letter", "policy_of", "sequences"]

DOC = Path(__file__).resolve().parents[2] / "docs" / "resilience.md"
SLOW_S = 0.25
#: The base settings every row overrides, as the docs state them.
BASE: dict[str, Any] = {
    "window_size": 10,
    "minimum_calls": 5,
    "failure_rate_threshold": 0.5,
    "slow_call_seconds": SLOW_S,
    "slow_call_rate_threshold": 0.5,
    "half_open_probes": 3,
    "half_open_mode": "rate",
    "open_wait_seconds": 30.0,
    "max_attempts": 1,
}
#: The configuration field of each policy setting.
CONFIG_NAMES = {
    "window_size": "circuit_window_size",
    "minimum_calls": "circuit_minimum_calls",
    "failure_rate_threshold": "circuit_failure_rate",
    "slow_call_seconds": "circuit_slow_call_seconds",
    "slow_call_rate_threshold": "circuit_slow_call_rate",
    "half_open_probes": "circuit_half_open_probes",
    "half_open_mode": "circuit_half_open_mode",
    "open_wait_seconds": "circuit_open_seconds",
}
_ROW = re.compile(
    r"^\|\s*(\d+)\s*\|\s*([^|]*?)\s*\|\s*`([SFWE.]+)`\s*\|\s*`([COHR]+)`\s*\|\s*`([COHR]+)`\s*\|$"
)
_LETTERS = {CircuitState.CLOSED: "C", CircuitState.OPEN: "O", CircuitState.HALF_OPEN: "H"}


@dataclass(frozen=True)
class Sequence:
    """One row: settings over the base, the calls, and the states after each."""

    number: int
    settings: dict[str, Any]
    calls: str
    expected: str
    resilience4j: str

    @property
    def mode(self) -> str:
        """Return the row's half-open mode."""
        return str(self.settings.get("half_open_mode", BASE["half_open_mode"]))


def _value(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def sequences() -> list[Sequence]:
    """Return every row of the docs' sequences table."""
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line.strip())
        if match is None:
            continue
        number, settings, calls, expected, r4j = match.groups()
        pairs = (item.split("=", 1) for item in settings.split(",") if item.strip())
        overrides = {k.strip(): _value(v.strip()) for k, v in pairs}
        rows.append(Sequence(int(number), overrides, calls, expected, r4j))
    return rows


def policy_of(row: Sequence) -> ResiliencePolicy:
    """Return the policy of a row: the base with the row's settings."""
    return dataclasses.replace(ResiliencePolicy(**BASE), **row.settings)


def letter(state: CircuitState) -> str:
    """Return the table's letter for a state."""
    return _LETTERS[state]
