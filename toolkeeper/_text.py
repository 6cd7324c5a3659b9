"""Make text storable everywhere (no NUL characters, no lone surrogates), and rewrite texts.

PostgreSQL refuses a NUL in a text value, and neither SQLite nor PostgreSQL (nor
any UTF-8 encoder) takes a lone surrogate, which is how Python carries bytes that
were not valid UTF-8 (``surrogateescape``). :func:`storable` rewrites both as
visible escapes, so the text keeps what it said and can be stored, exported and
shown; :func:`unstorable` names what is wrong, for validators that refuse it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from pydantic import AfterValidator, Field

__all__ = [
    "SAID_PATTERN",
    "STORABLE_PATTERN",
    "WHITESPACE",
    "SaidText",
    "StoredText",
    "map_texts",
    "must_be_storable",
    "must_say_something",
    "storable",
    "unstorable",
]

T = TypeVar("T")

#: What ``str.strip`` removes, spelled out: ``\s`` differs between regex engines (Python's
#: takes U+001C..U+001F, Rust's and JavaScript's do not).
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
STORABLE_PATTERN = r"^[^\x00]*$"
"""The JSON Schema ``pattern`` of storable text, so API clients and fuzzers know the rule.

Lone surrogates are refused too, but no pattern can say so portably (ECMA and Rust
regular expressions reject a surrogate range), and no valid UTF-8 text holds one.
"""
#: What :func:`must_say_something` accepts: no NUL, and a character besides whitespace.
SAID_PATTERN = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"


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


def must_say_something(text: str) -> str:
    """Return ``text`` if it is storable and not blank; else raise ``ValueError`` saying why."""
    must_be_storable(text)
    if not text.strip():
        raise ValueError("must say something, not be blank")
    return text


# The pattern is declared only in the JSON Schema: validation is the function's (pydantic's
# own regex engine cannot name a lone surrogate), and both accept the same strings.
StoredText = Annotated[
    str, AfterValidator(must_be_storable), Field(json_schema_extra={"pattern": STORABLE_PATTERN})
]
"""A pydantic field type for text that will be stored: NUL and lone surrogates are errors."""
SaidText = Annotated[
    str, AfterValidator(must_say_something), Field(json_schema_extra={"pattern": SAID_PATTERN})
]
"""A pydantic field type for stored text that must say something (a reason, a comment)."""


def map_texts(value: T, redact: Callable[[str], str]) -> T:
    """Return ``value`` with ``redact`` applied to each text in it, in dicts (keys too) and lists.

    Other values are kept as they are. Returns ``value`` itself when nothing in it
    changed, so a caller's dict is never copied for nothing (nor ever changed).
    Written for speed: a success's labels pass through it.
    """
    if isinstance(value, str):
        new = redact(value)
        return value if new == value else new  # type: ignore[return-value]
    if isinstance(value, dict):
        changed: dict[object, object] | None = None
        for key, item in value.items():
            new_key = _mapped(key, redact)
            new_item = _mapped(item, redact)
            if changed is None and (new_key is not key or new_item is not item):
                changed = {}
                for done_key, done_item in value.items():  # the items before this one
                    if done_key is key:
                        break
                    changed[done_key] = done_item
            if changed is not None:
                changed[new_key] = new_item
        return value if changed is None else changed  # type: ignore[return-value]
    if isinstance(value, list | tuple):
        each = [_mapped(item, redact) for item in value]
        if all(new is old for new, old in zip(each, value, strict=True)):
            return value
        return type(value)(each)
    return value


def _mapped(value: object, redact: Callable[[str], str]) -> object:
    kind = type(value)
    if kind is str:
        new = redact(value)  # type: ignore[arg-type]
        return value if new == value else new
    if value is None or kind is int or kind is float or kind is bool:
        return value
    return map_texts(value, redact)
