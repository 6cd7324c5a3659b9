"""The monitor package's public names: one sorted ``__all__``, each importable."""

from __future__ import annotations

import toolkeeper.monitor


def test_all_is_sorted_unique_and_resolves() -> None:
    """``__all__`` is sorted, has no duplicates, and every name resolves."""
    names = list(toolkeeper.monitor.__all__)
    assert names == sorted(set(names))
    for name in names:
        assert getattr(toolkeeper.monitor, name) is not None


def test_seed_names_are_public() -> None:
    """The monitoring names of docs/architecture.md's public contract are exported."""
    for name in (
        "WrapperMonitoring",
        "WrapperOperationMetrics",
        "WrapperHealthStatus",
        "PerformanceMonitor",
    ):
        assert name in toolkeeper.monitor.__all__
