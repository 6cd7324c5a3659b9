"""[alerts.policy], [[alerts.inhibit]], time intervals, escalations and schedules read from TOML."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkeeper._errors import ConfigValidationError
from toolkeeper.alerts.matchers import parse_matcher
from toolkeeper.config.files import ConfigFile

GOOD = """
[alerts.notifiers.ops]
urls = ["json://h/ops"]
[alerts.notifiers.pager]
urls = ["json://h/pager"]
[alerts.notifiers.ana]
urls = ["json://h/ana"]

[alerts.policy]
notify = ["ops"]
group_by = ["tool"]
group_wait = "10s"

[[alerts.policy.routes]]
matchers = ['severity="critical"']
notify = ["pager"]
continue = true
escalation = "crit"
mute_time_intervals = ["weekends"]

  [[alerts.policy.routes.routes]]
  matchers = ['team=~"pay.*"']
  group_interval = "1m"

[[alerts.inhibit]]
source_matchers = ['rule="circuit-open"']
target_matchers = ['severity="warning"']
equal = ["tool"]

[alerts.time_intervals.weekends]
weekdays = ["saturday", "sunday"]

[alerts.schedules.primary]
members = ["ana", "ops"]
rotation = "1d"
start = "2026-01-05T09:00:00+00:00"

[alerts.escalations.crit]
levels = [{ after = "15m", schedule = "primary" }, { after = "1h", notify = ["pager"] }]
"""


def test_a_written_policy_parses_with_inheritance_and_alertmanagers_defaults() -> None:
    """Children inherit what they do not write; unwritten timings are Alertmanager's."""
    settings = ConfigFile.parse(GOOD).alerts
    root = settings.root_route
    assert (root.notify, root.group_by, root.group_wait_seconds) == (("ops",), ("tool",), 10.0)
    assert (root.group_interval_seconds, root.repeat_interval_seconds) == (300.0, 14400.0)
    (critical,) = root.routes
    assert (critical.notify, critical.continue_, critical.escalation) == (("pager",), True, "crit")
    (team,) = critical.routes
    assert (team.notify, team.group_interval_seconds, team.mute_time_intervals) == (
        ("pager",), 60.0, ("weekends",),
    )  # fmt: skip
    taken = root.match({"severity": "critical", "team": "payments"})
    assert [route.path for route in taken] == ["0.0.0"]
    assert [route.path for route in root.match({"severity": "warning"})] == ["0"]
    (inhibit,) = settings.inhibit_rules
    assert inhibit.equal == ("tool",)
    saturday = datetime(2026, 1, 3, 12, tzinfo=UTC)
    assert settings.time_intervals["weekends"].contains(saturday)
    assert settings.schedules["primary"].on_call(datetime(2026, 1, 6, 10, tzinfo=UTC)) == "ops"
    assert [level.after_seconds for level in settings.escalations["crit"].levels] == [900, 3600]


def test_every_problem_in_the_policy_tables_is_named_at_once() -> None:
    """Unknown notifiers, bad matchers, intervals and escalations are each reported by key."""
    bad = """
[alerts.notifiers.ops]
urls = ["json://h/ops"]
[alerts.policy]
notify = ["nobody"]
group_wait = "soon"
matchers = ['a="b"']
[[alerts.policy.routes]]
matchers = ['severity=critical"', 'tool=~"("']
mute_time_intervals = ["never-declared"]
escalation = "nope"
[[alerts.inhibit]]
target_matchers = ['a="b"']
[alerts.time_intervals.odd]
weekdays = ["funday"]
"""
    with pytest.raises(ConfigValidationError) as caught:
        ConfigFile.parse(bad)
    issues = caught.value.issues
    paths = [issue.path for issue in issues]
    assert paths == [
        "alerts.time_intervals.odd",
        "alerts.policy.matchers",
        "alerts.policy.notify",
        "alerts.policy.group_wait",
        "alerts.policy.routes.0.matchers.0",
        "alerts.policy.routes.0.matchers.1",
        "alerts.policy.routes.0.mute_time_intervals",
        "alerts.policy.routes.0.escalation",
        "alerts.inhibit.0.source_matchers",
    ]
    assert "names ['nobody'] that are not notifiers declared" in str(issues[2])


@given(st.sampled_from(["=", "!=", "=~", "!~"]), st.text(alphabet="abc.*|", min_size=1))
def test_a_matcher_prints_as_it_parses(op: str, value: str) -> None:
    """str(parse_matcher(m)) parses back to the same matcher (regular expressions that compile)."""
    try:
        matcher = parse_matcher(f'name{op}"{value}"')
    except ValueError:
        return  # not a regular expression: refused, as tested elsewhere
    assert parse_matcher(str(matcher)) == matcher
