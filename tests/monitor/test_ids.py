"""Operation ids: the prefix comes from an injectable source; a forked child draws anew."""

from __future__ import annotations

import multiprocessing
import random
from collections.abc import Iterator

import pytest

from toolkeeper import _random
from toolkeeper.monitor import ids


@pytest.fixture
def restore_source() -> Iterator[None]:
    """Put back the process's own source and a fresh id prefix after the test."""
    yield
    _random.reset_defaults()
    ids.renew_prefix()


@pytest.mark.usefixtures("restore_source")
def test_a_seeded_source_makes_operation_ids_deterministic() -> None:
    """Installing a seeded generator and renewing the prefix gives the same ids on every run."""
    _random.use(random.Random(2026))
    ids.renew_prefix()
    first = ids.operation_id(42)
    expected = f"op-{random.Random(2026).getrandbits(32):08x}-2a"
    assert first == expected
    _random.use(random.Random(2026))
    ids.renew_prefix()
    assert ids.operation_id(42) == first
    _random.use(random.Random(7))
    ids.renew_prefix()
    assert ids.operation_id(42) != first


@pytest.mark.usefixtures("restore_source")
def test_reset_defaults_draws_prefixes_from_the_system_again() -> None:
    """After reset_defaults() a renewed prefix no longer comes from the generator installed."""
    installed = random.Random(3)
    _random.use(installed)
    _random.reset_defaults()
    state = installed.getstate()
    ids.renew_prefix()
    assert installed.getstate() == state
    assert ids.prefix().startswith("op-")
    assert len(ids.prefix()) == len("op-12345678-")


def _child_prefix(queue: multiprocessing.Queue[str]) -> None:
    """Report the id prefix of this (forked) process."""
    queue.put(ids.prefix())


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")
def test_forked_children_draw_their_own_prefixes() -> None:
    """Two children forked from one parent each have a prefix of their own, unlike the parent's."""
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[str] = context.Queue()
    children = [context.Process(target=_child_prefix, args=(queue,)) for _ in range(2)]
    for child in children:
        child.start()
    prefixes = [queue.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=120)
        assert child.exitcode == 0
    assert len({ids.prefix(), *prefixes}) == 3
