"""Render notifications: a title, a plain-text body that keeps its lines, and an HTML body.

A notification is about one group of alerts (or one escalation). It lists
each alert: the rule and its condition, the value against the threshold,
since when, the calls and errors in the rule's window, the tool's last error
and a link to the tool's page (when ``[alerts] external_url`` is set). The
HTML body escapes every text it shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import quote

__all__ = ["AlertView", "Rendered", "render"]

_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertView:
    """What a notification says about one alert."""

    rule: str
    tool: str
    severity: str
    state: str
    summary: str
    condition: str
    since: datetime | None
    calls: int | None = None
    errors: int | None = None
    window: str = ""
    last_error: str | None = None
    acknowledged_by: str | None = None
    link: str | None = None


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered notification."""

    title: str
    text: str
    html: str


def tool_link(external_url: str | None, tool: str) -> str | None:
    """Return the address of ``tool``'s page under ``external_url``, or ``None``."""
    return f"{external_url}/tools/{quote(tool, safe='')}" if external_url else None


def render(
    firing: list[AlertView], resolved: list[AlertView], *, heading: str | None = None
) -> Rendered:
    """Render a notification of ``firing`` and ``resolved`` alerts (at least one).

    One alert keeps the classic title ``[FIRING] rule on tool (severity)``; a
    group says how many: ``[FIRING:2] openai (critical)``. ``heading``
    replaces the state word (``ESCALATED level 2``).
    """
    every = firing + resolved
    if not every:
        raise ValueError("a notification needs at least one alert")
    word = heading or ("FIRING" if firing else "RESOLVED")
    if firing and any(view.state != "firing" for view in firing) and heading is None:
        states = {view.state for view in firing}
        word = "NODATA" if states == {"nodata"} else "ERROR" if states == {"error"} else word
    severity = min(
        (v.severity for v in (firing or resolved)), key=lambda s: _SEVERITY_ORDER.get(s, 3)
    )
    if len(every) == 1:
        only = every[0]
        title = f"[{word}] {only.rule} on {only.tool} ({only.severity})"
    else:
        tools = sorted({view.tool for view in every})
        count = len(firing) if firing else len(resolved)
        shown = ", ".join(tools[:3]) + (f" and {len(tools) - 3} more" if len(tools) > 3 else "")
        title = f"[{word}:{count}] {shown} ({severity})"
    text_parts: list[str] = []
    html_parts: list[str] = [f"<h2>{escape(title)}</h2>"]
    for label, views in (("Firing", firing), ("Resolved", resolved)):
        if not views:
            continue
        text_parts.append(f"{label} ({len(views)}):")
        html_parts.append(f"<h3>{label} ({len(views)})</h3><ul>")
        for view in views:
            lines = _lines(view, resolved=label == "Resolved")
            text_parts.extend(["", *lines[:1], *(f"  {line}" for line in lines[1:])])
            html_parts.append(
                "<li><b>" + escape(lines[0]) + "</b><br>"
                + "<br>".join(_html_line(view, line) for line in lines[1:]) + "</li>"
            )  # fmt: skip
        html_parts.append("</ul>")
        text_parts.append("")
    return Rendered(title, "\n".join(text_parts).rstrip() + "\n", "\n".join(html_parts))


def _lines(view: AlertView, *, resolved: bool) -> list[str]:
    lines = [
        f"{view.rule} on {view.tool} ({view.severity}, {'resolved' if resolved else view.state})"
    ]
    lines.append(f"value: {view.summary}")
    lines.append(f"condition: {view.condition}")
    if view.since is not None:
        lines.append(f"{'resolved at' if resolved else 'since'}: {view.since.isoformat()}")
    if view.calls is not None:
        window = f" over {view.window}" if view.window else ""
        lines.append(f"calls: {view.calls}, errors: {view.errors or 0}{window}")
    if view.last_error:
        lines.append(f"last error: {view.last_error}")
    if view.acknowledged_by:
        lines.append(f"acknowledged by: {view.acknowledged_by}")
    if view.link:
        lines.append(f"link: {view.link}")
    return lines


def _html_line(view: AlertView, line: str) -> str:
    if view.link and line == f"link: {view.link}":
        return f'link: <a href="{escape(view.link, quote=True)}">{escape(view.link)}</a>'
    return escape(line)
