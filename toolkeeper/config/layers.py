"""Resolve one tool's configuration from its layers, remembering where each value came from.

Precedence, lowest first: built-in defaults < ``[defaults]`` < ``[tools.X]`` <
``[environments.E.tools.X]`` (the environments ``E`` extends come first) <
environment variables (a field's own ``ConfigField(env=...)``, then
``TOOLKEEPER_TOOLS__X__FIELD``) < the runtime version stored for the environment.

Layers are flat: a higher layer replaces a field's value whole (lists too).
No library tracks the file and line of every merged value, so the merge is
written here; it is a pure function (:func:`merge_layers`), tested by property.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from toolkeeper._errors import (
    ConfigIssue,
    ConfigValidationError,
    SecretError,
    UnknownToolError,
)
from toolkeeper._secrets import (
    Keyring,
    Secret,
    is_encrypted,
    is_reference,
    mask,
    resolve_secret,
)
from toolkeeper.config.fields import config_field_of
from toolkeeper.config.files import ConfigFile
from toolkeeper.config.policy import SecretPolicy
from toolkeeper.config.schema import DEFAULT_TYPE, BaseWrapperConfig, is_sensitive, tool_type

__all__ = [
    "VARIABLE_PREFIX",
    "Layer",
    "Origin",
    "ResolvedTool",
    "merge_layers",
    "resolve_tool",
    "shown_value",
    "variable_name",
]

VARIABLE_PREFIX = "TOOLKEEPER_TOOLS__"
#: The value of a secret left unread; shorter than a mask's tail, so it never shows.
_UNREAD = "(unread)"
RUNTIME_REFERENCE_RULE = (
    "a runtime change may not name an env: or file: reference (they read the server's "
    "environment and files); give the secret itself, which is stored encrypted, or list the "
    "reference in the file's [secrets] runtime_references"
)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where one value came from: a layer, and the file line or variable that set it."""

    layer: str
    detail: str
    file: str | None = None
    line: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        if self.file is not None and self.line is not None:
            return f"{self.detail} ({self.file}:{self.line})"
        return self.detail


BUILTIN = Origin(layer="default", detail="built-in default")


@dataclass(frozen=True, slots=True)
class Layer:
    """One source of values, each value with its origin."""

    name: str
    values: Mapping[str, Any]
    origins: Mapping[str, Origin] = field(default_factory=dict)


def merge_layers(layers: Sequence[Layer]) -> tuple[dict[str, Any], dict[str, Origin]]:
    """Merge layers given lowest first: each field takes its value from the highest setting it."""
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for layer in layers:
        for key, value in layer.values.items():
            values[key] = value
            origins[key] = layer.origins.get(key, Origin(layer=layer.name, detail=layer.name))
    return values, origins


def variable_name(tool: str, field_name: str) -> str:
    """Return the environment variable that sets ``field_name`` of ``tool``."""
    return f"{VARIABLE_PREFIX}{tool.upper().replace('-', '_')}__{field_name.upper()}"


def shown_value(value: Any, *, sensitive: bool) -> Any:
    """Return ``value`` as it may be shown: a secret masked, a reference as written."""
    if not sensitive or value is None:
        return value
    if isinstance(value, Secret):
        return value.masked
    text = str(value)
    if is_reference(text):
        return text
    if is_encrypted(text):
        return "enc:…"
    return mask(text)


@dataclass(frozen=True, slots=True)
class ResolvedTool:
    """A tool's validated configuration for one environment, with each value's origin."""

    name: str
    environment: str
    config: BaseWrapperConfig
    origins: dict[str, Origin]

    def explain(self) -> list[dict[str, Any]]:
        """List every field with its shown value and where it came from."""
        model = type(self.config)
        rows = []
        for name in model.model_fields:
            origin = self.origins.get(name, BUILTIN)
            rows.append(
                {
                    "field": name,
                    "value": shown_value(
                        getattr(self.config, name), sensitive=is_sensitive(model, name)
                    ),
                    "source": origin.layer,
                    "origin": str(origin),
                    "file": origin.file,
                    "line": origin.line,
                }
            )
        return rows


def _file_layer(
    file: ConfigFile,
    name: str,
    key_path: tuple[str, ...],
    table: Mapping[str, Any],
    *,
    fields: Mapping[str, Any],
    detail: str,
) -> Layer:
    values = {key: value for key, value in table.items() if key in fields or name != "defaults"}
    origins = {
        key: Origin(
            layer=name,
            detail=detail,
            file=file.name if file.path else None,
            line=file.line_of((*key_path, key)),
            path=".".join((*key_path, key)),
        )
        for key in values
    }
    return Layer(name=name, values=values, origins=origins)


def _variable_layer(tool: str, model: type[BaseWrapperConfig], environ: Mapping[str, str]) -> Layer:
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for name in model.model_fields:
        declared = config_field_of(model, name)
        for variable in (declared.env if declared else None, variable_name(tool, name)):
            if variable and variable in environ:
                values[name] = environ[variable]
                origins[name] = Origin(
                    layer="variable", detail=f"environment variable {variable}", path=variable
                )
    prefix = variable_name(tool, "")
    for variable in environ:
        if (
            variable.startswith(prefix)
            and variable[len(prefix) :].lower() not in model.model_fields
        ):
            key = variable[len(prefix) :].lower()
            values[key] = environ[variable]
            origins[key] = Origin(
                layer="variable", detail=f"environment variable {variable}", path=variable
            )
    return Layer(name="variable", values=values, origins=origins)


def resolve_tool(
    file: ConfigFile,
    tool: str,
    environment: str,
    *,
    environ: Mapping[str, str] | None = None,
    runtime: Layer | None = None,
    keyring: Keyring | None = None,
    implicit: bool = False,
    require_secrets: bool = True,
) -> ResolvedTool:
    """Merge and validate ``tool`` for ``environment``; a ``ConfigValidationError`` lists all.

    An ``implicit`` tool that the file does not declare gets the built-in
    defaults, ``[defaults]`` and its environment variables. Without
    ``require_secrets`` (readers that only show configuration, such as the CLI's
    read-only commands), a secret that cannot be read (its variable is unset,
    no key opens it) is no error: it stays an unread :class:`Secret` that shows
    as masked and keeps its written form as its source.
    """
    env = os.environ if environ is None else environ
    tables = file.tools
    if tool not in tables and not implicit:
        raise UnknownToolError(tool, tables)
    table = dict(tables.get(tool, {}))
    type_name = table.pop("type", DEFAULT_TYPE)
    try:
        model = tool_type(str(type_name))
    except KeyError as exc:
        raise ConfigValidationError(
            [file.issue(("tools", tool, "type"), str(exc.args[0]), type_name)]
        ) from None
    fields = model.model_fields
    layers = [
        _file_layer(
            file, "defaults", ("defaults",), file.defaults, fields=fields, detail="[defaults]"
        ),
        _file_layer(file, "tool", ("tools", tool), table, fields=fields, detail=f"[tools.{tool}]"),
    ]
    if environment in file.environments:
        for name in file.environment_chain(environment):
            overrides = file.environments[name].get("tools", {}).get(tool, {})
            layers.append(
                _file_layer(
                    file,
                    "environment",
                    ("environments", name, "tools", tool),
                    overrides,
                    fields=fields,
                    detail=f"[environments.{name}.tools.{tool}]",
                )
            )
    layers.append(_variable_layer(tool, model, env))
    if runtime is not None:
        layers.append(runtime)
    values, origins = merge_layers(layers)

    issues = _read_secrets(
        tool,
        model,
        values,
        origins,
        keyring=keyring,
        environ=env,
        require_secrets=require_secrets,
        policy=file.secret_policy,
    )
    config: BaseWrapperConfig | None = None
    try:
        config = model.model_validate(values)
    except ConfigValidationError as exc:
        # One problem per field, already in plain words and masked: add where each came from.
        for problem in exc.issues:
            name = "" if problem.path == model.__name__ else problem.path
            issues.append(
                _issue(
                    tool,
                    name,
                    origins.get(name.partition(".")[0]),
                    problem.value,
                    problem.rule,
                    has_value=problem.has_value,
                )
            )
    if issues:
        raise ConfigValidationError(_located(file, tool, issues))
    assert config is not None
    return ResolvedTool(name=tool, environment=environment, config=config, origins=origins)


def _read_secrets(
    tool: str,
    model: type[BaseWrapperConfig],
    values: dict[str, Any],
    origins: dict[str, Origin],
    *,
    keyring: Keyring | None,
    environ: Mapping[str, str],
    require_secrets: bool,
    policy: SecretPolicy,
) -> list[ConfigIssue]:
    """Replace the written forms of ``values``' secrets by :class:`Secret` objects, in place.

    Returns a problem per secret that could not be read, and per reference a
    runtime version names without the file's leave (``policy``): that one is
    never read, not even to see whether its variable or file exists.
    """
    issues: list[ConfigIssue] = []
    for name, value in list(values.items()):
        if name not in model.model_fields or not isinstance(value, str):
            continue
        if not is_sensitive(model, name):
            continue
        origin = origins.get(name)
        if (
            origin is not None
            and origin.layer == "runtime"
            and is_reference(value)
            and not policy.reference_allowed(value)
        ):
            issues.append(_issue(tool, name, origin, value, RUNTIME_REFERENCE_RULE))
            values.pop(name)
            continue
        try:
            values[name] = resolve_secret(value, keyring=keyring, environ=environ)
        except SecretError as exc:
            if not require_secrets:
                values[name] = Secret(_UNREAD, source=value)
                continue
            shown = shown_value(value, sensitive=True)
            issues.append(_issue(tool, name, origins.get(name), shown, str(exc)))
    return issues


def _issue(
    tool: str, name: str, origin: Origin | None, value: Any, rule: str, *, has_value: bool = True
) -> ConfigIssue:
    if origin is None or origin.path is None:
        path = f"tools.{tool}.{name}" if name else f"tools.{tool}"
        return ConfigIssue(path=path, rule=rule, value=value, has_value=has_value)
    suffix = name.partition(".")[2]
    path = origin.path + (f".{suffix}" if suffix else "")
    return ConfigIssue(
        path=path, rule=rule, value=value, file=origin.file, line=origin.line, has_value=has_value
    )


def _located(file: ConfigFile, tool: str, issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return [
        file.issue(("tools", tool), issue.rule, has_value=False)
        if issue.file is None and issue.path == f"tools.{tool}" and file.path is not None
        else issue
        for issue in issues
    ]
