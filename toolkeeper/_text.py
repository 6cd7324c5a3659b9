"""Make text storable everywhere: no NUL characters, no lone surrogates.

PostgreSQL refuses a NUL in a text value, and neither SQLite nor PostgreSQL (nor
any UTF-8 encoder) takes a lone surrogate, which is how Python carries bytes that
were not valid UTF-8 (``surrogateescape``). :func:`storable` rewrites both as
visible escapes, so the text keeps what it said and can be stored, exported and
shown; :func:`unstorable` names what is wrong, for validators that refuse it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

__all__ = ["STORABLE_PATTERN", "StoredText", "must_be_storable", "storable", "unstorable"]

STORABLE_PATTERN = r"^[^\x00]*$"
"""The JSON Schema ``pattern`` of storable text, so API clients and fuzzers know the rule.

Lone surrogates are refused too, but no pattern can say so portably (ECMA and Rust
regular expressions reject a surrogate range), and no valid UTF-8 text holds one.
"""


def storable(text: str) -> str:
    """Return ``text`` with NUL as ``\\x00`` and each lone surrogate as ``\\udcXX``.

    Cheap when there is nothing to do (the common case): one ``in`` test for
    ASCII text, one UTF-8 encode otherwise.
    """
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def unstorable(text: str) -> str | None:
    """Return why ``text`` cannot be stored as it is, or ``None`` when it can."""
    if "\x00" in text:
        return "contains a NUL character (\\x00)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"contains {exc.object[exc.start : exc.end]!a}, which is not valid Unicode text"
    return None


def must_be_storable(text: str) -> str:
    """Return ``text`` if the store can keep it; else raise ``ValueError`` saying why."""
    problem = unstorable(text)
    if problem is not None:
        raise ValueError(f"{problem}; only storable text is accepted")
    return text


StoredText = Annotated[
    str, Field(json_schema_extra={"pattern": STORABLE_PATTERN}), AfterValidator(must_be_storable)
]
"""A pydantic field type for text that will be stored: NUL and lone surrogates are errors."""
