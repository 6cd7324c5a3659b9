"""Secrets: references, masking and encryption at rest.

A secret is written in a configuration in one of four forms:

- ``env:NAME`` reads the environment variable ``NAME``;
- ``file:/path`` reads a file (trailing newline stripped);
- ``enc:TOKEN`` is a Fernet token, opened with the key ring;
- anything else is the secret itself (allowed in files the user owns, but
  never written to the store in clear: :func:`storable_form` encrypts it).

Keys come from ``TOOLKEEPER_SECRET_KEY`` (one or more Fernet keys separated by
commas, the first one encrypts) or from a key file named by
``TOOLKEEPER_SECRET_KEY_FILE``, which must not be readable by group or others.
A key is never stored beside the ciphertext.
"""

from __future__ import annotations

import hmac
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkeeper._errors import SecretDecryptionError, SecretError, SecretKeyMissingError

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet
    from pydantic import GetCoreSchemaHandler
    from pydantic_core import CoreSchema

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "Keyring",
    "Secret",
    "generate_key",
    "is_reference",
    "mask",
    "resolve_secret",
    "storable_form",
    "write_key_file",
]

KEY_ENV = "TOOLKEEPER_SECRET_KEY"
KEY_FILE_ENV = "TOOLKEEPER_SECRET_KEY_FILE"
MASK = "****"
_SHOW_TAIL_FROM = 16  # a secret shorter than this shows nothing of itself
_REFERENCE_PREFIXES = ("env:", "file:")
_ENCRYPTED_PREFIX = "enc:"


def mask(value: str) -> str:
    """Return the masked form: ``****`` plus the last four characters from 16 characters on."""
    if len(value) >= _SHOW_TAIL_FROM:
        return MASK + value[-4:]
    return MASK


def is_reference(raw: str) -> bool:
    """Tell whether ``raw`` points at a secret (``env:``/``file:``) rather than holding one."""
    return raw.startswith(_REFERENCE_PREFIXES)


def is_encrypted(raw: str) -> bool:
    """Tell whether ``raw`` is an ``enc:`` ciphertext."""
    return raw.startswith(_ENCRYPTED_PREFIX)


class Secret:
    """A secret value that shows only its masked form.

    ``source`` is the form it was written in when that form is safe to show and
    to store (``env:NAME``, ``file:/path`` or ``enc:…``); it is ``None`` for a
    secret given in clear. Equality compares the values in constant time.
    """

    __slots__ = ("_source", "_value")

    def __init__(self, value: str, *, source: str | None = None) -> None:
        self._value = value
        self._source = source

    def get_secret_value(self) -> str:
        """Return the secret itself; never log or show what this returns."""
        return self._value

    @property
    def source(self) -> str | None:
        """Return the safe written form (a reference or a ciphertext), if any."""
        return self._source

    @property
    def masked(self) -> str:
        """Return the masked form."""
        return mask(self._value)

    def __repr__(self) -> str:
        return f"Secret({self.masked!r})"

    def __str__(self) -> str:
        return self.masked

    def __format__(self, format_spec: str) -> str:
        return format(self.masked, format_spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(
            self._value.encode("utf-8", "surrogatepass"),
            other._value.encode("utf-8", "surrogatepass"),
        )

    def __hash__(self) -> int:
        return hash(self._value)

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("a Secret cannot be pickled; pass its reference instead")

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source_type: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        """Accept a ``Secret`` as is or a string (already resolved by the loader); nothing else.

        Anything else (a number, a list, an object) is refused without quoting it:
        a value given for a secret field may be the secret, whatever its type.
        """
        # Deferred: pydantic loads only when a model is built, not on `import toolkeeper`.
        from pydantic_core import PydanticCustomError, core_schema

        def validate(value: object) -> Secret:
            if isinstance(value, Secret):
                return value
            if isinstance(value, str):
                # Strings reaching the model are resolved values: the loader turns
                # references and ciphertexts into Secret objects before validation.
                return Secret(value)
            raise PydanticCustomError(
                "secret_type", "must be a string (the secret, or env:NAME / file:/path / enc:...)"
            )

        return core_schema.no_info_plain_validator_function(
            validate,
            json_schema_input_schema=core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda secret: secret.masked
            ),
        )


class Keyring:
    """Fernet keys: the first encrypts, all of them decrypt (for rotation)."""

    def __init__(self, keys: list[str]) -> None:
        # Deferred: cryptography loads only where a secret is encrypted or decrypted or a key is
        # made.
        from cryptography.fernet import Fernet, MultiFernet

        if not keys:
            raise SecretKeyMissingError("a keyring needs at least one key")
        try:
            fernets = [Fernet(key.strip().encode()) for key in keys]
        except ValueError as exc:
            raise SecretError(
                "a secret key is not a valid Fernet key (32 url-safe base64-encoded bytes); "
                "make one with: toolkeeper secrets keygen"
            ) from exc
        self._multi: MultiFernet = MultiFernet(fernets)
        self._keys = tuple(key.strip() for key in keys)
        self.key_count = len(fernets)

    def key_texts(self) -> tuple[str, ...]:
        """Return the keys as written, for the redactor alone: recorded texts lose them."""
        return self._keys

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Keyring | None:
        """Load keys from ``TOOLKEEPER_SECRET_KEY`` or the key file, or return ``None``."""
        env = os.environ if environ is None else environ
        raw = env.get(KEY_ENV, "").strip()
        if raw:
            return cls([part for part in raw.split(",") if part.strip()])
        path = env.get(KEY_FILE_ENV, "").strip()
        if path:
            return cls(_read_key_file(Path(path)))
        return None

    def encrypt(self, plaintext: str) -> str:
        """Return ``enc:`` plus a Fernet token of ``plaintext`` under the first key."""
        return _ENCRYPTED_PREFIX + self._multi.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        """Open an ``enc:`` value with any of the keys."""
        # Deferred: cryptography loads only where a secret is encrypted or decrypted or a key is
        # made.
        from cryptography.fernet import InvalidToken

        token = ciphertext.removeprefix(_ENCRYPTED_PREFIX)
        try:
            return self._multi.decrypt(token.encode()).decode()
        except (InvalidToken, ValueError):
            raise SecretDecryptionError(
                "an enc: value cannot be opened with the configured secret key(s); "
                f"set {KEY_ENV} to the key it was encrypted with (list old keys after the new one)"
            ) from None

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt an ``enc:`` value under the first key."""
        # Deferred: cryptography loads only where a secret is encrypted or decrypted or a key is
        # made.
        from cryptography.fernet import InvalidToken

        token = ciphertext.removeprefix(_ENCRYPTED_PREFIX)
        try:
            return _ENCRYPTED_PREFIX + self._multi.rotate(token.encode()).decode()
        except (InvalidToken, ValueError):
            raise SecretDecryptionError(
                "an enc: value cannot be opened with the configured secret key(s) for rotation; "
                f"list the old key after the new one in {KEY_ENV}"
            ) from None

    def __repr__(self) -> str:
        return f"Keyring(keys={self.key_count})"


def generate_key() -> str:
    """Return a new random Fernet key."""
    # Deferred: cryptography loads only where a secret is encrypted or decrypted or a key is made.
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def write_key_file(path: Path, key: str) -> None:
    """Write ``key`` to ``path`` with mode 0600, atomically; refuse to overwrite."""
    if path.exists():
        raise SecretError(f"key file {path} already exists; refusing to overwrite a key")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)  # fails if someone created the file meanwhile
    finally:
        tmp.unlink(missing_ok=True)


def _read_key_file(path: Path) -> list[str]:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SecretKeyMissingError(f"key file {path} does not exist ({KEY_FILE_ENV})") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(
            f"key file {path} is readable by others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"run: chmod 600 {path}"
        )
    keys = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not keys:
        raise SecretKeyMissingError(f"key file {path} holds no key")
    return keys


def resolve_secret(
    raw: str, *, keyring: Keyring | None, environ: Mapping[str, str] | None = None
) -> Secret:
    """Turn a written form into a :class:`Secret`, reading references and opening ciphertexts.

    Errors name the reference, never the secret.
    """
    env = os.environ if environ is None else environ
    if raw.startswith("env:"):
        name = raw.removeprefix("env:")
        if name not in env:
            raise SecretError(f"environment variable {name} is not set (referenced as {raw})")
        return Secret(env[name], source=raw)
    if raw.startswith("file:"):
        path = Path(raw.removeprefix("file:"))
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise SecretError(f"cannot read secret file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise SecretError(
                f"secret file {path} is not UTF-8 text (referenced as {raw})"
            ) from None
        return Secret(value, source=raw)
    if is_encrypted(raw):
        if keyring is None:
            raise SecretKeyMissingError(
                f"an enc: value needs a key: set {KEY_ENV} or {KEY_FILE_ENV}"
            )
        return Secret(keyring.decrypt(raw), source=raw)
    return Secret(raw)


def storable_form(secret: Secret | str, *, keyring: Keyring | None) -> str:
    """Return the form of a secret that may be written to the store: a reference or ``enc:``.

    A secret in clear is encrypted; without a key it is refused, never written in clear.
    """
    if isinstance(secret, Secret):
        if secret.source is not None:
            return secret.source
        plaintext = secret.get_secret_value()
    elif is_reference(secret) or is_encrypted(secret):
        return secret
    else:
        plaintext = secret
    if keyring is None:
        raise SecretKeyMissingError(
            "refusing to store a secret in clear: set "
            f"{KEY_ENV} (make a key with `toolkeeper secrets keygen`) or give a reference "
            "such as env:NAME or file:/path"
        )
    return keyring.encrypt(plaintext)
