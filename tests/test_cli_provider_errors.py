"""Provider errors across processes: an application's served outage, read by ``health``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.test_cli import run

CONFIG = "[tools.llm]\nmax_retry_attempts = 0\n"
#: The application: 2 calls served by the provider, 3 by the fallback after it failed.
APPLICATION = textwrap.dedent(
    """
    import sys
    from toolkeeper import Keeper

    keeper = Keeper.open(sys.argv[1], store=sys.argv[2], follow_changes=False)
    up = {"now": True}

    @keeper.tool("llm", operation="chat", fallback=lambda: "local")
    def chat():
        if not up["now"]:
            raise ConnectionError("upstream down")
        return "remote"

    assert [chat(), chat()] == ["remote", "remote"]
    up["now"] = False
    assert [chat(), chat(), chat()] == ["local"] * 3
    keeper.close()
    """
)


@pytest.fixture
def served_outage(store_uri: str, tmp_path: Path) -> str:
    """Run the application in its own process against ``store_uri``; return the URI."""
    config = tmp_path / "toolkeeper.toml"
    config.write_text(CONFIG)
    done = subprocess.run(
        [sys.executable, "-c", APPLICATION, str(config), store_uri],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return store_uri


def test_health_json_reports_the_applications_provider_errors_and_no_failed_call(
    served_outage: str, tmp_path: Path
) -> None:
    """Another process reads 3 failed attempts in 5 calls: provider errors 60%, failed calls 0%."""
    result = run(["health", "--json"], tmp_path, TOOLKEEPER_STORE=served_outage)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    (tool,) = data["tools"]
    assert tool["wrapper_name"] == "llm"
    assert tool["provider_error_rate"] == pytest.approx(0.6)
    assert tool["error_rate"] == 0.0
    assert tool["fallback_rate"] == pytest.approx(0.6)
    assert (data["system"]["error_count"], data["system"]["failed_attempt_count"]) == (0, 3)
    one = run(["health", "llm", "--json"], tmp_path, TOOLKEEPER_STORE=served_outage)
    assert json.loads(one.stdout)["provider_error_rate"] == pytest.approx(0.6)


def test_health_table_shows_failed_calls_and_provider_errors_side_by_side(
    served_outage: str, tmp_path: Path
) -> None:
    """The failed and provider columns read 0.0% and 60.0%, and a legend says what each is."""
    result = run(["health"], tmp_path, TOOLKEEPER_STORE=served_outage, COLUMNS="80")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "provider" in line and "failed" in line)
    assert header.index("failed") < header.index("provider") < header.index("fallback")
    row = next(line for line in lines if line.lstrip().startswith("llm "))
    assert re.search(r"\b0\.0%\s+60\.0%\s+60\.0%", row), row
    assert "provider: failed calls plus calls a" in result.stdout
    assert max(len(line) for line in lines) <= 80
