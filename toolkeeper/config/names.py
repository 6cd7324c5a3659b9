"""Tool names: the one rule a name must follow so every route that names a tool reads it back.

The server's routes take a tool's name as a path (``/api/v1/tools/{tool}``, so a
name may hold ``/``) and put some views after it (``/api/v1/tools/{tool}/metrics``,
``/api/v1/config/{tool}/history``, ``…/diff``, ``…/rollback``). A tool named
``search/metrics`` would make ``GET /api/v1/tools/search/metrics`` mean two things,
so a name may not end in one of those views.
"""

from __future__ import annotations

__all__ = ["RESERVED_ENDINGS", "check_tool_name", "tool_name_problem"]

#: The views a route puts after a tool's name; no name may end in ``/`` + one of them.
RESERVED_ENDINGS = ("metrics", "history", "diff", "rollback")

_RULE = (
    "a tool name must not end in "
    + ", ".join(f"/{ending}" for ending in RESERVED_ENDINGS)
    + " (the server's routes put those views after a tool's name)"
)


def tool_name_problem(name: str) -> str | None:
    """Return the rule ``name`` breaks, or ``None`` when it can name a tool."""
    if any(name.endswith(f"/{ending}") for ending in RESERVED_ENDINGS):
        return _RULE
    return None


def check_tool_name(name: str, field: str = "tool") -> str:
    """Return ``name``, or raise ``ValueError`` naming ``field``, the value and the rule."""
    problem = tool_name_problem(name)
    if problem is not None:
        raise ValueError(f"{field}={name!r}: {problem}")
    return name
