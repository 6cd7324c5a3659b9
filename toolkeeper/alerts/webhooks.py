"""Signed webhooks: a JSON notification with an HMAC-SHA256 signature a receiver can verify.

The request is ``POST`` with ``Content-Type: application/json`` and two headers::

    X-Toolkeeper-Timestamp: 1767225600            # Unix seconds when it was signed
    X-Toolkeeper-Signature: v1=<hex>              # HMAC-SHA256(secret, f"{timestamp}." + body)

To verify: recompute the HMAC over the timestamp, a dot and the raw body
bytes with the shared secret, compare in constant time, and refuse a
timestamp more than five minutes away from now (a replay). :func:`verify`
does exactly that; any language's HMAC library can (see docs/alerts.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from typing import Any

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE_SECONDS",
    "post_signed",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "X-Toolkeeper-Signature"
TIMESTAMP_HEADER = "X-Toolkeeper-Timestamp"
#: How far a signed timestamp may be from the receiver's clock.
TOLERANCE_SECONDS = 300
_TIMEOUT_SECONDS = 10


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the signature header: ``v1=`` and the hex HMAC-SHA256 of ``timestamp.body``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + digest.hexdigest()


def verify(
    secret: str, *, timestamp: str, signature: str, body: bytes, now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> bool:  # fmt: skip
    """Return whether ``signature`` signs ``body`` at ``timestamp`` with ``secret``, recently."""
    try:
        moment = int(timestamp)
    except ValueError:
        return False
    if abs(now - moment) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, moment, body), signature)


def post_signed(url: str, secret: str, payload: dict[str, Any], *, timestamp: int) -> str | None:
    """POST ``payload`` as JSON to ``url``, signed; return ``None`` on a 2xx, else why not.

    The reason never contains the URL or the secret.
    """
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    request = urllib.request.Request(  # noqa: S310  # the scheme is checked when the settings are read
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            "User-Agent": "toolkeeper-alerts",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        return f"the receiver answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"cannot reach the receiver ({type(reason).__name__})"
    return None if 200 <= status < 300 else f"the receiver answered HTTP {status}"
