"""Configuration files: key lines, parsing, layout problems and environment chains."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from toolkeeper._errors import ConfigIssue, ConfigValidationError
from toolkeeper._toml import key_lines
from toolkeeper.config.files import ConfigFile


def _toml(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def _issues(text: str, *, path: Path | None = None) -> list[ConfigIssue]:
    """Parse ``text`` expecting layout problems and return them."""
    with pytest.raises(ConfigValidationError) as excinfo:
        ConfigFile.parse(_toml(text), path=path)
    return list(excinfo.value.issues)


# --- key_lines --------------------------------------------------------------------------------


def test_key_lines_records_tables_and_their_keys() -> None:
    """Each table header and each key under it is mapped to its line."""
    lines = key_lines(
        _toml("""
        default_environment = "staging"

        [defaults]
        timeout_seconds = 30

        [tools.openai]
        type = "external"
        api_key = "env:OPENAI_API_KEY"

        [environments.staging.tools.openai]
        timeout_seconds = 20
    """)
    )
    assert lines == {
        ("default_environment",): 1,
        ("defaults",): 3,
        ("defaults", "timeout_seconds"): 4,
        ("tools", "openai"): 6,
        ("tools", "openai", "type"): 7,
        ("tools", "openai", "api_key"): 8,
        ("environments", "staging", "tools", "openai"): 10,
        ("environments", "staging", "tools", "openai", "timeout_seconds"): 11,
    }


def test_key_lines_records_dotted_keys() -> None:
    """A dotted key, with or without spaces around its dots, is recorded as its full path."""
    lines = key_lines(
        _toml("""
        tools.openai.timeout_seconds = 12
        [tools.anthropic]
        retry . attempts = 3
    """)
    )
    assert lines[("tools", "openai", "timeout_seconds")] == 1
    assert lines[("tools", "anthropic", "retry", "attempts")] == 3


def test_key_lines_records_quoted_keys() -> None:
    """Quoted keys and table names are recorded without their quotes, dots inside kept."""
    lines = key_lines(
        _toml("""
        [tools."my.tool"]
        "api key" = "x"
        'literal.key' = 1
        [ tools . 'other' ]
        plain = 2
    """)
    )
    assert lines[("tools", "my.tool")] == 1
    assert lines[("tools", "my.tool", "api key")] == 2
    assert lines[("tools", "my.tool", "literal.key")] == 3
    assert lines[("tools", "other")] == 4
    assert lines[("tools", "other", "plain")] == 5


def test_key_lines_records_an_inline_table_at_its_key() -> None:
    """An inline table is recorded at its key, and keys inside it fall back to that line."""
    text = _toml("""
        [tools]
        openai = { timeout_seconds = 3, api_key = "env:X" }
        anthropic = { timeout_seconds = 4 }
    """)
    lines = key_lines(text)
    assert lines[("tools", "openai")] == 2
    assert lines[("tools", "anthropic")] == 3
    assert ("tools", "openai", "timeout_seconds") not in lines
    config = ConfigFile.parse(text)
    assert config.line_of(("tools", "openai", "timeout_seconds")) == 2
    assert config.line_of(("tools", "anthropic", "timeout_seconds")) == 3


@pytest.mark.parametrize("quote", ['"""', "'''"])
def test_key_lines_skips_keys_inside_multi_line_strings(quote: str) -> None:
    """Text inside a multi-line string is not read as keys or tables."""
    lines = key_lines(
        _toml(f"""
        [tools.openai]
        description = {quote}
        fake_key = 1
        [tools.fake]
        {quote}
        after = 2
    """)
    )
    assert lines[("tools", "openai", "description")] == 2
    assert ("tools", "openai", "fake_key") not in lines
    assert ("tools", "fake") not in lines
    assert lines[("tools", "openai", "after")] == 6


def test_key_lines_handles_one_line_triple_quoted_strings() -> None:
    """A triple-quoted string closed on its own line does not hide the keys after it."""
    lines = key_lines(
        _toml('''
        [tools.openai]
        description = """all on one line"""
        after = 2
    ''')
    )
    assert lines[("tools", "openai", "after")] == 3


def test_key_lines_handles_closing_quotes_followed_by_text() -> None:
    """A multi-line string whose closing line carries text still ends there."""
    lines = key_lines(
        _toml('''
        [tools.openai]
        description = """first
        inner = 1
        last line"""
        after = 2
    ''')
    )
    assert ("tools", "openai", "inner") not in lines
    assert lines[("tools", "openai", "after")] == 5


def test_key_lines_is_not_fooled_by_triple_quotes_inside_a_literal_string() -> None:
    """Three double quotes inside a one-line literal string do not open a multi-line string."""
    lines = key_lines(
        _toml("""
        [tools.openai]
        marker = '\"\"\"'
        after = 2
    """)
    )
    assert lines[("tools", "openai", "marker")] == 2
    assert lines[("tools", "openai", "after")] == 3


def test_key_lines_handles_multi_line_arrays() -> None:
    """Keys after a multi-line array keep their own lines."""
    lines = key_lines(
        _toml("""
        [defaults]
        budget_alert_thresholds = [
            0.5,
            0.9,
        ]
        timeout_seconds = 3
    """)
    )
    assert lines[("defaults", "budget_alert_thresholds")] == 2
    assert lines[("defaults", "timeout_seconds")] == 6


def test_key_lines_ignores_comments() -> None:
    """Commented-out tables and keys are not recorded."""
    lines = key_lines(
        _toml("""
        # [tools.old]
        [tools.openai]  # the main one
          # timeout_seconds = 1
        timeout_seconds = 2  # seconds
    """)
    )
    assert ("tools", "old") not in lines
    assert lines[("tools", "openai")] == 2
    assert lines[("tools", "openai", "timeout_seconds")] == 4


def test_key_lines_records_arrays_of_tables() -> None:
    """An array-of-tables header is recorded at its first occurrence."""
    lines = key_lines(
        _toml("""
        [[plugins]]
        name = "a"
        [[plugins]]
        name = "b"
    """)
    )
    assert lines[("plugins",)] == 1
    assert lines[("plugins", "name")] == 2


# --- parsing and layout -----------------------------------------------------------------------


def test_parse_reads_the_sections() -> None:
    """A well-formed file exposes its defaults, tools, environments and settings."""
    config = ConfigFile.parse(
        _toml("""
        default_environment = "staging"
        store = "sqlite:///state.db"
        [defaults]
        timeout_seconds = 30
        [tools.openai]
        type = "external"
        [environments.staging.tools.openai]
        timeout_seconds = 20
        [environments.production]
        extends = "staging"
    """)
    )
    assert config.default_environment == "staging"
    assert config.store == "sqlite:///state.db"
    assert config.defaults == {"timeout_seconds": 30}
    assert config.tools == {"openai": {"type": "external"}}
    assert set(config.environments) == {"staging", "production"}
    assert config.name == "(no file)"


def test_empty_config_file_has_no_sections() -> None:
    """ConfigFile() is an empty configuration with no tools or environments."""
    config = ConfigFile()
    assert config.tools == {}
    assert config.environments == {}
    assert config.defaults == {}
    assert config.default_environment is None
    assert config.store is None


def test_parse_reports_invalid_toml_with_its_line(tmp_path: Path) -> None:
    """Invalid TOML raises ConfigValidationError naming the file and the line."""
    path = tmp_path / "toolkeeper.toml"
    [issue] = _issues(
        """
        [tools.openai]
        timeout_seconds = = 3
    """,
        path=path,
    )
    assert issue.line == 2
    assert issue.file == str(path)
    assert issue.rule.startswith("invalid TOML")


def test_parse_reports_a_duplicate_table_with_its_line() -> None:
    """A table defined twice is invalid TOML reported at the second definition."""
    [issue] = _issues("""
        [tools.openai]
        timeout_seconds = 3

        [tools.openai]
        timeout_seconds = 4
    """)
    assert issue.line == 4
    assert issue.file is None


def test_parse_reports_an_unknown_top_level_key(tmp_path: Path) -> None:
    """An unknown top-level key is reported with its file and line."""
    path = tmp_path / "toolkeeper.toml"
    [issue] = _issues(
        """
        [tools.openai]
        timeout_seconds = 3

        [colours]
        sky = "blue"
    """,
        path=path,
    )
    assert issue.path == "colours"
    assert "unknown top-level key" in issue.rule
    assert (issue.file, issue.line) == (str(path), 4)


def test_parse_reports_a_tools_entry_that_is_not_a_table(tmp_path: Path) -> None:
    """A tools entry that is not a table is reported with its value, file and line."""
    path = tmp_path / "toolkeeper.toml"
    [issue] = _issues(
        """
        [tools]
        openai = 3
    """,
        path=path,
    )
    assert issue.path == "tools.openai"
    assert issue.rule == "must be a table"
    assert issue.value == 3
    assert (issue.file, issue.line) == (str(path), 2)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("defaults = 3\n", "defaults"),
        ("tools = []\n", "tools"),
        ("store = 5\n", "store"),
        ("default_environment = true\n", "default_environment"),
    ],
)
def test_parse_reports_top_level_values_of_the_wrong_kind(text: str, path: str) -> None:
    """Top-level sections that are not tables, and settings that are not strings, are reported."""
    [issue] = _issues(text)
    assert issue.path == path
    assert issue.line == 1


def test_parse_reports_extends_naming_an_undeclared_environment(tmp_path: Path) -> None:
    """An environment extending an undeclared environment is reported at its extends line."""
    path = tmp_path / "toolkeeper.toml"
    [issue] = _issues(
        """
        [tools.openai]

        [environments.production]
        extends = "nowhere"
    """,
        path=path,
    )
    assert issue.path == "environments.production.extends"
    assert issue.value == "nowhere"
    assert "not declared" in issue.rule
    assert (issue.file, issue.line) == (str(path), 4)


def test_parse_reports_an_override_of_an_undeclared_tool(tmp_path: Path) -> None:
    """An environment overriding a tool missing from [tools] is reported at its table."""
    path = tmp_path / "toolkeeper.toml"
    [issue] = _issues(
        """
        [tools.openai]

        [environments.staging.tools.anthropic]
        timeout_seconds = 3
    """,
        path=path,
    )
    assert issue.path == "environments.staging.tools.anthropic"
    assert "not declared in [tools]" in issue.rule
    assert (issue.file, issue.line) == (str(path), 3)


def test_parse_reports_an_unknown_key_in_an_environment() -> None:
    """A key other than extends or tools in an environment is reported."""
    [issue] = _issues("""
        [environments.staging]
        timeout_seconds = 3
    """)
    assert issue.path == "environments.staging.timeout_seconds"
    assert issue.line == 2


def test_parse_reports_every_layout_problem_at_once(tmp_path: Path) -> None:
    """Several layout problems in one file are all reported together, each with its line."""
    path = tmp_path / "toolkeeper.toml"
    issues = _issues(
        """
        colour = "blue"
        [tools]
        openai = 3
        [tools.anthropic]
        [environments.staging]
        extends = "nowhere"
        [environments.production.tools.mistral]
        timeout_seconds = 1
    """,
        path=path,
    )
    located = {issue.path: (issue.file, issue.line) for issue in issues}
    assert located == {
        "colour": (str(path), 1),
        "tools.openai": (str(path), 3),
        "environments.staging.extends": (str(path), 6),
        "environments.production.tools.mistral": (str(path), 7),
    }


def test_parse_reports_an_environment_that_is_not_a_table() -> None:
    """An environments entry that is not a table is reported, not crashed on."""
    [issue] = _issues("""
        [environments]
        staging = 3
    """)
    assert issue.path == "environments.staging"
    assert issue.rule == "must be a table"
    assert issue.line == 2


def test_parse_reports_a_bad_tools_entry_beside_an_environment_override() -> None:
    """A non-table tools entry is reported even when an environment overrides tools."""
    issues = _issues("""
        [tools]
        openai = 3
        [environments.staging.tools.openai]
        timeout_seconds = 1
    """)
    assert "tools.openai" in {issue.path for issue in issues}


def test_parse_reports_an_extends_that_is_not_a_string() -> None:
    """An extends value that is a list is reported, not crashed on."""
    [issue] = _issues("""
        [environments.base]
        [environments.staging]
        extends = ["base"]
    """)
    assert issue.path == "environments.staging.extends"
    assert issue.line == 3


@pytest.mark.parametrize(
    "text",
    [
        "[tools.openai]\n[environments.staging]\ntools = 3\n",
        "[tools.openai]\n[environments.staging.tools]\nopenai = 3\n",
    ],
)
def test_parse_reports_environment_tool_overrides_that_are_not_tables(text: str) -> None:
    """An environment's tools, or one tool's overrides, that are not tables are reported."""
    [issue] = _issues(text)
    assert issue.path.startswith("environments.staging.tools")
    assert issue.line == 3


def test_load_reads_a_file(tmp_path: Path) -> None:
    """ConfigFile.load parses a file and names it by its path."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text("[tools.openai]\ntimeout_seconds = 3\n", encoding="utf-8")
    config = ConfigFile.load(path)
    assert config.tools == {"openai": {"timeout_seconds": 3}}
    assert config.name == str(path)
    assert config.line_of(("tools", "openai", "timeout_seconds")) == 2


def test_load_of_a_missing_file_raises_config_validation_error(tmp_path: Path) -> None:
    """Loading a file that does not exist raises ConfigValidationError naming it."""
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigValidationError) as excinfo:
        ConfigFile.load(path)
    [issue] = excinfo.value.issues
    assert issue.path == str(path)
    assert "cannot read file" in issue.rule
    assert str(path) in str(excinfo.value)


def test_load_reports_problems_in_the_file_it_names(tmp_path: Path) -> None:
    """Layout problems found by ConfigFile.load carry the loaded file's path."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text('colour = "blue"\n', encoding="utf-8")
    with pytest.raises(ConfigValidationError) as excinfo:
        ConfigFile.load(path)
    assert [issue.file for issue in excinfo.value.issues] == [str(path)]


# --- environment chains -----------------------------------------------------------------------


def test_environment_chain_lists_the_most_basic_first() -> None:
    """An environment's chain runs from the environment it ultimately extends to itself."""
    config = ConfigFile.parse(
        _toml("""
        [environments.base]
        [environments.staging]
        extends = "base"
        [environments.production]
        extends = "staging"
    """)
    )
    assert config.environment_chain("production") == ["base", "staging", "production"]
    assert config.environment_chain("staging") == ["base", "staging"]
    assert config.environment_chain("base") == ["base"]


def test_environment_chain_with_a_cycle_raises_naming_it() -> None:
    """Environments extending each other in a cycle raise ConfigValidationError naming it."""
    config = ConfigFile.parse(
        _toml("""
        [environments.a]
        extends = "b"
        [environments.b]
        extends = "c"
        [environments.c]
        extends = "a"
    """)
    )
    with pytest.raises(ConfigValidationError) as excinfo:
        config.environment_chain("a")
    assert "a -> b -> c -> a" in str(excinfo.value)
    [issue] = excinfo.value.issues
    assert issue.path == "environments.a.extends"
    assert issue.line == 2


def test_environment_extending_itself_is_a_cycle() -> None:
    """An environment that extends itself raises ConfigValidationError."""
    config = ConfigFile.parse('[environments.a]\nextends = "a"\n')
    with pytest.raises(ConfigValidationError, match="a -> a"):
        config.environment_chain("a")
