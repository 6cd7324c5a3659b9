"""Rules that select operations and models: matchers, checks, and values read from the store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from toolkeeper import FakeClock
from toolkeeper._errors import ConfigValidationError
from toolkeeper.alerts import AlertRule, AlertSettings
from toolkeeper.alerts.engine import AlertEngine
from toolkeeper.alerts.selection import window_start
from toolkeeper.config.files import ConfigFile
from toolkeeper.monitor import OperationStatus, PerformanceMonitor
from toolkeeper.monitor.persist import StoreWriter
from toolkeeper.store import open_store

GPT4 = AlertRule(
    name="gpt4-errors", tool="llm", metric="error_rate", op=">", threshold=0.5,
    matchers=('operation="chat"', 'model=~"gpt-4o"'), min_calls=1,
)  # fmt: skip


def test_matchers_parse_print_and_select_operations_and_models() -> None:
    """A rule's matchers are Alertmanager matchers over operation and model, printed as parsed."""
    assert GPT4.matchers == ('operation="chat"', 'model=~"gpt-4o"')
    assert GPT4.selector == 'llm{operation="chat", model=~"gpt-4o"}'
    assert GPT4.selects_series
    assert GPT4.selects("chat", "gpt-4o")
    assert not GPT4.selects("chat", "gpt-4o-mini")  # a regular expression matches whole values
    assert not GPT4.selects("embed", "gpt-4o")
    assert GPT4.to_dict()["matchers"] == ['operation="chat"', 'model=~"gpt-4o"']
    no_model = AlertRule(name="bare", metric="calls", op=">", threshold=0, matchers=('model=""',))
    assert no_model.selects("chat", "")
    assert not no_model.selects("chat", "gpt-4o")


def test_a_tool_matcher_narrows_the_tools_a_rule_watches() -> None:
    """``tool`` matchers apply with the glob: both must hold, and they read per-tool metrics."""
    rule = AlertRule(name="r", tool="open*", metric="health_score", op="<", threshold=50,
                     matchers=('tool!~"openrouter|openai-test"',))  # fmt: skip
    assert rule.applies_to("openai")
    assert not rule.applies_to("openai-test")
    assert not rule.applies_to("anthropic")
    assert not rule.selects_series


@pytest.mark.parametrize(
    ("changes", "refused"),
    [
        ({"matchers": ('team="pay"',)}, "matches the label 'team'"),
        ({"matchers": ("model=~'(unclosed'",)}, "not a regular expression"),
        ({"matchers": "model=gpt"}, "must be a list of at most 20 label matchers"),
        ({"metric": "health_score", "matchers": ('model="x"',)}, "exist(s) only per tool"),
    ],
)
def test_bad_matchers_are_refused_naming_the_value_and_the_rule(
    changes: dict[str, object], refused: str
) -> None:
    """A matcher on another label, a broken regex, a per-tool metric with a selection: refused."""
    values: dict[str, object] = {"name": "r", "metric": "error_rate", "op": ">", "threshold": 0.1}
    values.update(changes)
    with pytest.raises(ValueError, match="alert rule 'r'") as caught:
        AlertRule(**values)  # type: ignore[arg-type]
    assert refused in str(caught.value)


def test_the_file_reads_matchers_and_reports_bad_ones_with_their_key() -> None:
    """[[alerts.rules]] matchers parse into the rule; a bad one is an issue at rules[n].matchers."""
    good = ConfigFile.parse(
        '[[alerts.rules]]\nname = "chat"\nmetric = "calls"\nop = ">"\nthreshold = 0\n'
        "matchers = ['operation = \"chat\"', 'model!=\"\"']\n"
    ).alerts
    (rule,) = good.alert_rules
    assert rule.matchers == ('operation="chat"', 'model!=""')
    bad = (
        '[[alerts.rules]]\nname = "h"\nmetric = "health_score"\nop = "<"\nthreshold = 5\n'
        "matchers = ['model=\"x\"']\n\n"
        '[[alerts.rules]]\nname = "t"\nmetric = "calls"\nop = ">"\nthreshold = 0\n'
        "matchers = ['team=\"x\"']\n"
    )
    with pytest.raises(ConfigValidationError) as caught:
        _ = ConfigFile.parse(bad).alerts
    text = str(caught.value)
    assert "alerts.rules[0].matchers" in text or "alerts.rules.0.matchers" in text
    assert "health_score exist(s) only per tool" in text
    assert "matches the label 'team'" in text


def test_windows_align_on_the_rollups_buckets() -> None:
    """Minute windows start on a minute, the day window on an hour; none is longer than asked."""
    now = 10_000_000.5
    assert window_start("1m", now) == 9_999_960.0
    assert window_start("5m", now) == 9_999_720.0
    assert now - window_start("1h", now) <= 3600
    assert window_start("24h", now) % 3600 == 0
    assert now - window_start("24h", now) <= 86400


class Process:
    """One process of an application: a store of its own, a monitor whose writer stores rollups."""

    def __init__(self, store_uri: str, clock: FakeClock, rules: tuple[AlertRule, ...]) -> None:
        self.store = open_store(store_uri)
        writer = StoreWriter(
            self.store, now=lambda: clock.now().timestamp(), retention_days=lambda _tool: 30
        )
        self.monitor = PerformanceMonitor(clock=clock, sink=writer, flush_interval_s=None)
        self.engine = AlertEngine(
            AlertSettings(rules=rules), store=self.store, monitor=self.monitor, clock=clock,
            tools=lambda: ["llm"],
        )  # fmt: skip

    def calls(self, operation: str, model: str | None, status: str, count: int) -> None:
        """Record ``count`` calls and store them (the writer's work, done now)."""
        for _ in range(count):
            self.monitor.record("llm", operation, OperationStatus(status), 0.2, model=model)
        self.monitor.flush()

    def close(self) -> None:
        """Close the engine, the monitor and the store."""
        self.engine.close()
        self.monitor.close()
        self.store.close()


@pytest.fixture
def processes(store_uri: str) -> Iterator[tuple[Process, Process]]:
    """Two processes sharing one store, on one fake clock."""
    clock = FakeClock()
    every_call = AlertRule(name="all-errors", tool="llm", metric="error_rate", op=">",
                           threshold=0.5, min_calls=1)  # fmt: skip
    rules = (GPT4, every_call)
    first, second = Process(store_uri, clock, rules), Process(store_uri, clock, rules)
    yield first, second
    first.close()
    second.close()


def test_a_model_rule_fires_on_the_fleets_calls_and_every_process_agrees(
    processes: tuple[Process, Process],
) -> None:
    """Calls of gpt-4o failing in two processes fire the model rule with one value in both."""
    app, serve = processes
    app.calls("chat", "gpt-4o", "error", 3)
    app.calls("chat", "gpt-4o-mini", "success", 8)
    app.calls("embed", "gpt-4o", "error", 2)
    serve.calls("chat", "gpt-4o", "success", 1)
    serve.calls("embed", "gpt-4o", "success", 6)
    by_app = {s.rule: s for s in app.engine.evaluate()}
    by_serve = {s.rule: s for s in serve.engine.evaluate()}
    assert by_app["gpt4-errors"].value == pytest.approx(0.75)  # 3 of the 4 gpt-4o chat calls
    assert by_serve["gpt4-errors"].value == by_app["gpt4-errors"].value
    assert by_app["gpt4-errors"].state == by_serve["gpt4-errors"].state == "firing"
    assert by_app["gpt4-errors"].labels["operation"] == "chat"
    # The tool's calls as a whole are mostly successes: the tool-wide rule stays quiet.
    assert by_app["all-errors"].state == by_serve["all-errors"].state == "inactive"
    events = [e for e in app.engine.events() if e.kind == "fired"]
    assert [(e.rule, e.tool) for e in events] == [("gpt4-errors", "llm")]


def test_a_model_rule_without_selected_calls_has_no_data(
    processes: tuple[Process, Process],
) -> None:
    """Calls of other models only leave the model rule without a value: no data, not zero."""
    app, _serve = processes
    app.calls("chat", "gpt-4o-mini", "error", 4)
    (status,) = [s for s in app.engine.evaluate() if s.rule == "gpt4-errors"]
    assert (status.state, status.value) == ("inactive", None)


def test_a_selection_reads_only_its_tools_rollups_filtered_in_sql(store_uri: str) -> None:
    """With 30 unrelated tools stored, each rollup query names the rule's tool; values unchanged."""
    from sqlalchemy import event

    from toolkeeper.alerts.selection import SelectedCalls
    from toolkeeper.monitor.rollups import MINUTE
    from toolkeeper.store.rollups import load_rollups

    clock = FakeClock()
    process = Process(store_uri, clock, (GPT4,))
    try:
        process.calls("chat", "gpt-4o", "error", 3)
        process.calls("chat", "gpt-4o", "success", 1)
        for index in range(30):
            process.monitor.record(f"other-{index}", "chat", OperationStatus("error"), 0.1,
                                   model="gpt-4o")  # fmt: skip
        process.monitor.flush()
        since = clock.now().timestamp() - 3600
        assert {row.tool for row in load_rollups(process.store, MINUTE, since, tool="llm")} == {
            "llm"
        }
        assert len({row.tool for row in load_rollups(process.store, MINUTE, since)}) == 31
        queries: list[tuple[str, object]] = []

        def seen(
            _conn: object, _cursor: object, statement: str, parameters: object, *_rest: object
        ) -> None:
            if "FROM rollups" in statement:
                queries.append((statement, parameters))

        engine = process.store._engine
        event.listen(engine, "before_cursor_execute", seen)
        try:
            selected = SelectedCalls(process.store, clock.now())
            for window in ("5m", "24h"):
                rule = AlertRule(name=f"w{window}", tool="llm", metric="error_rate", op=">",
                                 threshold=0.5, window=window, min_calls=1,
                                 matchers=('model="gpt-4o"',))  # fmt: skip
                assert selected.stats(rule, "llm").error_rate == pytest.approx(0.75)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        assert queries, "the selection read no rollups"
        for statement, parameters in queries:
            assert "rollups.tool =" in statement, statement
            values = parameters.values() if isinstance(parameters, dict) else parameters
            assert "llm" in list(values), parameters  # type: ignore[call-overload]
    finally:
        process.close()
