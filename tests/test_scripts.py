"""``scripts/services.sh``: it starts services on the ports it is given, and stops only those."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """Return a loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(port: int) -> bool:
    """Tell whether something accepts connections on loopback ``port``."""
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_stop_stops_the_services_it_started_and_leaves_others_running() -> None:
    """Started on private ports, ``stop`` ends all three; the shared services still answer."""
    # Not pytest's tmp_path: its parents are private to root, and the postgres user writes here.
    with tempfile.TemporaryDirectory(prefix="tk-services-", dir="/tmp") as folder:
        check_stop(Path(folder))


def check_stop(tmp_path: Path) -> None:
    """Start the services under ``tmp_path`` on free ports, stop them, and check both."""
    ports = {"TK_PG_PORT": free_port(), "TK_REDIS_PORT": free_port(),
             "TK_ALERTMANAGER_PORT": free_port()}  # fmt: skip
    env = {**os.environ, **{k: str(v) for k, v in ports.items()},
           "TK_SERVICES_DIR": str(tmp_path / "services")}  # fmt: skip
    tmp_path.chmod(0o755)  # the postgres user creates its cluster below
    started = subprocess.run(
        ["bash", "-c", "source scripts/services.sh"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert all(answers(port) for port in ports.values())
    listed = (tmp_path / "services" / "started").read_text().split()
    assert {"postgres", "redis", "alertmanager"} <= set(listed)
    stopped = subprocess.run(
        ["bash", "scripts/services.sh", "stop"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped postgres" in stopped.stderr
    assert not any(answers(port) for port in ports.values())
    assert not (tmp_path / "services" / "started").exists()
    shared = os.environ.get("TOOLKEEPER_TEST_REDIS", "redis://127.0.0.1:63799/0")
    assert answers(int(shared.rsplit(":", 1)[1].split("/")[0]))  # the suite's own Redis


def test_test_sh_says_what_it_needs() -> None:
    """test.sh and services.sh say that apt-get needs root or sudo, and how to stop the services."""
    test_sh = (ROOT / "scripts" / "test.sh").read_text()
    services_sh = (ROOT / "scripts" / "services.sh").read_text()
    assert "root, or sudo" in test_sh
    assert "scripts/services.sh stop" in test_sh
    assert "sudo" in services_sh
    assert "needs root" in services_sh
