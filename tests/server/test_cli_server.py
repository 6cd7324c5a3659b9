"""``toolkeeper tokens`` and ``toolkeeper serve`` as real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

from tests.server.conftest import CONFIG
from toolkeeper._clock import FakeClock
from toolkeeper.server import TokenRegistry
from toolkeeper.store import open_store

# Runs the CLI with the server commands registered (as toolkeeper.cli will register them).
CLI = """\
import sys
from toolkeeper.cli import app, main
from toolkeeper.cli.server_cmd import serve, tokens_app
if "serve" not in {command.name for command in app.registered_commands}:
    app.command("serve")(serve)
if "tokens" not in {group.name for group in app.registered_groups}:
    app.add_typer(tokens_app, name="tokens")
sys.argv = ["toolkeeper", *sys.argv[1:]]
main()
"""


def environment(tmp_path: Path) -> dict[str, str]:
    """Return variables pointing the CLI at a config and an SQLite store in ``tmp_path``."""
    (tmp_path / "toolkeeper.toml").write_text(CONFIG)
    env = {
        **os.environ,
        "TOOLKEEPER_CONFIG": str(tmp_path / "toolkeeper.toml"),
        "TOOLKEEPER_STORE": f"sqlite:///{tmp_path / 'state.db'}",
        "TK_SERVER_CANARY": "sk-canary-0123456789abcdef",
        "COLUMNS": "200",
    }
    env.pop("TOOLKEEPER_ENV", None)
    return env


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI with ``args`` and return the finished process."""
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def free_port() -> int:
    """Return a port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_tokens_create_list_revoke(tmp_path: Path) -> None:
    """create prints the token once as the last line; list never shows it; revoke marks it."""
    env = environment(tmp_path)
    created = cli(["tokens", "create", "--role", "admin", "--name", "ci"], env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("tk_")
    assert "ci" in created.stderr
    listed = cli(["tokens", "list", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    assert token not in listed.stdout
    assert '"name": "ci"' in listed.stdout
    assert '"role": "admin"' in listed.stdout
    revoked = cli(["tokens", "revoke", "ci"], env)
    assert revoked.returncode == 0, revoked.stderr
    again = cli(["tokens", "list"], env)
    assert "ci" in again.stdout
    missing = cli(["tokens", "revoke", "nobody"], env)
    assert missing.returncode == 1
    assert "no token named 'nobody'" in missing.stderr
    bad_role = cli(["tokens", "create", "--role", "root"], env)
    assert bad_role.returncode == 2


def test_a_revocation_by_the_cli_reaches_a_server_registry_within_its_cache_time(
    tmp_path: Path,
) -> None:
    """`tokens revoke` in another process: a server's registry refuses the token after 1 s."""
    env = environment(tmp_path)
    created = cli(["tokens", "create", "--role", "viewer", "--name", "ci"], env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    store = open_store(env["TOOLKEEPER_STORE"])
    try:
        clock = FakeClock()
        server = TokenRegistry(store, clock=clock, cache_seconds=1.0)
        assert server.authenticate(token) is not None
        revoked = cli(["tokens", "revoke", "ci"], env)
        assert revoked.returncode == 0, revoked.stderr
        assert server.authenticate(token) is not None  # remembered, at most cache_seconds
        clock.advance(1.001)
        assert server.authenticate(token) is None
    finally:
        store.close()


def test_tokens_create_with_an_expiry_and_list_it(tmp_path: Path) -> None:
    """--expires 30d sets the expiry; list shows it and the last use; a bad duration is exit 2."""
    env = environment(tmp_path)
    created = cli(
        ["tokens", "create", "--role", "viewer", "--name", "temp", "--expires", "30d"], env
    )
    assert created.returncode == 0, created.stderr
    assert "valid until" in created.stderr
    listed = cli(["tokens", "list", "--json"], env)
    (entry,) = json.loads(listed.stdout)
    expires = datetime.fromisoformat(entry["expires_at"])
    created_at = datetime.fromisoformat(entry["created_at"])
    assert (expires - created_at).days == 30
    assert entry["expired"] is False
    assert entry["last_used_at"] is None
    table = cli(["tokens", "list"], env)
    assert "expires" in table.stdout
    assert "last used" in table.stdout
    for bad in ("soon", "99999999999999h", "0s"):
        refused = cli(["tokens", "create", "--role", "viewer", "--expires", bad], env)
        assert refused.returncode in (1, 2), (bad, refused.stdout)
        assert "Traceback" not in refused.stderr
        assert "--expires" in refused.stderr or "lifetime" in refused.stderr


def test_serve_binds_loopback_and_answers_with_a_token(tmp_path: Path) -> None:
    """serve listens on 127.0.0.1, answers the API for a token, and stops cleanly on SIGINT."""
    env = environment(tmp_path)
    token = cli(["tokens", "create", "--role", "viewer"], env).stdout.strip().splitlines()[-1]
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", CLI, "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=base, trust_env=False, timeout=5) as client:
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
            health = client.get("/api/v1/tools", headers={"Authorization": f"Bearer {token}"})
            assert health.status_code == 200
            assert {t["name"] for t in health.json()["tools"]} == {"local", "openai"}
            assert client.get("/api/v1/tools").status_code == 401
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) == 0
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert f"http://127.0.0.1:{port}" in stderr
