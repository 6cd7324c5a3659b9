"""The redactor: every secret, whole or in 12+ character pieces, leaves recorded text."""

from __future__ import annotations

import copy
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from toolkeeper._text import map_texts
from toolkeeper.config.redaction import MIN_PIECE, REDACTED, SecretRedactor

KEY = "sk-canary-0123456789abcdef"
OTHER = "sk-other-tool-9876543210zyxwvu"


def test_a_whole_secret_is_replaced() -> None:
    """A secret quoted whole becomes ****."""
    assert SecretRedactor([KEY]).redact(f"bad key {KEY}.") == f"bad key {REDACTED}."


def test_every_tools_secret_is_replaced() -> None:
    """Secrets of several tools are all removed from one text."""
    text = SecretRedactor([KEY, OTHER]).redact(f"{KEY} then {OTHER}")
    assert KEY not in text
    assert OTHER not in text


def test_a_cut_secret_is_replaced() -> None:
    """The first 22 characters of a key (a message cut mid-key) are removed."""
    assert SecretRedactor([KEY]).redact("key " + KEY[:22]) == f"key {REDACTED}"


def test_a_piece_inside_other_text_is_replaced() -> None:
    """A 12-character piece of a key glued between other characters is removed."""
    text = SecretRedactor([KEY]).redact(f"token=abc{KEY[5:17]}def")
    assert text == f"token=abc{REDACTED}def"


def test_pieces_shorter_than_twelve_characters_are_kept() -> None:
    """Eleven characters of a key are not enough to rebuild it and stay (ordinary words survive)."""
    piece = KEY[: MIN_PIECE - 1]
    assert SecretRedactor([KEY]).redact(piece) == piece


def test_short_secrets_are_replaced_only_whole() -> None:
    """A secret under 12 characters is removed when quoted whole."""
    assert SecretRedactor(["hunter2pass"]).redact("pw hunter2pass!") == f"pw {REDACTED}!"


def test_update_replaces_the_known_secrets() -> None:
    """After update, the new secrets are removed and the old ones no longer are."""
    redactor = SecretRedactor([KEY])
    redactor.update([OTHER])
    assert redactor.redact(OTHER) == REDACTED
    assert redactor.redact(KEY) == KEY
    assert KEY not in repr(redactor)


@given(
    before=st.text(max_size=40),
    after=st.text(max_size=40),
    start=st.integers(0, len(OTHER) - MIN_PIECE),
    length=st.integers(MIN_PIECE, len(OTHER)),
)
def test_no_piece_of_twelve_or_more_survives(
    before: str, after: str, start: int, length: int
) -> None:
    """Whatever surrounds any 12+ character slice of a secret, no 12 of its characters remain."""
    piece = OTHER[start : start + length]
    text = SecretRedactor([KEY, OTHER]).redact(before + piece + after)
    for index in range(len(OTHER) - MIN_PIECE + 1):
        assert OTHER[index : index + MIN_PIECE] not in text


def test_a_remembered_text_is_forgotten_when_the_secrets_change() -> None:
    """Short texts are remembered with their redaction, but an update starts afresh."""
    redactor = SecretRedactor([KEY])
    label = f"tenant {KEY[:14]}"
    assert redactor.redact(label) == f"tenant {REDACTED}"
    assert redactor.redact(label) == f"tenant {REDACTED}"  # remembered
    redactor.update([OTHER])
    assert redactor.redact(label) == label
    assert redactor.redact(f"x{OTHER[3:15]}") == f"x{REDACTED}"


def _reference(value: object, redact: Callable[[str], str]) -> object:
    """Apply ``redact`` to every text of ``value``, the obvious recursive way."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_reference(k, redact): _reference(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_reference(item, redact) for item in value)
    return value


_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
    st.sampled_from(["plain", KEY, f"x{KEY[3:16]}y", OTHER[:12], "café"]), st.text(max_size=8),
)  # fmt: skip
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["a", "b", KEY, f"k{OTHER}"]), inner, max_size=3),
    max_leaves=12,
)


@given(value=_VALUES)
def test_map_texts_redacts_every_text_and_never_changes_its_input(value: object) -> None:
    """Every text, dict keys included, is redacted; the input is untouched; unchanged is itself."""
    redactor = SecretRedactor([KEY, OTHER])
    before = copy.deepcopy(value)
    result = map_texts(value, redactor.redact)
    assert result == _reference(value, redactor.redact)
    assert value == before
    if result == value:
        assert result is value
