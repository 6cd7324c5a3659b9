"""The canary test: a secret never appears in output, logs, errors, history, diffs or the store."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from toolkeeper._errors import ToolkeeperError
from toolkeeper.config import Configuration, Keyring
from toolkeeper.config.files import ConfigFile
from toolkeeper.config.secrets import generate_key
from toolkeeper.store import open_store

CANARY = "sk-canary-0123456789abcdef"
KEY = generate_key()


def _file(tmp_path: Path, api_key: str) -> Path:
    path = tmp_path / "toolkeeper.toml"
    path.write_text(
        "[tools.openai]\n"
        'api_endpoint = "https://api.example.com/v1"\n'
        f'api_key = "{api_key}"\n'
        "[environments.production.tools.openai]\n"
        "timeout_seconds = 10\n"
    )
    return path


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "toolkeeper", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _store_contents(store_uri: str) -> bytes:
    if store_uri.startswith("sqlite:///"):
        db = Path(store_uri.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    engine = create_engine(store_uri.replace("postgresql://", "postgresql+psycopg://"))
    dump = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            dump.extend(repr(tuple(row)) for row in conn.execute(text(f'SELECT * FROM "{table}"')))
    engine.dispose()
    return "\n".join(dump).encode()


@pytest.mark.parametrize("written_as", ["reference", "encrypted"])
def test_the_canary_never_leaks(
    tmp_path: Path, store_uri: str, written_as: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With the canary as api_key (env: or enc:), no output, log, error or table shows it."""
    api_key = "env:TK_CANARY" if written_as == "reference" else Keyring([KEY]).encrypt(CANARY)
    path = _file(tmp_path, api_key)
    env = {
        **os.environ,
        "TK_CANARY": CANARY,
        "TOOLKEEPER_SECRET_KEY": KEY,
        "TOOLKEEPER_CONFIG": str(path),
        "TOOLKEEPER_STORE": store_uri,
        "COLUMNS": "200",
    }
    outputs: list[str] = []
    commands = [
        ["config", "validate"],
        ["config", "show", "openai", "--explain"],
        ["config", "show", "openai", "--json", "--explain"],
        ["--env", "production", "config", "show", "openai", "--explain"],
        ["config", "set", "openai", "timeout_seconds=12", "--reason", "slow", "--actor", "ana"],
        ["config", "set", "openai", f"api_key={CANARY}x", "--reason", "new key"],
        ["config", "set", "openai", "timeout_seconds=-1", f"api_key={CANARY}", "--reason", "bad"],
        ["config", "history", "openai"],
        ["config", "history", "openai", "--json"],
        ["config", "diff", "openai", "0", "2"],
        ["config", "diff", "openai", "1", "2", "--json"],
        ["config", "rollback", "openai", "0", "--reason", "revert"],
        ["config", "show", "openai", "--json"],
        ["secrets", "rotate"],
    ]
    for command in commands:
        result = _run(command, env)
        outputs.append(result.stdout + result.stderr)
    assert "is now at version 2" in outputs[5]
    assert "must be greater than 0" in outputs[6]
    for command, output in zip(commands, outputs, strict=True):
        assert CANARY not in output, f"canary leaked by {command}"

    caplog.set_level(logging.DEBUG)
    store = open_store(store_uri)
    configuration = Configuration(
        ConfigFile.load(path), store=store, environ={"TK_CANARY": CANARY}, keyring=Keyring([KEY])
    )
    seen = [
        repr(configuration.get("openai")),
        str(configuration.get("openai").to_dict()),
        str(configuration.explain("openai")),
        str(configuration.history("openai")),
        str(configuration.diff("openai", 0, 2)),
    ]
    configuration.update("openai", {"api_key": CANARY}, actor="a", reason="r")
    for changes in ({"timeout_seconds": -5, "api_key": CANARY}, {"api_key": 5}):
        with pytest.raises(ToolkeeperError) as caught:
            configuration.update("openai", changes, actor="a", reason="r", expected_version=0)
        seen.append(str(caught.value))
    store.close()
    seen.extend(record.getMessage() for record in caplog.records)
    assert all(CANARY not in text_ for text_ in seen)
    assert CANARY.encode() not in _store_contents(store_uri)
