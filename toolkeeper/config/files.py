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

``tomllib`` gives values but not positions, so :func:`key_lines` scans the text
for table headers and ``key =`` lines; it covers the TOML people write by hand
(tables, dotted keys, inline tables, multi-line strings and arrays).
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkeeper._errors import ConfigIssue, ConfigValidationError

if TYPE_CHECKING:
    from toolkeeper.alerts.settings import AlertSettings
    from toolkeeper.config.policy import SecretPolicy
    from toolkeeper.config.telemetry import TelemetrySettings
    from toolkeeper.costs.settings import CostSettings

__all__ = ["ConfigFile", "key_lines"]

_TOP = (
    "alerts budgets costs default_environment defaults environments prices secrets store telemetry"
    " tools"
)
TOP_LEVEL_KEYS = tuple(_TOP.split())
_TABLES = ("alerts", "costs", "defaults", "environments", "prices", "secrets", "telemetry", "tools")
ENVIRONMENT_KEYS = ("extends", "tools")

_BARE = r"[A-Za-z0-9_-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"|\'[^\']*\''
_KEY = rf"(?:{_BARE}|{_QUOTED})"
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART = re.compile(rf"{_KEY}")


def _split(dotted: str) -> tuple[str, ...]:
    return tuple(part.strip("\"'") for part in _PART.findall(dotted))


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path written in TOML ``text`` to its 1-based line number."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    in_string: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string is not None:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        header = _HEADER.match(line)
        if header:
            table = _split(header.group(1))
            lines.setdefault(table, number)
            continue
        assign = _ASSIGN.match(line)
        if assign:
            lines.setdefault(table + _split(assign.group(1)), number)
            rest = line[assign.end() :]
            for quote in ('"""', "'''"):
                if rest.lstrip().startswith(quote) and rest.count(quote) % 2 == 1:
                    in_string = quote
    return lines


@dataclass(frozen=True)
class ConfigFile:
    """A parsed configuration file (or none: ``ConfigFile()`` is the empty configuration)."""

    path: Path | None = None
    data: dict[str, Any] = field(default_factory=dict)
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> ConfigFile:
        """Parse ``path``; a syntax error or a misplaced table raises ``ConfigValidationError``."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigValidationError(
                [
                    ConfigIssue(
                        path=str(path), rule=f"cannot read file: {exc.strerror}", has_value=False
                    )
                ]
            ) from None
        except UnicodeDecodeError as exc:
            raise ConfigValidationError(
                [
                    ConfigIssue(
                        path="(file)",
                        rule=f"is not UTF-8 text (byte {exc.start} cannot be decoded): a "
                        "configuration file is TOML, which is UTF-8",
                        has_value=False,
                        file=str(path),
                    )
                ]
            ) from None
        return cls.parse(text, path=path)

    @classmethod
    def parse(cls, text: str, *, path: Path | None = None) -> ConfigFile:
        """Parse TOML ``text`` read from ``path``."""
        try:
            data = tomllib.loads(text)
        except RecursionError:
            raise ConfigValidationError(
                [
                    ConfigIssue(
                        path="(file)",
                        rule="invalid TOML: arrays or tables are nested too deeply",
                        has_value=False,
                        file=str(path) if path else None,
                    )
                ]
            ) from None
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"line (\d+)", str(exc))
            raise ConfigValidationError(
                [
                    ConfigIssue(
                        path="(file)",
                        rule=f"invalid TOML: {exc}",
                        has_value=False,
                        file=str(path) if path else None,
                        line=int(match.group(1)) if match else None,
                    )
                ]
            ) from None
        loaded = cls(path=path, data=data, lines=key_lines(text))
        problems = loaded.shape_issues()
        if problems:
            raise ConfigValidationError(problems)
        return loaded

    @property
    def name(self) -> str:
        """Return how to name this file in messages."""
        return str(self.path) if self.path is not None else "(no file)"

    def line_of(self, key_path: tuple[str, ...]) -> int | None:
        """Return the line of ``key_path``, or of its closest written parent."""
        for end in range(len(key_path), 0, -1):
            line = self.lines.get(key_path[:end])
            if line is not None:
                return line
        return None

    def issue(
        self, key_path: tuple[str, ...], rule: str, value: Any = None, *, has_value: bool = True
    ) -> ConfigIssue:
        """Build an issue located at ``key_path`` in this file."""
        return ConfigIssue(
            path=".".join(key_path),
            rule=rule,
            value=value,
            has_value=has_value,
            file=self.name if self.path else None,
            line=self.line_of(key_path),
        )

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
        from toolkeeper.costs.settings import cost_settings

        return cost_settings(self)[0]

    @functools.cached_property
    def alerts(self) -> AlertSettings:
        """Return ``[alerts]`` parsed: notifiers and rules (see ``alerts.settings``)."""
        from toolkeeper.alerts.settings import alert_settings

        return alert_settings(self)[0]

    @functools.cached_property
    def secret_policy(self) -> SecretPolicy:
        """Return ``[secrets]``: the references and hosts runtime changes may use."""
        from toolkeeper.config.policy import SecretPolicy

        return SecretPolicy.from_file(self)[0]

    @functools.cached_property
    def telemetry(self) -> TelemetrySettings:
        """Return ``[telemetry]``: OTLP export of metrics and traces (see ``config.telemetry``)."""
        from toolkeeper.config.telemetry import TelemetrySettings

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
        problems.extend(self._environment_issues())
        from toolkeeper.config.policy import SecretPolicy

        problems.extend(SecretPolicy.from_file(self)[1])
        from toolkeeper.config.telemetry import TelemetrySettings

        problems.extend(TelemetrySettings.from_file(self)[1])
        from toolkeeper.costs.settings import cost_settings

        problems.extend(cost_settings(self)[1])
        from toolkeeper.alerts.settings import alert_settings

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
