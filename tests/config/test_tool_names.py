"""Tool names at the configuration boundary: a name may hold ``/`` but not end in a route's view."""

from __future__ import annotations

import pytest

from toolkeeper import ConfigValidationError, Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.config.names import RESERVED_ENDINGS, tool_name_problem

ENDINGS = [f"/{ending}" for ending in RESERVED_ENDINGS]


@pytest.mark.parametrize("ending", ENDINGS)
def test_a_file_naming_a_tool_with_a_views_ending_is_refused(ending: str) -> None:
    """The issue names the field, the value and the rule, with the file's line."""
    name = f"search{ending}"
    with pytest.raises(ConfigValidationError) as raised:
        ConfigFile.parse(f'[tools.ok]\n\n[tools."{name}"]\nmax_retry_attempts = 1\n')
    (issue,) = raised.value.issues
    assert issue.path == f"tools.{name}"
    assert issue.value == name
    assert issue.line == 3
    assert ending in issue.rule
    assert "must not end in" in issue.rule
    assert f"tools.{name} = {name!r}: a tool name must not end in" in str(raised.value)


@pytest.mark.parametrize("name", ["a/b", "team/search/v2", "metrics/a", "a/metricsx", "history"])
def test_names_with_slashes_that_end_elsewhere_are_accepted(name: str) -> None:
    """A name may hold slashes, and a view's word anywhere but after its last slash."""
    file = ConfigFile.parse(f'[tools."{name}"]\nmax_retry_attempts = 1\n')
    assert list(file.tools) == [name]
    assert tool_name_problem(name) is None


@pytest.mark.parametrize("ending", ENDINGS)
def test_wrapping_or_scoping_a_tool_with_a_views_ending_is_refused(ending: str) -> None:
    """keeper.tool() and keeper.operation() refuse the name, naming it and the rule."""
    name = f"search{ending}"
    with Keeper.open(ConfigFile(), store="memory://", follow_changes=False) as keeper:
        with pytest.raises(ValueError, match=f"name='search{ending}': a tool name must not end"):
            keeper.tool(name)
        with pytest.raises(ValueError, match=f"tool='search{ending}': a tool name must not end"):
            keeper.operation(name)
        assert keeper.monitoring.export_metrics() == []
