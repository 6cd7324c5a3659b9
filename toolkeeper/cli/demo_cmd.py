"""``toolkeeper demo``: the dashboard over a simulated workload, in one command."""

from __future__ import annotations

import logging
import shlex
import signal
import threading
from pathlib import Path
from types import FrameType

import typer
from rich.markup import escape

from toolkeeper._errors import ToolkeeperError
from toolkeeper.cli._context import CliState, check_port
from toolkeeper.cli._output import console, err_console
from toolkeeper.server.settings import DEFAULT_HOST, DEFAULT_PORT

__all__ = ["demo"]

DEMO_DIR = Path(".toolkeeper")
DEMO_STORE = DEMO_DIR / "demo.db"
DEMO_LOG = DEMO_DIR / "demo.log"


def demo(
    ctx: typer.Context,
    host: str = typer.Option(DEFAULT_HOST, "--host", help="Address to serve the dashboard on."),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=0, max=65535, help="0 picks a free port."),
    duration: float | None = typer.Option(
        None, "--duration", min=1, help="Stop after this many seconds (default: at Ctrl-C)."
    ),
    users: int = typer.Option(8, "--users", min=1, max=100, help="Simulated concurrent users."),
    rate: float = typer.Option(6.0, "--rate", min=0.1, max=200, help="Requests per second."),
    outage_every: float | None = typer.Option(
        None,
        "--outage-every",
        help="Seconds between the strong model's outages: 120 by default, at least 30 "
        "(each outage lasts a quarter of it).",
    ),
) -> None:
    """Serve the live dashboard over a simulated workload against a local fake LLM provider.

    The workload renders prompt templates, routes each request between a strong
    and a weak model, and calls them through toolkeeper: every two minutes the
    strong model degrades, then fails; its circuit opens, the fallback takes over,
    and alert rules fire and resolve with each outage, while spend climbs toward
    the strong model's budget (sized to last about 45 minutes; then its calls go to
    the fallback). State goes to a fresh .toolkeeper/demo.db (or --store); log
    messages to .toolkeeper/demo.log. The last line printed is an admin token.
    """
    # Deferred: the demo, keeper and server load FastAPI, pydantic and SQLAlchemy;
    # the CLI's other commands start without them.
    from toolkeeper.demo import Demo, LoopbackServer
    from toolkeeper.demo.profiles import DEFAULT_CYCLE_S, MIN_CYCLE_S
    from toolkeeper.keeper import Keeper
    from toolkeeper.server import ServerSettings, create_app
    from toolkeeper.server.tokens import TokenRegistry

    state = ctx.find_root().obj
    assert isinstance(state, CliState)
    check_port(host, port)
    cycle_s = DEFAULT_CYCLE_S if outage_every is None else outage_every
    if cycle_s < MIN_CYCLE_S:
        raise ToolkeeperError(
            f"--outage-every must be at least {MIN_CYCLE_S:g} seconds, not {cycle_s:g}: a "
            "shorter cycle leaves the circuit no time to open and close"
        )
    store_uri = state.store_uri
    DEMO_DIR.mkdir(exist_ok=True)
    if store_uri is None:
        for leftover in DEMO_DIR.glob(f"{DEMO_STORE.name}*"):
            leftover.unlink()  # each demo starts from nothing: yesterday's spend is not today's
        store_uri = f"sqlite:///{DEMO_STORE.resolve()}"
    _log_to_file(DEMO_LOG)
    config_path = (DEMO_DIR / "demo.toml").resolve()
    stop = threading.Event()
    with Demo.start(cycle_s=cycle_s) as world:
        keeper = Keeper.open(world.config_file(config_path, rate=rate), store=store_uri)
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
                f"configuration: {config_path}; store: {escape(store_uri)}; log: {DEMO_LOG}"
            )
            err_console.print(
                f"alerts: {server.url}/alerts (the strong model's outages fire alerts there)"
            )
            for line in cli_commands(config_path, store_uri):
                err_console.print(escape(line), highlight=False)
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


def cli_commands(config_path: Path, store_uri: str) -> list[str]:
    """Return the lines telling how to point the CLI, in another shell, at this demo."""
    return [
        "point the CLI at this demo from another shell (no secret needed to read it):",
        f"  export TOOLKEEPER_CONFIG={shlex.quote(str(config_path))} "
        f"TOOLKEEPER_STORE={shlex.quote(store_uri)}",
        "  toolkeeper health; toolkeeper costs; toolkeeper alerts list; "
        "toolkeeper config show openai-strong",
    ]


def _log_to_file(path: Path) -> None:
    """Send log records to ``path``, so nothing prints below the token on the last line."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)  # warnings and above, as the root logger's level


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
