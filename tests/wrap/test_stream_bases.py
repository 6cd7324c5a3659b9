"""The stream wrappers' shared base: each wrapper says how its draining methods end the meter."""

from __future__ import annotations

from toolkeeper.wrap.streams import AsyncMeteredStream, MeteredStream, _Metered


def test_the_shared_base_is_abstract_and_both_wrappers_drain() -> None:
    """A metered stream that does not say how it drains cannot be made; the two wrappers can."""
    assert _Metered.__abstractmethods__ == frozenset({"_draining"})
    assert not MeteredStream.__abstractmethods__
    assert not AsyncMeteredStream.__abstractmethods__
