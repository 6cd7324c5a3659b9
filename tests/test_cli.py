"""The command line, run as a user runs it: a real process, its exit code and its output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "toolkeeper.toml"

LAYERED = """\
[tools.openai]
api_endpoint = "https://api.example.com/v1"
timeout_seconds = 30

[environments.staging.tools.openai]
timeout_seconds = 20
read_timeout_seconds = 45

[environments.production]
extends = "staging"

[environments.production.tools.openai]
max_retry_attempts = 5
"""


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``toolkeeper ARGS`` in ``tmp_path`` with a store there and extra variables."""
    full_env = {
        **os.environ,
        "TOOLKEEPER_STORE": f"sqlite:///{tmp_path / 'state.db'}",
        "COLUMNS": "200",
        "OPENAI_API_KEY": "sk-example-0123456789abcdef",
        **env,
    }
    full_env.pop("TOOLKEEPER_CONFIG", None)
    full_env.pop("TOOLKEEPER_ENV", None)
    return subprocess.run(
        [sys.executable, "-m", "toolkeeper", *args],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def layered(tmp_path: Path) -> Path:
    """Write a file whose production environment extends staging."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text(LAYERED)
    return path


def test_the_example_file_is_valid(tmp_path: Path) -> None:
    """The shipped example validates in every environment."""
    result = run(["--config", str(EXAMPLE), "config", "validate"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "3 tools" in result.stdout
    assert "production" in result.stdout


def test_validate_names_every_problem_and_changes_no_store(tmp_path: Path) -> None:
    """A negative timeout, an ftp endpoint and an unknown field are all named; no store appears."""
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[tools.openai]\ntimeout_seconds = -1\napi_endpoint = "ftp://example.com"\nbogus = 1\n'
    )
    result = run(["config", "validate", str(bad)], tmp_path)
    assert result.returncode == 1
    for path in (
        "tools.openai.timeout_seconds",
        "tools.openai.api_endpoint",
        "tools.openai.bogus",
    ):
        assert path in result.stderr
    assert f"{bad}:2" in result.stderr
    assert not (tmp_path / "state.db").exists()
    as_json = run(["config", "validate", str(bad), "--json"], tmp_path)
    assert as_json.returncode == 1
    assert len(json.loads(as_json.stdout)["issues"]) == 3


def test_validate_keeps_an_existing_store_unchanged(tmp_path: Path, layered: Path) -> None:
    """Validating a bad file leaves the versions already stored as they were."""
    assert (
        run(["config", "set", "openai", "timeout_seconds=9", "-m", "x"], tmp_path).returncode == 0
    )
    before = (tmp_path / "state.db").read_bytes()
    layered.write_text(LAYERED + "\n[tools.other]\ntimeout_seconds = -2\n")
    assert run(["config", "validate"], tmp_path).returncode == 1
    history = run(["config", "history", "openai", "--json"], tmp_path)
    assert [v["version"] for v in json.loads(history.stdout)] == [1]
    assert (tmp_path / "state.db").read_bytes() == before


def test_explain_shows_inherited_and_overridden_values_with_sources(
    tmp_path: Path, layered: Path
) -> None:
    """Production shows staging's inherited value, its own override, and a variable winning."""
    result = run(
        ["--env", "production", "config", "show", "openai", "--explain", "--json"],
        tmp_path,
        TOOLKEEPER_TOOLS__OPENAI__TIMEOUT_SECONDS="12",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    sources = {row["field"]: row for row in data["sources"]}
    assert data["values"]["timeout_seconds"] == 12
    assert sources["timeout_seconds"]["source"] == "variable"
    assert "TOOLKEEPER_TOOLS__OPENAI__TIMEOUT_SECONDS" in sources["timeout_seconds"]["origin"]
    assert data["values"]["read_timeout_seconds"] == 45
    assert "environments.staging" in sources["read_timeout_seconds"]["origin"]
    assert sources["read_timeout_seconds"]["line"] == 7
    assert data["values"]["max_retry_attempts"] == 5
    assert "environments.production" in sources["max_retry_attempts"]["origin"]
    assert sources["api_endpoint"]["line"] == 2
    table = run(["--env", "production", "config", "show", "openai", "--explain"], tmp_path)
    assert "toolkeeper.toml:7" in table.stdout


def test_set_then_rollback_restores_the_value_with_actor_and_reason(
    tmp_path: Path, layered: Path
) -> None:
    """``set`` then ``rollback`` brings the old value back as a new version, audited."""
    changed = run(
        ["config", "set", "openai", "timeout_seconds=12", "--reason", "slow", "--actor", "ana"],
        tmp_path,
    )
    assert changed.returncode == 0, changed.stderr
    assert "version 1" in changed.stdout
    back = run(
        ["config", "rollback", "openai", "0", "--reason", "revert", "--actor", "bob"], tmp_path
    )
    assert back.returncode == 0, back.stderr
    shown = json.loads(run(["config", "show", "openai", "--json"], tmp_path).stdout)
    assert shown["values"]["timeout_seconds"] == 30
    assert shown["version"] == 2
    history = json.loads(run(["config", "history", "openai", "--json"], tmp_path).stdout)
    assert [(v["version"], v["actor"], v["reason"], v["source"]) for v in history] == [
        (1, "ana", "slow", "cli"),
        (2, "bob", "revert", "cli"),
    ]
    diff = json.loads(run(["config", "diff", "openai", "1", "2", "--json"], tmp_path).stdout)
    assert diff == [{"field": "timeout_seconds", "from": 12.0, "to": 30.0}]


def test_a_stale_expected_version_exits_non_zero(tmp_path: Path, layered: Path) -> None:
    """``--expected-version`` that is no longer current is refused with both versions named."""
    assert (
        run(["config", "set", "openai", "timeout_seconds=9", "-m", "x"], tmp_path).returncode == 0
    )
    stale = run(
        ["config", "set", "openai", "timeout_seconds=8", "-m", "y", "--expected-version", "0"],
        tmp_path,
    )
    assert stale.returncode == 1
    assert "expected version 0" in stale.stderr
    assert "latest is version 1" in stale.stderr


def test_an_unknown_environment_or_tool_is_a_clear_error(tmp_path: Path, layered: Path) -> None:
    """Naming an environment or tool that does not exist fails and lists the known ones."""
    env = run(["--env", "prod", "config", "show", "openai"], tmp_path)
    assert env.returncode == 1
    assert "unknown environment 'prod'" in env.stderr
    tool = run(["config", "show", "anthropic"], tmp_path)
    assert tool.returncode == 1
    assert "unknown tool 'anthropic'; configured tools: openai" in tool.stderr


def test_secrets_keygen_and_encrypt_round_trip(tmp_path: Path, layered: Path) -> None:
    """A generated key encrypts a value that config show reads back masked, and shows without it."""
    key = run(["secrets", "keygen"], tmp_path).stdout.strip().splitlines()[-1]
    encrypted = run(
        ["secrets", "encrypt", "sk-secret-0123456789abcdef"], tmp_path, TOOLKEEPER_SECRET_KEY=key
    )
    assert encrypted.returncode == 0, encrypted.stderr
    token = encrypted.stdout.strip()
    assert token.startswith("enc:")
    layered.write_text(LAYERED.replace("timeout_seconds = 30", f'api_key = "{token}"'))
    shown = run(["config", "show", "openai", "--json"], tmp_path, TOOLKEEPER_SECRET_KEY=key)
    assert json.loads(shown.stdout)["values"]["api_key"] == "****cdef"
    no_key = run(["config", "show", "openai", "--json"], tmp_path)
    assert no_key.returncode == 0, no_key.stderr  # showing needs no key: the secret stays unread
    assert json.loads(no_key.stdout)["values"]["api_key"] == "****"
    invalid = run(["config", "validate"], tmp_path)
    assert invalid.returncode == 1  # validating does need it
    assert "TOOLKEEPER_SECRET_KEY" in invalid.stdout + invalid.stderr


def test_keygen_writes_a_private_key_file(tmp_path: Path) -> None:
    """``keygen --file`` writes a 0600 file that the configuration accepts as its key."""
    path = tmp_path / "key"
    assert run(["secrets", "keygen", "--file", str(path)], tmp_path).returncode == 0
    assert path.stat().st_mode & 0o777 == 0o600
    result = run(["secrets", "encrypt", "x"], tmp_path, TOOLKEEPER_SECRET_KEY_FILE=str(path))
    assert result.stdout.startswith("enc:")


@pytest.mark.parametrize(
    "command",
    [[], ["config"], ["secrets"], ["config", "show"], ["config", "set"], ["secrets", "rotate"]],
)
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    """``--help`` works on every command and group."""
    result = run([*command, "--help"], tmp_path)
    assert result.returncode == 0
    assert "Usage" in result.stdout


def test_a_usage_error_exits_non_zero(tmp_path: Path) -> None:
    """A missing argument is a usage error with a non-zero exit code."""
    result = run(["config", "set", "openai"], tmp_path)
    assert result.returncode == 2
    assert "Missing" in result.stderr


@pytest.mark.parametrize("command", [["serve"], ["demo", "--duration", "5"]])
def test_a_busy_port_is_a_clear_error(tmp_path: Path, command: list[str]) -> None:
    """Serving on a port already taken exits 1 naming the address, without a traceback."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run([*command, "--port", str(port)], tmp_path)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_set_refuses_references_and_non_string_secrets(
    tmp_path: Path, layered: Path
) -> None:
    """`config set` with api_key=env:/file: or a JSON array exits 1 naming the rule, no echo."""
    key = {"TOOLKEEPER_SECRET_KEY": "x" * 43 + "="}
    for value, rule in (
        ("env:HOME", "may not name an env: or file: reference"),
        ("file:/etc/hostname", "may not name an env: or file: reference"),
        ('["sk-in-a-list-0123456789"]', "must be a string"),
    ):
        result = run(["config", "set", "openai", f"api_key={value}", "-m", "try"], tmp_path, **key)
        assert result.returncode == 1, (value, result.stdout, result.stderr)
        assert rule in result.stderr
        assert "Traceback" not in result.stderr
        assert "sk-in-a-list" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "content",
    [b"\x89PNG\r\n\x1a\n\x00\xff" + bytes(range(256)), "[tools.caf\xe9]\n".encode("latin-1")],
)
def test_validate_reports_a_binary_or_non_utf8_file(tmp_path: Path, content: bytes) -> None:
    """`config validate` on a binary or Latin-1 file exits 1 saying it is not UTF-8."""
    (tmp_path / "toolkeeper.toml").write_bytes(content)
    result = run(["config", "validate"], tmp_path)
    assert result.returncode == 1
    assert "not UTF-8" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_validate_reports_arrays_nested_too_deeply(tmp_path: Path) -> None:
    """`config validate` on arrays nested 1,500 deep exits 1, not a RecursionError."""
    (tmp_path / "toolkeeper.toml").write_text("[defaults]\nx = " + "[" * 1500 + "]" * 1500)
    result = run(["config", "validate"], tmp_path)
    assert result.returncode == 1
    assert "nested too deeply" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
