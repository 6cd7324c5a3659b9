"""``toolkeeper demo``: the dashboard over a simulated workload, in one command."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import typer
from rich.markup import escape

from toolkeeper.cli._context import CliState, check_port
from toolkeeper.cli._output import console, err_console
from toolkeeper.server.settings import DEFAULT_HOST, DEFAULT_PORT

__all__ = ["demo"]

DEMO_DIR = Path(".toolkeeper")
DEMO_STORE = DEMO_DIR / "demo.db"


def demo(
    ctx: typer.Context,
    host: str = typer.Option(DEFAULT_HOST, "--host", help="Address to serve the dashboard on."),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=0, max=65535, help="0 picks a free port."),
    duration: float | None = typer.Option(
        None, "--duration", min=1, help="Stop after this many seconds (default: at Ctrl-C)."
    ),
    users: int = typer.Option(8, "--users", min=1, max=100, help="Simulated concurrent users."),
    rate: float = typer.Option(6.0, "--rate", min=0.1, max=200, help="Requests per second."),
) -> None:
    """Serve the live dashboard over a simulated workload against a local fake LLM provider.

    The workload renders prompt templates, routes each request between a strong
    and a weak model, and calls them through toolkeeper: within a minute the
    strong model degrades, its circuit opens, the fallback takes over and spend
    approaches its budget; alert rules fire and resolve with each outage. State
    goes to a fresh .toolkeeper/demo.db (or --store).
    """
    from toolkeeper.demo import Demo, LoopbackServer
    from toolkeeper.keeper import Keeper
    from toolkeeper.server import ServerSettings, create_app
    from toolkeeper.server.tokens import TokenRegistry

    state = ctx.find_root().obj
    assert isinstance(state, CliState)
    check_port(host, port)
    store_uri = state.store_uri
    if store_uri is None:
        DEMO_DIR.mkdir(exist_ok=True)
        for leftover in DEMO_DIR.glob(f"{DEMO_STORE.name}*"):
            leftover.unlink()  # each demo starts from nothing: yesterday's spend is not today's
        store_uri = f"sqlite:///{DEMO_STORE}"
    stop = threading.Event()
    with Demo.start() as world:
        keeper = Keeper.open(world.config_file(DEMO_DIR / "demo.toml"), store=store_uri)
        server = None
        try:
            _, token = TokenRegistry(keeper.store).create("admin", name=None)
            world.start_workload(keeper, users=users, rate=rate)
            keeper.alerts.start()  # the demo's rules fire during the strong model's outages
            settings = ServerSettings.from_environ(host=host, port=port)
            server = LoopbackServer.start(create_app(keeper, settings=settings), host=host,
                                          port=port)  # fmt: skip
            for line in world.describe():
                err_console.print(escape(line), style="dim")
            err_console.print(
                f"dashboard: [bold]{server.url}/[/] (API docs at {server.url}/docs); "
                f"configuration: {DEMO_DIR / 'demo.toml'}; store: {escape(store_uri)}"
            )
            err_console.print(
                f"alerts: {server.url}/alerts (the strong model's outages fire alerts there)"
            )
            err_console.print("sign in with this admin token (shown once, on the last line):")
            console.out(token, highlight=False)
            _wait(stop, duration)
        finally:
            # Order matters: the users stop calling before the keeper (and its store) closes.
            if world.workload is not None:
                world.workload.stop()
            if server is not None:
                server.stop()
            keeper.close()


def _wait(stop: threading.Event, duration: float | None) -> None:
    """Block until Ctrl-C, SIGTERM or ``duration`` seconds, whichever comes first."""

    def request_stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame  # any stop signal means the same
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop.wait(duration)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
