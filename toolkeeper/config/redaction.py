"""Remove secrets from text before it is recorded: whole, cut, or inside other text.

An upstream error may quote a key (its own tool's or, through a shared proxy,
another tool's), and a client may cut that message anywhere. So a recorded
text loses every secret of every tool, and also every piece of 12 characters
or more of one: a cut key leaves either such a piece (removed) or fewer than
12 characters, which do not rebuild it. Redaction runs before any truncation.

A :class:`SecretRedactor` is shared by a keeper's tools and its recorder; it
is rebuilt (:meth:`SecretRedactor.update`) whenever a configuration changes.
Every recorded text passes through it, however it was recorded (a wrapped call,
``keeper.operation``, or ``record``/the lifecycle API called directly): error
messages, fallback reasons, labels, ids, model names and text custom metrics
(:func:`toolkeeper._text.map_texts` applies it to each). Tool and operation names
are identities, not texts: a secret sharing 12 characters with a tool's name must
not rename the tool.
Short texts (labels, models) are remembered, so a success with labels pays a
dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MIN_PIECE", "REDACTED", "SecretRedactor"]

REDACTED = "****"
#: Pieces of a secret this long or longer are removed wherever they appear.
MIN_PIECE = 12
#: Secrets shorter than this are not worth hiding (and would garble ordinary words).
_MIN_SECRET = 4


#: Texts this short are remembered with their redaction, at most _CACHE_SIZE of them.
_CACHED_LENGTH = 80
_CACHE_SIZE = 4096


class _Known:
    __slots__ = ("cache", "pieces", "whole")

    def __init__(self, secrets: Iterable[str]) -> None:
        self.cache: dict[str, str] = {}
        unique = {secret for secret in secrets if len(secret) >= _MIN_SECRET}
        self.whole = tuple(sorted(unique, key=len, reverse=True))
        self.pieces = frozenset(
            secret[start : start + MIN_PIECE]
            for secret in unique
            if len(secret) >= MIN_PIECE
            for start in range(len(secret) - MIN_PIECE + 1)
        )


class SecretRedactor:
    """Replace every known secret, and every 12+ character piece of one, by ``****``.

    Thread-safe: :meth:`update` swaps in a new immutable set of secrets.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._known = _Known(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        """Redact exactly ``secrets`` from now on."""
        self._known = _Known(secrets)

    def __len__(self) -> int:
        return len(self._known.whole)

    def __repr__(self) -> str:
        return f"SecretRedactor(secrets={len(self)})"

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret, whole or in pieces of 12+ characters, replaced."""
        known = self._known
        if not text or not known.whole:
            return text
        if len(text) > _CACHED_LENGTH:
            return _redact(known, text)
        cache = known.cache
        found = cache.get(text)
        if found is None:
            if len(cache) >= _CACHE_SIZE:  # bounded: many distinct texts start it afresh
                cache.clear()
            found = cache[text] = _redact(known, text)
        return found


def _redact(known: _Known, text: str) -> str:
    """Return ``text`` without the secrets ``known`` holds, whole or in 12+ character pieces."""
    covered = bytearray(len(text))
    hit = False
    for secret in known.whole:
        start = text.find(secret)
        while start != -1:
            covered[start : start + len(secret)] = b"\x01" * len(secret)
            hit = True
            start = text.find(secret, start + 1)
    pieces = known.pieces
    if pieces:
        for start in range(len(text) - MIN_PIECE + 1):
            if text[start : start + MIN_PIECE] in pieces:
                covered[start : start + MIN_PIECE] = b"\x01" * MIN_PIECE
                hit = True
    if not hit:
        return text
    out: list[str] = []
    index = 0
    length = len(text)
    while index < length:
        if covered[index]:
            out.append(REDACTED)
            while index < length and covered[index]:
                index += 1
        else:
            end = covered.find(b"\x01", index)
            end = length if end == -1 else end
            out.append(text[index:end])
            index = end
    return "".join(out)
