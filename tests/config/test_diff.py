"""diff_configs: changed fields with their old and new values, secrets only as changed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from toolkeeper._secrets import Secret
from toolkeeper.config.diff import diff_configs
from toolkeeper.config.schema import BaseWrapperConfig, ExternalToolConfig
from toolkeeper.config.tools import POMLConfig, RouteLLMConfig

OLD_KEY = "sk-canary-0123456789abcdef"
NEW_KEY = "sk-rotated-9876543210fedcba"


def test_diff_lists_changed_fields_in_field_order() -> None:
    """Each changed field is listed once, in the model's field order, with from and to."""
    old = ExternalToolConfig(timeout_seconds=30, api_version=None, daily_budget="5")
    new = ExternalToolConfig(timeout_seconds=12, api_version="2024-06-01", daily_budget="7.5")
    assert diff_configs(old, new) == [
        {"field": "timeout_seconds", "from": 30.0, "to": 12.0},
        {"field": "api_version", "from": None, "to": "2024-06-01"},
        {"field": "daily_budget", "from": "5", "to": "7.5"},
    ]


def test_diff_shows_list_values_whole() -> None:
    """A changed list field is shown with its whole old and new lists."""
    old = ExternalToolConfig()
    new = ExternalToolConfig(budget_alert_thresholds=[0.5])
    assert diff_configs(old, new) == [
        {"field": "budget_alert_thresholds", "from": [0.8, 0.95], "to": [0.5]}
    ]


def test_diff_of_a_changed_secret_carries_no_value() -> None:
    """A changed secret is listed as changed, with neither value nor masked form anywhere."""
    old = ExternalToolConfig(api_key=Secret(OLD_KEY), timeout_seconds=30)
    new = ExternalToolConfig(api_key=Secret(NEW_KEY), timeout_seconds=20)
    changes = diff_configs(old, new)
    assert changes == [
        {"field": "timeout_seconds", "from": 30.0, "to": 20.0},
        {"field": "api_key", "secret": True, "change": "changed"},
    ]
    text = json.dumps(changes)
    for shown in (OLD_KEY, NEW_KEY, "cdef", "dcba", "****"):
        assert shown not in text


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, Secret(OLD_KEY)),
        (Secret(OLD_KEY), None),
        (Secret("aaaaaaaaaaaaaaaa-tail"), Secret("bbbbbbbbbbbbbbbb-tail")),
    ],
)
def test_diff_reports_every_secret_change_as_changed(
    before: Secret | None, after: Secret | None
) -> None:
    """Setting, clearing or replacing a secret (even with the same last four) shows as changed."""
    old = ExternalToolConfig(api_key=before)
    new = ExternalToolConfig(api_key=after)
    assert diff_configs(old, new) == [{"field": "api_key", "secret": True, "change": "changed"}]


def test_diff_reports_each_changed_secret_field() -> None:
    """Every sensitive field that changed is listed, each without a value."""
    old = ExternalToolConfig(auth_type="basic", username="ana", password=Secret("first-password"))
    new = ExternalToolConfig(
        auth_type="oauth",
        oauth_client_id="client",
        oauth_client_secret=Secret("client-secret"),
        oauth_token_url="https://login.example.com/token",
    )
    changes = {change["field"]: change for change in diff_configs(old, new)}
    assert changes["password"] == {"field": "password", "secret": True, "change": "changed"}
    assert changes["oauth_client_secret"] == {
        "field": "oauth_client_secret",
        "secret": True,
        "change": "changed",
    }
    assert changes["username"] == {"field": "username", "from": "ana", "to": None}
    assert "first-password" not in json.dumps(list(changes.values()))
    assert "client-secret" not in json.dumps(list(changes.values()))


@pytest.mark.parametrize(
    ("model", "values"),
    [
        (ExternalToolConfig, {}),
        (ExternalToolConfig, {"api_key": OLD_KEY, "timeout_seconds": 3, "daily_budget": "2"}),
        (RouteLLMConfig, {"threshold": 0.3}),
        (POMLConfig, {"strictness": "warn"}),
    ],
)
def test_diff_of_identical_configs_is_empty(
    model: type[BaseWrapperConfig], values: dict[str, Any]
) -> None:
    """Two configurations built from the same values give no changes."""
    assert diff_configs(model(**values), model(**values)) == []


def test_diff_ignores_where_an_equal_secret_came_from() -> None:
    """The same secret read from a reference and given in clear is no change."""
    old = ExternalToolConfig(api_key=Secret(OLD_KEY, source="env:TK_CANARY"))
    new = ExternalToolConfig(api_key=Secret(OLD_KEY))
    assert diff_configs(old, new) == []


def test_diff_refuses_configs_of_different_types() -> None:
    """Comparing two different tool types raises TypeError naming both."""
    with pytest.raises(TypeError, match="RouteLLMConfig against ExternalToolConfig"):
        diff_configs(RouteLLMConfig(), ExternalToolConfig())
