"""Tests for layered resolution: precedence, provenance and environments."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkeeper._errors import ConfigValidationError, UnknownToolError
from toolkeeper.config import ExternalToolConfig, RouteLLMConfig
from toolkeeper.config.files import ConfigFile
from toolkeeper.config.layers import Layer, Origin, merge_layers, resolve_tool, variable_name

FILE = """\
default_environment = "staging"

[defaults]
timeout_seconds = 25
max_retry_attempts = 4

[tools.openai]
api_endpoint = "https://api.example.com/v1"
timeout_seconds = 15

[tools.router]
type = "routellm"
threshold = 0.3

[environments.staging.tools.openai]
timeout_seconds = 10
read_timeout_seconds = 40

[environments.production]
extends = "staging"

[environments.production.tools.openai]
max_retry_attempts = 1
"""


@pytest.fixture
def config_file(tmp_path: Path) -> ConfigFile:
    """Write the example file to disk and load it."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text(FILE)
    return ConfigFile.load(path)


layer_values = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d", "e"]), st.integers(), max_size=5
)


@given(st.lists(layer_values, max_size=6))
def test_merge_takes_each_key_from_the_highest_layer_that_sets_it(
    layers: list[dict[str, int]],
) -> None:
    """Each merged key holds the value and origin of the last (highest) layer that sets it."""
    built = [
        Layer(
            name=f"L{i}",
            values=values,
            origins={k: Origin(layer=f"L{i}", detail=f"L{i}") for k in values},
        )
        for i, values in enumerate(layers)
    ]
    values, origins = merge_layers(built)
    assert set(values) == {key for layer in layers for key in layer}
    for key, value in values.items():
        highest = max(i for i, layer in enumerate(layers) if key in layer)
        assert value == layers[highest][key]
        assert origins[key].layer == f"L{highest}"


@given(layer_values, layer_values)
def test_merge_of_a_layer_over_itself_is_that_layer(
    low: dict[str, int], high: dict[str, int]
) -> None:
    """Merging is idempotent on the top layer: repeating it changes nothing."""
    once, _ = merge_layers([Layer("low", low), Layer("high", high)])
    twice, _ = merge_layers([Layer("low", low), Layer("high", high), Layer("high", high)])
    assert once == twice


def test_precedence_runs_defaults_file_tool_environment_variable(config_file: ConfigFile) -> None:
    """Production inherits staging's values, overrides its own, and a variable beats the file."""
    resolved = resolve_tool(
        config_file,
        "openai",
        "production",
        environ={variable_name("openai", "timeout_seconds"): "12"},
    )
    config = resolved.config
    assert isinstance(config, ExternalToolConfig)
    assert config.timeout_seconds == 12
    assert config.read_timeout_seconds == 40
    assert config.max_retry_attempts == 1
    assert config.retry_backoff_seconds == 0.5
    origins = resolved.origins
    assert origins["timeout_seconds"].layer == "variable"
    assert origins["timeout_seconds"].path == "TOOLKEEPER_TOOLS__OPENAI__TIMEOUT_SECONDS"
    assert origins["read_timeout_seconds"].layer == "environment"
    assert origins["read_timeout_seconds"].line == 17
    assert "environments.staging" in origins["read_timeout_seconds"].detail
    assert origins["max_retry_attempts"].line == 23
    assert "environments.production" in origins["max_retry_attempts"].detail


def test_explain_names_file_and_line_for_every_file_value(config_file: ConfigFile) -> None:
    """Explain rows carry the file and line of values from the file, and 'default' otherwise."""
    rows = {
        row["field"]: row
        for row in resolve_tool(config_file, "openai", "staging", environ={}).explain()
    }
    assert rows["timeout_seconds"]["line"] == 16
    assert rows["timeout_seconds"]["file"] == str(config_file.path)
    assert rows["api_endpoint"]["line"] == 8
    assert rows["max_retry_attempts"]["source"] == "defaults"
    assert rows["enabled"]["source"] == "default"


def test_defaults_apply_only_to_fields_the_type_has(config_file: ConfigFile) -> None:
    """A [defaults] field applies to a routellm tool too, typed by its own model."""
    config = resolve_tool(config_file, "router", "default", environ={}).config
    assert isinstance(config, RouteLLMConfig)
    assert config.timeout_seconds == 25
    assert config.threshold == 0.3


def test_unknown_tool_is_an_error(config_file: ConfigFile) -> None:
    """Asking for a tool the file does not declare names the declared ones."""
    with pytest.raises(UnknownToolError, match="openai, router"):
        resolve_tool(config_file, "nope", "default", environ={})


def test_bad_variable_value_names_the_variable(config_file: ConfigFile) -> None:
    """A variable with a value of the wrong type is reported under the variable's name."""
    with pytest.raises(ConfigValidationError) as caught:
        resolve_tool(
            config_file,
            "openai",
            "default",
            environ={variable_name("openai", "max_retry_attempts"): "many"},
        )
    (issue,) = caught.value.issues
    assert issue.path == "TOOLKEEPER_TOOLS__OPENAI__MAX_RETRY_ATTEMPTS"
    assert issue.value == "many"


def test_unknown_field_in_a_variable_is_reported(config_file: ConfigFile) -> None:
    """A TOOLKEEPER_TOOLS__X__FIELD naming no field is an error, not silently ignored."""
    with pytest.raises(ConfigValidationError, match="TIMEOUT_SECS"):
        resolve_tool(
            config_file,
            "openai",
            "default",
            environ={"TOOLKEEPER_TOOLS__OPENAI__TIMEOUT_SECS": "3"},
        )


def test_every_problem_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    """A negative timeout, an ftp endpoint and an unknown field are all reported with lines."""
    path = tmp_path / "bad.toml"
    path.write_text('[tools.openai]\ntimeout_seconds = -1\napi_endpoint = "ftp://x"\nbogus = 1\n')
    with pytest.raises(ConfigValidationError) as caught:
        resolve_tool(ConfigFile.load(path), "openai", "default", environ={})
    found = {issue.path: issue for issue in caught.value.issues}
    assert set(found) == {
        "tools.openai.timeout_seconds",
        "tools.openai.api_endpoint",
        "tools.openai.bogus",
    }
    assert found["tools.openai.timeout_seconds"].line == 2
    assert found["tools.openai.api_endpoint"].line == 3
    assert found["tools.openai.bogus"].line == 4
    assert all(issue.file == str(path) for issue in found.values())


def test_a_cross_field_rule_points_at_the_tool(tmp_path: Path) -> None:
    """A rule between two fields is reported at the tool's table with its line."""
    path = tmp_path / "bad.toml"
    path.write_text("[tools.openai]\nconnect_timeout_seconds = 50\nread_timeout_seconds = 10\n")
    with pytest.raises(ConfigValidationError) as caught:
        resolve_tool(ConfigFile.load(path), "openai", "default", environ={})
    (issue,) = caught.value.issues
    assert issue.path == "tools.openai"
    assert issue.line == 1
    assert "connect_timeout_seconds must be below read_timeout_seconds" in issue.rule


def test_values_of_the_wrong_kind_are_explained_in_plain_words() -> None:
    """A word where a whole number, a number or a boolean belongs gets a rule a person reads."""
    file = ConfigFile.parse(
        '[tools.api]\nmax_retry_attempts = "lots"\ntimeout_seconds = "long"\nenabled = "maybe"\n'
    )
    with pytest.raises(ConfigValidationError) as caught:
        resolve_tool(file, "api", "default")
    rules = {issue.path: issue.rule for issue in caught.value.issues}
    assert rules["tools.api.max_retry_attempts"] == "must be a whole number, such as 3"
    assert rules["tools.api.timeout_seconds"] == "must be a number, such as 2.5"
    assert rules["tools.api.enabled"] == "must be true or false"
    assert not any("Input should" in rule for rule in rules.values())
