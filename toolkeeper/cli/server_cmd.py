"""``toolkeeper serve`` and ``toolkeeper tokens create|list|revoke``."""

from __future__ import annotations

import gc
import ipaddress
import signal
from datetime import datetime
from enum import StrEnum
from types import FrameType
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from toolkeeper._units import parse_duration
from toolkeeper.cli._context import CliState, check_port
from toolkeeper.cli._output import FittedTable, console, err_console, print_json
from toolkeeper.server.settings import DEFAULT_HOST, DEFAULT_PORT

if TYPE_CHECKING:
    import uvicorn

    from toolkeeper.server.tokens import ApiToken, TokenRegistry

__all__ = ["serve", "tokens_app"]

tokens_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)

#: Seconds open connections (event streams) get to finish when the server stops.
_GRACEFUL_SECONDS = 3


class RoleChoice(StrEnum):
    """Roles as command-line choices."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


def _state(ctx: typer.Context) -> CliState:
    state = ctx.find_root().obj
    assert isinstance(state, CliState)
    ctx.call_on_close(state.close)
    return state


def _registry(state: CliState) -> TokenRegistry:
    # Deferred: the server package loads FastAPI; the CLI starts without it.
    from toolkeeper.server.tokens import TokenRegistry

    return TokenRegistry(state.store(state.file()))


@tokens_app.command("create")
def create(
    ctx: typer.Context,
    role: RoleChoice = typer.Option(..., "--role", help="viewer, operator or admin."),
    name: str | None = typer.Option(
        None, "--name", help="Who uses it; the audit trail's actor (default: ROLE-xxxxxx)."
    ),
    expires: str | None = typer.Option(
        None,
        "--expires",
        help="Stop working after this long: 12h, 30d, 52w (default: never expires).",
    ),
) -> None:
    """Create a token and print it once, as the last line; only its hash is stored."""
    lifetime = None
    if expires is not None:
        try:
            lifetime = parse_duration(expires)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--expires") from None
    token, secret = _registry(_state(ctx)).create(role.value, name=name, expires_in=lifetime)
    until = f", valid until {_when(token.expires_at)}" if token.expires_at else ""
    err_console.print(
        f"created {token.role.value} token [bold]{escape(token.name)}[/]{until}; it is shown "
        "once, below: keep it somewhere safe"
    )
    # Plain print, last line of stdout: scripts take it with `| tail -n 1`.
    console.out(secret, highlight=False)


@tokens_app.command("list")
def list_tokens(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List tokens (never the tokens themselves): role, created, expiry, last use, revocation."""
    registry = _registry(_state(ctx))
    tokens = registry.list()
    now = registry.clock.now()  # one moment for every row
    if as_json:
        print_json([_token_data(token, now) for token in tokens])
        return
    table = FittedTable(title="API tokens")
    for column in ("id", "name", "role", "created", "expires", "last used", "revoked"):
        table.add_column(column)
    for token in tokens:
        table.add_row(
            str(token.id),
            escape(token.name),
            token.role.value,
            _when(token.created_at),
            _expiry(token, now),
            _when(token.last_used_at) or "never",
            _when(token.revoked_at) or "no",
        )
    console.print(table)


@tokens_app.command("revoke")
def revoke(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The token's name (or id)."),
) -> None:
    """Revoke a token at once; sessions opened with it end at their next request."""
    token = _registry(_state(ctx)).revoke(name)
    console.print(f"revoked {token.role.value} token {escape(token.name)}")


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def _expiry(token: ApiToken, now: datetime) -> str:
    if token.expires_at is None:
        return "never"
    if token.expired(now):
        return f"expired {_when(token.expires_at)}"
    return _when(token.expires_at) or "never"


def _token_data(token: ApiToken, now: datetime) -> dict[str, str | int | bool | None]:
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role.value,
        "created_at": _when(token.created_at),
        "last_used_at": _when(token.last_used_at),
        "revoked": token.revoked,
        "revoked_at": _when(token.revoked_at),
        "expires_at": _when(token.expires_at),
        "expired": token.expired(now),
    }


def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(
        None,
        "--host",
        help=f"Address to bind (default {DEFAULT_HOST}); anything else exposes the server.",
    ),
    port: int | None = typer.Option(
        None, "--port", min=0, max=65535, help=f"Port to listen on (default {DEFAULT_PORT})."
    ),
    metrics_public: bool = typer.Option(
        False, "--metrics-public", help="Serve /metrics without a token."
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn's log level."),
) -> None:
    """Serve the dashboard, the alerts page, the admin UI, the REST API (/docs) and /metrics.

    It follows what the application's processes store (operations, circuit
    states) every 5 s, evaluates the alert rules and sends their notifications.
    """
    import uvicorn

    # Deferred: the keeper and server load pydantic, SQLAlchemy and FastAPI.
    from toolkeeper.keeper import Keeper
    from toolkeeper.server import ServerSettings, create_app

    state = _state(ctx)
    settings = ServerSettings.from_environ(
        host=host, port=port, metrics_public=metrics_public or None
    )
    if not _is_loopback(settings.host):
        err_console.print(
            f"[yellow]warning:[/] binding to {escape(settings.host)} makes the server reachable "
            "from other machines; serve it over HTTPS (a reverse proxy) so tokens and session "
            "cookies are not sent in clear"
        )
    check_port(settings.host, settings.port)
    with Keeper.open(
        state.config_path, environment=state.environment, store=state.store_uri
    ) as keeper:
        keeper.follow_store()  # show what the application's processes record, not just ours
        keeper.alerts.start()  # evaluate the rules; states and notices go through the store
        app = create_app(keeper, settings=settings)
        shown = f"[{settings.host}]" if ":" in settings.host else settings.host
        err_console.print(
            f"toolkeeper serving environment {escape(keeper.config.environment)} on "
            f"http://{escape(shown)}:{settings.port} (API docs at /docs); "
            "sign in with a token from `toolkeeper tokens create`"
        )
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=log_level,
            timeout_graceful_shutdown=_GRACEFUL_SECONDS,
            # asyncio's own loop, not uvloop: with the CPU saturated by many clients, uvloop left
            # some requests waiting 0.4-1.4 s in rounds where the median was 25 ms (the same
            # with a bare FastAPI app); asyncio's loop keeps p99 near 35 ms at the same rate.
            loop="asyncio",
        )
        # What is alive now (modules, the app, the figures restored from the store) lives as
        # long as the process: out of the collector's full passes, which would otherwise walk
        # it all (a pause of tens to hundreds of ms, every request waiting) again and again.
        gc.freeze()
        _run_until_stopped(uvicorn.Server(config))


def _run_until_stopped(server: uvicorn.Server) -> None:
    """Run ``server``; a SIGINT or SIGTERM stops it gracefully and the command ends normally.

    uvicorn re-raises the stopping signal once it has shut down; with the default
    handlers that would kill the process before the keeper is closed (SIGTERM)
    or end it as interrupted (SIGINT). Quiet handlers make a requested stop a
    clean exit.
    """
    stopping = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, _already_handled) for sig in stopping}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _already_handled(signum: int, frame: FrameType | None) -> None:
    """Ignore a stop signal that uvicorn has already acted on."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
