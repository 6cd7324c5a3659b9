"""Carry a previewed change from the preview page to the save, sealed so no one can read it.

The preview page holds the change in one hidden field: encrypted and signed
(Fernet) under a key derived from the session-signing key, bound to the token
that previewed it, and good for :data:`MAX_AGE_SECONDS`. A secret typed into
the form is already encrypted with the configuration's key (or a reference)
before it is sealed, so the page never holds it in clear, in any form a
browser could read.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Request

__all__ = ["MAX_AGE_SECONDS", "PendingChange", "open_sealed", "seal"]

MAX_AGE_SECONDS = 30 * 60
_PURPOSE = b"toolkeeper pending configuration change v1\x00"


@dataclass(frozen=True, slots=True)
class PendingChange:
    """A change previewed but not saved: which tool, environment and version, and what."""

    tool: str
    environment: str
    version: int
    changes: dict[str, Any]
    token_id: int


def _fernet(request: Request) -> Fernet:
    secret: str = request.app.state.session_secret
    digest = hashlib.sha256(_PURPOSE + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(request: Request, pending: PendingChange) -> str:
    """Return the change as an opaque token for a hidden form field."""
    data = {
        "tool": pending.tool,
        "environment": pending.environment,
        "version": pending.version,
        "changes": pending.changes,
        "token_id": pending.token_id,
    }
    return _fernet(request).encrypt(json.dumps(data).encode()).decode()


def open_sealed(request: Request, sealed: str, *, token_id: int) -> PendingChange | None:
    """Return the change sealed by :func:`seal` for this token, or ``None`` if forged or stale."""
    try:
        plain = _fernet(request).decrypt(sealed.encode(), ttl=MAX_AGE_SECONDS)
    except (InvalidToken, ValueError):
        return None
    data = json.loads(plain)
    if data.get("token_id") != token_id:
        return None
    return PendingChange(
        tool=str(data["tool"]),
        environment=str(data["environment"]),
        version=int(data["version"]),
        changes=dict(data["changes"]),
        token_id=token_id,
    )
