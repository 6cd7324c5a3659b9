"""POML-style templates: parsing the subset, rendering, strictness and the template folder."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from toolkeeper.integrations.templates import (
    Template,
    TemplateError,
    TemplateFolder,
    UndefinedVariableError,
)

SUPPORT = """\
<poml>
  <!-- a comment -->
  <let name="product" value="'Acme Cloud'" />
  <let name="limit" value="3" />
  <let name="greeting">Hello &amp; welcome</let>
  <role>You support {{ product }}.</role>
  <task>
    {{ greeting }}! A customer asks: {{question}}
    Answer in at most {{ limit }} sentences.
  </task>
</poml>
"""


def test_a_template_renders_role_and_task_with_lets_and_variables() -> None:
    """Variables fill the text, ``<let>`` gives defaults, and entities are unescaped."""
    prompt = Template.parse(SUPPORT, name="support").render({"question": "Where is my invoice?"})
    assert prompt.role == "You support Acme Cloud."
    assert prompt.task == (
        "Hello & welcome! A customer asks: Where is my invoice?\nAnswer in at most 3 sentences."
    )
    assert prompt.messages() == [
        {"role": "system", "content": "You support Acme Cloud."},
        {"role": "user", "content": prompt.task},
    ]
    assert prompt.text.startswith("# Role\n\nYou support Acme Cloud.\n\n# Task\n\nHello")


def test_passed_variables_win_over_let_defaults() -> None:
    """A caller's value replaces the template's ``<let>`` default."""
    prompt = Template.parse(SUPPORT).render({"question": "?", "product": "Widgets"})
    assert prompt.role == "You support Widgets."


def test_strict_mode_names_the_undefined_variable_and_its_line() -> None:
    """Strict rendering raises an error naming the variable, the template and the line."""
    template = Template.parse(SUPPORT, name="support")
    with pytest.raises(UndefinedVariableError, match=r"'question' \(line 8\)") as caught:
        template.render({}, strictness="strict")
    assert caught.value.variable == "question"
    assert caught.value.template == "support"
    assert template.variables == {"product", "greeting", "question", "limit"}


def test_lenient_mode_renders_nothing_and_warn_mode_also_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Lenient leaves the variable empty quietly; warn leaves it empty and logs a warning."""
    template = Template.parse("<poml><task>Hi {{ name }}.</task></poml>", name="t")
    with caplog.at_level(logging.WARNING):
        assert template.render(strictness="lenient").task == "Hi ."
        assert not caplog.records
        assert template.render(strictness="warn").task == "Hi ."
    assert "undefined variable 'name'" in caplog.text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("<task>no root</task>", "one <poml>"),
        ("<poml><role>r</role></poml>", "has no <task>"),
        ("<poml><task>a</task>\n<task>b</task></poml>", "line 2: a second <task>"),
        (
            "<poml>\n\n<example>x</example><task>t</task></poml>",
            "line 3: <example> is not supported",
        ),
        ("<poml><task>a <b>bold</b></task></poml>", "nested elements"),
        ("<poml><task>\n{{ a + b }}</task></poml>", "line 2: {{ a + b }} is not a variable name"),
        ('<poml><let name="x" value="1 + 2" /><task>t</task></poml>', "is an expression"),
        ('<poml><let value="1" /><task>t</task></poml>', "needs a name"),
        ('<poml><let name="x" src="a.json" /><task>t</task></poml>', "'src' is not supported"),
        ("<poml>stray text<task>t</task></poml>", "expected <role>, <task> or <let>"),
    ],
)
def test_what_the_subset_does_not_support_is_refused_with_its_line(text: str, problem: str) -> None:
    """Anything outside the documented subset raises a TemplateError saying what and where."""
    with pytest.raises(TemplateError) as caught:
        Template.parse(text, name="bad")
    assert problem in str(caught.value)


def test_let_values_may_be_numbers_booleans_or_other_variables() -> None:
    """A ``<let>`` value names a literal or another variable."""
    template = Template.parse(
        '<poml><let name="n" value="2.5" /><let name="on" value="true" />'
        '<let name="who" value="user" /><task>{{ n }} {{ on }} {{ who }}</task></poml>'
    )
    assert template.render({"user": "ana"}).task == "2.5 true ana"


def test_a_folder_loads_each_template_once_and_refuses_odd_names(tmp_path: Path) -> None:
    """Templates are read from ``<dir>/<name>.poml``; names cannot leave the folder."""
    (tmp_path / "hello.poml").write_text("<poml><task>Hello {{ who }}</task></poml>")
    folder = TemplateFolder(tmp_path)
    assert folder.get("hello") is folder.get("hello")
    assert folder.get("hello").render({"who": "you"}).task == "Hello you"
    with pytest.raises(TemplateError, match="must be letters"):
        folder.get("../secrets")
    with pytest.raises(TemplateError, match="cannot read template"):
        folder.get("missing")
