"""The configuration and ResiliencePolicy are one model: one set of names, defaults and rules."""

from __future__ import annotations

import dataclasses

import pytest

from toolkeeper import BaseWrapperConfig, ConfigValidationError, ResiliencePolicy
from toolkeeper.resilience.policy import DEPRECATED_NAMES


def test_every_policy_field_is_a_configuration_key_of_the_same_name() -> None:
    """Each field of the policy but the Retry-After cap is a tool setting with its name."""
    policy_fields = {f.name for f in dataclasses.fields(ResiliencePolicy) if f.init}
    assert policy_fields - set(BaseWrapperConfig.model_fields) == {"retry_after_max_seconds"}


def test_a_default_configuration_gives_the_hand_built_defaults_but_timeout_and_retries() -> None:
    """A default tool's policy is ResiliencePolicy() with the config's timeout and retries."""
    config = BaseWrapperConfig()
    expected = ResiliencePolicy(
        timeout_seconds=config.timeout_seconds, max_retry_attempts=config.max_retry_attempts
    )
    assert config.resilience_policy(sync=False) == expected


def test_a_policy_takes_the_values_of_the_configuration_by_name() -> None:
    """Every non-default value of the configuration reaches the field of the same name."""
    config = BaseWrapperConfig(
        max_retry_attempts=4,
        retry_backoff_seconds=0.25,
        circuit_window_size=12,
        circuit_minimum_calls=6,
        circuit_open_seconds=7.5,
        circuit_half_open_mode="all",
        circuit_slow_call_seconds=2.0,
        max_concurrent_calls=3,
        timeout_sync_calls=False,
    )
    policy = config.resilience_policy(sync=False)
    names = (
        "max_retry_attempts", "retry_backoff_seconds", "circuit_window_size",
        "circuit_minimum_calls", "circuit_open_seconds", "circuit_half_open_mode",
        "circuit_slow_call_seconds", "max_concurrent_calls", "timeout_seconds",
    )  # fmt: skip
    for name in names:
        assert getattr(policy, name) == getattr(config, name), name
    assert config.resilience_policy(sync=True).timeout_seconds is None


def test_a_deprecated_name_still_works_and_warns() -> None:
    """max_attempts=3 is max_retry_attempts=2, and open_wait_seconds reads circuit_open_seconds."""
    with pytest.warns(DeprecationWarning, match="use max_retry_attempts"):
        policy = ResiliencePolicy(max_attempts=3, circuit_open_seconds=4.0)
    assert policy.max_retry_attempts == 2
    with pytest.warns(DeprecationWarning, match="use circuit_open_seconds"):
        assert policy.open_wait_seconds == 4.0  # type: ignore[attr-defined]
    assert set(DEPRECATED_NAMES.values()) <= {f.name for f in dataclasses.fields(ResiliencePolicy)}


def test_an_unknown_keyword_is_refused() -> None:
    """A name that is neither a field nor a deprecated one raises TypeError naming it."""
    with pytest.raises(TypeError, match="circuit_windowsize"):
        ResiliencePolicy(circuit_windowsize=3)


def test_the_configuration_reports_the_policys_cross_field_rule() -> None:
    """A minimum above the window is refused by the config with the policy's own rule text."""
    with pytest.raises(ConfigValidationError) as from_policy:
        ResiliencePolicy(circuit_minimum_calls=20, circuit_window_size=10)
    (rule,) = (issue.rule for issue in from_policy.value.issues)
    with pytest.raises(ConfigValidationError) as from_config:
        BaseWrapperConfig(circuit_minimum_calls=20, circuit_window_size=10)
    assert f"circuit_minimum_calls {rule}" in str(from_config.value)
