"""The configuration models: defaults, cross-field rules, masking and the tool-type registry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from toolkeeper._errors import ConfigValidationError
from toolkeeper._secrets import Secret
from toolkeeper.config import schema
from toolkeeper.config.schema import (
    BaseWrapperConfig,
    ExternalToolConfig,
    register_tool_type,
    tool_type,
    tool_types,
)
from toolkeeper.config.tools import POMLConfig, RouteLLMConfig

CANARY = "sk-canary-0123456789abcdef"


@pytest.fixture
def restore_tool_types() -> Iterator[None]:
    """Put the tool-type registry back as it was once the test is done."""
    saved = dict(schema._TOOL_TYPES)
    yield
    schema._TOOL_TYPES.clear()
    schema._TOOL_TYPES.update(saved)


def _messages(model: type[BaseWrapperConfig], **values: Any) -> list[str]:
    """Validate ``values`` on ``model`` and return every error message."""
    with pytest.raises(ConfigValidationError) as excinfo:
        model(**values)
    return [issue.rule for issue in excinfo.value.issues]


# --- defaults and field rules -----------------------------------------------------------------


@pytest.mark.parametrize(
    "model", [BaseWrapperConfig, ExternalToolConfig, RouteLLMConfig, POMLConfig]
)
def test_defaults_are_valid(model: type[BaseWrapperConfig]) -> None:
    """Every built-in model validates with nothing but its defaults."""
    config = model()
    assert config.enabled is True
    assert model.model_validate(config.to_dict()) == config


def test_every_registered_type_has_valid_defaults() -> None:
    """Every tool type in the registry validates with its defaults."""
    assert {"base", "external", "routellm", "poml"} <= set(tool_types())
    for model in tool_types().values():
        model()


def test_field_errors_are_all_reported_at_once() -> None:
    """A negative timeout, an ftp:// endpoint and an unknown field are reported together."""
    with pytest.raises(ConfigValidationError) as excinfo:
        ExternalToolConfig(
            timeout_seconds=-1, api_endpoint="ftp://files.example.com", colour="blue"
        )
    by_field = {issue.path: issue for issue in excinfo.value.issues}
    assert set(by_field) == {"timeout_seconds", "api_endpoint", "colour"}
    assert by_field["timeout_seconds"].rule == "must be greater than 0"
    assert by_field["api_endpoint"].rule == "must be an http:// or https:// URL"


@pytest.mark.parametrize("endpoint", ["https://api.example.com/v1", "http://localhost:8080"])
def test_http_endpoints_are_accepted(endpoint: str) -> None:
    """An http:// or https:// endpoint with a host is accepted."""
    assert ExternalToolConfig(api_endpoint=endpoint).api_endpoint == endpoint


def test_endpoint_without_host_is_rejected() -> None:
    """An https:// endpoint with no host name is rejected."""
    assert _messages(ExternalToolConfig, api_endpoint="https:///v1") == [
        "must be a URL with a host name"
    ]


@pytest.mark.parametrize(("connect", "read"), [(30, 30), (31, 30), (10, 5)])
def test_connect_timeout_must_be_below_read_timeout(connect: float, read: float) -> None:
    """A connect timeout at or above the read timeout is rejected."""
    [message] = _messages(
        ExternalToolConfig, connect_timeout_seconds=connect, read_timeout_seconds=read
    )
    assert "connect_timeout_seconds must be below read_timeout_seconds" in message


def test_connect_timeout_below_read_timeout_is_accepted() -> None:
    """A connect timeout below the read timeout is accepted."""
    config = ExternalToolConfig(connect_timeout_seconds=2, read_timeout_seconds=3)
    assert config.connect_timeout_seconds < config.read_timeout_seconds


def test_daily_budget_must_not_exceed_monthly_budget() -> None:
    """A daily budget above the monthly budget is rejected; equal budgets are accepted."""
    [message] = _messages(ExternalToolConfig, daily_budget="50", monthly_budget="10")
    assert "daily_budget must not exceed monthly_budget (50 > 10)" in message
    config = ExternalToolConfig(daily_budget="10", monthly_budget="10")
    assert config.daily_budget == config.monthly_budget == Decimal("10")


def test_negative_budget_is_rejected() -> None:
    """A negative budget is rejected by its range."""
    assert _messages(ExternalToolConfig, daily_budget="-1") == [
        "must be greater than or equal to 0"
    ]


def test_cross_field_problems_are_reported_together() -> None:
    """Timeouts, budgets and auth problems of one model are reported in a single error."""
    [message] = _messages(
        ExternalToolConfig,
        connect_timeout_seconds=30,
        daily_budget=5,
        monthly_budget=1,
        auth_type="basic",
    )
    assert "connect_timeout_seconds" in message
    assert "daily_budget" in message
    assert "auth_type 'basic'" in message


@pytest.mark.parametrize(
    "credentials",
    [{}, {"oauth_client_id": "client"}, {"oauth_client_secret": Secret("shh-client-secret")}],
)
def test_oauth_needs_client_id_and_secret(credentials: dict[str, Any]) -> None:
    """auth_type oauth without a client id, a client secret and a token URL is rejected."""
    [message] = _messages(ExternalToolConfig, auth_type="oauth", **credentials)
    assert (
        "auth_type 'oauth' needs oauth_client_id, oauth_client_secret and oauth_token_url"
        in message
    )
    assert "shh-client-secret" not in message


def test_oauth_with_client_id_and_secret_is_accepted() -> None:
    """auth_type oauth with a client id, secret and token URL is accepted."""
    config = ExternalToolConfig(
        auth_type="oauth",
        oauth_client_id="client",
        oauth_client_secret=Secret("shh"),
        oauth_token_url="https://login.example.com/token",
    )
    assert config.auth_type == "oauth"


@pytest.mark.parametrize("credentials", [{}, {"username": "ana"}, {"password": Secret("hunter2")}])
def test_basic_auth_needs_username_and_password(credentials: dict[str, Any]) -> None:
    """auth_type basic without both a username and a password is rejected."""
    [message] = _messages(ExternalToolConfig, auth_type="basic", **credentials)
    assert "auth_type 'basic' needs username and password" in message


def test_basic_auth_with_username_and_password_is_accepted() -> None:
    """auth_type basic with a username and a password is accepted."""
    config = ExternalToolConfig(auth_type="basic", username="ana", password=Secret("hunter2"))
    assert config.password == Secret("hunter2")


@pytest.mark.parametrize(
    ("auth_type", "credentials"),
    [
        ("basic", {"username": "ana", "password": Secret("")}),
        ("basic", {"username": "", "password": Secret("hunter2")}),
        ("oauth", {"oauth_client_id": "client", "oauth_client_secret": Secret("")}),
        ("oauth", {"oauth_client_id": "", "oauth_client_secret": Secret("shh")}),
    ],
)
def test_auth_with_an_empty_credential_is_rejected(
    auth_type: str, credentials: dict[str, Any]
) -> None:
    """An empty username, password, client id or client secret counts as missing."""
    [message] = _messages(ExternalToolConfig, auth_type=auth_type, **credentials)
    assert f"auth_type {auth_type!r} needs" in message


@pytest.mark.parametrize("thresholds", [[], [1.0], [0.5, 0.8, 0.95], [0.01, 1]])
def test_increasing_alert_thresholds_are_accepted(thresholds: list[float]) -> None:
    """Distinct increasing fractions in (0, 1] are accepted as alert thresholds."""
    config = ExternalToolConfig(budget_alert_thresholds=thresholds)
    assert config.budget_alert_thresholds == thresholds


@pytest.mark.parametrize("thresholds", [[0.9, 0.5], [0.5, 0.5], [0], [0.5, 1.5], [-0.1, 0.5]])
def test_alert_thresholds_must_be_increasing_fractions(thresholds: list[float]) -> None:
    """Alert thresholds out of order, repeated, or outside (0, 1] are rejected."""
    with pytest.raises(ConfigValidationError):
        ExternalToolConfig(budget_alert_thresholds=thresholds)


@given(st.lists(st.floats(allow_nan=False, min_value=-2, max_value=2), max_size=5))
def test_alert_thresholds_accepted_exactly_when_increasing_fractions(
    thresholds: list[float],
) -> None:
    """A threshold list validates if and only if it rises strictly within (0, 1]."""
    valid = all(0 < value <= 1 for value in thresholds) and all(
        low < high for low, high in pairwise(thresholds)
    )
    try:
        config = ExternalToolConfig(budget_alert_thresholds=thresholds)
    except ConfigValidationError:
        assert not valid
    else:
        assert valid
        assert config.budget_alert_thresholds == thresholds


def test_alert_thresholds_default_is_not_shared() -> None:
    """Each configuration gets its own copy of the default alert thresholds."""
    first, second = ExternalToolConfig(), ExternalToolConfig()
    assert first.budget_alert_thresholds == [0.8, 0.95]
    assert first.budget_alert_thresholds is not second.budget_alert_thresholds


def test_retry_backoff_must_not_exceed_its_maximum() -> None:
    """An initial backoff above the longest backoff is rejected."""
    [message] = _messages(BaseWrapperConfig, retry_backoff_seconds=10, retry_backoff_max_seconds=5)
    assert "retry_backoff_seconds must not exceed retry_backoff_max_seconds" in message


def test_pool_keepalive_must_not_exceed_pool_size() -> None:
    """More keep-alive connections than pool connections is rejected."""
    [message] = _messages(ExternalToolConfig, pool_max_connections=5, pool_max_keepalive=6)
    assert "pool_max_keepalive must not exceed pool_max_connections" in message


# --- masking ----------------------------------------------------------------------------------


def _with_secrets(api_key: str) -> ExternalToolConfig:
    return ExternalToolConfig(
        api_key=Secret(api_key),
        auth_type="basic",
        username="ana",
        password=Secret("pw-0123456789abcdPASS"),
        oauth_client_secret=Secret("tiny"),
    )


def test_to_dict_masks_secrets() -> None:
    """to_dict shows the last four characters of a long secret and nothing of a short one."""
    data = _with_secrets(CANARY).to_dict()
    assert data["api_key"] == "****cdef"
    assert data["password"] == "****PASS"
    assert data["oauth_client_secret"] == "****"
    assert data["username"] == "ana"
    text = json.dumps(data)
    assert CANARY not in text
    assert "pw-0123456789abcdPASS" not in text


def test_to_dict_masks_a_short_secret_entirely() -> None:
    """A secret shorter than 16 characters shows as `****` alone."""
    assert _with_secrets("sk-short-1234").to_dict()["api_key"] == "****"


def test_to_dict_unmasked_returns_the_secrets() -> None:
    """to_dict(mask_sensitive=False) returns each secret's value."""
    data = _with_secrets(CANARY).to_dict(mask_sensitive=False)
    assert data["api_key"] == CANARY
    assert data["password"] == "pw-0123456789abcdPASS"
    assert data["oauth_client_secret"] == "tiny"


def test_to_dict_keeps_unset_secrets_as_none() -> None:
    """An unset secret is None, masked or not."""
    assert ExternalToolConfig().to_dict()["api_key"] is None
    assert ExternalToolConfig().to_dict(mask_sensitive=False)["api_key"] is None


def test_to_dict_is_json_ready() -> None:
    """to_dict returns data that json.dumps accepts, budgets and thresholds included."""
    config = ExternalToolConfig(daily_budget="1.50", monthly_budget="30")
    data = json.loads(json.dumps(config.to_dict()))
    assert Decimal(data["daily_budget"]) == Decimal("1.50")
    assert data["budget_alert_thresholds"] == [0.8, 0.95]


def test_repr_masks_secrets() -> None:
    """repr and str of a configuration show secrets masked."""
    config = _with_secrets(CANARY)
    for text in (repr(config), str(config), f"{config}"):
        assert CANARY not in text
        assert "pw-0123456789abcdPASS" not in text
    assert "****cdef" in repr(config)


def test_validation_error_does_not_show_the_secret() -> None:
    """A validation error raised by a model holding a secret does not show that secret."""
    with pytest.raises(ConfigValidationError) as excinfo:
        ExternalToolConfig(api_key=Secret(CANARY), timeout_seconds=-1)
    assert CANARY not in str(excinfo.value)


def test_models_are_frozen() -> None:
    """Assigning to a field of a configuration raises a validation error."""
    config = ExternalToolConfig()
    with pytest.raises(ValidationError, match="frozen"):
        config.timeout_seconds = 1  # type: ignore[misc]
    assert config.timeout_seconds == 30.0


# --- registry ---------------------------------------------------------------------------------


def test_builtin_tool_types_are_registered() -> None:
    """The built-in types are found by their names."""
    assert tool_type("base") is BaseWrapperConfig
    assert tool_type("external") is ExternalToolConfig
    assert tool_type("routellm") is RouteLLMConfig
    assert tool_type("poml") is POMLConfig
    assert RouteLLMConfig.type_name == "routellm"


def test_register_tool_type_registers_a_user_model(restore_tool_types: None) -> None:
    """A user model registered by name is found by that name and knows its name."""

    @register_tool_type("search-test")
    class SearchConfig(ExternalToolConfig):
        region: str = "us"

    assert tool_type("search-test") is SearchConfig
    assert tool_types()["search-test"] is SearchConfig
    assert SearchConfig.type_name == "search-test"


def test_register_tool_type_twice_with_the_same_model_is_allowed(
    restore_tool_types: None,
) -> None:
    """Registering the same model again under its name changes nothing."""

    class SearchConfig(ExternalToolConfig):
        region: str = "us"

    register_tool_type("search-test")(SearchConfig)
    register_tool_type("search-test")(SearchConfig)
    assert tool_type("search-test") is SearchConfig


def test_register_tool_type_refuses_a_taken_name(restore_tool_types: None) -> None:
    """Registering another model under a taken name raises ValueError and keeps the first."""
    with pytest.raises(ValueError, match="'routellm' is already registered to RouteLLMConfig"):

        @register_tool_type("routellm")
        class OtherRouter(ExternalToolConfig):
            pass

    assert tool_type("routellm") is RouteLLMConfig


def test_tool_type_unknown_name_lists_known_types() -> None:
    """An unknown tool type raises KeyError naming it and every known type."""
    with pytest.raises(KeyError) as excinfo:
        tool_type("nope")
    message = str(excinfo.value.args[0])
    assert "'nope'" in message
    for known in ("base", "external", "poml", "routellm"):
        assert known in message


def test_tool_types_returns_a_copy(restore_tool_types: None) -> None:
    """Changing the dict tool_types returns does not change the registry."""
    types = tool_types()
    types["sneaky"] = ExternalToolConfig
    assert "sneaky" not in tool_types()


# --- built-in tool types ----------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [-0.01, 1.01, 5])
def test_routellm_threshold_outside_unit_interval_is_rejected(threshold: float) -> None:
    """A RouteLLM threshold outside [0, 1] is rejected."""
    with pytest.raises(ConfigValidationError, match="threshold"):
        RouteLLMConfig(threshold=threshold)


@pytest.mark.parametrize("threshold", [0, 0.5, 1])
def test_routellm_threshold_inside_unit_interval_is_accepted(threshold: float) -> None:
    """A RouteLLM threshold in [0, 1], ends included, is accepted."""
    assert RouteLLMConfig(threshold=threshold).threshold == threshold


def test_routellm_router_type_is_one_of_the_known_routers() -> None:
    """An unknown RouteLLM router type is rejected."""
    with pytest.raises(ConfigValidationError, match="router_type"):
        RouteLLMConfig(router_type="magic")
    assert RouteLLMConfig(router_type="bert").router_type == "bert"


@pytest.mark.parametrize("strictness", ["lenient", "warn", "strict"])
def test_poml_strictness_accepts_its_choices(strictness: str) -> None:
    """POML strictness accepts lenient, warn and strict."""
    assert POMLConfig(strictness=strictness).strictness == strictness


def test_poml_strictness_rejects_other_values() -> None:
    """A POML strictness outside its choices is rejected."""
    with pytest.raises(ConfigValidationError, match="strictness"):
        POMLConfig(strictness="loose")


def test_poml_has_no_network_fields() -> None:
    """POML is not an external tool, so network fields are unknown to it."""
    with pytest.raises(ConfigValidationError, match="unknown field"):
        POMLConfig(api_endpoint="https://api.example.com")


# --- errors from direct construction ----------------------------------------------------------


@pytest.mark.parametrize(
    "model", [BaseWrapperConfig, ExternalToolConfig, RouteLLMConfig, POMLConfig]
)
@pytest.mark.parametrize("build", ["init", "model_validate", "model_validate_json"])
def test_every_construction_path_raises_config_validation_error(
    model: type[BaseWrapperConfig], build: str
) -> None:
    """Building a seed config class directly with a bad value raises ConfigValidationError."""
    builders = {
        "init": lambda: model(timeout_seconds="soon"),
        "model_validate": lambda: model.model_validate({"timeout_seconds": "soon"}),
        "model_validate_json": lambda: model.model_validate_json('{"timeout_seconds": "soon"}'),
    }
    with pytest.raises(ConfigValidationError) as excinfo:
        builders[build]()
    assert [(i.path, i.value, i.rule) for i in excinfo.value.issues] == [
        ("timeout_seconds", "soon", "must be a number, such as 2.5")
    ]


@pytest.mark.parametrize(
    "value", [[CANARY], 12345678901234567890, {"key": CANARY}, (CANARY,), 1.5e30]
)
def test_a_secret_of_the_wrong_type_is_one_problem_that_never_echoes_it(value: Any) -> None:
    """A list, number or object given as api_key is one plain problem and its value is not shown."""
    with pytest.raises(ConfigValidationError) as excinfo:
        ExternalToolConfig(api_key=value)
    (issue,) = excinfo.value.issues
    assert issue.path == "api_key"
    assert issue.rule.startswith("must be a string")
    assert not issue.has_value
    assert CANARY not in str(excinfo.value)
    assert str(value) not in str(excinfo.value)
    assert "[" not in issue.path
    assert "function" not in str(excinfo.value)


def test_a_secret_field_takes_strings_only() -> None:
    """A string becomes a Secret; anything but a string or a Secret is refused."""
    assert ExternalToolConfig(api_key=CANARY).api_key == Secret(CANARY)
    with pytest.raises(ConfigValidationError):
        ExternalToolConfig(api_key=b"bytes-are-not-strings-either")


def test_construction_errors_do_not_chain_pydantics_error() -> None:
    """The error hides pydantic's original, which quotes every input whole."""
    with pytest.raises(ConfigValidationError) as excinfo:
        ExternalToolConfig(api_key=[CANARY])
    assert excinfo.value.__suppress_context__
    assert excinfo.value.__cause__ is None
