"""ConfigField: ranges, allowed values, custom validators, JSON schema and sensitivity."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

from toolkeeper._errors import ConfigValidationError
from toolkeeper._secrets import Secret
from toolkeeper.config.fields import ConfigField, config_field_of
from toolkeeper.config.schema import ExternalToolConfig, is_sensitive


def _lower_case(value: str) -> str:
    if value != value.lower():
        raise ValueError("must be written in lower case")
    return value


def _stripped(value: str) -> str:
    return value.strip()


class SearchConfig(ExternalToolConfig):
    """A user-defined tool model declaring its fields through ConfigField."""

    region: Annotated[
        str, ConfigField(description="Where queries are served.", choices=("us", "eu"))
    ] = "us"
    max_results: Annotated[int, ConfigField(description="Results per query.", ge=1, le=100)] = 10
    temperature: Annotated[float, ConfigField(description="Sampling.", gt=0, lt=2)] = 1.0
    index_name: Annotated[str, ConfigField(validator=_lower_case)] = "main"
    collection: Annotated[str, ConfigField(validator=_stripped)] = "docs"
    cutoff: Annotated[float | None, ConfigField(ge=0)] = None
    session_token: Annotated[
        Secret | None, ConfigField(description="Session token.", sensitive=True)
    ] = None
    label: str = "search"


def _rules(**values: Any) -> dict[str, str]:
    """Validate ``values`` on SearchConfig and return each failing field's rule."""
    with pytest.raises(ConfigValidationError) as excinfo:
        SearchConfig(**values)
    return {issue.path: issue.rule for issue in excinfo.value.issues}


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("max_results", 0, "must be greater than or equal to 1"),
        ("max_results", 101, "must be less than or equal to 100"),
        ("temperature", 0, "must be greater than 0"),
        ("temperature", -0.5, "must be greater than 0"),
        ("temperature", 2, "must be less than 2"),
        ("cutoff", -1, "must be greater than or equal to 0"),
    ],
)
def test_config_field_rejects_values_out_of_range(field: str, value: float, rule: str) -> None:
    """A value outside the field's ge/le/gt/lt bounds is rejected with the bound it broke."""
    assert _rules(**{field: value}) == {field: rule}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_results", 1),
        ("max_results", 100),
        ("temperature", 1e-9),
        ("temperature", 1.999),
        ("cutoff", 0),
        ("cutoff", None),
    ],
)
def test_config_field_accepts_values_on_inclusive_bounds(field: str, value: float | None) -> None:
    """Values on an inclusive bound, inside an exclusive one, or None for optionals pass."""
    assert getattr(SearchConfig(**{field: value}), field) == value


def test_config_field_rejects_a_value_outside_its_choices() -> None:
    """A value not among the field's choices is rejected with the allowed values listed."""
    assert _rules(region="ap") == {"region": "must be one of 'us', 'eu'"}
    assert SearchConfig(region="eu").region == "eu"


def test_config_field_validator_message_becomes_the_rule() -> None:
    """A custom validator's ValueError message is the rule the field reports."""
    assert _rules(index_name="Main") == {"index_name": "must be written in lower case"}
    assert SearchConfig(index_name="main-2").index_name == "main-2"


def test_config_field_validator_may_replace_the_value() -> None:
    """A custom validator's return value becomes the field's value."""
    assert SearchConfig(collection="  papers ").collection == "papers"


def test_config_field_reports_every_broken_field_at_once() -> None:
    """Several fields breaking their rules are all reported in one validation error."""
    rules = _rules(max_results=0, region="ap", index_name="Main")
    assert set(rules) == {"max_results", "region", "index_name"}


def test_config_field_runs_after_type_parsing() -> None:
    """A value of the wrong type is rejected by pydantic before the field's rules run."""
    rules = _rules(max_results="many")
    assert list(rules) == ["max_results"]
    assert rules["max_results"] == "must be a whole number, such as 3"


def test_config_field_of_returns_the_declared_metadata() -> None:
    """config_field_of returns the ConfigField declared on a field, inherited ones included."""
    field = config_field_of(SearchConfig, "region")
    assert field is not None
    assert field.description == "Where queries are served."
    assert tuple(field.choices or ()) == ("us", "eu")
    bounds = config_field_of(SearchConfig, "max_results")
    assert bounds is not None
    assert (bounds.ge, bounds.le, bounds.gt, bounds.lt) == (1, 100, None, None)
    inherited = config_field_of(SearchConfig, "timeout_seconds")
    assert inherited is not None
    assert inherited.gt == 0


def test_config_field_of_is_none_without_metadata() -> None:
    """config_field_of is None for a plain field and for a name the model lacks."""
    assert config_field_of(SearchConfig, "label") is None
    assert config_field_of(SearchConfig, "no_such_field") is None


def test_config_field_carries_description_and_bounds_into_json_schema() -> None:
    """The model's JSON schema shows each field's description, bounds and choices."""
    properties = SearchConfig.model_json_schema()["properties"]
    assert properties["max_results"]["description"] == "Results per query."
    assert properties["max_results"]["minimum"] == 1
    assert properties["max_results"]["maximum"] == 100
    assert properties["temperature"]["exclusiveMinimum"] == 0
    assert properties["temperature"]["exclusiveMaximum"] == 2
    assert properties["region"]["enum"] == ["us", "eu"]
    assert properties["region"]["description"] == "Where queries are served."
    assert properties["timeout_seconds"]["description"] == (
        "Give up on one attempt after this long."
    )


def test_config_field_marks_sensitive_fields_write_only_in_json_schema() -> None:
    """A sensitive field is writeOnly in the JSON schema; others are not."""
    properties = SearchConfig.model_json_schema()["properties"]
    assert properties["session_token"]["writeOnly"] is True
    assert properties["api_key"]["writeOnly"] is True
    assert "writeOnly" not in properties["region"]


@pytest.mark.parametrize(
    ("field", "sensitive"),
    [
        ("session_token", True),
        ("api_key", True),
        ("oauth_client_secret", True),
        ("password", True),
        ("region", False),
        ("username", False),
        ("label", False),
        ("no_such_field", False),
    ],
)
def test_is_sensitive_detects_fields_marked_sensitive(field: str, sensitive: bool) -> None:
    """is_sensitive is true exactly for fields declared with ConfigField(sensitive=True)."""
    assert is_sensitive(SearchConfig, field) is sensitive


def test_sensitive_user_field_is_masked_in_output() -> None:
    """A user-declared sensitive field is masked by to_dict and repr like the built-in ones."""
    token = "tok-0123456789abcdefWXYZ"
    config = SearchConfig(session_token=Secret(token))
    assert config.to_dict()["session_token"] == "****WXYZ"
    assert token not in repr(config)
