"""Secrets: masking, the Secret value, references, encryption, key rings and storable forms."""

from __future__ import annotations

import pickle
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkeeper._errors import (
    SecretDecryptionError,
    SecretError,
    SecretKeyMissingError,
)
from toolkeeper._secrets import (
    KEY_ENV,
    KEY_FILE_ENV,
    Keyring,
    Secret,
    generate_key,
    mask,
    resolve_secret,
    storable_form,
    write_key_file,
)

CANARY = "sk-canary-0123456789abcdef"


@pytest.fixture
def keyring() -> Keyring:
    """Return a keyring holding one fresh key."""
    return Keyring([generate_key()])


# --- mask -------------------------------------------------------------------------------------


@given(st.text())
def test_mask_reveals_at_most_the_last_four_characters(value: str) -> None:
    """The masked form is `****` followed by nothing or by the value's last four characters."""
    masked = mask(value)
    assert masked.startswith("****")
    revealed = masked.removeprefix("****")
    assert len(revealed) <= 4
    assert value.endswith(revealed)


@given(st.text(max_size=15))
def test_mask_reveals_nothing_of_a_value_shorter_than_sixteen(value: str) -> None:
    """A value shorter than 16 characters masks to exactly `****`."""
    assert mask(value) == "****"


@given(st.text(min_size=16))
def test_mask_shows_the_last_four_characters_from_sixteen_on(value: str) -> None:
    """A value of 16 characters or more masks to `****` plus its last four characters."""
    assert mask(value) == "****" + value[-4:]


@given(st.text(min_size=5))
def test_mask_never_contains_the_whole_value(value: str) -> None:
    """The masked form of a value of five characters or more never contains that value."""
    assert value not in mask(value)


# --- Secret -----------------------------------------------------------------------------------


@given(st.text())
def test_secret_renders_only_its_masked_form(value: str) -> None:
    """repr, str, format and f-strings of a Secret render its masked form and nothing else."""
    secret = Secret(value)
    masked = mask(value)
    assert str(secret) == masked
    assert format(secret) == masked
    assert f"{secret}" == masked
    assert f"{secret!s}" == masked
    assert repr(secret) == f"Secret({masked!r})"
    assert f"{secret!r}" == f"Secret({masked!r})"


def test_secret_renders_as_its_masked_form() -> None:
    """A Secret renders as `****` plus the last four characters of a long value."""
    secret = Secret(CANARY)
    assert str(secret) == "****cdef"
    assert repr(secret) == "Secret('****cdef')"
    assert f"{secret:>10}" == "  ****cdef"
    assert secret.masked == "****cdef"
    assert secret.get_secret_value() == CANARY


def test_secrets_with_the_same_value_are_equal() -> None:
    """Two Secrets compare equal, and hash alike, exactly when their values match."""
    assert Secret(CANARY) == Secret(CANARY, source="env:TK_CANARY")
    assert hash(Secret(CANARY)) == hash(Secret(CANARY, source="env:TK_CANARY"))
    assert Secret(CANARY) != Secret(CANARY + "x")
    assert Secret("short") != Secret("other")


def test_secret_never_equals_its_plain_string() -> None:
    """A Secret does not compare equal to a bare string, even one holding its value."""
    assert Secret(CANARY) != CANARY
    assert Secret(CANARY) != Secret(CANARY).get_secret_value()
    assert Secret(CANARY).__eq__(CANARY) is NotImplemented


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_secret_refuses_to_be_pickled(protocol: int) -> None:
    """Pickling a Secret raises TypeError under every pickle protocol."""
    with pytest.raises(TypeError, match="cannot be pickled") as excinfo:
        pickle.dumps(Secret(CANARY), protocol=protocol)
    assert CANARY not in str(excinfo.value)


# --- resolve_secret ---------------------------------------------------------------------------


def test_resolve_env_reference_reads_the_variable() -> None:
    """An `env:NAME` reference resolves to the variable's value and keeps the reference."""
    secret = resolve_secret("env:TK_CANARY", keyring=None, environ={"TK_CANARY": CANARY})
    assert secret.get_secret_value() == CANARY
    assert secret.source == "env:TK_CANARY"


def test_resolve_file_reference_strips_the_trailing_newline(tmp_path: Path) -> None:
    """A `file:/path` reference resolves to the file's text without its trailing newline."""
    path = tmp_path / "api_key"
    path.write_text(CANARY + "\n")
    secret = resolve_secret(f"file:{path}", keyring=None, environ={})
    assert secret.get_secret_value() == CANARY
    assert secret.source == f"file:{path}"


def test_resolve_encrypted_value_opens_it_with_the_keyring(keyring: Keyring) -> None:
    """An `enc:` value resolves to its plaintext and keeps the ciphertext as its source."""
    token = keyring.encrypt(CANARY)
    assert token.startswith("enc:")
    assert CANARY not in token
    secret = resolve_secret(token, keyring=keyring, environ={})
    assert secret.get_secret_value() == CANARY
    assert secret.source == token


def test_resolve_plain_value_is_the_secret_itself() -> None:
    """A value with no known prefix is the secret itself and has no safe source."""
    secret = resolve_secret(CANARY, keyring=None, environ={})
    assert secret.get_secret_value() == CANARY
    assert secret.source is None


def test_resolve_missing_env_variable_names_the_reference_not_the_secret() -> None:
    """A reference to an unset variable raises SecretError naming the reference only."""
    with pytest.raises(SecretError) as excinfo:
        resolve_secret("env:TK_MISSING", keyring=None, environ={"TK_CANARY": CANARY})
    assert type(excinfo.value) is SecretError
    assert "env:TK_MISSING" in str(excinfo.value)
    assert CANARY not in str(excinfo.value)


def test_resolve_missing_file_names_the_path(tmp_path: Path) -> None:
    """A reference to a missing file raises SecretError naming the file's path."""
    path = tmp_path / "absent"
    with pytest.raises(SecretError) as excinfo:
        resolve_secret(f"file:{path}", keyring=None, environ={})
    assert type(excinfo.value) is SecretError
    assert str(path) in str(excinfo.value)


def test_resolve_encrypted_value_without_a_key_is_refused(keyring: Keyring) -> None:
    """An `enc:` value with no keyring raises SecretKeyMissingError naming the key variables."""
    token = keyring.encrypt(CANARY)
    with pytest.raises(SecretKeyMissingError) as excinfo:
        resolve_secret(token, keyring=None, environ={})
    message = str(excinfo.value)
    assert "enc:" in message
    assert KEY_ENV in message
    assert CANARY not in message


def test_resolve_encrypted_value_with_a_wrong_key_is_refused(keyring: Keyring) -> None:
    """An `enc:` value under another key raises SecretDecryptionError without the plaintext."""
    token = keyring.encrypt(CANARY)
    with pytest.raises(SecretDecryptionError) as excinfo:
        resolve_secret(token, keyring=Keyring([generate_key()]), environ={})
    message = str(excinfo.value)
    assert "enc:" in message
    assert CANARY not in message
    assert excinfo.value.__cause__ is None


# --- Keyring ----------------------------------------------------------------------------------


def test_keyring_from_environment_without_keys_is_none() -> None:
    """With neither key variable set, no keyring is loaded."""
    assert Keyring.from_environment({}) is None


def test_keyring_key_list_decrypts_tokens_of_the_old_key() -> None:
    """A "new,old" key list opens values encrypted under the old key."""
    new, old = generate_key(), generate_key()
    token = Keyring([old]).encrypt(CANARY)
    keyring = Keyring.from_environment({KEY_ENV: f"{new},{old}"})
    assert keyring is not None
    assert keyring.key_count == 2
    assert keyring.decrypt(token) == CANARY


def test_keyring_encrypts_under_the_first_key() -> None:
    """A value encrypted by a "new,old" keyring opens with the new key alone."""
    new, old = generate_key(), generate_key()
    keyring = Keyring.from_environment({KEY_ENV: f"{new},{old}"})
    assert keyring is not None
    token = keyring.encrypt(CANARY)
    assert Keyring([new]).decrypt(token) == CANARY
    with pytest.raises(SecretDecryptionError):
        Keyring([old]).decrypt(token)


def test_keyring_rotate_reencrypts_under_the_new_key() -> None:
    """Rotating an old token gives one that a keyring holding only the new key opens."""
    new, old = generate_key(), generate_key()
    token = Keyring([old]).encrypt(CANARY)
    keyring = Keyring.from_environment({KEY_ENV: f"{new} , {old} ,"})
    assert keyring is not None
    rotated = keyring.rotate(token)
    assert rotated.startswith("enc:")
    assert CANARY not in rotated
    assert Keyring([new]).decrypt(rotated) == CANARY
    with pytest.raises(SecretDecryptionError):
        Keyring([old]).decrypt(rotated)


def test_keyring_rotate_refuses_a_token_of_an_unknown_key() -> None:
    """Rotating a token that none of the keys opens raises SecretDecryptionError."""
    token = Keyring([generate_key()]).encrypt(CANARY)
    with pytest.raises(SecretDecryptionError) as excinfo:
        Keyring([generate_key()]).rotate(token)
    assert CANARY not in str(excinfo.value)


@pytest.mark.parametrize("text", ["not-a-fernet-key", "abc,def", "é" * 44])
def test_keyring_rejects_invalid_key_text(text: str) -> None:
    """Key text that is not a Fernet key raises SecretError without echoing the key."""
    with pytest.raises(SecretError) as excinfo:
        Keyring.from_environment({KEY_ENV: text})
    assert text not in str(excinfo.value)
    assert "keygen" in str(excinfo.value)


def test_keyring_rejects_an_empty_key_list() -> None:
    """A keyring with no key raises SecretKeyMissingError."""
    with pytest.raises(SecretKeyMissingError):
        Keyring([])


def test_keyring_repr_shows_no_key() -> None:
    """A keyring's repr counts its keys and shows none of them."""
    key = generate_key()
    assert repr(Keyring([key])) == "Keyring(keys=1)"
    assert key not in repr(Keyring([key]))


def test_write_key_file_creates_a_private_file(tmp_path: Path) -> None:
    """write_key_file writes the key with mode 0600, creating missing folders."""
    path = tmp_path / "keys" / "secret.key"
    key = generate_key()
    write_key_file(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == key
    assert [entry.name for entry in path.parent.iterdir()] == ["secret.key"]


def test_write_key_file_refuses_to_overwrite(tmp_path: Path) -> None:
    """write_key_file raises SecretError on an existing file and leaves it untouched."""
    path = tmp_path / "secret.key"
    first = generate_key()
    write_key_file(path, first)
    with pytest.raises(SecretError, match="refusing to overwrite"):
        write_key_file(path, generate_key())
    assert path.read_text().strip() == first


def test_keyring_from_key_file_opens_tokens(tmp_path: Path) -> None:
    """A keyring loaded from TOOLKEEPER_SECRET_KEY_FILE opens values encrypted under its key."""
    path = tmp_path / "secret.key"
    key = generate_key()
    write_key_file(path, key)
    keyring = Keyring.from_environment({KEY_FILE_ENV: str(path)})
    assert keyring is not None
    assert keyring.decrypt(Keyring([key]).encrypt(CANARY)) == CANARY


def test_keyring_prefers_the_key_variable_over_the_key_file(tmp_path: Path) -> None:
    """When both are set, TOOLKEEPER_SECRET_KEY is used and the key file is not read."""
    key = generate_key()
    keyring = Keyring.from_environment({KEY_ENV: key, KEY_FILE_ENV: str(tmp_path / "absent")})
    assert keyring is not None
    assert Keyring([key]).decrypt(keyring.encrypt(CANARY)) == CANARY


def test_keyring_refuses_a_key_file_readable_by_others(tmp_path: Path) -> None:
    """A key file with mode 0644 is refused with a message saying to chmod 600 it."""
    path = tmp_path / "secret.key"
    key = generate_key()
    path.write_text(key + "\n")
    path.chmod(0o644)
    with pytest.raises(SecretError) as excinfo:
        Keyring.from_environment({KEY_FILE_ENV: str(path)})
    message = str(excinfo.value)
    assert "chmod 600" in message
    assert "0644" in message
    assert key not in message


def test_keyring_refuses_a_missing_key_file(tmp_path: Path) -> None:
    """A key file that does not exist raises SecretKeyMissingError naming it."""
    path = tmp_path / "absent.key"
    with pytest.raises(SecretKeyMissingError, match="does not exist") as excinfo:
        Keyring.from_environment({KEY_FILE_ENV: str(path)})
    assert str(path) in str(excinfo.value)


def test_keyring_refuses_an_empty_key_file(tmp_path: Path) -> None:
    """A private key file holding no key raises SecretKeyMissingError."""
    path = tmp_path / "secret.key"
    write_key_file(path, "")
    with pytest.raises(SecretKeyMissingError, match="holds no key"):
        Keyring.from_environment({KEY_FILE_ENV: str(path)})


# --- storable_form ----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["env:TK_CANARY", "file:/run/secrets/api_key"])
@pytest.mark.parametrize("with_keyring", [True, False])
def test_storable_form_keeps_references(raw: str, with_keyring: bool) -> None:
    """A reference is stored as written, with or without a keyring."""
    keyring = Keyring([generate_key()]) if with_keyring else None
    assert storable_form(raw, keyring=keyring) == raw


@pytest.mark.parametrize("with_keyring", [True, False])
def test_storable_form_keeps_ciphertexts(with_keyring: bool) -> None:
    """An `enc:` value is stored as written, with or without a keyring."""
    token = Keyring([generate_key()]).encrypt(CANARY)
    keyring = Keyring([generate_key()]) if with_keyring else None
    assert storable_form(token, keyring=keyring) == token


def test_storable_form_of_a_secret_is_its_source() -> None:
    """A Secret read from a reference is stored as that reference."""
    secret = Secret(CANARY, source="env:TK_CANARY")
    assert storable_form(secret, keyring=None) == "env:TK_CANARY"


@pytest.mark.parametrize("secret", [CANARY, Secret(CANARY)])
def test_storable_form_encrypts_a_plain_secret(secret: str | Secret, keyring: Keyring) -> None:
    """A secret given in clear is stored as an `enc:` value that opens to it."""
    stored = storable_form(secret, keyring=keyring)
    assert stored.startswith("enc:")
    assert CANARY not in stored
    assert keyring.decrypt(stored) == CANARY


@pytest.mark.parametrize("secret", [CANARY, Secret(CANARY)])
def test_storable_form_refuses_a_plain_secret_without_a_key(secret: str | Secret) -> None:
    """A secret in clear with no keyring raises SecretKeyMissingError, never returning it."""
    with pytest.raises(SecretKeyMissingError, match="refusing to store a secret in clear") as exc:
        storable_form(secret, keyring=None)
    assert CANARY not in str(exc.value)
