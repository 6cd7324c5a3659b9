"""What the install built: the C fast path, wherever a compiler was there to build it."""

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
        fastpath = importlib.import_module("toolkeeper.wrap._fastpath")
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("built without a C compiler: the Python fast path is in use")
    from toolkeeper.wrap import decorate

    if os.environ.get("TOOLKEEPER_PURE_PYTHON"):
        assert decorate.FastWrapper is None
    else:
        assert decorate.FastWrapper is fastpath.FastWrapper
