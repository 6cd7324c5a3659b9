"""``GET /tools/{tool}``: one tool's card, charts, circuit, windows, recent errors and config."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from toolkeeper._errors import UnknownToolError
from toolkeeper.monitor.series import WINDOWS
from toolkeeper.server.api._shared import KeeperDep, require_tool
from toolkeeper.server.api.config_models import tool_config
from toolkeeper.server.api.models import CircuitSnapshot, stats_of
from toolkeeper.server.api.tools import tool_summary
from toolkeeper.server.pages._access import SignedIn
from toolkeeper.server.pages._data import recent_errors, spend_of
from toolkeeper.server.pages._render import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/tools/{tool:path}", response_class=HTMLResponse)
def tool_page(request: Request, tool: str, principal: SignedIn, keeper: KeeperDep) -> HTMLResponse:
    """Render one tool; an unknown tool gets a 404 page listing the known ones."""
    try:
        configured = require_tool(keeper, tool)
    except UnknownToolError as exc:
        return render(
            request,
            "not_found.html",
            {"what": f"No tool is named {tool!r}.", "known_tools": list(exc.known)},
            principal=principal,
            status_code=404,
        )
    monitor = keeper.monitoring
    known = monitor.knows(tool)
    now = keeper.clock.now()
    windows = {
        window: stats_of(
            monitor.get_window_stats(tool, window) if known else None,
            start=now - timedelta(seconds=seconds),
            end=now,
            seconds=seconds,
        )
        for window, seconds in WINDOWS.items()
    }
    breaker = keeper.runtimes.breaker(tool)  # before the card: its state is the card's state
    card = tool_summary(keeper, tool)
    return render(
        request,
        "tool.html",
        {
            "tool": tool,
            "card": card,
            "health": monitor.get_wrapper_health(tool),
            "spend": spend_of(keeper, [tool])[tool],
            "circuit": CircuitSnapshot.model_validate(breaker.snapshot()) if breaker else None,
            "windows": windows,
            "errors": recent_errors(keeper, tool),
            "config": tool_config(keeper.config, tool) if configured else None,
        },
        principal=principal,
    )
