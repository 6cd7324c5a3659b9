"""toolkeeper keeps an application's external tools configured, healthy and within budget.

The public names are listed in ``__all__`` and loaded on first use, so that
``import toolkeeper`` stays fast: pydantic models, the store and the server
are imported only when the application reaches for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolkeeper._clock import Clock, FakeClock, SystemClock
    from toolkeeper._errors import (
        BudgetExceeded,
        BulkheadFull,
        CallTimeoutError,
        CircuitOpenError,
        ConfigError,
        ConfigIssue,
        ConfigValidationError,
        DuplicateOperationError,
        MissingDependencyError,
        MonitoringError,
        RateLimited,
        SecretDecryptionError,
        SecretError,
        SecretKeyMissingError,
        StoreError,
        ToolCallError,
        ToolkeeperError,
        UnknownEnvironmentError,
        UnknownOperationError,
        UnknownToolError,
        UnknownVersionError,
        VersionConflictError,
    )
    from toolkeeper._units import format_money
    from toolkeeper.config import (
        BaseWrapperConfig,
        ConfigField,
        ConfigFile,
        Configuration,
        ConfigVersion,
        ExternalToolConfig,
        Keyring,
        POMLConfig,
        RouteLLMConfig,
        Secret,
        register_tool_type,
    )
    from toolkeeper.costs import (
        Budget,
        BudgetGuard,
        CostReport,
        CostTracker,
        Price,
        PriceCatalog,
        Usage,
    )
    from toolkeeper.integrations.sdk_clients import instrument
    from toolkeeper.keeper import Keeper
    from toolkeeper.monitor import (
        HealthStatus,
        OperationStatus,
        PerformanceMonitor,
        WrapperHealthStatus,
        WrapperMonitoring,
        WrapperOperationMetrics,
    )
    from toolkeeper.resilience import (
        CallOutcome,
        CircuitBreaker,
        CircuitState,
        ErrorKind,
        Fallback,
        ResiliencePolicy,
    )
    from toolkeeper.store import open_store
    from toolkeeper.wrap import OperationScope

__version__ = "0.1.0"

_LOCATIONS = {
    "BaseWrapperConfig": "toolkeeper.config",
    "Budget": "toolkeeper.costs",
    "BudgetExceeded": "toolkeeper._errors",
    "BulkheadFull": "toolkeeper._errors",
    "BudgetGuard": "toolkeeper.costs",
    "CallOutcome": "toolkeeper.resilience",
    "CallTimeoutError": "toolkeeper._errors",
    "CircuitBreaker": "toolkeeper.resilience",
    "CircuitOpenError": "toolkeeper._errors",
    "CircuitState": "toolkeeper.resilience",
    "Clock": "toolkeeper._clock",
    "ConfigError": "toolkeeper._errors",
    "ConfigField": "toolkeeper.config",
    "ConfigFile": "toolkeeper.config",
    "ConfigIssue": "toolkeeper._errors",
    "ConfigValidationError": "toolkeeper._errors",
    "ConfigVersion": "toolkeeper.config",
    "Configuration": "toolkeeper.config",
    "CostReport": "toolkeeper.costs",
    "CostTracker": "toolkeeper.costs",
    "DuplicateOperationError": "toolkeeper._errors",
    "ExternalToolConfig": "toolkeeper.config",
    "FakeClock": "toolkeeper._clock",
    "ErrorKind": "toolkeeper.resilience",
    "Fallback": "toolkeeper.resilience",
    "HealthStatus": "toolkeeper.monitor",
    "Keeper": "toolkeeper.keeper",
    "Keyring": "toolkeeper.config",
    "MissingDependencyError": "toolkeeper._errors",
    "MonitoringError": "toolkeeper._errors",
    "OperationScope": "toolkeeper.wrap",
    "OperationStatus": "toolkeeper.monitor",
    "POMLConfig": "toolkeeper.config",
    "PerformanceMonitor": "toolkeeper.monitor",
    "Price": "toolkeeper.costs",
    "PriceCatalog": "toolkeeper.costs",
    "RateLimited": "toolkeeper._errors",
    "ResiliencePolicy": "toolkeeper.resilience",
    "RouteLLMConfig": "toolkeeper.config",
    "Secret": "toolkeeper.config",
    "SecretDecryptionError": "toolkeeper._errors",
    "SecretError": "toolkeeper._errors",
    "SecretKeyMissingError": "toolkeeper._errors",
    "StoreError": "toolkeeper._errors",
    "SystemClock": "toolkeeper._clock",
    "ToolCallError": "toolkeeper._errors",
    "ToolkeeperError": "toolkeeper._errors",
    "UnknownEnvironmentError": "toolkeeper._errors",
    "UnknownOperationError": "toolkeeper._errors",
    "UnknownToolError": "toolkeeper._errors",
    "UnknownVersionError": "toolkeeper._errors",
    "Usage": "toolkeeper.costs",
    "VersionConflictError": "toolkeeper._errors",
    "WrapperHealthStatus": "toolkeeper.monitor",
    "WrapperMonitoring": "toolkeeper.monitor",
    "WrapperOperationMetrics": "toolkeeper.monitor",
    "format_money": "toolkeeper._units",
    "instrument": "toolkeeper.integrations.sdk_clients",
    "open_store": "toolkeeper.store",
    "register_tool_type": "toolkeeper.config",
}

__all__ = [
    "BaseWrapperConfig",
    "Budget",
    "BudgetExceeded",
    "BudgetGuard",
    "BulkheadFull",
    "CallOutcome",
    "CallTimeoutError",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "Clock",
    "ConfigError",
    "ConfigField",
    "ConfigFile",
    "ConfigIssue",
    "ConfigValidationError",
    "ConfigVersion",
    "Configuration",
    "CostReport",
    "CostTracker",
    "DuplicateOperationError",
    "ErrorKind",
    "ExternalToolConfig",
    "FakeClock",
    "Fallback",
    "HealthStatus",
    "Keeper",
    "Keyring",
    "MissingDependencyError",
    "MonitoringError",
    "OperationScope",
    "OperationStatus",
    "POMLConfig",
    "PerformanceMonitor",
    "Price",
    "PriceCatalog",
    "RateLimited",
    "ResiliencePolicy",
    "RouteLLMConfig",
    "Secret",
    "SecretDecryptionError",
    "SecretError",
    "SecretKeyMissingError",
    "StoreError",
    "SystemClock",
    "ToolCallError",
    "ToolkeeperError",
    "UnknownEnvironmentError",
    "UnknownOperationError",
    "UnknownToolError",
    "UnknownVersionError",
    "Usage",
    "VersionConflictError",
    "WrapperHealthStatus",
    "WrapperMonitoring",
    "WrapperOperationMetrics",
    "format_money",
    "instrument",
    "open_store",
    "register_tool_type",
]


def __getattr__(name: str) -> Any:
    location = _LOCATIONS.get(name)
    if location is None:
        raise AttributeError(f"module 'toolkeeper' has no attribute {name!r}")
    value = getattr(importlib.import_module(location), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
