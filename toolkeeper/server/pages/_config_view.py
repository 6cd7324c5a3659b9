"""What the configuration page shows for one environment and tool: values, form, history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from toolkeeper.config.live import Configuration
from toolkeeper.keeper import Keeper
from toolkeeper.server.api.config_models import ConfigValue, ConfigVersionEntry, tool_config
from toolkeeper.server.pages._config_form import FieldSpec, field_specs, text_of

__all__ = ["FormRow", "configuration_for", "page_context"]


@dataclass(frozen=True, slots=True)
class FormRow:
    """One field of the form: its spec, current (masked) value and origin, and the text shown."""

    spec: FieldSpec
    current: ConfigValue
    text: str
    errors: tuple[str, ...]


def configuration_for(keeper: Keeper, environment: str | None) -> Configuration:
    """Return the keeper's configuration, or one for another environment over the same store.

    Raises ``UnknownEnvironmentError`` for an environment the file does not declare.
    """
    served = keeper.config
    if environment is None or environment in ("", served.environment):
        return served
    return Configuration(
        served.file, store=keeper.store, environment=environment, keyring=served.keyring
    )


def page_context(
    configuration: Configuration,
    tool: str | None,
    *,
    submitted: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    form_version: int | None = None,
) -> dict[str, Any]:
    """Return the template context of the configuration page.

    ``submitted`` keeps what the user typed (never a secret) after a refused
    form; ``form_version`` is the version that form was rendered from.
    """
    tools = configuration.tools()
    context: dict[str, Any] = {
        "environment": configuration.environment,
        "environments": configuration.environments(),
        "tools": [(name, configuration.version(name)) for name in tools],
        "tool": tool,
        "errors": errors or {},
    }
    if tool is None:
        return context
    config = tool_config(configuration, tool)
    model = type(configuration.get(tool))
    by_field = {row.field: row for row in config.fields}
    typed = submitted or {}
    found = errors or {}
    context["config"] = config
    context["form_version"] = config.version if form_version is None else form_version
    context["rows"] = [
        FormRow(
            spec=spec,
            current=by_field[spec.name],
            text=typed.get(
                spec.name, "" if spec.kind == "secret" else text_of(by_field[spec.name].value)
            ),
            errors=tuple(found.get(spec.name, ())),
        )
        for spec in field_specs(model)
    ]
    history = [ConfigVersionEntry.of(version) for version in configuration.history(tool)]
    context["history"] = list(reversed(history))
    return context
