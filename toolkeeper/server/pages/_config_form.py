"""The configuration form: an input per field typed from the model, parsing, and a dry run.

Inputs come from the tool's pydantic model (the one place a field is
declared): a select for booleans and literals, a number input for numbers, a
write-only password input for secrets, text otherwise. The form sends every
field; only those whose text differs from the current value are changes. The
model itself judges the values (a dry run of the merge the save will do), so
the rules live in one place and every broken one is reported beside its field.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, Union, get_args, get_origin

from toolkeeper._errors import ConfigIssue, ConfigValidationError, SecretError
from toolkeeper._secrets import Secret, storable_form
from toolkeeper.config.fields import config_field_of
from toolkeeper.config.live import Configuration
from toolkeeper.config.schema import BaseWrapperConfig, is_sensitive

__all__ = ["FORM_ERRORS", "FieldSpec", "dry_run", "field_specs", "parse_form", "text_of"]

Kind = Literal["bool", "choice", "integer", "number", "secret", "list", "text"]
#: Where problems that belong to no single field (rules across fields) are listed.
FORM_ERRORS = "__form__"
RESET_PREFIX = "reset:"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of the form: its input kind, whether it may be empty, its choices and rules."""

    name: str
    kind: Kind
    nullable: bool
    choices: tuple[str, ...]
    description: str
    rule: str


_KINDS: dict[Any, Kind] = {Secret: "secret", bool: "bool", int: "integer", float: "number",
                           Decimal: "number"}  # fmt: skip


def _kind(annotation: Any) -> tuple[Kind, bool, tuple[str, ...]]:
    args = get_args(annotation)
    nullable = get_origin(annotation) in (Union, types.UnionType) and type(None) in args
    if nullable:
        remaining = [arg for arg in args if arg is not type(None)]
        annotation = remaining[0] if len(remaining) == 1 else str
    origin = get_origin(annotation)
    kind: Kind = _KINDS.get(annotation, "text")
    choices: tuple[str, ...] = ("true", "false") if kind == "bool" else ()
    if origin is Literal:
        kind, choices = "choice", tuple(str(choice) for choice in get_args(annotation))
    elif origin is list:
        kind = "list"
    return kind, nullable, choices


def _rule(model: type[BaseWrapperConfig], name: str) -> str:
    declared = config_field_of(model, name)
    if declared is None:
        return ""
    bounds = [
        f"{sign} {bound:g}"
        for sign, bound in (
            ("≥", declared.ge),
            (">", declared.gt),
            ("≤", declared.le),
            ("<", declared.lt),
        )
        if bound is not None
    ]
    return ", ".join(bounds)


def field_specs(model: type[BaseWrapperConfig]) -> list[FieldSpec]:
    """Return the form's fields, in the model's order."""
    specs = []
    for name, info in model.model_fields.items():
        kind, nullable, choices = _kind(info.annotation)
        if kind != "secret" and is_sensitive(model, name):
            kind = "secret"
        declared = config_field_of(model, name)
        specs.append(
            FieldSpec(
                name=name,
                kind=kind,
                nullable=nullable,
                choices=choices,
                description=declared.description if declared else (info.description or ""),
                rule=_rule(model, name),
            )
        )
    return specs


def text_of(value: Any) -> str:
    """Return a shown value as the form writes it (``None`` as empty, lists comma-separated)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(text_of(item) for item in value)
    return str(value)


def parse_form(
    specs: list[FieldSpec], form: Mapping[str, str], current: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the changes the form asks for, and the submitted text of every non-secret field.

    A field is changed when its text differs from the current value's; an
    empty text (or a ticked "reset") removes the runtime override, so the
    field falls back to the file. A secret is changed only when a new value is typed.
    """
    changes: dict[str, Any] = {}
    submitted: dict[str, str] = {}
    for spec in specs:
        if form.get(RESET_PREFIX + spec.name):
            changes[spec.name] = None
            continue
        raw = form.get(spec.name)
        if raw is None:
            continue
        text = raw if spec.kind == "secret" else raw.strip()
        if spec.kind == "secret":
            if text:
                changes[spec.name] = text
            continue
        submitted[spec.name] = text
        if text == text_of(current.get(spec.name)):
            continue
        if text == "":
            changes[spec.name] = None
        elif spec.kind == "list":
            changes[spec.name] = [item.strip() for item in text.split(",") if item.strip()]
        else:
            changes[spec.name] = text
    return changes, submitted


def _field_of(issue: ConfigIssue, tool: str, fields: Mapping[str, Any]) -> str:
    parts = issue.path.split(".")
    for part in reversed(parts):
        if part in fields and part != tool:
            return part
    return FORM_ERRORS


def dry_run(
    configuration: Configuration, tool: str, changes: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, list[str]]]:
    """Validate ``changes`` as :meth:`Configuration.update` would, writing nothing.

    Returns the diff (secrets only as changed), the changes in storable form
    (secrets encrypted or as references, never in clear) and the problems by
    field (:data:`FORM_ERRORS` for rules across fields); the diff is empty
    when there are problems.
    """
    resolved = configuration.resolve(tool)
    model = type(resolved.config)
    errors: dict[str, list[str]] = {}
    storable: dict[str, Any] = {}
    for name, value in changes.items():
        if value is not None and is_sensitive(model, name):
            try:
                storable[name] = storable_form(str(value), keyring=configuration.keyring)
            except SecretError as exc:
                errors.setdefault(name, []).append(str(exc))
        else:
            storable[name] = value
    try:
        diff = configuration.preview(tool, storable)
    except ConfigValidationError as exc:
        for issue in exc.issues:
            where = _field_of(issue, tool, model.model_fields)
            shown = issue.rule if where != FORM_ERRORS else f"{issue.path}: {issue.rule}"
            errors.setdefault(where, []).append(shown)
        return [], storable, errors
    if errors:
        return [], storable, errors
    return diff, storable, errors
