"""API tokens: issue them, check them, list and revoke them; roles viewer < operator < admin.

A token is ``tk_`` followed by 32 random bytes in URL-safe base64 (256 bits from
:mod:`secrets`). It is shown once, when issued; the store keeps only its SHA-256.

Why SHA-256 and not bcrypt or Argon2: slow, salted hashes exist to make guessing
*low-entropy* secrets (passwords) expensive after a database leaks. A 256-bit
random token cannot be guessed however fast the hash is, so a slow hash would
add nothing but latency to every request; and since no two tokens share a hash,
an unsalted digest can be the lookup key itself (one indexed query, no scan,
no per-row comparison to time). A leaked table therefore reveals no usable token.

A server's registry remembers, for ``cache_seconds`` (1 s by default), what the
store said about a live token: keyed by the token's SHA-256 (never the token)
or its id (sessions), holding its record (name, role, expiry), at most
``_CACHE_SIZE`` tokens. Only live tokens are remembered, so a failed lookup goes
to the store every time; an expiry is checked on every use; a revocation through
any registry of the same store object in this process forgets every remembered
token at once, and one made by another process (``toolkeeper tokens revoke``)
takes effect within ``cache_seconds``.

This module needs no web framework: the CLI uses it without the ``server`` extra.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from cachetools import TTLCache

from toolkeeper._clock import Clock, SystemClock
from toolkeeper._errors import SecretDecryptionError, ToolkeeperError
from toolkeeper._secrets import KEY_ENV, Keyring, is_encrypted
from toolkeeper.store.tokens import TokenRecord, TokenTable

if TYPE_CHECKING:
    from toolkeeper.store.sql import Store

__all__ = ["TOKEN_PREFIX", "ApiToken", "Role", "TokenRegistry", "hash_token", "new_token"]

TOKEN_PREFIX = "tk_"  # noqa: S105 - the public prefix of every token, not a secret
_TOKEN_BYTES = 32
# token_urlsafe(32) is 43 characters of [A-Za-z0-9_-]; anything else is not ours.
_TOKEN_SHAPE = re.compile(r"^tk_[A-Za-z0-9_-]{43}$")
_NAME_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
_SESSION_KEY = "session"
#: How many live tokens a registry remembers at most (the least recent go first).
_CACHE_SIZE = 1024
log = logging.getLogger("toolkeeper.server")


class Role(StrEnum):
    """What a token may do: viewers read, operators also act on alerts, admins change config."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Return the role's place in viewer < operator < admin."""
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        """Tell whether this role may do what ``needed`` may."""
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiToken:
    """What the server knows about a token: never the token itself."""

    id: int
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool
    revoked_at: datetime | None
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        """Tell whether the token has passed its expiry time (a token without one never does)."""
        return self.expires_at is not None and now >= self.expires_at

    @classmethod
    def from_record(cls, record: TokenRecord) -> ApiToken:
        """Build the public view of a stored token."""
        return cls(
            id=record.id,
            name=record.name,
            role=Role(record.role),
            created_at=record.created_at,
            last_used_at=record.last_used_at,
            revoked=record.revoked,
            revoked_at=record.revoked_at,
            expires_at=record.expires_at,
        )


def new_token() -> str:
    """Return a fresh random token (``tk_`` + 43 URL-safe characters)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)


def hash_token(token: str) -> str:
    """Return the hex SHA-256 of ``token``: what the store keeps and looks tokens up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenRegistry:
    """Issue, check, list and revoke the API tokens kept in one store.

    Thread-safe (every call is one store transaction). A token's last use is
    written at most once per ``touch_interval`` so that checking a token on
    every request does not turn every read into a write. ``cache_seconds``
    above 0 remembers live tokens that long (see the module); the CLI's
    registries remember nothing.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        touch_interval: timedelta = timedelta(minutes=1),
        cache_seconds: float = 0.0,
    ) -> None:
        self._table = TokenTable(store)
        #: The clock expiry and last use are read on (the CLI lists tokens against it).
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._touch_interval = touch_interval
        self._recent = (
            _RecentTokens(cache_seconds, self.clock, store) if cache_seconds > 0 else None
        )

    def create(
        self, role: Role | str, *, name: str | None = None, expires_in: timedelta | None = None
    ) -> tuple[ApiToken, str]:
        """Issue a token; return its record and the token, which is never shown again.

        ``expires_in`` makes the token stop working that long from now.
        """
        role = Role(role)
        if expires_in is not None and expires_in <= timedelta(0):
            raise ToolkeeperError(f"a token's lifetime must be positive, not {expires_in}")
        if name is None:
            name = f"{role.value}-{secrets.token_hex(3)}"
        if not _NAME_SHAPE.match(name):
            raise ToolkeeperError(
                f"token name {name!r} is not allowed: use 1 to 100 letters, digits or . _ @ -, "
                "starting with a letter or digit"
            )
        token = new_token()
        now = self.clock.now()
        record = self._table.insert(
            name=name,
            role=role.value,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + expires_in if expires_in is not None else None,
        )
        return ApiToken.from_record(record), token

    def authenticate(self, token: str) -> ApiToken | None:
        """Return the token's record if ``token`` is a live token of this store, else ``None``.

        Live: not revoked and not expired. Its last use is recorded (see the class).
        """
        if not _TOKEN_SHAPE.match(token):
            return None
        digest = hash_token(token)
        recent = self._recent
        if recent is None:
            return self._live(self._table.by_hash(digest))
        known = recent.by_digest(digest)
        if known is not None:
            return known
        looked_up = recent.store.revocations
        found = self._live(self._table.by_hash(digest))
        if found is not None:
            recent.remember(found, looked_up, digest=digest)
        return found

    def recall(self, token: str) -> ApiToken | None:
        """Return the token's record if the registry remembers it as live; never reads the store.

        ``None`` says only that it is not remembered: ask :meth:`authenticate`.
        """
        if self._recent is None or not _TOKEN_SHAPE.match(token):
            return None
        return self._recent.by_digest(hash_token(token))

    def get(self, token_id: int) -> ApiToken | None:
        """Return the live (not revoked, not expired) token with this id; sessions re-check it."""
        recent = self._recent
        if recent is None:
            return self._live(self._table.by_id(token_id))
        known = recent.by_id(token_id)
        if known is not None:
            return known
        looked_up = recent.store.revocations
        found = self._live(self._table.by_id(token_id))
        if found is not None:
            recent.remember(found, looked_up)
        return found

    def recall_id(self, token_id: int) -> ApiToken | None:
        """Return the live token with this id if it is remembered; never reads the store."""
        return self._recent.by_id(token_id) if self._recent is not None else None

    def list(self) -> list[ApiToken]:
        """Return every token, revoked ones included, oldest first."""
        return [ApiToken.from_record(record) for record in self._table.all()]

    def revoke(self, name_or_id: str) -> ApiToken:
        """Revoke the token with this name (or numeric id); its sessions end with it."""
        record = self._table.by_name(name_or_id)
        if record is None and name_or_id.isdigit():
            record = self._table.by_id(int(name_or_id))
        if record is None:
            known = ", ".join(token.name for token in self.list()) or "none"
            raise ToolkeeperError(f"no token named {name_or_id!r}; tokens: {known}")
        revoked = ApiToken.from_record(self._table.revoke(record.id, self.clock.now()))
        if self._recent is not None:
            self._recent.forget_all()
        return revoked

    def session_key(self, keyring: Keyring | None) -> str:
        """Return the key that signs session cookies: kept in the store, encrypted by ``keyring``.

        Nothing in the store lets its reader sign a session: the key is stored
        as an ``enc:`` value only the keyring opens. A key left in clear by an
        older version (or one the keyring no longer opens) is replaced, which
        signs everyone out once. Without a keyring the key is random per
        process and never stored: sessions then last as long as the process.
        """
        if keyring is None:
            log.warning(
                "no secret key (%s): browser sessions are signed with a key of this process "
                "only, so they end when it stops and other processes do not accept them",
                KEY_ENV,
            )
            return secrets.token_urlsafe(32)

        def generate() -> str:
            return keyring.encrypt(secrets.token_urlsafe(32))

        now = self.clock.now()
        stored = self._table.server_key(_SESSION_KEY, generate, now=now)
        for _ in range(3):
            if is_encrypted(stored):
                try:
                    return keyring.decrypt(stored)
                except SecretDecryptionError:
                    pass
            stored = self._table.replace_server_key(_SESSION_KEY, stored, generate(), now=now)
        raise SecretDecryptionError("the session key in the store cannot be opened or replaced")

    def _live(self, record: TokenRecord | None) -> ApiToken | None:
        now = self.clock.now()
        if record is None or record.revoked:
            return None
        if record.expires_at is not None and now >= record.expires_at:
            return None
        last = record.last_used_at
        if last is None or now - last >= self._touch_interval:
            self._table.touch(record.id, now)
            record = replace(record, last_used_at=now)
        return ApiToken.from_record(record)


class _RecentTokens:
    """Live tokens a registry looked up in the last ``seconds``, by digest and by id.

    Never holds a token: keys are SHA-256 digests and ids, values the records
    the store returned. Thread-safe. An entry whose token has expired since is
    not returned. Every use first compares the store's count of revocations made
    in this process (:attr:`~toolkeeper.store.sql.Store.revocations`): when it
    has moved, everything is forgotten.
    """

    def __init__(self, seconds: float, clock: Clock, store: Store) -> None:
        self.seconds = seconds
        self._clock = clock
        self.store = store
        self._revocations = store.revocations
        self._lock = threading.Lock()
        self._by_digest: TTLCache[str, ApiToken] = TTLCache(_CACHE_SIZE, seconds, clock.monotonic)
        self._by_id: TTLCache[int, ApiToken] = TTLCache(_CACHE_SIZE, seconds, clock.monotonic)

    def by_digest(self, digest: str) -> ApiToken | None:
        """Return the live token with this SHA-256 digest, if remembered."""
        with self._lock:
            self._forget_revoked()
            token = self._by_digest.get(digest)
        return self._unexpired(token)

    def by_id(self, token_id: int) -> ApiToken | None:
        """Return the live token with this id, if remembered."""
        with self._lock:
            self._forget_revoked()
            token = self._by_id.get(token_id)
        return self._unexpired(token)

    def remember(self, token: ApiToken, looked_up: int, *, digest: str | None = None) -> None:
        """Remember ``token``, which the store has just said is live, for ``seconds``.

        ``looked_up`` is the store's count of revocations read before the lookup: a
        revocation made while it ran may have come too late for it, so nothing is kept.
        """
        with self._lock:
            self._forget_revoked()
            if looked_up != self._revocations:
                return
            self._by_id[token.id] = token
            if digest is not None:
                self._by_digest[digest] = token

    def forget_all(self) -> None:
        """Forget every token (a revocation through this registry)."""
        with self._lock:
            self._by_digest.clear()
            self._by_id.clear()

    def _forget_revoked(self) -> None:
        """Forget every token when a registry of this store revoked one (holding the lock)."""
        revocations = self.store.revocations
        if revocations != self._revocations:
            self._revocations = revocations
            self._by_digest.clear()
            self._by_id.clear()

    def digests(self) -> list[str]:
        """Return the digests remembered now (what tests read to see no token is kept)."""
        with self._lock:
            return list(self._by_digest.keys())

    def _unexpired(self, token: ApiToken | None) -> ApiToken | None:
        if token is None or token.expired(self._clock.now()):
            return None
        return token
