"""POML templates rendered by the ``poml`` package itself, each render a recorded operation.

The ``poml`` package (extra ``[poml]``) ships POML's own renderer with the
Node.js runtime it runs on, so rendering works offline and understands the
whole language: nested components, ``for``/``if`` attributes, ``<let>``,
``<include src=...>``, expressions, stylesheets. Each render runs that renderer
once, in a child process (about a second and a half on this project's machines:
render templates once per request, not in a tight loop).

:class:`POMLTemplates` renders ``<template_dir>/<name>.poml`` for a ``poml``
tool and records each render as operation ``render`` of that tool: the
duration is the render time, the labels name the ``template`` and its
``template_version`` (the first 12 hex digits of the file's SHA-256), and a
failure is recorded with its message. The tool's configuration is read on every
render, so a ``template_dir`` or ``strictness`` changed at runtime applies to the
next one. ``strictness`` says what an undefined variable does: ``strict``
raises :class:`UndefinedVariableError`, ``warn`` logs a warning and renders it
as nothing, ``lenient`` renders it as nothing. Every other problem (a syntax
error, a missing include, a failing expression) raises
:class:`TemplateSyntaxError` with the file, line and column POML points at,
whatever the strictness: POML's own non-strict mode would render a broken
template silently.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from toolkeeper._errors import CallTimeoutError, MissingDependencyError
from toolkeeper.config.tools import POMLConfig
from toolkeeper.integrations._poml import TemplateError, UndefinedVariableError

if TYPE_CHECKING:
    from toolkeeper.keeper import Keeper

__all__ = [
    "POMLTemplates",
    "PromptMessage",
    "RenderedTemplate",
    "TemplateError",
    "TemplateSyntaxError",
    "UndefinedVariableError",
]

logger = logging.getLogger(__name__)

Strictness = Literal["lenient", "warn", "strict"]

_TEMPLATE_NAME = re.compile(r"[\w-]+(?:/[\w-]+)*")
_ERROR_LINE = re.compile(r"^(?P<kind>\w*Error): (?P<message>.*)$", re.M)
_START_INDEX = re.compile(r"^\s*startIndex: (\d+),?$", re.M)
_SOURCE_PATH = re.compile(r"^\s*sourcePath: '(.*)',?$", re.M)
_UNDEFINED = re.compile(r"^(?P<name>[A-Za-z_$][\w$]*) is not defined$")
_CAUSE = re.compile(r"\[cause\]: (?P<kind>\w+):")
# POML's speakers, as chat roles.
_ROLES = {"human": "user", "ai": "assistant", "system": "system"}
_VERSION_DIGITS = 12


class TemplateSyntaxError(TemplateError):
    """POML could not read or render a template; ``path``, ``line`` and ``column`` say where.

    ``line`` and ``column`` count from 1 and are None when POML names no place.
    """

    def __init__(
        self, message: str, *, path: str | None, line: int | None, column: int | None
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.detail = message
        where = path or "template"
        if line is not None:
            where += f":{line}:{column}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptMessage:
    """One message of a rendered template: a chat ``role`` and its content.

    ``content`` is text, or POML's list of parts when the message holds images.
    """

    role: str
    content: str | list[Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedTemplate:
    """A rendered template: its name, version and messages, in order."""

    template: str
    version: str
    messages: tuple[PromptMessage, ...]

    def chat_messages(self) -> list[dict[str, Any]]:
        """Return the messages as OpenAI-style chat messages (``role`` and ``content``)."""
        return [{"role": m.role, "content": m.content} for m in self.messages]

    @property
    def text(self) -> str:
        """Return the text of every message, separated by blank lines."""
        return "\n\n".join(m.content for m in self.messages if isinstance(m.content, str))


@dataclass(frozen=True, slots=True)
class _Failure:
    """What POML's renderer printed when it failed, read from its standard error."""

    kind: str
    message: str
    path: str | None
    index: int | None
    cause: str | None

    @property
    def undefined_variable(self) -> str | None:
        match = _UNDEFINED.match(self.message)
        return match["name"] if match and self.cause == "ReferenceError" else None


def _read_failure(stderr: str) -> _Failure:
    error = _ERROR_LINE.search(stderr)
    index = _START_INDEX.search(stderr)
    path = _SOURCE_PATH.search(stderr)
    cause = _CAUSE.search(stderr)
    if error is None:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        return _Failure("Error", lines[-1] if lines else "the renderer failed", None, None, None)
    return _Failure(
        kind=error["kind"],
        message=error["message"].strip(),
        path=path[1] if path else None,
        index=int(index[1]) if index else None,
        cause=cause["kind"] if cause else None,
    )


def _place(path: str | None, index: int | None) -> tuple[int | None, int | None]:
    """Return the 1-based line and column of character ``index`` in the file at ``path``."""
    if path is None or index is None:
        return None, None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return None, None
    before = text[:index]
    line = before.count("\n") + 1
    return line, index - (before.rfind("\n") + 1) + 1


def _messages(output: str) -> tuple[PromptMessage, ...]:
    data = json.loads(output)
    raw = data["messages"] if isinstance(data, dict) else data
    return tuple(
        PromptMessage(role=_ROLES.get(item["speaker"], item["speaker"]), content=item["content"])
        for item in raw
    )


def _run_renderer(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        # Deferred: poml is optional (toolkeeper[poml]) and heavy, and only
        # a rendered template needs it.
        from poml.cli import run
    except ImportError:
        raise MissingDependencyError("rendering POML templates", "poml") from None
    completed: subprocess.CompletedProcess[str] = run(
        *args, capture_output=True, text=True, encoding="utf-8", timeout=timeout
    )
    return completed


class POMLTemplates:
    """Render the ``.poml`` templates of a ``poml`` tool, recording each render; thread-safe.

    Give a :class:`~toolkeeper.Keeper` and the tool's name to read the tool's
    configuration and record renders; or a :class:`~toolkeeper.config.tools.POMLConfig`
    (or a callable returning one) to render without recording. A relative
    ``template_dir`` is read from the current directory.
    """

    def __init__(
        self,
        keeper: Keeper | None = None,
        *,
        tool: str = "prompts",
        config: POMLConfig | Callable[[], POMLConfig] | None = None,
    ) -> None:
        if keeper is None and config is None:
            raise ValueError("POMLTemplates needs a keeper (and tool name) or a POMLConfig")
        self.keeper = keeper
        self.tool = tool
        self._config = config

    def config(self) -> POMLConfig:
        """Return the tool's configuration as it is now."""
        if self._config is not None:
            return self._config() if callable(self._config) else self._config
        assert self.keeper is not None
        config = self.keeper.config.get(self.tool)
        if not isinstance(config, POMLConfig):
            raise TemplateError(
                f"tool {self.tool!r} is of type {type(config).type_name!r}; "
                "POMLTemplates renders for a tool of type 'poml'"
            )
        return config

    def path_of(self, name: str) -> Path:
        """Return the file of template ``name`` (``<template_dir>/<name>.poml``)."""
        if not _TEMPLATE_NAME.fullmatch(name):
            raise TemplateError(
                f"template name {name!r} must be letters, digits, '_' or '-' "
                "(folders separated by '/')"
            )
        return Path(self.config().template_dir) / f"{name}.poml"

    def render(self, name: str, variables: Mapping[str, object] | None = None) -> RenderedTemplate:
        """Render template ``name`` with ``variables``, recorded as operation ``render``."""
        if self.keeper is None:
            return self._render(name, variables, {})
        labels = {"template": name}
        with self.keeper.operation(self.tool, "render", labels=labels) as op:
            return self._render(name, variables, op.labels)

    async def arender(
        self, name: str, variables: Mapping[str, object] | None = None
    ) -> RenderedTemplate:
        """Render template ``name`` from asyncio code without blocking the event loop."""
        if self.keeper is None:
            return await asyncio.to_thread(self._render, name, variables, {})
        labels = {"template": name}
        async with self.keeper.operation(self.tool, "render", labels=labels) as op:
            return await asyncio.to_thread(self._render, name, variables, op.labels)

    def _render(
        self, name: str, variables: Mapping[str, object] | None, labels: dict[str, str]
    ) -> RenderedTemplate:
        config = self.config()
        path = self.path_of(name).absolute()
        try:
            source = path.read_bytes()
        except OSError as error:
            raise TemplateError(f"cannot read template {path}: {error.strerror}") from None
        version = hashlib.sha256(source).hexdigest()[:_VERSION_DIGITS]
        labels["template_version"] = version
        context = json.dumps(dict(variables or {}), default=str)
        with tempfile.TemporaryDirectory(prefix="toolkeeper-poml-") as folder:
            context_file = Path(folder) / "context.json"
            context_file.write_text(context, encoding="utf-8")
            args = ["-f", os.fspath(path), "--context-file", os.fspath(context_file)]
            output = self._run(args, strict=True, timeout=config.timeout_seconds)
            if isinstance(output, _Failure):
                variable = output.undefined_variable
                if variable is None or config.strictness == "strict":
                    raise self._error(output, variable)
                if config.strictness == "warn":
                    line, _ = _place(output.path, output.index)
                    logger.warning(
                        "template %r uses undefined variable %r (%s, line %s)",
                        name, variable, output.path, line,
                    )  # fmt: skip
                output = self._run(args, strict=False, timeout=config.timeout_seconds)
                if isinstance(output, _Failure):
                    raise self._error(output, None)
        return RenderedTemplate(template=name, version=version, messages=_messages(output))

    def _run(self, args: list[str], *, strict: bool, timeout: float) -> str | _Failure:
        flag = ["--strict", "true" if strict else "false"]
        try:
            completed = _run_renderer([*args, *flag], timeout)
        except subprocess.TimeoutExpired:
            raise CallTimeoutError(tool=self.tool, timeout_seconds=timeout) from None
        if completed.returncode != 0:
            return _read_failure(completed.stderr)
        return completed.stdout

    @staticmethod
    def _error(failure: _Failure, variable: str | None) -> TemplateError:
        line, column = _place(failure.path, failure.index)
        if variable is not None:
            return UndefinedVariableError(
                variable, template=failure.path or "template", line=line or 0
            )
        return TemplateSyntaxError(failure.message, path=failure.path, line=line, column=column)

    def __repr__(self) -> str:
        return f"POMLTemplates(tool={self.tool!r})"
