"""Run every wrapped-call test on both sync fast paths: the C one and the pure-Python one."""

from __future__ import annotations

import pytest

from toolkeeper.wrap import decorate

C_FAST_PATH = decorate.FastWrapper


@pytest.fixture(autouse=True, params=["c", "python"])
def fast_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Wrap functions with the C fast path, then again with the Python one."""
    if request.param == "c":
        if C_FAST_PATH is None:
            pytest.skip("the C fast path was not built (no C compiler at install time)")
        monkeypatch.setattr(decorate, "FastWrapper", C_FAST_PATH)
    else:
        monkeypatch.setattr(decorate, "FastWrapper", None)
    return str(request.param)
