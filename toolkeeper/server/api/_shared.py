"""What the routers share: the keeper of the app, tool lookups, and parsing times at the edge."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request

from toolkeeper._errors import UnknownToolError
from toolkeeper.keeper import Keeper
from toolkeeper.server.errors import ApiError

__all__ = ["KeeperDep", "known_tools", "parse_moment", "require_tool"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LONGEST_AGO = timedelta(days=3650)


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

    A value that is neither answers 422 naming the parameter.
    """
    if text is None or text == "":
        return None
    match = _DURATION.match(text)
    if match:
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
        if not seconds <= _LONGEST_AGO.total_seconds():
            raise ApiError(
                422,
                "invalid_request",
                f"{name}={text!r} reaches further back than {_LONGEST_AGO.days} days, "
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
