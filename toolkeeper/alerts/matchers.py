"""Label matchers, written as Alertmanager writes them: ``severity="critical"``, ``tool=~"open.*"``.

Four operators: ``=`` (equal), ``!=`` (not equal), ``=~`` (the regular
expression matches the whole value), ``!~`` (it does not). A label an alert does
not carry has the empty value, so ``team=""`` matches alerts without a team, as
in Alertmanager.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["LABEL_NAME", "Matcher", "matches_all", "parse_matcher"]

MatchOp = Literal["=", "!=", "=~", "!~"]
#: A label name: what Prometheus allows (letters, digits, underscores; not a digit first).
LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MATCHER = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*", re.DOTALL)
_ESCAPE = re.compile(r'\\([\\"])')
_MAX_TEXT = 2000


@dataclass(frozen=True, slots=True)
class Matcher:
    """One condition on one label: ``name op value``; regular expressions match whole values."""

    name: str
    op: MatchOp
    value: str
    _pattern: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            try:
                pattern = re.compile(f"(?:{self.value})")
            except re.error as exc:
                raise ValueError(
                    f"matcher {self.name}{self.op}{self.value!r}: not a regular expression ({exc})"
                ) from None
            object.__setattr__(self, "_pattern", pattern)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Return whether ``labels`` satisfy this matcher (a missing label is empty)."""
        value = labels.get(self.name, "")
        if self._pattern is not None:
            found = self._pattern.fullmatch(value) is not None
            return found if self.op == "=~" else not found
        return (value == self.value) if self.op == "=" else (value != self.value)

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def parse_matcher(text: str) -> Matcher:
    """Parse ``name op "value"`` (quotes optional); a ``ValueError`` names the text and the rule."""
    if not isinstance(text, str) or len(text) > _MAX_TEXT:
        raise ValueError(
            f"matcher {text!r} must be a text such as 'severity=\"critical\"' "
            f"(at most {_MAX_TEXT} characters)"
        )
    found = _MATCHER.fullmatch(text)
    if found is None:
        raise ValueError(
            f'matcher {text!r} must read name="value", name!="value", name=~"regex" '
            f'or name!~"regex"'
        )
    name, op, raw = found.groups()
    value = raw
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        value = _ESCAPE.sub(r"\1", raw[1:-1])  # one pass over what __str__ escapes: \\ and \"
    elif '"' in raw:
        raise ValueError(f"matcher {text!r}: the value's quotes are unbalanced")
    return Matcher(name, op, value)  # type: ignore[arg-type]  # op is one of the four by the regex


def matches_all(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    """Return whether every matcher holds for ``labels`` (none: always)."""
    return all(matcher.matches(labels) for matcher in matchers)
