"""One table of URI schemes: every backend answers the schemes it declares there."""

from __future__ import annotations

import pytest

from toolkeeper._schemes import LEDGER_SCHEMES, listed, scheme_of
from toolkeeper.costs.ledger import open_ledger


@pytest.mark.parametrize(
    ("uri", "scheme"),
    [
        ("postgresql+psycopg://u@h/db", "postgresql"),
        ("REDIS://localhost:6379/0", "redis"),
        ("sqlite:///tmp/x.db", "sqlite"),
        ("no-scheme-here", ""),
    ],
)
def test_scheme_of_is_the_lower_case_base_scheme(uri: str, scheme: str) -> None:
    """A URI's scheme is read lower-cased, without its +driver, and empty when absent."""
    assert scheme_of(uri) == scheme


def test_an_unknown_ledger_scheme_names_every_scheme_of_the_table() -> None:
    """open_ledger refuses mysql:// listing exactly the ledger schemes of the table."""
    with pytest.raises(ValueError, match="mysql") as caught:
        open_ledger("mysql://db/x")
    assert str(caught.value).endswith(listed(LEDGER_SCHEMES))


def test_the_memory_ledger_is_reached_by_its_declared_scheme() -> None:
    """memory:// (declared in the table) opens the in-memory ledger."""
    ledger = open_ledger("memory://")
    try:
        assert type(ledger).__name__ == "MemoryLedger"
    finally:
        ledger.close()
