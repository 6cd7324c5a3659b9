"""Turn pydantic's validation errors into one plain-worded problem per field.

pydantic reports a value against every branch of a union and names its own
validators in the location (``function-after[...]``); a user needs one line
per field saying what the rule is, and never the value of a secret, whatever
its type. Both the loader (which adds where a value came from) and direct
construction of a config model go through :func:`field_problems`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from toolkeeper._secrets import is_encrypted, is_reference, mask

__all__ = ["FieldProblem", "field_problems", "plain_rule"]

_MASK = "****"

_PLAIN = {
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "decimal_parsing": "must be an amount, such as 20 or 0.25",
    "decimal_type": "must be an amount, such as 20 or 0.25",
    "dict_type": "must be a table",
    "finite_number": "must be a finite number",
    "float_parsing": "must be a number, such as 2.5",
    "float_type": "must be a number, such as 2.5",
    "int_from_float": "must be a whole number, such as 3, without decimals",
    "int_parsing": "must be a whole number, such as 3",
    "int_type": "must be a whole number, such as 3",
    "list_type": "must be a list, such as [0.8, 0.95]",
    "missing": "is required",
    "model_type": "must be a table of settings",
    "string_type": "must be text",
}


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One field's problem: its dotted location (``""`` for the whole model), rule and value.

    ``value`` is safe to show (a secret's is masked); ``has_value`` is false
    when no value is worth showing (a missing field, a secret of the wrong type).
    """

    location: tuple[str, ...]
    rule: str
    value: Any = None
    has_value: bool = True

    @property
    def field(self) -> str:
        """Return the top-level field the problem is about (``""`` for the whole model)."""
        return self.location[0] if self.location else ""


def plain_rule(error: ErrorDetails, *, type_name: str) -> str:
    """Return the rule an error broke, in plain words."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown field for tool type {type_name!r}"
    if kind == "literal_error":
        expected = str(error.get("ctx", {}).get("expected", ""))
        return f"must be one of {expected}" if expected else error["msg"]
    if kind in _PLAIN:
        return _PLAIN[kind]
    return error["msg"].removeprefix("Value error, ")


def _location(error: ErrorDetails) -> tuple[str, ...]:
    # pydantic names its own validators in locations ("function-after[...]",
    # "is-instance[...]"): those are not part of where the value was written.
    return tuple(str(part) for part in error["loc"] if not (isinstance(part, str) and "[" in part))


def field_problems(
    exc: ValidationError, *, type_name: str, sensitive: Callable[[str], bool]
) -> list[FieldProblem]:
    """Return one problem per location of ``exc``, the first pydantic reported for it."""
    found: dict[tuple[str, ...], FieldProblem] = {}
    for error in exc.errors(include_url=False):
        location = _location(error)
        if location in found:
            continue
        rule = plain_rule(error, type_name=type_name)
        value: Any = error.get("input")
        has_value = bool(location) and error["type"] not in ("missing", "extra_forbidden")
        if location and sensitive(location[0]):
            # Only a string may be shown, and only masked; another type may be the secret too.
            if isinstance(value, str) and has_value:
                value = _shown_secret(value)
            else:
                value, has_value = None, False
        found[location] = FieldProblem(location, rule, value if has_value else None, has_value)
    return list(found.values())


def _shown_secret(text: str) -> str:
    if is_reference(text):
        return text
    if is_encrypted(text):
        return "enc:…"
    return mask(text) if text else _MASK
