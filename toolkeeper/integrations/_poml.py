"""Parse the POML subset that :mod:`toolkeeper.integrations.templates` renders.

A hand-written scanner over regular expressions rather than an XML parser:
POML text is not well-formed XML (a bare ``&`` or ``<`` in prose is common),
and the subset is flat, so each top-level element is matched in turn and
anything else is refused with its line number.
"""

from __future__ import annotations

import html
import re
import textwrap
from dataclasses import dataclass

from toolkeeper._errors import ToolkeeperError

__all__ = ["Parsed", "TemplateError", "UndefinedVariableError", "Value", "Var", "parse"]

_COMMENT = re.compile(r"<!--.*?-->", re.S)
_ROOT = re.compile(r"\A\s*<poml\s*>(?P<body>.*)</poml\s*>\s*\Z", re.S)
_ELEMENT = re.compile(
    r"""<(?P<tag>[A-Za-z][\w-]*)(?P<attrs>(?:\s+[\w-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*"""
    r"""(?:/>|>(?P<body>.*?)</(?P=tag)\s*>)""",
    re.S,
)
_ATTR = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_EXPRESSION = re.compile(r"{{(.*?)}}", re.S)
_NAME = re.compile(r"[A-Za-z_]\w*")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_NESTED = re.compile(r"</?[A-Za-z]")


class TemplateError(ToolkeeperError):
    """A template could not be parsed, or used something this subset does not support."""


class UndefinedVariableError(TemplateError):
    """A template used a variable that was neither passed nor defined by ``<let>``."""

    def __init__(self, variable: str, *, template: str, line: int) -> None:
        self.variable = variable
        self.template = template
        super().__init__(
            f"template {template!r} uses undefined variable {variable!r} (line {line})"
        )


@dataclass(frozen=True, slots=True)
class Var:
    """A variable used in a template, and the line it is on."""

    name: str
    line: int


Part = str | Var
Value = str | int | float | bool | Var


@dataclass(frozen=True, slots=True)
class Parsed:
    """A template's parts: role and task as text and variables, and its ``<let>`` values."""

    role: tuple[Part, ...] | None
    task: tuple[Part, ...]
    lets: tuple[tuple[str, Value], ...]


def parse(text: str, name: str) -> Parsed:
    """Parse POML ``text`` of template ``name``; raise TemplateError naming the line."""
    text = _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)
    root = _ROOT.match(text)
    if root is None:
        raise TemplateError(f"template {name!r} must be one <poml>...</poml> element")
    blocks: dict[str, tuple[Part, ...]] = {}
    lets: list[tuple[str, Value]] = []
    position, end = root.start("body"), root.end("body")
    while (position := _skip_space(text, position, end)) < end:
        line = text.count("\n", 0, position) + 1
        element = _ELEMENT.match(text, position, end)
        if element is None:
            raise TemplateError(f"template {name!r} line {line}: expected <role>, <task> or <let>")
        tag, body = element.group("tag"), element.group("body")
        body_line = line if body is None else text.count("\n", 0, element.start("body")) + 1
        attrs = {m[0]: m[1] or m[2] for m in _ATTR.findall(element.group("attrs"))}
        if tag == "let":
            lets.append(_parse_let(name, line, attrs, body))
        elif tag not in ("role", "task"):
            raise TemplateError(f"template {name!r} line {line}: <{tag}> is not supported")
        elif tag in blocks or attrs:
            problem = f"a second <{tag}>" if tag in blocks else f"<{tag}> takes no attributes"
            raise TemplateError(f"template {name!r} line {line}: {problem}")
        else:
            blocks[tag] = _parse_text(name, body_line, body or "")
        position = element.end()
    if "task" not in blocks:
        raise TemplateError(f"template {name!r} has no <task>")
    return Parsed(role=blocks.get("role"), task=blocks["task"], lets=tuple(lets))


def _skip_space(text: str, position: int, end: int) -> int:
    while position < end and text[position].isspace():
        position += 1
    return position


def _parse_text(template: str, line: int, body: str) -> tuple[Part, ...]:
    nested = _NESTED.search(body)
    if nested is not None:
        where = line + body.count("\n", 0, nested.start())
        raise TemplateError(
            f"template {template!r} line {where}: nested elements are not supported"
        )
    dedented = textwrap.dedent(body)
    text = dedented.strip()
    line += dedented[: len(dedented) - len(dedented.lstrip())].count("\n")
    parts: list[Part] = []
    position = 0
    for match in _EXPRESSION.finditer(text):
        expression = match.group(1).strip()
        where = line + text.count("\n", 0, match.start())
        if not _NAME.fullmatch(expression):
            raise TemplateError(
                f"template {template!r} line {where}: {{{{ {expression} }}}} is not a variable "
                "name; this subset supports {{ name }} only"
            )
        parts += [html.unescape(text[position : match.start()]), Var(expression, where)]
        position = match.end()
    parts.append(html.unescape(text[position:]))
    return tuple(part for part in parts if part != "")


def _parse_let(
    template: str, line: int, attrs: dict[str, str], body: str | None
) -> tuple[str, Value]:
    name = attrs.get("name")
    if name is None or not _NAME.fullmatch(name):
        raise TemplateError(f'template {template!r} line {line}: <let> needs a name="variable"')
    if set(attrs) - {"name", "value"}:
        extra = sorted(set(attrs) - {"name", "value"})
        raise TemplateError(
            f"template {template!r} line {line}: <let> attribute {extra[0]!r} is not supported"
        )
    if "value" not in attrs:
        return name, html.unescape(textwrap.dedent(body or "").strip())
    raw = attrs["value"].strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return name, raw[1:-1]
    if _NUMBER.fullmatch(raw):
        return name, float(raw) if "." in raw else int(raw)
    if raw in ("true", "false"):
        return name, raw == "true"
    if _NAME.fullmatch(raw):
        return name, Var(raw, line)
    raise TemplateError(
        f"template {template!r} line {line}: <let value={raw!r}> is an expression; this subset "
        "supports quoted strings, numbers, true/false and variable names"
    )
