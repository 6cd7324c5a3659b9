"""What the routers share: the keeper of the app, tool lookups, and parsing times at the edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request

from toolkeeper._errors import UnknownToolError
from toolkeeper._units import duration_seconds
from toolkeeper.keeper import Keeper
from toolkeeper.server.errors import ApiError

__all__ = [
    "DURATION_AGO",
    "MOMENT_SCHEMA",
    "KeeperDep",
    "known_tools",
    "parse_moment",
    "require_tool",
]

#: A duration ago (the grammar of toolkeeper._units, in s, m, h or d) as an OpenAPI pattern:
#: digits bounded per unit, so anything it matches is within _LONGEST_AGO.
DURATION_AGO = (
    r"^\s*(?:\d{1,8}(?:\.\d{1,3})?\s*[sS]|\d{1,6}(?:\.\d{1,3})?\s*[mM]"
    r"|\d{1,5}(?:\.\d{1,3})?\s*[hH]|\d{1,4}(?:\.\d{1,3})?\s*[dD])\s*$"
)
_AGO_UNITS = ("s", "m", "h", "d")
_LONGEST_AGO = timedelta(days=10_000)
#: The OpenAPI schema of a moment parameter: what parse_moment accepts, so generated values pass.
MOMENT_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "pattern": DURATION_AGO},
    ]
}


def keeper_of(request: Request) -> Keeper:
    """Return the keeper the app serves."""
    keeper: Keeper = request.app.state.keeper
    return keeper


KeeperDep = Annotated[Keeper, Depends(keeper_of)]


def known_tools(keeper: Keeper) -> list[str]:
    """Return every tool the configuration declares or the monitor has seen, sorted."""
    return sorted(set(keeper.config.tools()) | set(keeper.monitoring.tools()))


def require_tool(keeper: Keeper, tool: str) -> bool:
    """Answer 404 naming the known tools unless ``tool`` is one; return whether it is configured."""
    configured = tool in keeper.config.tools()
    if not configured and not keeper.monitoring.knows(tool):
        raise UnknownToolError(tool, known_tools(keeper))
    return configured


def parse_moment(text: str | None, *, name: str, now: datetime) -> datetime | None:
    """Read a time given as ISO 8601 (naive means UTC) or a duration ago (``90s``, ``1h``, ``7d``).

    A value that is neither (an empty one included) answers 422 naming the parameter.
    """
    if text is None:
        return None
    seconds = duration_seconds(text, units=_AGO_UNITS)
    if seconds is not None:
        if not seconds <= _LONGEST_AGO.total_seconds():
            raise ApiError(
                422,
                "invalid_request",
                f"{name}={text!r} reaches further back than {_LONGEST_AGO.days:,} days, "
                "the longest duration ago accepted",
                details={
                    "errors": [
                        {"loc": ["query", name], "msg": "duration too long", "type": "value_error"}
                    ]
                },
            )
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ApiError(
            422,
            "invalid_request",
            f"{name}={text!r} is neither an ISO 8601 time (2026-01-31T12:00:00Z) "
            "nor a duration ago (90s, 15m, 1h, 7d)",
            details={
                "errors": [{"loc": ["query", name], "msg": "invalid time", "type": "value_error"}]
            },
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
