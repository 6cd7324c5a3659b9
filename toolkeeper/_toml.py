"""A TOML document that remembers the line each key was written on.

``tomllib`` gives values but not positions, so :func:`key_lines` scans the text
for table headers and ``key =`` lines; it covers the TOML people write by hand
(tables, dotted keys, inline tables, multi-line strings and arrays). Every
settings parser takes a :class:`TomlDocument`, so an issue names the file and
line; ``toolkeeper.config.files.ConfigFile`` is the one for ``toolkeeper.toml``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from toolkeeper._errors import ConfigIssue, ConfigValidationError

__all__ = ["TomlDocument", "key_lines"]

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
class TomlDocument:
    """A TOML document with the line of each key: issues found in it point at the line.

    ``TomlDocument()`` is the empty document. Subclasses check their own layout in
    :meth:`shape_issues`, which :meth:`parse` runs (every problem at once).
    """

    path: Path | None = None
    data: dict[str, Any] = field(default_factory=dict)
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> Self:
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
    def parse(cls, text: str, *, path: Path | None = None) -> Self:
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

    def shape_issues(self) -> list[ConfigIssue]:
        """List problems with the document's layout: none for a plain TOML document."""
        return []
