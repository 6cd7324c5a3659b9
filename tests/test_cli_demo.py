"""``toolkeeper demo``, run as the README runs it: within a minute the story unfolds on the API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx


def test_demo_serves_a_live_dashboard_where_the_strong_model_fails_over(tmp_path: Path) -> None:
    """The demo prints a URL and a token; its API shows the tools, an open circuit, fallbacks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLKEEPER_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "toolkeeper", "demo", "--port", "0", "--duration", "40",
         "--rate", "10"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        token = process.stdout.readline().strip()
        assert token.startswith("tk_")
        url = None
        while url is None:
            line = process.stderr.readline()
            assert line, "the demo ended before printing its URL"
            match = re.search(r"dashboard: (http://127\.0\.0\.1:\d+)/", line)
            url = match.group(1) if match else None
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})
        assert client.get("/healthz").status_code == 200
        assert client.get("/api/v1/health").status_code == 200
        seen_open = False
        fallbacks = 0
        deadline = time.monotonic() + 35
        while time.monotonic() < deadline and not (seen_open and fallbacks):
            time.sleep(1)
            strong = client.get("/api/v1/tools/openai-strong").json()
            circuit = strong.get("circuit") or {}
            seen_open = seen_open or circuit.get("state") in ("open", "half_open")
            operations = client.get(
                "/api/v1/operations", params={"tool": "openai-strong", "status": "fallback"}
            ).json()
            fallbacks = operations["total"]
        tools = {tool["name"] for tool in client.get("/api/v1/tools").json()["tools"]}
        assert {"openai-strong", "openai-weak", "router", "prompts"} <= tools
        assert seen_open, "the strong model's circuit never opened during its outage"
        assert fallbacks > 0
        client.close()
    finally:
        process.terminate()
        _, rest = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "Traceback" not in rest, rest
    assert (tmp_path / ".toolkeeper" / "demo.toml").exists()
    assert 'api_key = "env:TOOLKEEPER_DEMO_KEY"' in (tmp_path / ".toolkeeper/demo.toml").read_text()
