"""Read-only commands run beside an application: no store made, no secret needed, 80 columns."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from toolkeeper import Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.demo import DEMO_KEY_ENV, demo_config
from toolkeeper.monitor import OperationStatus

LONG_NAME = "openai-strong-reasoning-eu-west"


def toolkeeper(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``toolkeeper ARGS`` in ``cwd`` as an operator's shell: 80 columns, no app secrets."""
    full_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TOOLKEEPER_") and key != "COLUMNS"
    }
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "toolkeeper", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def demo_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Leave the demo's configuration and a store with operations in ``tmp_path``."""
    text = demo_config("http://127.0.0.1:9/v1").replace(
        "[tools.prompts]", f"[tools.{LONG_NAME}]\n\n[tools.prompts]"
    )
    (tmp_path / "demo.toml").write_text(text)
    monkeypatch.setenv(DEMO_KEY_ENV, "sk-demo-only-the-application-knows")
    keeper = Keeper.open(
        ConfigFile.parse(text), store=f"sqlite:///{tmp_path / 'demo.db'}", follow_changes=False
    )
    for index in range(20):
        keeper.monitoring.record(
            "openai-strong", "chat", OperationStatus.SUCCESS, 0.3 + index / 100
        )
        keeper.monitoring.record("prompts", "render", OperationStatus.SUCCESS, 0.00004)
        keeper.monitoring.record(LONG_NAME, "chat", OperationStatus.SUCCESS, 0.2)
    keeper.close()
    return tmp_path


def pointed(folder: Path) -> dict[str, str]:
    """Return the variables the demo prints for pointing the CLI at it."""
    return {
        "TOOLKEEPER_CONFIG": str(folder / "demo.toml"),
        "TOOLKEEPER_STORE": f"sqlite:///{folder / 'demo.db'}",
    }


def test_health_in_a_folder_without_a_store_fails_naming_the_path_and_creates_nothing(
    tmp_path: Path,
) -> None:
    """``toolkeeper health`` where no store exists exits 1 naming the path and leaves no file."""
    (tmp_path / "toolkeeper.toml").write_text('[tools.openai]\napi_endpoint = "https://x.test"\n')
    for command in (["health"], ["costs"], ["export"], ["alerts", "list"]):
        result = toolkeeper(command, tmp_path)
        assert result.returncode == 1, (command, result.stdout)
        assert f"no store at {tmp_path.resolve() / '.toolkeeper' / 'state.db'}" in result.stderr
    assert not (tmp_path / ".toolkeeper").exists()


def test_the_demo_store_reads_without_the_demo_key(demo_folder: Path) -> None:
    """Health, config show, costs and alerts read the demo's store with its key unset."""
    env = pointed(demo_folder)
    for command in (["health"], ["config", "show", "openai-strong"], ["costs"], ["alerts", "list"]):
        result = toolkeeper(command, demo_folder, **env)
        assert result.returncode == 0, (command, result.stderr)
        assert DEMO_KEY_ENV not in result.stderr
    shown = toolkeeper(["config", "show", "openai-strong"], demo_folder, **env).stdout
    assert re.search(r"api_key\s+\"\*\*\*\*\"", shown)


def test_health_of_an_unknown_tool_exits_1(demo_folder: Path) -> None:
    """``toolkeeper health nosuchtool`` is an error listing the known tools, not an empty row."""
    result = toolkeeper(["health", "nosuchtool"], demo_folder, **pointed(demo_folder))
    assert result.returncode == 1
    assert "unknown tool 'nosuchtool'" in result.stderr
    assert "openai-strong" in result.stderr


def test_config_show_prints_toml_json_literals_not_python_reprs(demo_folder: Path) -> None:
    """Decimals, booleans, nothing and strings print as 6.3, true, null and "text"."""
    shown = toolkeeper(["config", "show", "openai-strong"], demo_folder, **pointed(demo_folder))
    assert shown.returncode == 0, shown.stderr
    for python in ("Decimal(", "True", "False", "None", "'"):
        assert python not in shown.stdout
    assert re.search(r"daily_budget\s+6\.3\d*\s", shown.stdout)
    assert re.search(r"enabled\s+true\s", shown.stdout)
    assert re.search(r"api_version\s+null\s", shown.stdout)
    assert re.search(r"budget_policy\s+\"fallback\"\s", shown.stdout)


def test_health_fits_80_columns_with_long_names_and_shows_sub_millisecond_p95(
    demo_folder: Path,
) -> None:
    """Every line fits 80 columns, a long tool name folds whole, and a 0.04 ms p95 is not 0."""
    result = toolkeeper(["health"], demo_folder, **pointed(demo_folder))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in result.stdout  # nothing is cut short
    first_cells = "".join(line.split()[0] for line in lines if line.strip())
    assert LONG_NAME in first_cells  # folded onto several lines, whole
    prompts = next(line for line in lines if line.lstrip().startswith("prompts "))
    assert re.search(r"\b0\.0\d ms\b", prompts), prompts


@pytest.mark.parametrize(
    "command",
    [[], ["health"], ["costs"], ["export"], ["demo"], ["config", "show"], ["alerts", "list"]],
)
def test_help_shows_no_type_beside_flags(tmp_path: Path, command: list[str]) -> None:
    """``--help`` lists flags such as --json and --help without a ``<bool>`` value."""
    result = toolkeeper([*command, "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "--help" in result.stdout
    assert "<bool>" not in result.stdout


@pytest.mark.parametrize(
    "command",
    [
        ["costs"],
        ["alerts", "list"],
        ["config", "show", LONG_NAME],
        ["config", "history", "openai-strong"],
    ],
)
def test_read_only_output_fits_80_columns_and_cuts_nothing(
    demo_folder: Path, command: list[str]
) -> None:
    """Costs, alert rules and configuration fit 80 columns with names folded whole, never cut."""
    result = toolkeeper(command, demo_folder, **pointed(demo_folder))
    assert result.returncode == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "…" not in result.stdout
