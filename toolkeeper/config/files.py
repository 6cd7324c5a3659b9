"""Read ``toolkeeper.toml``: its tables, and the line each key was written on.

The file's shape::

    default_environment = "development"   # optional
    store = "sqlite:///.toolkeeper/state.db"   # optional

    [defaults]            # applies to every tool that has the field
    timeout_seconds = 30

    [tools.openai]        # one table per tool; `type` picks its model
    type = "external"
    api_key = "env:OPENAI_API_KEY"

    [environments.staging.tools.openai]
    timeout_seconds = 20

    [environments.production]
    extends = "staging"

    [costs], [prices."model"], [[budgets]]   # see toolkeeper.costs.settings
    [alerts], [alerts.notifiers.X], [[alerts.rules]]   # see toolkeeper.alerts.settings
    [secrets], [secrets.allowed_hosts]   # see toolkeeper.config.policy

Each key's line is kept (see :class:`toolkeeper._toml.TomlDocument`), so every
issue names the file and the line.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkeeper._errors import ConfigIssue, ConfigValidationError
from toolkeeper._toml import TomlDocument
from toolkeeper.alerts.settings import alert_settings
from toolkeeper.config.names import tool_name_problem
from toolkeeper.config.policy import SecretPolicy
from toolkeeper.config.telemetry import TelemetrySettings
from toolkeeper.costs.settings import cost_settings

if TYPE_CHECKING:
    from toolkeeper.alerts.settings import AlertSettings
    from toolkeeper.costs.settings import CostSettings

__all__ = ["ConfigFile"]

_TOP = (
    "alerts budgets costs default_environment defaults environments prices secrets store telemetry"
    " tools"
)
TOP_LEVEL_KEYS = tuple(_TOP.split())
_TABLES = ("alerts", "costs", "defaults", "environments", "prices", "secrets", "telemetry", "tools")
ENVIRONMENT_KEYS = ("extends", "tools")


@dataclass(frozen=True)
class ConfigFile(TomlDocument):
    """A parsed configuration file (or none: ``ConfigFile()`` is the empty configuration)."""

    @property
    def defaults(self) -> dict[str, Any]:
        """Return the ``[defaults]`` table."""
        return dict(self._table("defaults"))

    @property
    def tools(self) -> dict[str, dict[str, Any]]:
        """Return the ``[tools.*]`` tables by tool name."""
        return self._tables("tools")

    @property
    def environments(self) -> dict[str, dict[str, Any]]:
        """Return the ``[environments.*]`` tables by environment name."""
        return self._tables("environments")

    def _table(self, key: str) -> dict[str, Any]:
        value = self.data.get(key, {})
        return value if isinstance(value, dict) else {}

    def _tables(self, key: str) -> dict[str, dict[str, Any]]:
        # Ill-shaped entries are reported by shape_issues(); readers just skip them.
        return {
            name: dict(table) for name, table in self._table(key).items() if isinstance(table, dict)
        }

    @functools.cached_property
    def costs(self) -> CostSettings:
        """Return ``[costs]``, ``[prices]`` and ``[[budgets]]`` parsed (see ``costs.settings``)."""
        return cost_settings(self)[0]

    @functools.cached_property
    def alerts(self) -> AlertSettings:
        """Return ``[alerts]`` parsed: notifiers and rules (see ``alerts.settings``)."""
        return alert_settings(self)[0]

    @functools.cached_property
    def secret_policy(self) -> SecretPolicy:
        """Return ``[secrets]``: the references and hosts runtime changes may use."""
        return SecretPolicy.from_file(self)[0]

    @functools.cached_property
    def telemetry(self) -> TelemetrySettings:
        """Return ``[telemetry]``: OTLP export of metrics and traces (see ``config.telemetry``)."""
        return TelemetrySettings.from_file(self)[0]

    @property
    def default_environment(self) -> str | None:
        """Return ``default_environment`` if the file sets it."""
        value = self.data.get("default_environment")
        return value if isinstance(value, str) else None

    @property
    def store(self) -> str | None:
        """Return the ``store`` URI if the file sets it."""
        value = self.data.get("store")
        return value if isinstance(value, str) else None

    def shape_issues(self) -> list[ConfigIssue]:
        """List problems with the file's layout (unknown tables, wrong kinds of values)."""
        problems: list[ConfigIssue] = []
        for key, value in self.data.items():
            if key not in TOP_LEVEL_KEYS:
                problems.append(
                    self.issue(
                        (key,),
                        "unknown top-level key; expected one of " + ", ".join(TOP_LEVEL_KEYS),
                        has_value=False,
                    )
                )
            elif key in _TABLES and not isinstance(value, dict):
                problems.append(self.issue((key,), "must be a table", value))
            elif key == "budgets" and not isinstance(value, list):
                problems.append(self.issue((key,), "must be an array of tables", value))
            elif key in ("default_environment", "store") and not isinstance(value, str):
                problems.append(self.issue((key,), "must be a string", value))
        for section in ("tools", "environments"):
            tables = self.data.get(section)
            if not isinstance(tables, dict):
                continue
            for name, table in tables.items():
                if not isinstance(table, dict):
                    problems.append(self.issue((section, name), "must be a table", table))
        problems.extend(
            self.issue(("tools", name), rule, name)
            for name in self.tools
            if (rule := tool_name_problem(name)) is not None
        )
        problems.extend(self._environment_issues())
        problems.extend(SecretPolicy.from_file(self)[1])
        problems.extend(TelemetrySettings.from_file(self)[1])
        problems.extend(cost_settings(self)[1])
        problems.extend(alert_settings(self)[1])
        return problems

    def _environment_issues(self) -> list[ConfigIssue]:
        problems: list[ConfigIssue] = []
        for env_name, env in self.environments.items():
            if not isinstance(env, dict):
                continue
            for key, value in env.items():
                where = ("environments", env_name, key)
                if key not in ENVIRONMENT_KEYS:
                    problems.append(
                        self.issue(
                            where,
                            "unknown key in an environment; expected extends or tools",
                            has_value=False,
                        )
                    )
                elif key == "extends" and not (
                    isinstance(value, str) and value in self.environments
                ):
                    problems.append(
                        self.issue(where, "extends an environment that is not declared", value)
                    )
                elif key == "tools" and not isinstance(value, dict):
                    problems.append(self.issue(where, "must be a table", value))
                elif key == "tools":
                    problems.extend(
                        self.issue((*where, tool), "must be a table", table)
                        for tool, table in value.items()
                        if not isinstance(table, dict)
                    )
                    problems.extend(
                        self.issue(
                            (*where, tool),
                            "overrides a tool that is not declared in [tools]",
                            has_value=False,
                        )
                        for tool in value
                        if tool not in self.tools
                    )
        return problems

    def environment_chain(self, name: str) -> list[str]:
        """Return ``name`` and the environments it extends, the most basic first.

        A cycle raises ``ConfigValidationError`` naming it.
        """
        chain: list[str] = []
        current: str | None = name
        while current is not None:
            if current in chain:
                cycle = " -> ".join([*chain, current])
                raise ConfigValidationError(
                    [
                        self.issue(
                            ("environments", name, "extends"),
                            f"environments extend each other in a cycle: {cycle}",
                            has_value=False,
                        )
                    ]
                )
            chain.append(current)
            parent = self.environments.get(current, {}).get("extends")
            current = parent if isinstance(parent, str) else None
        return list(reversed(chain))
