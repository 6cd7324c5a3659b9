"""POML templates rendered through the real ``poml`` package, each render a recorded operation."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from toolkeeper import Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.config.tools import POMLConfig
from toolkeeper.integrations.poml_templates import (
    POMLTemplates,
    TemplateError,
    TemplateSyntaxError,
    UndefinedVariableError,
)

HERE = Path(__file__).parent / "poml"
REVIEW_VARIABLES: dict[str, Any] = {
    "language": "Python",
    "files": [
        {"path": "app.py", "lines": 3, "changed": True},
        {"path": "old.py", "lines": 9, "changed": False},
        {"path": "cli.py", "lines": 1, "changed": True},
    ],
    "urgent": True,
    "answer_language": "English",
    "max_points": 5,
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Copy the test templates into a folder of the test's own."""
    target = tmp_path / "prompts"
    shutil.copytree(HERE, target)
    return target


def _keeper(folder: Path, strictness: str = "strict") -> Keeper:
    config = f"""\
[tools.prompts]
type = "poml"
template_dir = "{folder.as_posix()}"
strictness = "{strictness}"
timeout_seconds = 60
"""
    return Keeper.open(ConfigFile.parse(config), store="memory://", follow_changes=False)


@pytest.fixture
def keeper(folder: Path) -> Iterator[Keeper]:
    """Open a keeper whose ``prompts`` tool renders the test templates strictly."""
    opened = _keeper(folder)
    yield opened
    opened.close()


def records(keeper: Keeper) -> list[dict[str, Any]]:
    """Return the recorded operations of the ``prompts`` tool, oldest first."""
    return keeper.monitoring.export_metrics(wrapper_name="prompts")


def test_nested_components_loops_conditions_and_includes_render(keeper: Keeper) -> None:
    """<let>, a <list> looped and filtered, <p if> and an include render as POML renders them."""
    rendered = POMLTemplates(keeper).render("review", REVIEW_VARIABLES)
    (message,) = rendered.messages
    assert message.role == "user"
    text = message.content
    assert isinstance(text, str)
    assert "You are a careful senior engineer reviewing Python code." in text
    assert "- app.py: 3 lines\n- cli.py: 1 lines" in text
    assert "old.py" not in text
    assert "This change blocks a release" in text
    assert "Take your time" not in text
    assert "Answer in English, at most 5 points." in text


def test_a_render_is_recorded_with_the_template_and_its_version(
    keeper: Keeper, folder: Path
) -> None:
    """Each render is operation ``render`` of the tool, labelled with template and content hash."""
    templates = POMLTemplates(keeper)
    first = templates.render("greeting", {"name": "Ana", "city": "Lyon"})
    path = folder / "greeting.poml"
    path.write_text(path.read_text().replace("Greet", "Welcome"))
    second = templates.render("greeting", {"name": "Ana", "city": "Lyon"})
    assert second.text == "# Task\n\nWelcome Ana from Lyon."
    assert first.version != second.version
    done = records(keeper)
    assert [r["operation_type"] for r in done] == ["render", "render"]
    assert [r["status"] for r in done] == ["success", "success"]
    assert [r["labels"] for r in done] == [
        {"template": "greeting", "template_version": first.version},
        {"template": "greeting", "template_version": second.version},
    ]
    assert all(r["duration_ms"] > 0 for r in done)


def test_chat_messages_keep_their_speakers_and_evaluate_expressions(keeper: Keeper) -> None:
    """System, human and AI messages become system/user/assistant; ``{{ a * b }}`` is evaluated."""
    rendered = POMLTemplates(keeper).render("chat", {"name": "Bo", "a": 6, "b": 7})
    assert rendered.chat_messages() == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello, I am Bo."},
        {"role": "assistant", "content": "Hello Bo!"},
        {"role": "user", "content": "What is 6 times 7? It is 42."},
    ]


def test_a_syntax_error_names_the_file_and_line_and_is_recorded(
    keeper: Keeper, folder: Path
) -> None:
    """An unclosed tag raises TemplateSyntaxError at the file and line POML reports; recorded."""
    with pytest.raises(TemplateSyntaxError) as raised:
        POMLTemplates(keeper).render("broken", {})
    assert raised.value.path == str(folder / "broken.poml")
    assert raised.value.line == 5
    assert f"{folder / 'broken.poml'}:5:" in str(raised.value)
    (record,) = records(keeper)
    assert record["status"] == "error"
    assert "broken.poml:5:" in record["error_message"]
    assert record["labels"]["template"] == "broken"


def test_a_missing_include_names_the_including_file_and_line(keeper: Keeper, folder: Path) -> None:
    """An include of a file that does not exist is an error at the ``<include>`` line."""
    with pytest.raises(TemplateSyntaxError) as raised:
        POMLTemplates(keeper).render("missing_include", {})
    assert raised.value.path == str(folder / "missing_include.poml")
    assert raised.value.line == 3
    assert "nowhere.poml" in str(raised.value)


def test_strict_refuses_an_undefined_variable(keeper: Keeper) -> None:
    """Under ``strictness = "strict"`` an undefined variable raises, naming it and its line."""
    with pytest.raises(UndefinedVariableError) as raised:
        POMLTemplates(keeper).render("greeting", {"name": "Ana"})
    assert raised.value.variable == "city"
    assert "line 2" in str(raised.value)


def test_warn_logs_an_undefined_variable_and_renders_it_empty(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Under ``warn`` the render succeeds with the variable empty and a warning naming it."""
    keeper = _keeper(folder, "warn")
    try:
        with caplog.at_level(logging.WARNING, logger="toolkeeper.integrations.poml_templates"):
            rendered = POMLTemplates(keeper).render("greeting", {"name": "Ana"})
    finally:
        keeper.close()
    assert rendered.text == "# Task\n\nGreet Ana from ."
    assert any("'city'" in r.getMessage() for r in caplog.records)


def test_lenient_renders_an_undefined_variable_empty_without_a_word(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Under ``lenient`` the variable renders as nothing and nothing is logged."""
    templates = POMLTemplates(config=POMLConfig(template_dir=str(folder), strictness="lenient"))
    with caplog.at_level(logging.WARNING, logger="toolkeeper.integrations.poml_templates"):
        rendered = templates.render("greeting", {"name": "Ana"})
    assert rendered.text == "# Task\n\nGreet Ana from ."
    assert caplog.records == []


def test_lenient_still_refuses_a_broken_template(folder: Path) -> None:
    """Strictness is about variables: a syntax error raises under ``lenient`` too."""
    templates = POMLTemplates(config=POMLConfig(template_dir=str(folder), strictness="lenient"))
    with pytest.raises(TemplateSyntaxError):
        templates.render("broken", {})


def test_template_dir_changed_at_runtime_applies_to_the_next_render(
    keeper: Keeper, tmp_path: Path
) -> None:
    """The tool's configuration is read per render: a new ``template_dir`` is used at once."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "greeting.poml").write_text("<poml><task>Hi {{ name }}.</task></poml>")
    keeper.config.update("prompts", {"template_dir": str(other)}, actor="test", reason="move")
    assert POMLTemplates(keeper).render("greeting", {"name": "Cy"}).text.endswith("Hi Cy.")


def test_a_name_leaving_the_folder_is_refused_before_anything_runs(keeper: Keeper) -> None:
    """A template name with ``..`` or an absolute path is refused, naming the rule."""
    with pytest.raises(TemplateError, match="letters, digits"):
        POMLTemplates(keeper).render("../secrets", {})


def test_async_render_gives_the_same_result(keeper: Keeper) -> None:
    """``arender`` renders in a worker thread and records the render like ``render``."""
    rendered = asyncio.run(POMLTemplates(keeper).arender("greeting", {"name": "A", "city": "B"}))
    assert rendered.text == "# Task\n\nGreet A from B."
    assert [r["status"] for r in records(keeper)] == ["success"]
