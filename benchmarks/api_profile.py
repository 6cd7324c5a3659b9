"""Profile one dashboard summary (``GET /api/v1/tools``) in-process, to see where its time goes.

Uses a store built by ``benchmarks/api.py --store FILE`` (``--quick``: 1 million
operations), opens a keeper on it as ``toolkeeper serve`` does, and prints the
time of each part: computing the summary (the monitor's windows and health for
every tool), serialising it, authenticating the token (remembered, and asked
of the store), and a whole request through the app (TestClient), then a cProfile
of the computation.

Run: ``.venv/bin/python benchmarks/api_profile.py /tmp/store-1m.db``.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient

from toolkeeper.keeper import Keeper
from toolkeeper.server import TokenRegistry, create_app
from toolkeeper.server.api._shared import known_tools
from toolkeeper.server.api._summary import tool_summary
from toolkeeper.server.api.models import ToolList

ROUNDS = 50


def per_call_ms(work: object, rounds: int = ROUNDS) -> float:
    """Return the mean wall time of ``work()`` in milliseconds."""
    assert callable(work)
    work()
    begin = time.perf_counter()
    for _ in range(rounds):
        work()
    return (time.perf_counter() - begin) / rounds * 1000


def summary_of(keeper: Keeper) -> ToolList:
    """Compute every tool's card afresh, as the shared summary does when it is out of date."""
    return ToolList(tools=[tool_summary(keeper, name) for name in known_tools(keeper)])


def main() -> None:
    """Open the store, time each part of a summary request, print a profile of the computation."""
    database = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "toolkeeper.toml"
        config.write_text(
            "".join(f'[tools.tool-{i}]\napi_endpoint = "https://example.com"\n' for i in range(10))
        )
        with Keeper.open(config, store=f"sqlite:///{database}") as keeper:
            app = create_app(keeper)
            _, token = app.state.tokens.create("viewer")
            summary = summary_of(keeper)
            print(f"compute:      {per_call_ms(lambda: summary_of(keeper)):.3f} ms")
            print(f"serialise:    {per_call_ms(summary.model_dump_json):.3f} ms")
            tokens = app.state.tokens  # the server's: remembers live tokens for a second
            uncached = TokenRegistry(keeper.store)  # asks the store every time, as the CLI's does
            remembered = per_call_ms(lambda: tokens.authenticate(token))
            asked = per_call_ms(lambda: uncached.authenticate(token))
            print(f"authenticate, remembered: {remembered:.3f} ms")
            print(f"authenticate, store:      {asked:.3f} ms")
            headers = {"Authorization": f"Bearer {token}"}
            with TestClient(app) as client:
                for path in ("/healthz", "/api/v1/tools"):
                    took = per_call_ms(lambda p=path: client.get(p, headers=headers))
                    print(f"request {path}: {took:.3f} ms")
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(20):
                summary_of(keeper)
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(15)
            print(out.getvalue())


if __name__ == "__main__":
    main()
