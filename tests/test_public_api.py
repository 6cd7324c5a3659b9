"""The public API: one sorted ``__all__``, every name importable, and a light import."""

from __future__ import annotations

import subprocess
import sys

import toolkeeper


def test_all_is_sorted_and_unique() -> None:
    """``__all__`` lists each public name once, in sorted order."""
    assert list(toolkeeper.__all__) == sorted(set(toolkeeper.__all__))


def test_every_public_name_resolves() -> None:
    """Each name in ``__all__`` can be read from the package, and no other is lazily exported."""
    for name in toolkeeper.__all__:
        assert getattr(toolkeeper, name) is not None
    assert set(toolkeeper._LOCATIONS) == set(toolkeeper.__all__)


def test_import_loads_no_heavy_dependency() -> None:
    """``import toolkeeper`` loads neither pydantic, SQLAlchemy, the CLI nor a server."""
    code = (
        "import sys, toolkeeper; "
        "print(sorted(m for m in ('pydantic', 'sqlalchemy', 'typer', 'fastapi', 'opentelemetry') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_seed_names_are_public() -> None:
    """The class names of docs/architecture.md's public contract are part of the public API."""
    seed = (
        "BaseWrapperConfig", "ExternalToolConfig", "ConfigField", "ConfigValidationError",
        "WrapperMonitoring", "WrapperOperationMetrics", "WrapperHealthStatus", "PerformanceMonitor",
    )  # fmt: skip
    for name in seed:
        assert name in toolkeeper.__all__
