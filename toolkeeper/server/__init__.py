"""The ASGI server: REST API, server-sent events, Prometheus metrics, sign-in and sessions.

``create_app(keeper, settings=...)`` returns a FastAPI application to run with
``toolkeeper serve`` or to mount into another ASGI app. FastAPI is imported on
first use of :func:`create_app`, so the token registry (used by the CLI) works
without the ``server`` extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolkeeper.server.app import create_app
    from toolkeeper.server.settings import ServerSettings
    from toolkeeper.server.tokens import ApiToken, Role, TokenRegistry

__all__ = ["ApiToken", "Role", "ServerSettings", "TokenRegistry", "create_app"]

_HOMES = {
    "create_app": "toolkeeper.server.app",
    "ServerSettings": "toolkeeper.server.settings",
    "ApiToken": "toolkeeper.server.tokens",
    "Role": "toolkeeper.server.tokens",
    "TokenRegistry": "toolkeeper.server.tokens",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
