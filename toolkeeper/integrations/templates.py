"""POML-style prompt templates: a small, documented subset of POML, rendered to chat messages.

Supported, with POML's meaning:

- one ``<poml>`` root holding, in any order, at most one ``<role>`` and one
  ``<task>`` (plain text) and any number of ``<let>``;
- ``<let name="x">literal text</let>`` and ``<let name="x" value="..." />``
  where the value is a quoted string (``'text'``), a number, ``true``/``false``
  or the name of another variable;
- ``{{ name }}`` in role and task text; ``<!-- comments -->``.

Not supported, and refused with an error naming the line: nested components
(``<p>``, ``<list>``, ``<example>``, ...), ``src=`` imports, ``for``/``if``
attributes, stylesheets, and expressions other than a bare name (POML evaluates
JavaScript there). Variables passed to :meth:`Template.render` take precedence
over ``<let>`` defaults. ``strictness`` is the ``poml`` tool's setting: ``strict``
raises :class:`UndefinedVariableError`, ``warn`` logs a warning and ``lenient``
renders nothing for an undefined variable. The role becomes the system message
and the task the user message (POML itself puts both in one message unless told
otherwise).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from toolkeeper.integrations._poml import (
    Part,
    TemplateError,
    UndefinedVariableError,
    Value,
    Var,
    parse,
)

__all__ = [
    "RenderedPrompt",
    "Template",
    "TemplateError",
    "TemplateFolder",
    "UndefinedVariableError",
]

logger = logging.getLogger(__name__)

Strictness = Literal["lenient", "warn", "strict"]

_TEMPLATE_NAME = re.compile(r"[\w-]+")


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    """A rendered template: the role (system text, if any) and the task (user text)."""

    role: str | None
    task: str

    @property
    def text(self) -> str:
        """Return the prompt as one markdown text, as POML renders it by default."""
        head = f"# Role\n\n{self.role}\n\n" if self.role else ""
        return f"{head}# Task\n\n{self.task}"

    def messages(self) -> list[dict[str, str]]:
        """Return OpenAI-style chat messages: the role as system, the task as user."""
        user = {"role": "user", "content": self.task}
        return [{"role": "system", "content": self.role}, user] if self.role else [user]


class Template:
    """A parsed template; immutable, so one instance may be rendered from many threads."""

    def __init__(
        self,
        *,
        name: str,
        role: tuple[Part, ...] | None,
        task: tuple[Part, ...],
        lets: tuple[tuple[str, Value], ...],
    ) -> None:
        self.name = name
        self._role = role
        self._task = task
        self._lets = lets

    @classmethod
    def parse(cls, text: str, *, name: str = "<string>") -> Template:
        """Parse POML ``text``; raise :class:`TemplateError` naming the line of a problem."""
        parsed = parse(text, name)
        return cls(name=name, role=parsed.role, task=parsed.task, lets=parsed.lets)

    @property
    def variables(self) -> frozenset[str]:
        """Return the names the role and task use."""
        parts = (*(self._role or ()), *self._task)
        return frozenset(part.name for part in parts if isinstance(part, Var))

    def render(
        self, variables: Mapping[str, object] | None = None, *, strictness: Strictness = "strict"
    ) -> RenderedPrompt:
        """Fill the template with ``variables`` over its ``<let>`` defaults."""
        given = dict(variables or {})
        context: dict[str, object] = {}
        for let_name, value in self._lets:
            if isinstance(value, Var):
                context[let_name] = self._lookup(value, {**context, **given}, strictness)
            else:
                context[let_name] = value
        context.update(given)
        role = None if self._role is None else self._fill(self._role, context, strictness)
        return RenderedPrompt(role=role, task=self._fill(self._task, context, strictness))

    def _fill(
        self, parts: tuple[Part, ...], context: dict[str, object], strictness: Strictness
    ) -> str:
        return "".join(
            part if isinstance(part, str) else _show(self._lookup(part, context, strictness))
            for part in parts
        )

    def _lookup(self, var: Var, context: Mapping[str, object], strictness: Strictness) -> object:
        if var.name in context:
            return context[var.name]
        if strictness == "strict":
            raise UndefinedVariableError(var.name, template=self.name, line=var.line)
        if strictness == "warn":
            logger.warning(
                "template %r uses undefined variable %r (line %d)", self.name, var.name, var.line
            )
        return ""

    def __repr__(self) -> str:
        return f"Template(name={self.name!r}, variables={sorted(self.variables)!r})"


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class TemplateFolder:
    """The ``.poml`` templates of one folder, each parsed on first use; thread-safe."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._parsed: dict[str, Template] = {}

    def get(self, name: str) -> Template:
        """Return the template ``<directory>/<name>.poml``."""
        template = self._parsed.get(name)
        if template is not None:
            return template
        if not _TEMPLATE_NAME.fullmatch(name):
            raise TemplateError(f"template name {name!r} must be letters, digits, '_' or '-'")
        path = self.directory / f"{name}.poml"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise TemplateError(f"cannot read template {path}: {error.strerror}") from None
        template = Template.parse(text, name=name)
        with self._lock:
            return self._parsed.setdefault(name, template)

    def __repr__(self) -> str:
        return f"TemplateFolder({str(self.directory)!r})"
