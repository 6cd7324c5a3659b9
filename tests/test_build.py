"""What the install built: the C extension, wherever a compiler was there to build it."""

from __future__ import annotations

import importlib
import os

import pytest


def test_the_c_fast_path_is_built_and_used() -> None:
    """Under CI the extension must exist and be the one wrappers use: losing it is silent otherwise.

    Outside CI a machine without a C compiler installs without it; the wrapper
    then runs the Python fast path, which does the same steps, slower.
    """
    try:
        fastpath = importlib.import_module("toolkeeper._speedups")
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("built without a C compiler: the Python fast path is in use")
    from toolkeeper.wrap import decorate

    if os.environ.get("TOOLKEEPER_PURE_PYTHON"):
        assert decorate.FastWrapper is None
    else:
        assert decorate.FastWrapper is fastpath.FastWrapper


def test_the_recorders_c_twin_comes_from_the_same_extension() -> None:
    """The wrapper's kernel and the recorder's hot methods are one module, chosen together."""
    try:
        speedups = importlib.import_module("toolkeeper._speedups")
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("built without a C compiler: the Python twins are in use")
    from toolkeeper.monitor import recorder
    from toolkeeper.wrap import decorate

    assert speedups.FastWrapper.__module__ == "toolkeeper._speedups"
    assert speedups.HotQueues.__module__ == "toolkeeper._speedups"
    if os.environ.get("TOOLKEEPER_PURE_PYTHON"):
        assert decorate.FastWrapper is None
        assert recorder.HotQueues is None
    else:
        assert recorder.HotQueues is speedups.HotQueues
