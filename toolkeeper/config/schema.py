"""The configuration models: BaseWrapperConfig, ExternalToolConfig and the tool-type registry.

One pydantic model per kind of tool; the fields, their defaults and rules are
declared here once and read everywhere else (loader, CLI, API, admin UI).
Models are frozen: a configuration is a snapshot, changed only through a new
version (see :mod:`toolkeeper.config.live`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar, get_args
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    model_validator,
)

from toolkeeper import _defaults
from toolkeeper._defaults import HALF_OPEN_MODES, HalfOpenMode
from toolkeeper._errors import ConfigIssue, ConfigValidationError
from toolkeeper._secrets import Secret
from toolkeeper._units import check_money
from toolkeeper.config.fields import ConfigField, config_field_of
from toolkeeper.config.problems import field_problems
from toolkeeper.resilience.classify import spec_issues
from toolkeeper.resilience.policy import ResiliencePolicy

__all__ = [
    "BaseWrapperConfig",
    "ExternalToolConfig",
    "is_sensitive",
    "register_tool_type",
    "reset_tool_types",
    "tool_type",
    "tool_types",
]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must be a URL with a host name")
    return value


def _money(value: Decimal) -> Decimal:
    return check_money(value)


def _error_specs(values: list[int | str]) -> list[int | str]:
    issues = spec_issues("", values)
    if issues:
        raise ValueError("; ".join(f"entry {i.path} = {i.value!r} {i.rule}" for i in issues))
    return values


_ERROR_SPECS = (
    " Each entry: an HTTP status code (401), a status class ('4xx') or an exception class's "
    "dotted name ('httpx.ConnectError')."
)


def _problem(issue: ConfigIssue) -> str:
    if "[" in issue.path:  # an entry of retry_on, failure_on or ignore: show it
        return f"{issue.path} = {issue.value!r} {issue.rule}"
    return f"{issue.path} {issue.rule}"


def _thresholds(values: list[float]) -> list[float]:
    if sorted(set(values)) != values:
        raise ValueError("must list distinct fractions in increasing order")
    return values


class BaseWrapperConfig(BaseModel):
    """Settings every wrapped tool has: switches, timeouts, retries, circuit and monitoring.

    However it is built (``ExternalToolConfig(...)``, ``model_validate``,
    ``model_validate_json``), bad values raise :class:`ConfigValidationError`
    with one plain problem per field; a secret's value is never quoted.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    type_name: ClassVar[str] = "base"

    enabled: Annotated[bool, ConfigField(description="Call the tool at all.")] = True
    fallback_enabled: Annotated[
        bool, ConfigField(description="Serve from the fallback when the tool fails.")
    ] = True
    timeout_seconds: Annotated[
        float, ConfigField(description="Give up on one attempt after this long.", gt=0, le=3600)
    ] = 30.0
    timeout_sync_calls: Annotated[
        bool,
        ConfigField(
            description="Enforce timeout_seconds on sync calls by running them in a worker "
            "thread; off leaves it to the client's own connect and read timeouts."
        ),
    ] = True
    max_retry_attempts: Annotated[
        int, ConfigField(description="Retries after the first attempt.", ge=0, le=20)
    ] = 2
    retry_backoff_seconds: Annotated[
        float, ConfigField(description="Initial retry backoff (full jitter).", ge=0, le=600)
    ] = _defaults.RETRY_BACKOFF_SECONDS
    retry_backoff_max_seconds: Annotated[
        float, ConfigField(description="Longest wait between two attempts.", ge=0, le=3600)
    ] = _defaults.RETRY_BACKOFF_MAX_SECONDS
    retry_backoff_multiplier: Annotated[
        float, ConfigField(description="Growth of the backoff per attempt.", ge=1, le=10)
    ] = _defaults.RETRY_BACKOFF_MULTIPLIER
    retry_on: Annotated[
        list[int | str],
        ConfigField(
            description="Errors retried and counted by the circuit, besides the built-in "
            "ones (timeouts, connection errors, 408, 429, 5xx)." + _ERROR_SPECS,
            validator=_error_specs,
        ),
    ] = []
    failure_on: Annotated[
        list[int | str],
        ConfigField(
            description="Errors counted by the circuit but never retried." + _ERROR_SPECS,
            validator=_error_specs,
        ),
    ] = []
    ignore: Annotated[
        list[int | str],
        ConfigField(
            description="Errors neither retried nor counted by the circuit, besides the "
            "built-in ones (4xx other than 408 and 429)." + _ERROR_SPECS,
            validator=_error_specs,
        ),
    ] = []
    circuit_failure_rate: Annotated[
        float, ConfigField(description="Failure rate that opens the circuit.", gt=0, le=1)
    ] = _defaults.CIRCUIT_FAILURE_RATE
    circuit_minimum_calls: Annotated[
        int, ConfigField(description="Calls needed before the circuit may open.", ge=1)
    ] = _defaults.CIRCUIT_MINIMUM_CALLS
    circuit_window_size: Annotated[
        int, ConfigField(description="Recent calls the failure rate is taken over.", ge=1)
    ] = _defaults.CIRCUIT_WINDOW_SIZE
    circuit_open_seconds: Annotated[
        float, ConfigField(description="Wait before probing an open circuit.", gt=0, le=86400)
    ] = _defaults.CIRCUIT_OPEN_SECONDS
    circuit_half_open_probes: Annotated[
        int, ConfigField(description="Probe calls a half-open circuit lets through.", ge=1)
    ] = _defaults.CIRCUIT_HALF_OPEN_PROBES
    circuit_half_open_mode: Annotated[
        HalfOpenMode,
        ConfigField(
            description="How probes close the circuit: 'rate' (resilience4j: rates over all "
            "probes below the thresholds) or 'all' (every probe must succeed).",
            choices=HALF_OPEN_MODES,
        ),
    ] = _defaults.CIRCUIT_HALF_OPEN_MODE
    circuit_slow_call_seconds: Annotated[
        float | None,
        ConfigField(description="A call strictly slower than this counts as slow.", gt=0),
    ] = None
    circuit_slow_call_rate: Annotated[
        float, ConfigField(description="Slow-call rate that opens the circuit.", gt=0, le=1)
    ] = _defaults.CIRCUIT_SLOW_CALL_RATE
    max_concurrent_calls: Annotated[
        int | None,
        ConfigField(
            description="Calls of the tool allowed to run at once (per process, or across "
            "processes sharing Redis); none: unbounded.",
            ge=1,
        ),
    ] = None
    bulkhead_wait_seconds: Annotated[
        float,
        ConfigField(
            description="Wait this long for a free slot before refusing a call with "
            "BulkheadFull (or serving its fallback).",
            ge=0,
            le=3600,
        ),
    ] = 0.0
    latency_objective_ms: Annotated[
        float, ConfigField(description="p95 latency objective, used by health.", gt=0)
    ] = 2000.0
    monitoring_enabled: Annotated[bool, ConfigField(description="Record operations.")] = True
    metrics_retention_days: Annotated[
        int, ConfigField(description="Days raw operation records are kept.", ge=1, le=3650)
    ] = 30
    debug_logging: Annotated[bool, ConfigField(description="Log every call at DEBUG.")] = False

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise type(self).config_error(exc) from None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        """Validate ``obj``; bad values raise :class:`ConfigValidationError`."""
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise cls.config_error(exc) from None

    @classmethod
    def model_validate_json(cls, json_data: Any, *args: Any, **kwargs: Any) -> Self:
        """Validate a JSON document; bad values raise :class:`ConfigValidationError`."""
        try:
            return super().model_validate_json(json_data, *args, **kwargs)
        except ValidationError as exc:
            raise cls.config_error(exc) from None

    @classmethod
    def model_validate_strings(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        """Validate values given as strings; bad values raise :class:`ConfigValidationError`."""
        try:
            return super().model_validate_strings(obj, *args, **kwargs)
        except ValidationError as exc:
            raise cls.config_error(exc) from None

    @classmethod
    def config_error(cls, exc: ValidationError) -> ConfigValidationError:
        """Return pydantic's error as one plain problem per field, secrets never quoted."""
        problems = field_problems(
            exc, type_name=cls.type_name, sensitive=lambda name: is_sensitive(cls, name)
        )
        return ConfigValidationError(
            ConfigIssue(
                path=".".join(problem.location) or cls.__name__,
                rule=problem.rule,
                value=problem.value,
                has_value=problem.has_value,
            )
            for problem in problems
        )

    @model_validator(mode="after")
    def _resilience_bounds(self) -> Self:
        # The cross-field rules (backoff, window, error lists) are the policy's: checked there once.
        try:
            self.resilience_policy(sync=False)
        except ConfigValidationError as exc:
            raise ValueError("; ".join(_problem(issue) for issue in exc.issues)) from None
        return self

    def resilience_policy(self, *, sync: bool) -> ResiliencePolicy:
        """Return the resilience policy these settings ask for (of sync or async calls).

        The policy has the same names as these fields; a sync call's timeout is
        dropped when ``timeout_sync_calls`` is off.
        """
        timeout: float | None = self.timeout_seconds
        if sync and not self.timeout_sync_calls:
            timeout = None
        return ResiliencePolicy(
            timeout_seconds=timeout,
            max_retry_attempts=self.max_retry_attempts,
            retry_backoff_seconds=self.retry_backoff_seconds,
            retry_backoff_max_seconds=self.retry_backoff_max_seconds,
            retry_backoff_multiplier=self.retry_backoff_multiplier,
            retry_on=tuple(self.retry_on),
            failure_on=tuple(self.failure_on),
            ignore=tuple(self.ignore),
            circuit_failure_rate=self.circuit_failure_rate,
            circuit_minimum_calls=self.circuit_minimum_calls,
            circuit_window_size=self.circuit_window_size,
            circuit_open_seconds=self.circuit_open_seconds,
            circuit_half_open_probes=self.circuit_half_open_probes,
            circuit_half_open_mode=self.circuit_half_open_mode,
            circuit_slow_call_seconds=self.circuit_slow_call_seconds,
            circuit_slow_call_rate=self.circuit_slow_call_rate,
            max_concurrent_calls=self.max_concurrent_calls,
            bulkhead_wait_seconds=self.bulkhead_wait_seconds,
        )

    def to_dict(self, *, mask_sensitive: bool = True) -> dict[str, Any]:
        """Return the settings as JSON-ready data, secrets masked unless told otherwise."""
        data = self.model_dump(mode="json")
        if not mask_sensitive:
            for name in type(self).model_fields:
                value = getattr(self, name)
                if isinstance(value, Secret):
                    data[name] = value.get_secret_value()
        return data


class ExternalToolConfig(BaseWrapperConfig):
    """Settings of a tool reached over the network: endpoint, credentials, limits and budgets."""

    type_name: ClassVar[str] = "external"

    api_endpoint: Annotated[
        str | None, ConfigField(description="Base URL of the API.", validator=_http_url)
    ] = None
    api_key: Annotated[
        Secret | None, ConfigField(description="API key or token.", sensitive=True)
    ] = None
    api_version: Annotated[
        str | None,
        ConfigField(description="API version to ask for (Azure-style ?api-version= parameter)."),
    ] = None
    auth_type: Annotated[
        Literal["none", "bearer", "api_key", "oauth", "basic"],
        ConfigField(description="How requests authenticate."),
    ] = "bearer"
    oauth_client_id: Annotated[str | None, ConfigField(description="OAuth client id.")] = None
    oauth_token_url: Annotated[
        str | None,
        ConfigField(
            description="OAuth token endpoint (client-credentials grant).", validator=_http_url
        ),
    ] = None
    oauth_scope: Annotated[
        str | None, ConfigField(description="OAuth scope asked for with each token.")
    ] = None
    oauth_client_secret: Annotated[
        Secret | None, ConfigField(description="OAuth client secret.", sensitive=True)
    ] = None
    username: Annotated[str | None, ConfigField(description="User for basic auth.")] = None
    password: Annotated[
        Secret | None, ConfigField(description="Password for basic auth.", sensitive=True)
    ] = None
    rate_limit_requests_per_minute: Annotated[
        int | None, ConfigField(description="Requests allowed per minute.", ge=1)
    ] = None
    rate_limit_tokens_per_minute: Annotated[
        int | None, ConfigField(description="Tokens allowed per minute.", ge=1)
    ] = None
    rate_limit_burst: Annotated[
        int | None, ConfigField(description="Requests allowed at once above the rate.", ge=1)
    ] = None
    connect_timeout_seconds: Annotated[
        float, ConfigField(description="Time to open a connection.", gt=0, le=600)
    ] = 5.0
    read_timeout_seconds: Annotated[
        float, ConfigField(description="Time to wait for a response.", gt=0, le=3600)
    ] = 30.0
    pool_max_connections: Annotated[
        int, ConfigField(description="Connections open at most.", ge=1, le=10000)
    ] = 20
    pool_max_keepalive: Annotated[
        int, ConfigField(description="Idle connections kept open.", ge=0, le=10000)
    ] = 10
    daily_budget: Annotated[
        Decimal | None, ConfigField(description="USD a day, at most.", ge=0, validator=_money)
    ] = None
    monthly_budget: Annotated[
        Decimal | None, ConfigField(description="USD a month, at most.", ge=0, validator=_money)
    ] = None
    budget_alert_thresholds: Annotated[
        list[Annotated[float, ConfigField(gt=0, le=1)]],
        ConfigField(
            description="Fractions of a budget that raise a warning.", validator=_thresholds
        ),
    ] = [0.8, 0.95]
    budget_policy: Annotated[
        Literal["refuse", "fallback", "warn"],
        ConfigField(
            description="What a call the budget cannot afford does: refuse it (BudgetExceeded), "
            "go to the fallback, or run with a warning."
        ),
    ] = "refuse"
    rate_limit_max_wait_seconds: Annotated[
        float,
        ConfigField(
            description="Wait up to this long for the rate limit to admit a call; 0 raises "
            "RateLimited at once.",
            ge=0,
            le=3600,
        ),
    ] = 0.0
    cost_tracking_enabled: Annotated[bool, ConfigField(description="Record costs.")] = True

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[str] = []
        if self.connect_timeout_seconds >= self.read_timeout_seconds:
            problems.append(
                "connect_timeout_seconds must be below read_timeout_seconds "
                f"({self.connect_timeout_seconds:g} >= {self.read_timeout_seconds:g})"
            )
        if self.pool_max_keepalive > self.pool_max_connections:
            problems.append(
                "pool_max_keepalive must not exceed pool_max_connections "
                f"({self.pool_max_keepalive} > {self.pool_max_connections})"
            )
        if (
            self.daily_budget is not None
            and self.monthly_budget is not None
            and self.daily_budget > self.monthly_budget
        ):
            problems.append(
                "daily_budget must not exceed monthly_budget "
                f"({self.daily_budget} > {self.monthly_budget})"
            )
        if self.auth_type == "oauth" and not (
            self.oauth_client_id and self.oauth_client_secret and self.oauth_token_url
        ):
            problems.append(
                "auth_type 'oauth' needs oauth_client_id, oauth_client_secret and oauth_token_url"
            )
        if self.auth_type == "basic" and not (self.username and self.password):
            problems.append("auth_type 'basic' needs username and password")
        if problems:
            raise ValueError("; ".join(problems))
        return self


ConfigT = TypeVar("ConfigT", bound=type[BaseWrapperConfig])

_BUILT_IN_TYPES: dict[str, type[BaseWrapperConfig]] = {
    "base": BaseWrapperConfig,
    "external": ExternalToolConfig,
}
_TOOL_TYPES = dict(_BUILT_IN_TYPES)
DEFAULT_TYPE = "external"


def register_tool_type(name: str) -> Callable[[ConfigT], ConfigT]:
    """Register a config model under a ``type`` name usable in ``[tools.X]``; use as a decorator."""

    def decorate(model: ConfigT) -> ConfigT:
        existing = _TOOL_TYPES.get(name)
        if existing is not None and existing is not model:
            raise ValueError(f"tool type {name!r} is already registered to {existing.__name__}")
        model.type_name = name
        _TOOL_TYPES[name] = model
        if model.__module__.startswith("toolkeeper."):  # toolkeeper's own (integrations)
            _BUILT_IN_TYPES[name] = model
        return model

    return decorate


def tool_type(name: str) -> type[BaseWrapperConfig]:
    """Return the model registered as ``name``; raise ``KeyError`` naming the known types."""
    try:
        return _TOOL_TYPES[name]
    except KeyError:
        known = ", ".join(sorted(_TOOL_TYPES))
        raise KeyError(f"unknown tool type {name!r}; known types: {known}") from None


def tool_types() -> dict[str, type[BaseWrapperConfig]]:
    """Return every registered tool type by name."""
    return dict(_TOOL_TYPES)


def reset_tool_types() -> None:
    """Forget every tool type registered outside toolkeeper (for tests); toolkeeper's stay."""
    _TOOL_TYPES.clear()
    _TOOL_TYPES.update(_BUILT_IN_TYPES)


@functools.cache
def is_sensitive(model: type[BaseModel], name: str) -> bool:
    """Tell whether field ``name`` of ``model`` holds a secret (typed ``Secret`` or sensitive)."""
    field = config_field_of(model, name)
    if field is not None and field.sensitive:
        return True
    info = model.model_fields.get(name)
    return info is not None and _mentions_secret(info.annotation)


def _mentions_secret(annotation: Any) -> bool:
    if annotation is Secret:
        return True
    return any(_mentions_secret(arg) for arg in get_args(annotation))
