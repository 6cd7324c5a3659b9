"""Runtime changes against the operator's rules: references, hosts, secret types, bad files."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkeeper._errors import ConfigValidationError, SecretError
from toolkeeper._secrets import generate_key, resolve_secret
from toolkeeper.config import Configuration, Keyring
from toolkeeper.config.files import ConfigFile
from toolkeeper.store import open_store

CANARY = "sk-canary-0123456789abcdef"
FILE = """\
[tools.openai]
api_endpoint = "https://api.example.com/v1"
api_key = "env:TK_GUARD_KEY"

[tools.local]
api_endpoint = "http://127.0.0.1:9/v1"
"""
POLICY = """
[secrets]
runtime_references = ["env:TK_ALLOWED_*"]

[secrets.allowed_hosts]
openai = ["*.example.org"]
"""
ENVIRON = {"TK_GUARD_KEY": CANARY, "TK_ALLOWED_ONE": "sk-allowed-0123456789", "HOME": "/root"}


def _open(tmp_path: Path, store_uri: str, text: str) -> Configuration:
    path = tmp_path / "toolkeeper.toml"
    path.write_text(text)
    return Configuration(
        ConfigFile.load(path),
        store=open_store(store_uri),
        environ=ENVIRON,
        keyring=Keyring([generate_key()]),
    )


@pytest.fixture
def live(tmp_path: Path, store_uri: str) -> Iterator[Configuration]:
    """A live configuration with no [secrets] allow-lists, on each SQL store."""
    configuration = _open(tmp_path, store_uri, FILE)
    yield configuration
    configuration.close()
    configuration.store.close()


@pytest.fixture
def allowing(tmp_path: Path, store_uri: str) -> Iterator[Configuration]:
    """A live configuration whose file allows some references and hosts, on each SQL store."""
    configuration = _open(tmp_path, store_uri, FILE + POLICY)
    yield configuration
    configuration.close()
    configuration.store.close()


@pytest.mark.parametrize(
    "reference", ["env:HOME", "env:TK_GUARD_KEY", "file:/etc/hostname", "file:/no/such/file"]
)
def test_a_runtime_change_may_not_name_a_reference(live: Configuration, reference: str) -> None:
    """env:/file: at runtime is refused alike whether it exists or not; nothing is stored."""
    with pytest.raises(ConfigValidationError) as excinfo:
        live.update("openai", {"api_key": reference}, actor="eve", reason="x", source="api")
    (issue,) = excinfo.value.issues
    assert issue.path.endswith("api_key")
    assert "may not name an env: or file: reference" in issue.rule
    assert live.version("openai") == 0
    assert live.get("openai").api_key.get_secret_value() == CANARY  # type: ignore[attr-defined]


def test_a_stored_reference_is_never_resolved(live: Configuration) -> None:
    """A reference that reached the store anyway (an old version) makes the tool invalid, unread."""
    from toolkeeper.store.records import ConfigVersionRecord

    live.store.append_config_version(
        ConfigVersionRecord(
            environment=live.environment,
            tool="openai",
            values={"api_key": "env:HOME"},
            actor="old",
            reason="before the fix",
            source="api",
            diff=[],
        ),
        expected_version=0,
    )
    live.refresh()
    with pytest.raises(ConfigValidationError, match="may not name an env: or file: reference"):
        live.get("openai")


def test_an_allowed_reference_is_accepted_at_runtime(allowing: Configuration) -> None:
    """A reference matching the file's runtime_references is stored as written and resolved."""
    allowing.update("openai", {"api_key": "env:TK_ALLOWED_ONE"}, actor="ana", reason="r")
    config = allowing.get("openai")
    assert config.api_key.get_secret_value() == "sk-allowed-0123456789"  # type: ignore[attr-defined]
    assert allowing.store.latest_config_version(allowing.environment, "openai").values == {  # type: ignore[union-attr]
        "api_key": "env:TK_ALLOWED_ONE"
    }


def test_a_literal_secret_is_accepted_and_stored_encrypted(live: Configuration) -> None:
    """A literal secret given at runtime is stored as an enc: value, never in clear."""
    live.update("openai", {"api_key": "sk-new-literal-0123456789"}, actor="ana", reason="r")
    stored = live.store.latest_config_version(live.environment, "openai")
    assert stored is not None
    assert stored.values["api_key"].startswith("enc:")
    assert "sk-new-literal" not in repr(stored.values)


@pytest.mark.parametrize("value", [[CANARY], {"key": CANARY}, 1234567890123456789, True])
def test_a_secret_that_is_not_a_string_is_refused_unquoted(
    live: Configuration, value: object
) -> None:
    """A list, object, number or boolean given as api_key is refused; its value is not echoed."""
    with pytest.raises(ConfigValidationError) as excinfo:
        live.update("openai", {"api_key": value}, actor="ana", reason="r", source="api")
    (issue,) = excinfo.value.issues
    assert issue.path == "tools.openai.api_key"
    assert issue.rule.startswith("must be a string")
    assert not issue.has_value
    assert CANARY not in str(excinfo.value)
    assert str(value) not in str(excinfo.value)
    assert live.version("openai") == 0


def test_moving_a_secret_holding_tool_to_another_host_is_refused(live: Configuration) -> None:
    """A new endpoint on another host, keeping the tool's key, is refused and nothing stored."""
    with pytest.raises(ConfigValidationError) as excinfo:
        live.update("openai", {"api_endpoint": "https://attacker.test/v1"}, actor="eve", reason="x")
    (issue,) = excinfo.value.issues
    assert issue.path == "tools.openai.api_endpoint"
    assert "would send its api_key there" in issue.rule
    assert live.version("openai") == 0
    with pytest.raises(ConfigValidationError):
        live.preview("openai", {"api_endpoint": "https://attacker.test/v1"})


def test_moving_with_a_new_secret_in_the_same_change_is_allowed(live: Configuration) -> None:
    """The same change bringing a new key may move the tool anywhere."""
    live.update(
        "openai",
        {"api_endpoint": "https://other.test/v1", "api_key": "sk-other-0123456789abc"},
        actor="ana",
        reason="new provider",
    )
    assert live.get("openai").api_endpoint == "https://other.test/v1"  # type: ignore[attr-defined]


def test_moving_to_an_allowed_host_or_back_to_the_files_host_is_allowed(
    allowing: Configuration,
) -> None:
    """A host the file allows, and the file's own host, may receive the unchanged key."""
    allowing.update("openai", {"api_endpoint": "https://eu.example.org/v1"}, actor="a", reason="r")
    allowing.update("openai", {"api_endpoint": None}, actor="a", reason="back")
    assert allowing.get("openai").api_endpoint == "https://api.example.com/v1"  # type: ignore[attr-defined]
    allowing.update("openai", {"api_endpoint": "https://api.example.com/v2"}, actor="a", reason="r")


@pytest.mark.parametrize(
    "endpoint",
    ["http://api.example.com/v1", "http://api.example.com:443/v1", "http://API.example.com/v2"],
)
def test_leaving_https_on_the_same_host_is_refused(live: Configuration, endpoint: str) -> None:
    """https to http on the same host (any port, any case), keeping the key, is refused."""
    with pytest.raises(ConfigValidationError) as excinfo:
        live.update("openai", {"api_endpoint": endpoint}, actor="eve", reason="x")
    (issue,) = excinfo.value.issues
    assert issue.path == "tools.openai.api_endpoint"
    assert issue.value == endpoint
    assert "from https to" in issue.rule
    assert "would send its api_key unencrypted" in issue.rule
    assert endpoint in str(excinfo.value)
    assert CANARY not in str(excinfo.value)
    assert live.version("openai") == 0
    with pytest.raises(ConfigValidationError):
        live.preview("openai", {"api_endpoint": endpoint})


def test_an_allowed_host_is_no_leave_to_drop_https(allowing: Configuration) -> None:
    """[secrets.allowed_hosts] names hosts to reach over https: plain http to one is refused."""
    allowing.update("openai", {"api_endpoint": "https://eu.example.org/v1"}, actor="a", reason="r")
    with pytest.raises(ConfigValidationError) as excinfo:
        allowing.update(
            "openai", {"api_endpoint": "http://eu.example.org/v1"}, actor="a", reason="r"
        )
    assert "from https to http" in excinfo.value.issues[0].rule
    assert allowing.version("openai") == 1


def test_leaving_https_with_a_new_key_or_back_to_the_files_http_is_allowed(
    tmp_path: Path, store_uri: str
) -> None:
    """A new key in the same change may go to http; so may a return to the file's own http."""
    text = (
        FILE
        + '[tools.internal]\napi_endpoint = "http://10.0.0.5/v1"\napi_key = "env:TK_GUARD_KEY"\n'
    )
    configuration = _open(tmp_path, store_uri, text)
    try:
        configuration.update(
            "openai", {"api_endpoint": "http://api.example.com/v1", "api_key": "sk-new-012345678"},
            actor="a", reason="plain http behind the VPN",
        )  # fmt: skip
        configuration.update(
            "internal", {"api_endpoint": "https://10.0.0.5/v1"}, actor="a", reason="tls"
        )
        configuration.update(
            "internal", {"api_endpoint": "http://10.0.0.5/v2"}, actor="a", reason="back"
        )
        assert configuration.version("internal") == 2
        assert configuration.get("openai").api_endpoint == "http://api.example.com/v1"  # type: ignore[attr-defined]
    finally:
        configuration.close()
        configuration.store.close()


def test_a_tool_without_secrets_may_move_freely(live: Configuration) -> None:
    """Only tools holding a secret are held to their hosts."""
    live.update("local", {"api_endpoint": "https://anywhere.test/v1"}, actor="a", reason="r")
    assert live.version("local") == 1


def test_validate_checks_the_files_own_values_under_a_runtime_override(
    tmp_path: Path, store_uri: str
) -> None:
    """A bad file value shadowed by a runtime value is still reported by validate."""
    first = _open(tmp_path, store_uri, FILE)
    first.update("local", {"timeout_seconds": 5}, actor="a", reason="set at runtime")
    first.close()
    first.store.close()
    configuration = _open(tmp_path, store_uri, FILE + "timeout_seconds = -5\n")
    try:
        assert configuration.get("local").timeout_seconds == 5
        paths = [issue.path for issue in configuration.validate()]
        assert "tools.local.timeout_seconds" in paths
    finally:
        configuration.close()
        configuration.store.close()


def test_updates_without_an_expected_version_all_apply_under_contention(
    tmp_path: Path, store_uri: str
) -> None:
    """Writers racing without expected_version each get their change applied, none refused."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text(FILE)
    writers = [
        Configuration(ConfigFile.load(path), store=open_store(store_uri), environ=ENVIRON)
        for _ in range(4)
    ]
    errors: list[BaseException] = []
    start = threading.Barrier(len(writers))

    def write(index: int, configuration: Configuration) -> None:
        start.wait()
        for step in range(5):
            try:
                configuration.update(
                    "local",
                    {"timeout_seconds": index * 10 + step + 1},
                    actor=f"w{index}",
                    reason="r",
                )
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=write, args=item) for item in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert writers[0].version("local") == 20
    finally:
        for configuration in writers:
            configuration.close()
            configuration.store.close()


# --- files that are not what they should be ---------------------------------------------------


def test_a_binary_config_file_is_a_validation_error(tmp_path: Path) -> None:
    """A file of arbitrary bytes is reported as not UTF-8, not a UnicodeDecodeError."""
    path = tmp_path / "toolkeeper.toml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" + bytes(range(256)))
    with pytest.raises(ConfigValidationError, match="not UTF-8"):
        ConfigFile.load(path)


def test_a_latin1_config_file_is_a_validation_error(tmp_path: Path) -> None:
    """A TOML file saved as Latin-1 is reported as not UTF-8."""
    path = tmp_path / "toolkeeper.toml"
    path.write_bytes("[tools.caf\xe9]\ntimeout_seconds = 3\n".encode("latin-1"))
    with pytest.raises(ConfigValidationError, match="not UTF-8"):
        ConfigFile.load(path)


@pytest.mark.parametrize("depth", [1_500, 5_000])
def test_deeply_nested_arrays_are_a_validation_error(tmp_path: Path, depth: int) -> None:
    """Arrays nested thousands deep are reported as too deep, not a RecursionError."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text("[defaults]\nx = " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(ConfigValidationError, match="nested too deeply"):
        ConfigFile.load(path)


def test_a_file_secret_pointing_at_a_binary_file_is_a_secret_error(tmp_path: Path) -> None:
    """file: naming a binary file says it is not UTF-8 text, and shows none of it."""
    binary = tmp_path / "key.bin"
    binary.write_bytes(b"\xff\xfe\x00TOPSECRETVALUE\x80")
    with pytest.raises(SecretError, match="not UTF-8 text") as excinfo:
        resolve_secret(f"file:{binary}", keyring=None)
    assert "TOPSECRETVALUE" not in str(excinfo.value)


def test_secrets_table_shape_is_checked(tmp_path: Path) -> None:
    """A [secrets] table of the wrong shape names the key and the rule."""
    with pytest.raises(ConfigValidationError) as excinfo:
        ConfigFile.parse(
            '[secrets]\nruntime_references = "env:X"\nsurprise = 1\n'
            "[secrets.allowed_hosts]\nopenai = [1]\n"
        )
    paths = {issue.path for issue in excinfo.value.issues}
    assert paths == {
        "secrets.runtime_references",
        "secrets.surprise",
        "secrets.allowed_hosts.openai",
    }


@pytest.mark.parametrize(
    "written", ['["sk-in-a-list-0123456789"]', "12345678901234567", "{ a = 1 }"]
)
def test_a_secret_of_the_wrong_type_in_a_file_is_one_plain_problem(
    tmp_path: Path, written: str
) -> None:
    """api_key written as an array, number or table in the file: one problem, no pydantic names."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text(f"[tools.openai]\napi_key = {written}\n")
    configuration = Configuration(ConfigFile.load(path), store=open_store("memory://"), environ={})
    try:
        with pytest.raises(ConfigValidationError) as excinfo:
            configuration.get("openai")
    finally:
        configuration.store.close()
    (issue,) = excinfo.value.issues
    assert issue.path == "tools.openai.api_key"
    assert issue.line == 2
    assert issue.rule.startswith("must be a string")
    message = str(excinfo.value)
    assert "sk-in-a-list" not in message
    assert "12345678901234567" not in message
    assert "is-instance" not in message
    assert "function-after" not in message
