"""Build the ASGI application around an open :class:`~toolkeeper.Keeper`.

::

    app = create_app(keeper)                        # serve with uvicorn, or
    their_app.mount("/toolkeeper", create_app(keeper))   # mount into another ASGI app

The app does not own the keeper: whoever opened it closes it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from fastapi import FastAPI

from toolkeeper.server import metrics, probes, sessions
from toolkeeper.server.api import api_router
from toolkeeper.server.api._summary import SharedSummary
from toolkeeper.server.api._ticks import TickBroadcast
from toolkeeper.server.errors import install_error_handlers
from toolkeeper.server.flights import Flights
from toolkeeper.server.pages import install_pages
from toolkeeper.server.settings import ServerSettings
from toolkeeper.server.throttle import AuthThrottle
from toolkeeper.server.tokens import TokenRegistry

if TYPE_CHECKING:
    from toolkeeper.keeper import Keeper

__all__ = ["create_app"]

_DESCRIPTION = """\
Health, metrics, operations and configuration of the tools an application calls.

Authenticate with `Authorization: Bearer <token>` (make one with
`toolkeeper tokens create --role viewer|operator|admin`). Viewers read; only
admins change configuration. Secrets are always masked.
"""


#: The oldest the shared summary may be, whatever the tick: figures a second old at most.
_SUMMARY_MAX_AGE_S = 1.0


def _version() -> str:
    try:
        return version("toolkeeper")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def create_app(keeper: Keeper, *, settings: ServerSettings | None = None) -> FastAPI:
    """Return the API, ``/metrics``, the probes and sign-in, serving ``keeper``.

    The session-signing key is ``settings.session_secret`` or, by default, a
    key generated once and kept in the keeper's store encrypted with its secret
    key (``TOOLKEEPER_SECRET_KEY``); without one, a key of this process only.
    """
    settings = settings if settings is not None else ServerSettings()
    tokens = TokenRegistry(
        keeper.store, clock=keeper.clock, cache_seconds=settings.token_cache_seconds
    )
    app = FastAPI(
        title="toolkeeper",
        version=_version(),
        description=_DESCRIPTION,
        docs_url=None,  # the pages serve /docs from the package: no CDN
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.keeper = keeper
    app.state.settings = settings
    app.state.tokens = tokens
    app.state.token_lookups = Flights()  # requests carrying one token share its lookup
    # One summary for the API, the event stream's tick and the dashboard, at most a tick old.
    app.state.summary = SharedSummary(
        keeper, max_age_s=min(settings.events_interval_seconds, _SUMMARY_MAX_AGE_S)
    )
    # The event stream's ticks, built once per interval for every connection.
    app.state.ticks = TickBroadcast(
        keeper, app.state.summary, interval_s=settings.events_interval_seconds
    )
    app.state.auth_throttle = AuthThrottle(
        settings.auth_failure_limit, storage=keeper.shared or "memory://", clock=keeper.clock
    )
    install_error_handlers(app)
    app.include_router(api_router())
    app.include_router(metrics.router)
    app.include_router(probes.router)
    app.include_router(sessions.router)
    install_pages(app)
    secret = (
        settings.session_secret.get_secret_value()
        if settings.session_secret is not None
        else tokens.session_key(keeper.config.keyring)
    )
    app.state.session_secret = secret
    sessions.install_sessions(app, secret=secret, settings=settings)
    return app
