"""The canary test: a secret never appears in output, logs, errors, history, diffs or the store."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from toolkeeper._errors import ToolkeeperError
from toolkeeper._secrets import generate_key
from toolkeeper.config import Configuration, Keyring
from toolkeeper.config.files import ConfigFile
from toolkeeper.integrations.openai_compat import ChatClient, ChatError
from toolkeeper.keeper import Keeper
from toolkeeper.monitor.records import OperationStatus
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


# --- cross-tool and cut keys ------------------------------------------------------------------

OTHER = "sk-other-tool-9876543210zyxwvu"  # another tool's key, 30 characters


def _upstream_quoting(body_message: str) -> tuple[ThreadingHTTPServer, str]:
    """Serve on loopback an OpenAI-compatible endpoint answering every call 401, quoting text."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            body = json.dumps({"error": {"message": body_message, "type": "auth"}}).encode()
            self.send_response(401)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


def _pieces(secret: str, size: int = 12) -> list[str]:
    return [secret[start : start + size] for start in range(len(secret) - size + 1)]


@pytest.mark.parametrize("quoted", ["whole", "cut", "inside"])
def test_another_tools_key_quoted_by_an_upstream_is_never_recorded(
    tmp_path: Path, store_uri: str, quoted: str
) -> None:
    """An upstream error quoting another tool's key (whole, cut, glued) is stored without it."""
    message = {
        # The key alone, and the key cut where the old 200-character limit fell.
        "whole": f"invalid key {OTHER}",
        "cut": "x" * (200 - 22 - len("invalid key ")) + f"invalid key {OTHER}",
        "inside": f"token=abc{OTHER}def;proxy said {CANARY[:14]}",
    }[quoted]
    server, endpoint = _upstream_quoting(message)
    path = tmp_path / "toolkeeper.toml"
    path.write_text(
        "[tools.openai]\n"
        f'api_endpoint = "{endpoint}"\n'
        'api_key = "env:TK_CANARY"\n'
        "max_retry_attempts = 0\n"
        "timeout_seconds = 5\n"
        "[tools.anthropic]\n"
        'api_endpoint = "https://api.anthropic.example/v1"\n'
        'api_key = "env:TK_OTHER"\n'
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TK_CANARY", CANARY)
        patch.setenv("TK_OTHER", OTHER)
        keeper = Keeper.open(path, store=store_uri, follow_changes=False)
    try:
        client = ChatClient(lambda: keeper.config.get("openai"))  # type: ignore[arg-type, return-value]

        @keeper.tool("openai", operation="chat")
        def chat(prompt: str) -> dict[str, object]:
            return client.chat([{"role": "user", "content": prompt}], model="gpt-4o-mini")

        with pytest.raises(ChatError):
            chat("hello")
        op = keeper.monitoring
        op.start_operation("manual-1", "anthropic", "call")
        op.record_error("manual-1", f"upstream echoed {CANARY} and {OTHER[:20]}")
        op.record_fallback("manual-1", reason=f"fallback after {OTHER}")
        op.end_operation("manual-1")
        op.record("anthropic", "direct", OperationStatus.ERROR, 0.01, error_message=f"x{OTHER}y")
        keeper.flush()
        texts = [
            json.dumps(op.export_metrics(), default=str),
            json.dumps(op.get_system_health(), default=str),
            repr(op.get_wrapper_health("openai")),
            repr(op.get_wrapper_health("anthropic")),
        ]
        client.close()
    finally:
        keeper.close()
        server.shutdown()
    stored = _store_contents(store_uri).decode("utf-8", "replace")
    assert "invalid key" in stored or "token=abc" in stored  # the error itself was recorded
    for text_ in [stored, *texts]:
        for piece in _pieces(OTHER) + _pieces(CANARY):
            assert piece not in text_, f"{piece!r} leaked"


def test_every_text_of_a_directly_recorded_operation_loses_the_keys(
    tmp_path: Path, store_uri: str
) -> None:
    """``record`` and the lifecycle API redact every text (labels, ids, reasons), both stores."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text(
        "[tools.openai]\n"
        'api_endpoint = "https://api.example.com/v1"\n'
        'api_key = "env:TK_CANARY"\n'
        "[tools.anthropic]\n"
        'api_endpoint = "https://api.anthropic.example/v1"\n'
        'api_key = "env:TK_OTHER"\n'
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TK_CANARY", CANARY)
        patch.setenv("TK_OTHER", OTHER)
        keeper = Keeper.open(path, store=store_uri, follow_changes=False)
    try:
        op = keeper.monitoring
        op.record(
            "anthropic", "direct", OperationStatus.FALLBACK, 0.01,
            fallback_reason=f"primary refused {CANARY}", fallback_name=f"cache-{OTHER[:15]}",
            original_error=f"401 for {OTHER}", error_code=f"E-{CANARY[3:20]}",
            labels={"tenant": f"t-{OTHER[2:16]}", f"k{CANARY}": "v"},
            user_id=f"user {CANARY}", session_id=OTHER[:13], request_id=f"r{OTHER}",
            parent_id=f"p{CANARY}", model=f"gpt-{OTHER}",
            custom_metrics={"note": f"said {CANARY}", "tokens_left": 12},
        )  # fmt: skip
        op.start_operation(f"op-{CANARY}", "anthropic", "lifecycle")
        op.record_error(f"op-{CANARY}", "upstream refused", error_code=f"E{OTHER}")
        op.record_success(f"op-{CANARY}", custom_metrics={"echo": f"{OTHER[:20]}!"})
        op.end_operation(f"op-{CANARY}")
        keeper.flush()
        exported = op.export_metrics(wrapper_name="anthropic")
        texts = [json.dumps(exported, default=str), json.dumps(op.get_system_health(), default=str)]
    finally:
        keeper.close()
    assert {record["operation_type"] for record in exported} == {"direct", "lifecycle"}
    direct = next(record for record in exported if record["operation_type"] == "direct")
    assert direct["labels"]["tenant"] == "t-****"  # the text stays, only the key's piece goes
    assert direct["custom_metrics"]["tokens_left"] == 12
    stored = _store_contents(store_uri).decode("utf-8", "replace")
    assert "primary refused" in stored  # the record itself was stored
    for text_ in [stored, *texts]:
        for piece in _pieces(OTHER) + _pieces(CANARY):
            assert piece not in text_, f"{piece!r} leaked"


def test_an_error_echoing_the_secret_key_records_none_of_it(
    tmp_path: Path, store_uri: str
) -> None:
    """Every Fernet key of the keyring (current and old) is redacted, whole or cut, both stores."""
    old_key = generate_key()
    path = _file(tmp_path, Keyring([KEY]).encrypt(CANARY))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOOLKEEPER_SECRET_KEY", f"{KEY},{old_key}")
        keeper = Keeper.open(path, store=store_uri, follow_changes=False)
    try:

        @keeper.tool("openai", operation="chat")
        def chat(prompt: str) -> str:
            raise RuntimeError(f"decrypt failed with key {KEY} (cut: {old_key[:30]})")

        with pytest.raises(RuntimeError):
            chat("hello")
        keeper.monitoring.record(
            "openai", "direct", OperationStatus.ERROR, 0.01,
            error_message=f"env TOOLKEEPER_SECRET_KEY={old_key}", labels={"key": KEY[4:20]},
        )  # fmt: skip
        keeper.flush()
        exported = json.dumps(keeper.monitoring.export_metrics(), default=str)
    finally:
        keeper.close()
    stored = _store_contents(store_uri).decode("utf-8", "replace")
    assert "decrypt failed with key" in stored
    assert "TOOLKEEPER_SECRET_KEY=" in exported
    for text_ in (stored, exported):
        for piece in _pieces(KEY) + _pieces(old_key):
            assert piece not in text_, f"{piece!r} leaked"


def test_a_key_rotated_in_the_process_is_redacted_at_once(tmp_path: Path, store_uri: str) -> None:
    """After ``rotate_secrets`` in a running process, an error echoing the new key is redacted."""
    path = _file(tmp_path, Keyring([KEY]).encrypt(CANARY))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOOLKEEPER_SECRET_KEY", KEY)
        keeper = Keeper.open(path, store=store_uri, follow_changes=False)
    new_key = generate_key()
    try:
        keeper.config.rotate_secrets(Keyring([new_key, KEY]))

        @keeper.tool("openai", operation="chat")
        def chat(prompt: str) -> str:
            raise RuntimeError(f"decrypt failed with key {new_key}")

        with pytest.raises(RuntimeError):
            chat("hello")
        keeper.flush()
        assert keeper.config.get("openai").api_key.get_secret_value() == CANARY  # type: ignore[attr-defined]
    finally:
        keeper.close()
    stored = _store_contents(store_uri).decode("utf-8", "replace")
    assert "decrypt failed with key" in stored
    for piece in _pieces(new_key):
        assert piece not in stored, f"{piece!r} leaked"
