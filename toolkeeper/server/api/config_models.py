"""Response and request models of ``/api/v1/config``; every value in them is already masked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from pydantic_core import to_jsonable_python

from toolkeeper._text import SaidText
from toolkeeper.config.live import Configuration, ConfigVersion
from toolkeeper.config.schema import is_sensitive
from toolkeeper.server.api._body import WholeNumber
from toolkeeper.server.api._preconditions import MAX_REASON

__all__ = [
    "ConfigChange",
    "ConfigDiff",
    "ConfigHistory",
    "ConfigOverview",
    "ConfigToolSummary",
    "ConfigValue",
    "ConfigVersionEntry",
    "RollbackRequest",
    "ToolConfig",
    "tool_config",
]


class ConfigToolSummary(BaseModel):
    """A configured tool: its type and current version."""

    name: str
    type: str
    version: int


class ConfigOverview(BaseModel):
    """The configured tools, the environment served, and the environments declared."""

    environment: str
    environments: list[str]
    tools: list[ConfigToolSummary]


class ConfigValue(BaseModel):
    """One field: its shown value (secrets masked) and where it came from."""

    field: str
    value: Any
    sensitive: bool
    source: str = Field(description="default, defaults, tool, environment, variable or runtime.")
    origin: str
    file: str | None
    line: int | None


class ToolConfig(BaseModel):
    """A tool's effective configuration; ``version`` is also the response's ETag."""

    tool: str
    environment: str
    type: str
    version: int
    values: dict[str, Any]
    fields: list[ConfigValue]


class ConfigVersionEntry(BaseModel):
    """One stored version: who, when, why, from where, and what changed (secrets as changed)."""

    tool: str
    environment: str
    version: int
    actor: str
    reason: str
    source: str
    created_at: datetime | None
    changes: list[dict[str, Any]]

    @classmethod
    def of(cls, version: ConfigVersion) -> ConfigVersionEntry:
        """Build from the configuration's version."""
        return cls.model_validate(version.to_dict())


class ConfigHistory(BaseModel):
    """Every runtime version of a tool, oldest first; version 0 is the file as written."""

    tool: str
    environment: str
    current_version: int
    versions: list[ConfigVersionEntry]


class ConfigDiff(BaseModel):
    """What differs between two versions of a tool's effective configuration."""

    tool: str
    environment: str
    from_version: int
    to_version: int
    changes: list[dict[str, Any]]


class ConfigChange(BaseModel):
    """The result of a change: the new version (``changed`` false when nothing differed)."""

    changed: bool
    previous_version: int
    version: int
    entry: ConfigVersionEntry | None
    config: ToolConfig


class RollbackRequest(BaseModel):
    """Make an earlier version current again, as a new version."""

    to_version: WholeNumber = Field(
        ge=0, le=999_999_999, description="The version to restore; 0 is the file as written."
    )
    reason: SaidText = Field(min_length=1, max_length=MAX_REASON, description="Why.")


def tool_config(configuration: Configuration, tool: str) -> ToolConfig:
    """Return a tool's masked configuration with the origin of every value."""
    resolved = configuration.resolve(tool)
    model = type(resolved.config)
    rows = [
        ConfigValue(
            field=row["field"],
            value=to_jsonable_python(row["value"], fallback=str),
            sensitive=is_sensitive(model, row["field"]),
            source=row["source"],
            origin=row["origin"],
            file=row["file"],
            line=row["line"],
        )
        for row in resolved.explain()
    ]
    return ToolConfig(
        tool=tool,
        environment=configuration.environment,
        type=model.type_name,
        version=configuration.version(tool),
        values={row.field: row.value for row in rows},
        fields=rows,
    )
