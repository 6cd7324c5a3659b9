"""The tool-type registry has a reset: a test's registrations do not leak into the next."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from toolkeeper import ExternalToolConfig, register_tool_type
from toolkeeper.config.schema import reset_tool_types, tool_type, tool_types


@pytest.fixture
def reset_after() -> Iterator[None]:
    """Reset the registry after the test, whatever it registered."""
    yield
    reset_tool_types()


def test_reset_forgets_a_user_type_and_keeps_toolkeepers_own(reset_after: None) -> None:
    """After reset_tool_types() a user's type is unknown; base, external, poml, routellm stay."""
    before = tool_types()

    @register_tool_type("reset-test")
    class ResetConfig(ExternalToolConfig):
        region: str = "eu"

    assert tool_type("reset-test") is ResetConfig
    reset_tool_types()
    with pytest.raises(KeyError, match="reset-test"):
        tool_type("reset-test")
    assert tool_types() == before
    assert {"base", "external", "poml", "routellm"} <= set(tool_types())


def test_the_decorator_returns_the_model_it_registers(reset_after: None) -> None:
    """register_tool_type(name) returns the class itself, typed as the class."""

    class Plain(ExternalToolConfig):
        pass

    assert register_tool_type("plain-test")(Plain) is Plain
