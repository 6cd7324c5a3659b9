"""Run every wrapped-call test on both sync fast paths: the C one and the pure-Python one.

Each comes with its recorder's hot methods: the C twin of ``Recorder.success`` and
``Recorder.unread`` with the C fast path, the Python methods with the Python one.
"""

from __future__ import annotations

import pytest

from toolkeeper.monitor import recorder
from toolkeeper.wrap import decorate

C_FAST_PATH = decorate.FastWrapper
C_RECORDER = recorder.HotQueues


@pytest.fixture(autouse=True, params=["c", "python"])
def fast_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Wrap functions with the C fast path, then again with the Python one."""
    if request.param == "c":
        if C_FAST_PATH is None or C_RECORDER is None:
            pytest.skip("the C fast path was not built (no C compiler at install time)")
        monkeypatch.setattr(decorate, "FastWrapper", C_FAST_PATH)
        monkeypatch.setattr(recorder, "HotQueues", C_RECORDER)
    else:
        monkeypatch.setattr(decorate, "FastWrapper", None)
        monkeypatch.setattr(recorder, "HotQueues", None)
    return str(request.param)
