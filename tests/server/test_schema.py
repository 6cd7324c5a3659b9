"""Schemathesis over /openapi.json with an admin token: generated requests never get a 500."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.server.conftest import LiveServer, live
from toolkeeper._text import STORABLE_PATTERN
from toolkeeper.server import Role


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Serve a keeper of its own, since generated admin requests change its configuration.

    Schemathesis sends bad credentials on purpose (to check they are refused), so the
    failure allowance is raised: throttling would otherwise answer 429 to the rest.
    """
    tmp_path: Path = tmp_path_factory.mktemp("fuzzed")
    with live(
        f"sqlite:///{tmp_path / 'state.db'}", tmp_path, auth_failure_limit="100000/minute"
    ) as server:
        yield server


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_gets_a_server_error(
    fuzzed_server: LiveServer, mode: GenerationMode
) -> None:
    """Every operation answers 20 generated requests without a 5xx, as its schema documents."""
    loaded = schemathesis.openapi.from_url(f"{fuzzed_server.base_url}/openapi.json")
    # The event stream never ends; it is tested on its own.
    schema = loaded.exclude(path="/api/v1/events")
    headers = {"Authorization": f"Bearer {fuzzed_server.tokens[Role.ADMIN]}"}
    checks: list[schemathesis.CheckFunction] = [not_a_server_error]
    if mode is GenerationMode.POSITIVE:
        checks += [status_code_conformance, content_type_conformance, response_schema_conformance]
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 12

    for operation in operations:
        strategies = [operation.as_strategy(generation_mode=mode)]
        if "{tool}" in operation.path:  # also reach past the 404 of a random tool name
            strategies += [
                operation.as_strategy(generation_mode=mode, path_parameters={"tool": tool})
                for tool in ("openai", "local")
            ]

        @given(case=st.one_of(strategies))
        @settings(
            max_examples=20,
            deadline=None,
            database=None,
            derandomize=True,  # the same requests on every run: a failure is reproducible
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(base_url=fuzzed_server.base_url, headers=headers, checks=checks)

        try:
            call()
        except Unsatisfiable:  # nothing in this operation can be made invalid
            continue
        except AssertionError as failure:  # schemathesis reports failed checks as assertions
            failures[operation.label] = str(failure)[:2000]
    assert failures == {}


def test_a_schemathesis_run_with_every_check_is_clean(
    fuzzed_server: LiveServer, tmp_path: Path
) -> None:
    """`schemathesis run --checks all` finds no 5xx, no refused valid request, no wrong Allow."""
    cli = Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [
            str(cli), "--config-file", str(Path(__file__).with_name("schemathesis.toml")),
            "run", f"{fuzzed_server.base_url}/openapi.json",
            "--header", f"Authorization: Bearer {fuzzed_server.tokens[Role.ADMIN]}",
            "--checks", "all",
            "--exclude-path", "/api/v1/events",  # never ends; tested on its own
            "--max-examples", "10",
            "--max-time", "90",  # bounds the fuzzing and stateful phases
            "--request-timeout", "10",
            "--seed", "7",
            "--no-color",
        ],
        cwd=tmp_path,  # where schemathesis keeps its .schemathesis/ folder
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    report = result.stdout[-6000:] + result.stderr[-2000:]
    for code in ("ST202", "ST205", "Server error"):
        assert code not in result.stdout, report
    assert result.returncode == 0, report
    assert " passed" in result.stdout


def _patterns(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


def test_every_pattern_in_the_schema_is_one_json_schema_validators_read(
    fuzzed_server: LiveServer,
) -> None:
    """Each ``pattern`` compiles as a JSON Schema regex (jsonschema-rs), so no client ignores it."""
    import httpx
    import jsonschema_rs

    spec = httpx.get(f"{fuzzed_server.base_url}/openapi.json", timeout=30).json()
    patterns = set(_patterns(spec))
    assert STORABLE_PATTERN in patterns  # stored texts say that they refuse NUL
    for pattern in sorted(patterns):
        jsonschema_rs.validator_for({"type": "string", "pattern": pattern})  # raises if unreadable
    storable = jsonschema_rs.validator_for({"type": "string", "pattern": STORABLE_PATTERN})
    assert storable.is_valid("silenced for the deploy, café")
    assert not storable.is_valid("silenced\x00")
