"""Alert rules: conditions, tool globs and the summaries people read."""

from __future__ import annotations

import pytest

from toolkeeper.alerts import AlertRule


@pytest.mark.parametrize(
    ("op", "value", "holds"),
    [(">", 0.3, True), (">", 0.2, False), (">=", 0.2, True), ("<", 0.1, True),
     ("<=", 0.3, False), ("==", 0.2, True), ("!=", 0.2, False), (">", None, False)],
)  # fmt: skip
def test_a_condition_compares_the_value_with_the_threshold(
    op: str, value: float | None, holds: bool
) -> None:
    """Each operator compares as written; no value never holds."""
    rule = AlertRule(name="r", metric="error_rate", op=op, threshold=0.2)
    assert rule.holds(value) is holds


def test_a_rule_watches_the_tools_its_glob_matches() -> None:
    """The tool field is an fnmatch glob, matched case-sensitively."""
    rule = AlertRule(name="r", tool="open[ai]*", metric="calls", op="<", threshold=1)
    assert rule.applies_to("openai")
    assert not rule.applies_to("OpenAI")
    assert not rule.applies_to("anthropic")


def test_summaries_say_what_the_value_is_against_the_condition() -> None:
    """Windowed metrics name their window; unwindowed ones do not; no value says why."""
    rate = AlertRule(name="r", metric="error_rate", op=">", threshold=0.2, min_calls=10)
    assert rate.summary(0.35) == "error_rate 0.35 > 0.2 over 5m"
    assert rate.summary(0.05) == "error_rate 0.05, not > 0.2 over 5m"
    assert rate.summary(None) == "error_rate has no value over 5m (needs 10 calls)"
    health = AlertRule(name="h", metric="health_score", op="<", threshold=50)
    assert health.summary(12.5) == "health_score 12.5 < 50"
    assert health.summary(None) == "health_score has no value"


def test_to_dict_is_json_ready() -> None:
    """Every field, the notifiers as a list."""
    rule = AlertRule(name="r", metric="calls", op="<", threshold=1, notify=("ops",))
    assert rule.to_dict() == {
        "name": "r", "tool": "*", "metric": "calls", "op": "<", "threshold": 1.0, "expr": "",
        "window": "5m", "for_seconds": 0.0, "keep_firing_for_seconds": 0.0,
        "severity": "warning", "notify": ["ops"], "min_calls": 5, "labels": {},
        "no_data": "ok", "on_error": "error", "matchers": [],
    }  # fmt: skip


def test_every_bad_argument_is_named_in_one_error() -> None:
    """A rule with several bad fields names each, with its value and rule."""
    with pytest.raises(ValueError, match="alert rule 'Bad'") as caught:
        AlertRule(name="Bad", metric="calls", op="~", threshold=True, window="2m")
    message = str(caught.value)
    assert "name='Bad' must be a name of lowercase letters" in message
    assert "op='~' must be one of >, >=, <, <=, ==, !=" in message
    assert "threshold=True must be a finite number" in message
    assert "window='2m' must be one of 1m, 5m, 1h, 24h" in message
