"""The costs package's public names and its light import."""

from __future__ import annotations

import subprocess
import sys

import toolkeeper.costs


def test_all_is_sorted_unique_and_resolves() -> None:
    """List each public name once, in sorted order, and make each importable."""
    names = list(toolkeeper.costs.__all__)
    assert names == sorted(set(names))
    for name in names:
        assert getattr(toolkeeper.costs, name) is not None


def test_import_loads_no_backend() -> None:
    """Import toolkeeper.costs without limits, redis, genai_prices or SQLAlchemy."""
    code = (
        "import sys, toolkeeper.costs; "
        "print(sorted(m for m in ('limits', 'redis', 'genai_prices', 'sqlalchemy') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
